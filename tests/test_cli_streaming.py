"""The command line on files read in chunks: the same results as in memory,
bounded terminal output, a progress bar only on a terminal, Parquet and
Arrow/Feather files, and a start-up that loads no heavy module."""

import io
import json
import subprocess
import sys

import numpy as np
import pytest

from gaussext import GaussianAnomalyDetector, _chunked, _csv
from gaussext._cli import main


def _rows(n=3000, seed=5):
    """Correlated rows at an offset, and 0/1 labels marking the farthest 2%."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) @ np.array([[2.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.0, 0.0, 0.1]])
    X += [1e3, -5.0, 0.25]
    distance = np.linalg.norm((X - X.mean(axis=0)) / X.std(axis=0), axis=1)
    y = (distance > np.quantile(distance, 0.98)).astype(np.int64)
    return X, y


def _write_csv(path, X, y):
    with open(path, "w") as handle:
        handle.write("a,host,b,c,y\n")
        for row, label in zip(X.tolist(), y.tolist()):
            handle.write(f"{row[0]!r},web,{row[1]!r},{row[2]!r},{label}\n")
    return str(path)


@pytest.fixture
def data(tmp_path):
    X, y = _rows()
    return X, y, _write_csv(tmp_path / "d.csv", X, y)


def _run(argv, capsys):
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(params=["one chunk", "chunks kept", "chunks read again"])
def chunking(request, monkeypatch):
    """The CSV as one chunk; in chunks of 4 KiB kept in memory for the second
    pass; in chunks read from the file at every pass."""
    if request.param != "one chunk":
        monkeypatch.setattr(_csv, "CHUNK_BYTES", 4096)
    if request.param == "chunks read again":
        monkeypatch.setattr(_chunked, "RETAIN_BYTES", 0)
    return request.param


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_fit_equals_the_in_memory_fit(data, tmp_path, capsys, chunking, covariance):
    X, _, path = data
    model = str(tmp_path / "m.npz")
    status, _, err = _run(["fit", path, "--model", model, "--covariance", covariance,
                           "--columns", "a", "b", "c"], capsys)
    assert status == 0, err
    fitted = GaussianAnomalyDetector.load(model)
    expected = GaussianAnomalyDetector(covariance).fit(X)  # X parsed by Python's float
    spread = "var_" if covariance == "diagonal" else "covariance_"
    if chunking == "one chunk":  # the same computation: bit for bit
        assert np.array_equal(fitted.mean_, expected.mean_)
        assert np.array_equal(getattr(fitted, spread), getattr(expected, spread))
        assert fitted.log_epsilon_ == expected.log_epsilon_
    else:  # mergeable statistics of the chunks, epsilon from every row
        np.testing.assert_allclose(fitted.mean_, expected.mean_, rtol=1e-12)
        np.testing.assert_allclose(getattr(fitted, spread), getattr(expected, spread),
                                   rtol=1e-12, atol=1e-12 * np.abs(expected.covariance_).max()
                                   if covariance == "full" else 0)
        np.testing.assert_allclose(fitted.log_epsilon_, expected.log_epsilon_, rtol=1e-12)
    assert list(fitted.feature_names_in_) == ["a", "b", "c"]


def _named(X, detector):
    """X as a DataFrame with the CSV columns the model was fitted on."""
    import pandas as pd

    return pd.DataFrame(X, columns=list(detector.feature_names_in_))


def test_fit_on_chunks_takes_epsilon_from_every_row(tmp_path, capsys, monkeypatch):
    # the last rows are far more spread out than the rest: an epsilon from
    # the last chunk alone would be far from the quantile of all rows
    X, _ = _rows(4000)
    X[-500:] *= 30.0
    path = _write_csv(tmp_path / "d.csv", X, np.zeros(len(X), dtype=np.int64))
    monkeypatch.setattr(_csv, "CHUNK_BYTES", 4096)
    assert _run(["fit", path, "--model", str(tmp_path / "m.npz"), "--columns", "a", "b", "c"],
                capsys)[0] == 0
    fitted = GaussianAnomalyDetector.load(tmp_path / "m.npz")
    scores = fitted.score_samples(_named(X, fitted))
    assert np.mean(scores < fitted.log_epsilon_) == pytest.approx(0.1, abs=1 / len(X))


def test_tune_and_score_equal_the_in_memory_results(data, tmp_path, capsys, chunking):
    X, y, path = data
    model, tuned = str(tmp_path / "m.npz"), str(tmp_path / "t.npz")
    assert _run(["fit", path, "--model", model, "--label-column", "y"], capsys)[0] == 0
    status, out, err = _run(["tune", model, path, "--label-column", "y", "--out", tuned],
                            capsys)
    assert status == 0, err
    in_memory = GaussianAnomalyDetector.load(model)
    scores = in_memory.score_samples(_named(X, in_memory))
    expected = in_memory.tune_threshold(_named(X, in_memory), y)
    # the scores do not depend on the chunks: the same threshold, bit for bit
    assert GaussianAnomalyDetector.load(tuned).log_epsilon_ == expected.log_epsilon
    assert f"F1 = {expected.f1:.4f}" in out
    scores_path = tmp_path / "s.json"
    status, out, err = _run(["score", tuned, path, "--out", str(scores_path)], capsys)
    assert status == 0, err
    records = json.loads(scores_path.read_text())
    assert [r["row"] for r in records] == list(range(len(X)))
    # row by row, the same scores as an in-memory call (bit for bit)
    assert np.array_equal([r["log_density"] for r in records], scores)
    assert sum(r["anomaly"] for r in records) == int(np.sum(scores < expected.log_epsilon))


def test_detect_equals_the_in_memory_results(data, tmp_path, capsys, chunking):
    X, y, path = data
    out_path = tmp_path / "r.json"
    status, out, err = _run(["detect", path, "--label-column", "y", "--out", str(out_path),
                             "--explain", "0"], capsys)
    assert status == 0, err
    detector = GaussianAnomalyDetector().fit(X)
    # chunked or not, parameters agree within 1e-15 relative: the tuned
    # threshold is the same order statistic of the scores
    expected = detector.tune_threshold(X, y)
    assert f"F1 = {expected.f1:.4f}" in out
    records = json.loads(out_path.read_text())
    np.testing.assert_allclose([r["log_density"] for r in records], detector.score_samples(X),
                               rtol=1e-12)
    flagged = int(np.sum(detector.score_samples(X) < detector.log_epsilon_))
    assert f"flagged rows (p(x) < epsilon): {flagged}" in out


def _table_rows(out):
    """Lines of the flagged-rows table: they start with 'line N'."""
    return [line for line in out.splitlines() if line.startswith("line ")]


@pytest.mark.parametrize("show", [0, 3, 20])
def test_detect_prints_at_most_show_flagged_rows(data, capsys, show, chunking):
    X, _, path = data
    status, out, _ = _run(["detect", path, "--columns", "a", "b", "c", "--show", str(show)],
                          capsys)
    assert status == 0
    flagged = np.flatnonzero(GaussianAnomalyDetector().fit(X).predict(X) == -1)
    assert flagged.size == 300  # contamination 0.1 of 3000 rows
    shown = _table_rows(out)
    # the first `show` flagged rows, in file order (line = row + 2)
    assert [line.split()[1] for line in shown] == [str(i + 2) for i in flagged[:show]]
    if show:
        assert f"(the first {show} of 300 flagged rows;" in out


def test_score_prints_a_summary_and_the_first_flagged_rows(data, tmp_path, capsys):
    X, _, path = data
    model = str(tmp_path / "m.npz")
    assert _run(["fit", path, "--model", model, "--label-column", "y"], capsys)[0] == 0
    status, out, _ = _run(["score", model, path, "--out", str(tmp_path / "s.csv")], capsys)
    assert status == 0
    assert out.splitlines()[0].startswith(f"scored 3000 rows of {path}: 300 flagged")
    assert len(_table_rows(out)) == 20 and "(the first 20 of 300 flagged rows;" in out


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("terminal", [True, False])
def test_progress_bar_only_on_a_terminal(data, tmp_path, capsys, monkeypatch, terminal):
    _, _, path = data
    monkeypatch.setattr(_chunked, "PROGRESS_DELAY", 0.0)
    stderr = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    assert main(["fit", path, "--model", str(tmp_path / "m.npz"), "--label-column", "y"]) == 0
    bar = stderr.getvalue()
    if terminal:
        assert "fit: " in bar and "3.00krows" in bar and "rows/s]" in bar
    else:
        assert bar == ""


def test_no_progress_bar_in_a_pipe(data, tmp_path):
    _, _, path = data
    done = subprocess.run([sys.executable, "-m", "gaussext", "detect", path, "--show", "0"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == ""


@pytest.mark.parametrize("suffix", ["parquet", "feather"])
def test_arrow_files_in_and_out(data, tmp_path, capsys, suffix):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.feather
    import pyarrow.parquet

    X, y, csv_path = data
    table = pa.table({"a": X[:, 0], "host": ["web"] * len(X), "b": X[:, 1], "c": X[:, 2],
                      "y": y})
    path = str(tmp_path / f"d.{suffix}")
    if suffix == "parquet":  # several row groups
        pyarrow.parquet.write_table(table, path, row_group_size=700)
    else:
        pyarrow.feather.write_feather(table, path, chunksize=700)
    out_path = str(tmp_path / f"r.{suffix}")
    status, out, err = _run(["detect", path, "--label-column", "y", "--out", out_path,
                             "--model", str(tmp_path / "m.npz")], capsys)
    assert status == 0, err
    assert f"{path}: 3000 rows, features a, b, c; labels 'y'" in out
    detector = GaussianAnomalyDetector().fit(X)
    expected = detector.tune_threshold(X, y)
    assert f"F1 = {expected.f1:.4f}" in out
    written = (pyarrow.parquet.read_table(out_path) if suffix == "parquet"
               else pyarrow.feather.read_table(out_path))
    assert written.column_names == ["row", "log_density", "decision", "anomaly",
                                    "top_features"]
    np.testing.assert_allclose(written.column("log_density").to_numpy(),
                               detector.score_samples(X), rtol=1e-12)
    assert written.column("anomaly").to_numpy().sum() == int(
        np.sum(detector.score_samples(X) < expected.log_epsilon))


def test_arrow_file_errors_name_row_and_column(tmp_path, capsys):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet

    path = str(tmp_path / "d.parquet")
    pyarrow.parquet.write_table(pa.table({"x": [1.0, None, 3.0], "t": ["a", "b", "c"]}), path)
    status, _, err = _run(["fit", path, "--model", str(tmp_path / "m.npz")], capsys)
    assert status == 1
    assert err == (f"gaussext: error: {path}, row 1, column 'x': empty cell (1 such cell(s) in "
                   "this batch)\n")
    status, _, err = _run(["fit", path, "--columns", "t", "--model", str(tmp_path / "m.npz")],
                          capsys)
    assert err == f"gaussext: error: {path}: column 't' holds string; numbers are needed\n"


def test_without_pyarrow_a_one_line_message(tmp_path):
    path = tmp_path / "d.parquet"
    path.write_bytes(b"PAR1")
    # pyarrow made unimportable in a child process
    code = ("import sys; sys.modules['pyarrow'] = None\n"
            "from gaussext._cli import main\n"
            f"sys.exit(main(['fit', {str(path)!r}, '--model', 'm.npz']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == (f"gaussext: error: reading {path} needs pyarrow: "
                           "pip install 'gaussext[arrow]'\n")


def test_import_loads_no_heavy_module(tmp_path):
    code = ("import sys, gaussext, gaussext._cli\n"
            "heavy = ('scipy.stats', 'scipy.linalg', 'matplotlib', 'dask', 'pandas', 'pyarrow')\n"
            "print([m for m in sys.modules if m in heavy])\n"
            "gaussext.GaussianizingTransformer\n"
            "print('scipy.stats' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, check=True)
    assert done.stdout.split("\n")[:2] == ["[]", "True"]


@pytest.mark.parametrize("chunk_bytes, rows_scored_again", [(None, 0), (4096, 600)])
def test_detect_scores_the_training_rows_once(tmp_path, capsys, monkeypatch, chunk_bytes,
                                              rows_scored_again):
    """detect takes every row's score from the fit, which computed them for
    epsilon: one chunk is fitted in memory and scored by the fit itself (no
    score_samples call); many are scored in the fit's one second pass, and
    never again."""
    X, y = _rows(600)
    path = _write_csv(tmp_path / "d.csv", X, y)
    if chunk_bytes is not None:
        monkeypatch.setattr(_csv, "CHUNK_BYTES", chunk_bytes)
    scored = []
    score_samples = GaussianAnomalyDetector.score_samples

    def counting(detector, X):
        scored.append(len(X))
        return score_samples(detector, X)

    monkeypatch.setattr(GaussianAnomalyDetector, "score_samples", counting)
    status, out, err = _run(["detect", path, "--out", str(tmp_path / "s.csv")], capsys)
    assert status == 0, err
    assert sum(scored) == rows_scored_again
