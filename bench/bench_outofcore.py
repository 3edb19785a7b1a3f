"""Out-of-core: fit and score a .npy file block by block, against the same work in memory.

Peers on the same file (C-ordered float32, written once per session in a
temporary folder and deleted afterwards):

* ``file`` — ``gaussext.fit_file`` then ``gaussext.score_file`` (scores to
  another .npy), the file read in blocks of 16 MiB;
* ``in-memory`` — ``np.load`` of the whole file (not timed), then
  ``GaussianAnomalyDetector().fit(X)`` and ``score_samples(X)``, saved.

Each runs in a fresh Python process that reports its wall time for fit +
score and its peak resident set size (Linux VmHWM, which starts afresh at
exec).  Throughput is rows / (fit + score seconds).  The file peer must stay
under 500 MiB of peak RSS — a bound on memory, asserted; no time is.  Both
peers' scores are compared on a sample of rows.

The file is freshly written, so it is read from the page cache, not the disk:
the figures are the package's own throughput, not the disk's.
"""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

JOB = "out-of-core"
PEERS = ["file", "in-memory"]
QUICK_CASES = [(200_000, 8, "float32")]
FULL_CASES = [(100_000_000, 8, "float32")]
PEAK_RSS_LIMIT = 500 * 2**20

CHILD = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    import gaussext

    from gaussext._testing import peak_rss_bytes

    peer, data_path, scores_path = sys.argv[1:4]
    detector = gaussext.GaussianAnomalyDetector("diagonal")
    if peer == "file":
        start = time.perf_counter()
        gaussext.fit_file(detector, data_path, progress=False)
        fitted = time.perf_counter()
        gaussext.score_file(detector, data_path, scores_path, progress=False)
        done = time.perf_counter()
    else:
        X = np.load(data_path)
        start = time.perf_counter()
        detector.fit(X)
        fitted = time.perf_counter()
        scores = detector.score_samples(X)
        done = time.perf_counter()
        np.save(scores_path, scores)
    print(json.dumps({"fit_seconds": fitted - start, "score_seconds": done - fitted,
                      "peak_rss_bytes": peak_rss_bytes()}))
""")


@pytest.fixture(scope="module")
def data_file(tmp_path_factory, request):
    """Path of a .npy file per case, written block by block and deleted at the end."""
    folder = tmp_path_factory.mktemp("outofcore")
    written = {}

    def make(n_samples, n_features, dtype_name):
        key = (n_samples, n_features, dtype_name)
        if key not in written:
            path = folder / f"X-{n_samples}-{n_features}.npy"
            X = np.lib.format.open_memmap(path, mode="w+", dtype=dtype_name,
                                          shape=(n_samples, n_features))
            rng = np.random.default_rng(0)
            for start in range(0, n_samples, 1 << 20):
                stop = min(start + (1 << 20), n_samples)
                X[start:stop] = rng.standard_normal((stop - start, n_features),
                                                    dtype=np.float32) * 3.0 + 100.0
            X.flush()
            del X
            written[key] = path
        return written[key]

    yield make
    for path in written.values():
        path.unlink()
    for scores in folder.glob("scores-*.npy"):
        scores.unlink()


def run_child(peer, data_path, scores_path):
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, peer, str(data_path), str(scores_path)],
        capture_output=True, text=True, cwd=data_path.parent,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_outofcore(measure, case, peer, data_file):
    n_samples = case[0]
    data_path = data_file(*case)
    scores_path = data_path.with_name(f"scores-{peer}.npy")
    figures = measure.pedantic(run_child, args=(peer, data_path, scores_path),
                               rounds=1, iterations=1)
    figures["rows_per_second"] = n_samples / (figures["fit_seconds"] + figures["score_seconds"])
    measure.extra_info.update(figures)
    if peer == "file":
        assert figures["peak_rss_bytes"] < PEAK_RSS_LIMIT, figures
    scores = np.load(scores_path, mmap_mode="r")
    sample = np.random.default_rng(1).integers(0, n_samples, 10_000)
    other = data_path.with_name(f"scores-{'in-memory' if peer == 'file' else 'file'}.npy")
    if other.exists():  # the second peer of the case: both computed the same scores
        np.testing.assert_allclose(scores[sample], np.load(other, mmap_mode="r")[sample],
                                   rtol=1e-9)
