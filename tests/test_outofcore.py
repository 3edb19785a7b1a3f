"""Out-of-core files: fit_file, score_file and tune_file against the in-memory API,
and memory that stays bounded by the block size."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gaussext
from gaussext import GaussianAnomalyDetector

KINDS = ("diagonal", "full")


def rows(n_rows=2_000, n_features=4, seed=0, offset=0.0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    mixing = np.eye(n_features) + rng.normal(size=(n_features, n_features)) / 3
    return (rng.normal(size=(n_rows, n_features)) @ mixing + offset).astype(dtype)


def labelled_validation(n_rows=1_500, seed=1):
    """Validation rows with 5% shifted anomalies, their scores rounded into ties."""
    X = rows(n_rows, seed=seed)
    y = (np.random.default_rng(seed).random(n_rows) < 0.05).astype(np.int64)
    X[y == 1] += 3.0
    return np.round(X, 1), y


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("block_rows", [1, 37, 5_000])
def test_score_file_equals_score_samples(kind, dtype, block_rows, tmp_path):
    X = rows(dtype=dtype, offset=100.0)
    detector = GaussianAnomalyDetector(kind).fit(X)
    np.save(tmp_path / "X.npy", X)
    scores = gaussext.score_file(detector, tmp_path / "X.npy", tmp_path / "scores.npy",
                                 block_rows=block_rows, progress=False)
    assert scores.dtype == np.float64 and scores.shape == (X.shape[0],)
    np.testing.assert_array_equal(scores, detector.score_samples(X))


@pytest.mark.parametrize("kind", KINDS)
def test_fit_file_equals_fit(kind, tmp_path):
    X = rows(offset=1e6)
    np.save(tmp_path / "X.npy", X)
    reference = GaussianAnomalyDetector(kind, ddof=1).fit(X)
    fitted = gaussext.fit_file(GaussianAnomalyDetector(kind, ddof=1), tmp_path / "X.npy",
                               block_rows=64, progress=False)
    np.testing.assert_allclose(fitted.mean_, reference.mean_, rtol=1e-12)
    spread = fitted.var_ if kind == "diagonal" else fitted.covariance_
    expected = reference.var_ if kind == "diagonal" else reference.covariance_
    np.testing.assert_allclose(spread, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
    assert fitted.statistics_.n_samples == X.shape[0]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("block_rows", [1, 100, 10_000])
def test_tune_file_equals_tune_threshold_bit_for_bit(kind, block_rows, tmp_path):
    X_val, y_val = labelled_validation()
    detector = GaussianAnomalyDetector(kind).fit(rows())
    np.save(tmp_path / "X.npy", X_val)
    np.save(tmp_path / "y.npy", y_val.astype(np.uint8)[:, None])
    from_file = gaussext.tune_file(detector, tmp_path / "X.npy", tmp_path / "y.npy",
                                   block_rows=block_rows, progress=False)
    assert detector.threshold_ is from_file and detector.log_epsilon_ == from_file.log_epsilon
    in_memory = GaussianAnomalyDetector(kind).fit(rows()).tune_threshold(X_val, y_val)
    for field in ("epsilon", "log_epsilon", "f1", "precision", "recall", "true_positives",
                  "false_positives", "false_negatives", "true_negatives"):
        assert getattr(from_file, field) == getattr(in_memory, field), field
    # its curve is the in-memory curve at the candidates it keeps
    kept = np.isin(in_memory.thresholds, from_file.thresholds)
    assert kept.sum() == from_file.thresholds.shape[0] == np.unique(
        detector.score_samples(X_val)[y_val == 1]).shape[0]
    np.testing.assert_array_equal(in_memory.f1_curve[kept], from_file.f1_curve)


def test_file_errors_name_what_is_wrong(tmp_path):
    X = rows(100)
    detector = GaussianAnomalyDetector().fit(X)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "fortran.npy", np.asfortranarray(X))
    np.save(tmp_path / "cube.npy", np.ones((2, 2, 2)))
    np.save(tmp_path / "narrow.npy", X[:, :3])
    np.save(tmp_path / "empty.npy", np.empty((0, 4)))
    (tmp_path / "text.npy").write_text("not an array")
    with pytest.raises(ValueError, match="Fortran \\(column\\) order"):
        gaussext.score_file(detector, tmp_path / "fortran.npy", tmp_path / "s.npy")
    with pytest.raises(ValueError, match="3-D array of shape \\(2, 2, 2\\)"):
        gaussext.fit_file(GaussianAnomalyDetector(), tmp_path / "cube.npy")
    with pytest.raises(ValueError, match="has 3 features, but the detector is expecting 4"):
        gaussext.score_file(detector, tmp_path / "narrow.npy", tmp_path / "s.npy")
    with pytest.raises(ValueError, match="is empty \\(shape \\(0, 4\\)\\)"):
        gaussext.fit_file(GaussianAnomalyDetector(), tmp_path / "empty.npy")
    with pytest.raises(ValueError, match="is not a valid .npy file"):
        gaussext.fit_file(GaussianAnomalyDetector(), tmp_path / "text.npy")
    with pytest.raises(ValueError, match="refusing to write the scores to .*: it is the same "
                                         "file as the input"):
        gaussext.score_file(detector, tmp_path / "X.npy", tmp_path / "X.npy")
    with pytest.raises(TypeError, match="block_rows must be an integer"):
        gaussext.score_file(detector, tmp_path / "X.npy", tmp_path / "s.npy", block_rows=1.5)
    with pytest.raises(ValueError, match="not fitted yet"):
        gaussext.score_file(GaussianAnomalyDetector(), tmp_path / "X.npy", tmp_path / "s.npy")
    np.save(tmp_path / "short.npy", np.zeros(99))
    with pytest.raises(ValueError, match="y file has 99 labels but X file has 100 rows"):
        gaussext.tune_file(detector, tmp_path / "X.npy", tmp_path / "short.npy")
    np.save(tmp_path / "normal.npy", np.zeros(100))
    with pytest.raises(ValueError, match="y file holds a single class: every label is 0"):
        gaussext.tune_file(detector, tmp_path / "X.npy", tmp_path / "normal.npy")
    bad = X.copy()
    bad[57, 2] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    # the row is the file's, not the block's
    with pytest.raises(ValueError, match="Input input file .*nan.npy' contains NaN or "
                                         "infinity: .*the first at row 57, column 2"):
        gaussext.score_file(detector, tmp_path / "nan.npy", tmp_path / "s.npy", block_rows=25)
    np.save(tmp_path / "twos.npy", np.full(100, 2))
    with pytest.raises(ValueError, match="y_true must hold only 0 \\(normal\\) and 1"):
        gaussext.tune_file(detector, tmp_path / "X.npy", tmp_path / "twos.npy")


@pytest.mark.parametrize("progress, shown", [(None, False), (False, False), (True, True)])
def test_progress_only_on_a_terminal_or_when_asked(progress, shown, tmp_path, capfd):
    """Under pytest stderr is not a terminal: None stays silent like False."""
    X = rows(500)
    np.save(tmp_path / "X.npy", X)
    detector = gaussext.fit_file(GaussianAnomalyDetector(), tmp_path / "X.npy",
                                 block_rows=100, progress=progress)
    gaussext.score_file(detector, tmp_path / "X.npy", tmp_path / "s.npy", block_rows=100,
                        progress=progress)
    captured = capfd.readouterr()
    assert captured.out == ""
    if shown:
        assert "fit" in captured.err and "score" in captured.err and "500/500" in captured.err
    else:
        assert captured.err == ""


MEMORY_CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import gaussext

    from gaussext._testing import peak_rss_bytes

    folder, block_rows = sys.argv[1], int(sys.argv[2])
    warm_up = np.random.default_rng(0).normal(size=(100, 8))
    gaussext.GaussianAnomalyDetector("full").fit(warm_up).score_samples(warm_up)
    before = peak_rss_bytes()
    detector = gaussext.fit_file(gaussext.GaussianAnomalyDetector("full"), folder + "/X.npy",
                                 block_rows=block_rows, progress=False)
    scores = gaussext.score_file(detector, folder + "/X.npy", folder + "/scores.npy",
                                 block_rows=block_rows, progress=False)
    after = peak_rss_bytes()
    detector.save(folder + "/model.npz")
    print(json.dumps({"increase_bytes": after - before}))
""")


