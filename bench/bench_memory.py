"""Peak memory of scoring: how much a call raises the process's peak RSS.

Each measurement runs in a fresh Python process that builds X in place
(chunk by chunk, so building it leaves no larger peak behind), fits on the
first rows, warms the scorer up on a few rows, then reads its peak resident
set size before and after one scoring call over all of X.  The peak is
Linux's VmHWM, which starts afresh at exec; ``ru_maxrss`` (the fallback
elsewhere) would carry over the peak of the parent it was forked from — a
pytest process holding gigabytes of benchmark arrays — and hide everything.  Scoring writes one float64
per row, so the least any scorer can add is the output itself; gaussext must
stay within the output plus 16 MiB (no n x d temporaries), which is
asserted, as a bound on memory and not on time.  The vectorised NumPy formula
is measured beside it.
"""

import json
import subprocess
import sys
import textwrap

JOB = "memory"
PEERS = ["gaussext-diagonal", "gaussext-full", "numpy"]
QUICK_CASES = [(200_000, 8, "float64")]
FULL_CASES = [(10_000_000, 8, "float64")]
ALLOWANCE_BYTES = 16 * 2**20

CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    from gaussext import GaussianAnomalyDetector

    from gaussext._testing import peak_rss_bytes

    peer, n_samples, n_features = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = np.random.default_rng(0)
    X = np.empty((n_samples, n_features))
    for start in range(0, n_samples, 1 << 16):
        stop = min(start + (1 << 16), n_samples)
        X[start:stop] = rng.standard_normal((stop - start, n_features))
    training = X[:20_000]
    if peer == "numpy":
        mean, var = training.mean(axis=0), training.var(axis=0)
        def score(X):
            return (-0.5 * np.sum(np.log(2 * np.pi * var))
                    - 0.5 * np.sum((X - mean) ** 2 / var, axis=1))
    else:
        covariance = peer.removeprefix("gaussext-")
        score = GaussianAnomalyDetector(covariance).fit(training).score_samples
    score(X[:1000])
    before = peak_rss_bytes()
    log_density = score(X)
    after = peak_rss_bytes()
    print(json.dumps({"increase_bytes": after - before,
                      "output_bytes": log_density.nbytes}))
""")


def peak_rss_increase(peer, n_samples, n_features, workdir):
    """Run CHILD in a fresh interpreter.  Its working directory is `workdir`,
    not the checkout, whose unbuilt source package `python -c` would import."""
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, peer, str(n_samples), str(n_features)],
        capture_output=True, text=True, cwd=workdir,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_memory(measure, case, peer, tmp_path):
    n_samples, n_features, _ = case
    figures = measure.pedantic(peak_rss_increase, args=(peer, n_samples, n_features, tmp_path),
                               rounds=1, iterations=1)
    measure.extra_info.update(figures)
    if peer.startswith("gaussext"):
        assert figures["increase_bytes"] <= figures["output_bytes"] + ALLOWANCE_BYTES, figures
    else:
        # the vectorised formula's n x d temporaries must show: the measurement sees them
        assert figures["increase_bytes"] >= n_samples * n_features * 8, figures
