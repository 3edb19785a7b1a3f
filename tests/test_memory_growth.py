"""No memory growth over 10^5 repeated calls.

A fresh interpreter (so that nothing else allocates meanwhile) makes 10^5
calls of the public API — scoring with both models, the exact threshold
scan, and the error path of malformed input, with a fit every 100 calls —
and reads its resident set size (VmRSS) after a warm-up of 2,000 calls and
at the end.  Stated margin: 2 MiB, so a leak of 21 bytes or more per call
fails the test.
"""

import subprocess
import sys
import textwrap

import pytest

MARGIN_BYTES = 2 * 1024 * 1024

SCRIPT = textwrap.dedent("""
    import numpy as np
    from gaussext import GaussianAnomalyDetector, select_threshold
    from gaussext._testing import resident_bytes

    rng = np.random.default_rng(0)
    train = rng.normal(size=(200, 4))
    points = rng.normal(size=(16, 4))
    bad = points.copy()
    bad[3, 2] = np.nan
    labels = np.r_[np.ones(4, dtype=int), np.zeros(12, dtype=int)]
    diagonal = GaussianAnomalyDetector("diagonal", n_jobs=1).fit(train)
    full = GaussianAnomalyDetector("full", n_jobs=1).fit(train)

    def one_call(i):
        if i % 100 == 0:
            GaussianAnomalyDetector("full" if i % 200 else "diagonal", n_jobs=1).fit(train)
        elif i % 4 == 0:
            diagonal.score_samples(points)
        elif i % 4 == 1:
            full.predict(points)
        elif i % 4 == 2:
            select_threshold(labels, diagonal.score_samples(points))
        else:
            try:
                full.score_samples(bad)
            except ValueError:
                pass

    for i in range(2000):
        one_call(i)
    before = resident_bytes()
    for i in range(2000, 100_000):
        one_call(i)
    print(before, resident_bytes())
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_resident_memory_flat_over_100000_calls(tmp_path):
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          check=True, timeout=600, cwd=tmp_path)
    before, after = map(int, done.stdout.split())
    assert after - before <= MARGIN_BYTES, f"RSS grew by {(after - before) / 2**20:.2f} MiB"