def test_fit_and_score_a_file_in_bounded_memory(tmp_path):
    """A 64 MiB file (10^6 rows x 8 float64) fitted and scored in blocks of
    0.5 MiB: the process's peak RSS grows by a quarter of the file plus the
    bounded row sample at most (the 16 MiB of scores alone would not fit in
    the quarter); the scores equal in-memory scoring."""
    n_rows, n_features, block_rows = 1_000_000, 8, 8_192
    X = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float64,
                                  shape=(n_rows, n_features))
    rng = np.random.default_rng(5)
    for start in range(0, n_rows, 100_000):
        X[start:start + 100_000] = rng.normal(size=(100_000, n_features)) + 50.0
    X.flush()
    del X
    completed = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(tmp_path), str(block_rows)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr
    increase = json.loads(completed.stdout)["increase_bytes"]
    file_bytes = n_rows * n_features * 8
    # measured about 29 MiB: the row sample epsilon is taken from (131072 rows of
    # 8 features and their numbers and priorities, 10 MiB, in storage of twice
    # that for the rows entering between cuts), a block, the allocator's slack;
    # reading the file into memory would take 64 MiB
    from gaussext._sample import default_capacity

    sample_bytes = default_capacity(n_features) * (8 * n_features + 16)
    assert increase < file_bytes // 4 + 2 * sample_bytes, (
        f"peak RSS grew by {increase / 2**20:.1f} MiB")
    detector = GaussianAnomalyDetector.load(tmp_path / "model.npz")
    X = np.load(tmp_path / "X.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "scores.npy"), detector.score_samples(X))
    reference = GaussianAnomalyDetector("full").fit(X)
    np.testing.assert_allclose(detector.covariance_, reference.covariance_, rtol=1e-12,
                               atol=1e-12)
