"""The main job, `gaussext demo`, as a user runs it."""

import csv
import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from gaussext import GaussianAnomalyDetector, oracle
from gaussext._cli import main, run_demo
from gaussext.datasets import FEATURE_NAMES, make_demo_split, make_server_metrics


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_demo_report_matches_model(covariance):
    out = io.StringIO()
    result = run_demo(covariance, out=out)
    text = out.getvalue()
    # the report shows what the same fit and tune produce when done by hand
    split = make_demo_split(random_state=0)
    det = GaussianAnomalyDetector(covariance).fit(split.X_train)
    expected = det.tune_threshold(split.X_val, split.y_val)
    assert result.f1 == expected.f1 and result.log_epsilon == expected.log_epsilon
    assert f"epsilon = {expected.epsilon:.6g}" in text
    assert f"F1 = {expected.f1:.4f}" in text
    assert f"{det.mean_[0]:.6g}" in text
    if covariance == "diagonal":
        assert "sigma^2" in text and f"{det.var_[2]:.6g}" in text
    else:
        assert "covariance:" in text and f"{det.covariance_[0, 1]:.4g}" in text
    flagged = int(np.sum(det.predict(split.X_val) == -1))
    assert f"flagged validation rows (p(x) < epsilon): {flagged}" in text
    assert len(re.findall(r"\b(anomaly|normal)\s*$", text, flags=re.M)) == flagged
    # the multivariate model is the better one on correlated metrics
    assert expected.f1 > 0.8


def test_full_model_beats_diagonal_on_demo_data():
    split = make_demo_split(random_state=0)
    f1 = {c: GaussianAnomalyDetector(c).fit(split.X_train)
          .tune_threshold(split.X_val, split.y_val).f1 for c in ("diagonal", "full")}
    assert f1["full"] > f1["diagonal"]


def test_demo_as_a_command(tmp_path):
    # the console script and `python -m gaussext` are the same entry point; run
    # outside the checkout, whose source folder has no compiled modules
    done = subprocess.run([sys.executable, "-m", "gaussext", "demo", "--covariance", "full"],
                          capture_output=True, text=True, check=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "PYTHONWARNINGS": "error"})
    assert "precision = " in done.stdout and done.stderr == ""


def test_demo_help_and_errors(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--help"])
    assert exit_info.value.code == 0
    assert "gaussext demo --covariance full" in capsys.readouterr().out
    assert main(["demo", "--n-train", "1"]) == 2
    assert "--n-train and --n-val must be at least 2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([])


def test_generator_is_seeded_and_labelled():
    X1, y1 = make_server_metrics(300, anomaly_fraction=0.1, random_state=5)
    X2, y2 = make_server_metrics(300, anomaly_fraction=0.1, random_state=5)
    np.testing.assert_array_equal(X1, X2)
    assert X1.shape == (300, len(FEATURE_NAMES)) and y1.sum() == 30
    with pytest.raises(ValueError, match="anomaly_fraction must be < 1.0"):
        make_server_metrics(10, anomaly_fraction=1.0)


# -- the data commands --------------------------------------------------------

def _csv_text(header, rows):
    return "\n".join([",".join(header), *(",".join(str(v) for v in row) for row in rows)]) + "\n"


_RNG = np.random.default_rng(11)
_GOOD = np.round(_RNG.normal(10.0, 2.0, size=(40, 2)), 6)
_GOOD_LABELS = (np.arange(40) % 10 == 0).astype(int)
#: 40 rows: features a, b and labels y (4 anomalies)
GOOD_CSV = _csv_text(["a", "b", "y"], [(*row, label) for row, label in zip(_GOOD, _GOOD_LABELS)])


def _with_cell(row, column, value, text=GOOD_CSV):
    """GOOD_CSV with data row `row` (0-based), column index `column` replaced."""
    lines = text.splitlines()
    cells = lines[row + 1].split(",")
    cells[column] = value
    lines[row + 1] = ",".join(cells)
    return "\n".join(lines) + "\n"


class Model:
    """A model file for a bad-input case: fitted on X (with CSV column names)."""

    def __init__(self, X, names=None):
        self.X, self.names = X, names

    def write(self, path):
        X = self.X
        if self.names is not None:
            import pandas as pd

            X = pd.DataFrame(np.asarray(X), columns=list(self.names))
        GaussianAnomalyDetector().fit(X).save(path)


#: Bad input of every kind: (argv, files written first, exit status, fragment of
#: the one error line).  Exit status 1: unusable data or files; 2: a command
#: line error.  Referenced by the project-wide catalogue of bad input.
CLI_BAD_INPUTS = [
    # missing files
    (["fit", "nope.csv", "--model", "m.npz"], {}, 1, "no such file: nope.csv"),
    (["score", "nomodel.npz", "good.csv"], {"good.csv": GOOD_CSV}, 1,
     "no such model file: nomodel.npz"),
    (["inspect", "folder"], {"folder": None}, 1, "folder is a directory"),
    # malformed CSV
    (["fit", "empty.csv", "--model", "m.npz"], {"empty.csv": ""}, 1, "empty.csv is empty"),
    (["fit", "header.csv", "--model", "m.npz"], {"header.csv": "a,b\n"}, 1,
     "has a header but no data rows"),
    (["fit", "ragged.csv", "--model", "m.npz"], {"ragged.csv": "a,b\n1,2\n3\n"}, 1,
     "ragged.csv, line 3: 1 cell(s), but the header names 2 columns"),
    (["fit", "dup.csv", "--model", "m.npz"], {"dup.csv": "a,a\n1,2\n3,4\n"}, 1,
     "column name(s) ['a'] appear twice"),
    (["fit", "bin.csv", "--model", "m.npz"], {"bin.csv": b"\xff\xfe\x00a"}, 1, "not UTF-8"),
    # non-numeric, empty and NaN cells, named by line and column
    (["fit", "hosts.csv", "--model", "m.npz", "--columns", "host", "a"],
     {"hosts.csv": "host,a\nweb-1,1.5\nweb-2,2.5\nweb-3,0.5\n"}, 1,
     "hosts.csv, line 2, column 'host': 'web-1' is not a number"),
    (["fit", "text.csv", "--model", "m.npz"], {"text.csv": _with_cell(6, 1, "n/a")}, 1,
     "text.csv, line 8, column 'b': 'n/a' is not a number; choose the feature columns"),
    (["fit", "nan.csv", "--model", "m.npz"], {"nan.csv": _with_cell(2, 0, "nan")}, 1,
     "nan.csv, line 4, column 'a': 'nan' is not a finite number"),
    (["detect", "inf.csv"], {"inf.csv": _with_cell(5, 1, "-inf")}, 1,
     "inf.csv, line 7, column 'b': '-inf' is not a finite number"),
    (["fit", "hole.csv", "--model", "m.npz"], {"hole.csv": _with_cell(3, 1, "")}, 1,
     "hole.csv, line 5, column 'b': empty cell"),
    (["fit", "words.csv", "--model", "m.npz"], {"words.csv": "host,zone\nweb,eu\ndb,us\n"}, 1,
     "has no numeric column"),
    (["fit", "good.csv", "--model", "m.npz", "--columns", "zz"], {"good.csv": GOOD_CSV}, 1,
     "good.csv has no column 'zz'; its columns are: 'a', 'b', 'y'"),
    (["fit", "const.csv", "--model", "m.npz"],
     {"const.csv": _csv_text(["a", "k"], [(i, 3) for i in range(20)])}, 1,
     "Feature(s) 1 ('k') have zero variance"),
    # labels
    (["tune", "m.npz", "good.csv", "--label-column", "Label"],
     {"m.npz": Model(_GOOD, ["a", "b"]), "good.csv": GOOD_CSV}, 1,
     "good.csv has no label column 'Label'"),
    (["detect", "two.csv", "--label-column", "y"], {"two.csv": _with_cell(2, 2, "2")}, 1,
     "two.csv, line 4, column 'y': label '2' is not 0 or 1"),
    (["detect", "yes.csv", "--label-column", "y"], {"yes.csv": _with_cell(7, 2, "yes")}, 1,
     "yes.csv, line 9, column 'y': label 'yes' is not 0 or 1"),
    (["detect", "nolabel.csv", "--label-column", "y"], {"nolabel.csv": _with_cell(0, 2, "")},
     1, "nolabel.csv, line 2, column 'y': label '' is not 0 or 1"),
    (["tune", "m.npz", "one.csv", "--label-column", "y"],
     {"m.npz": Model(_GOOD, ["a", "b"]),
      "one.csv": _csv_text(["a", "b", "y"], [(*row, 0) for row in _GOOD])}, 1,
     "labels 'y': y_true holds a single class: every label is 0 (normal)"),
    # a model and data that do not fit together
    (["score", "m.npz", "wide.npy"], {"m.npz": Model(_GOOD), "wide.npy": np.ones((5, 3))}, 1,
     "wide.npy has 3 numeric feature column(s) (['0', '1', '2']), but the model was fitted on 2"),
    (["score", "m.npz", "short.csv"],
     {"m.npz": Model(_GOOD, ["a", "b"]), "short.csv": "a,c\n1,2\n"}, 1,
     "short.csv lacks column(s) ['b'] that the model was fitted on"),
    (["score", "m.npz", "good.csv", "--columns", "a"],
     {"m.npz": Model(_GOOD), "good.csv": GOOD_CSV}, 1,
     "good.csv has 1 numeric feature column(s) (['a']), but the model was fitted on 2"),
    (["score", "bad.npz", "good.csv"], {"bad.npz": "not a model", "good.csv": GOOD_CSV}, 1,
     "bad.npz is not a valid gaussext model file"),
    (["score", "m.npz", "good.csv", "--out", "scores.txt"],
     {"m.npz": Model(_GOOD, ["a", "b"]), "good.csv": GOOD_CSV}, 1,
     "cannot write scores.txt: the output must end in .csv or .json"),
    (["fit", "good.csv", "--model", "nodir/m.npz"], {"good.csv": GOOD_CSV}, 1,
     "cannot write nodir/m.npz: No such file or directory"),
    (["detect", "good.csv", "--plot", "nodir/r.png"], {"good.csv": GOOD_CSV}, 1,
     "cannot write nodir/r.png: No such file or directory"),
    # malformed arrays
    (["fit", "flat.npy", "--model", "m.npz"], {"flat.npy": np.ones(5)}, 1,
     "flat.npy: the array has shape (5,); a 2-D array"),
    (["tune", "m.npz", "val.npz", "--label-column", "y"],
     {"m.npz": Model(_GOOD), "val.npz": {"X": _GOOD, "y": np.full(40, 0.5)}}, 1,
     "val.npz, array 'y', index 0: label 0.5 is not 0 or 1"),
    (["tune", "m.npz", "val.npy", "--label-column", "2"],
     {"m.npz": Model(_GOOD), "val.npy": np.column_stack([_GOOD, np.full(40, 3)])}, 1,
     "val.npy, row 0, column 2: label 3.0 is not 0 or 1 (1 = anomaly, 0 = normal; 40 such"),
    (["fit", "str.npy", "--model", "m.npz"], {"str.npy": np.array([["a", "b"]])}, 1,
     "str.npy: the array has dtype <U1; numbers are needed"),
    (["fit", "nan.npy", "--model", "m.npz"], {"nan.npy": np.array([[1.0, 2.0], [np.nan, 1.0]])},
     1, "nan.npy, row 1, column 0: np.float64(nan) is not a finite number"),
    (["fit", "two.npz", "--model", "m.npz"],
     {"two.npz": {"A": np.ones((3, 2)), "B": np.ones((3, 2))}}, 1,
     "two.npz holds arrays ['A', 'B']: name the data array 'X'"),
    (["fit", "text.npy", "--model", "m.npz"], {"text.npy": "not numpy"}, 1,
     "text.npy cannot be read as a NumPy file"),
    # command-line errors: exit status 2
    (["frobnicate"], {}, 2, "invalid choice: 'frobnicate'"),
    (["fit", "good.csv"], {"good.csv": GOOD_CSV}, 2,
     "the following arguments are required: --model"),
    (["fit", "good.csv", "--model", "m.npz", "--covariance", "tied"], {"good.csv": GOOD_CSV}, 2,
     "argument --covariance: invalid choice: 'tied'"),
    (["tune", "m.npz", "good.csv"], {"good.csv": GOOD_CSV}, 2,
     "required: --label-column"),
    (["score", "m.npz", "good.csv", "--explain", "-1"], {"good.csv": GOOD_CSV}, 2,
     "argument --explain: must be >= 0, got -1"),
    (["demo", "--n-train", "1"], {}, 2, "--n-train and --n-val must be at least 2"),
    (["detect", "good.csv", "--contamination", "0.9"], {"good.csv": GOOD_CSV}, 2,
     "argument --contamination: must be in (0, 0.5], got 0.9"),
    (["fit", "good.csv", "--model", "m.npz", "--reg-covar", "-1"], {"good.csv": GOOD_CSV}, 2,
     "argument --reg-covar: must be in [0, inf), got -1"),
    (["fit", "good.csv", "--model", "m.npz", "--variance-floor", "nan"], {"good.csv": GOOD_CSV},
     2, "argument --variance-floor: must be in [0, inf), got nan"),
    (["fit", "good.csv", "--model", "m.npz", "--covariance", "full", "--variance-floor", "1"],
     {"good.csv": GOOD_CSV}, 1, "variance_floor applies to covariance='diagonal' only"),
    (["inspect", "good.csv", "--alpha", "one"], {"good.csv": GOOD_CSV}, 2,
     "argument --alpha: not a number: 'one'"),
]


def _write_files(folder, files):
    for name, content in files.items():
        path = folder / name
        if content is None:
            path.mkdir()
        elif isinstance(content, Model):
            content.write(path)
        elif isinstance(content, np.ndarray):
            np.save(path, content)
        elif isinstance(content, dict):
            np.savez(path, **content)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def _run(argv, capsys):
    """main(argv) as the console script runs it: (exit status, stdout, stderr)."""
    try:
        status = main(argv)
    except SystemExit as exit_info:
        status = exit_info.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize("argv, files, status, fragment", CLI_BAD_INPUTS,
                         ids=[" ".join(case[0])[:60] for case in CLI_BAD_INPUTS])
def test_bad_input_is_one_line_and_an_exit_status(argv, files, status, fragment, tmp_path,
                                                   monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _write_files(tmp_path, files)
    found_status, _, err = _run(argv, capsys)
    assert found_status == status
    assert err.count("\n") == 1 and err.startswith("gaussext: error: "), err
    assert fragment in err
    assert "Traceback" not in err


def test_a_model_fitted_on_npy_scores_chosen_csv_columns(tmp_path, capsys):
    # no column names in the model: --columns (or --label-column) picks the features
    np.save(tmp_path / "train.npy", _GOOD)
    (tmp_path / "good.csv").write_text(GOOD_CSV)
    model = str(tmp_path / "m.npz")
    assert _run(["fit", str(tmp_path / "train.npy"), "--model", model], capsys)[0] == 0
    expected = GaussianAnomalyDetector().fit(_GOOD).score_samples(_GOOD)
    for options in (["--columns", "a", "b"], ["--label-column", "y"]):
        status, out, _ = _run(["score", model, str(tmp_path / "good.csv"), *options], capsys)
        assert status == 0
        np.testing.assert_array_equal(
            [float(r["log_density"]) for r in csv.DictReader(io.StringIO(out))], expected)


@pytest.mark.parametrize("option, expected_variances", [
    ("--reg-covar", [np.var(np.arange(20)) + 0.5, 0.5]),   # added to every variance
    ("--variance-floor", [np.var(np.arange(20)), 0.5]),    # raises only those below it
])
def test_remedies_make_a_constant_column_usable(tmp_path, capsys, option, expected_variances):
    (tmp_path / "c.csv").write_text(_csv_text(["a", "k"], [(i, 3) for i in range(20)]))
    status, out, _ = _run(["fit", str(tmp_path / "c.csv"), "--model", str(tmp_path / "m.npz"),
                           option, "0.5"], capsys)
    assert status == 0
    det = GaussianAnomalyDetector.load(str(tmp_path / "m.npz"))
    np.testing.assert_allclose(det.var_, expected_variances, rtol=1e-12)


def test_bad_input_through_the_real_process(tmp_path):
    # the same guarantee outside pytest: one line, no traceback, status 1
    (tmp_path / "nan.csv").write_text(_with_cell(2, 0, "nan"))
    done = subprocess.run([sys.executable, "-m", "gaussext", "fit", "nan.csv", "--model", "m.npz"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == ("gaussext: error: nan.csv, line 4, column 'a': 'nan' is not a finite "
                           "number (1 such cell(s) in this column)\n")
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("command", ["fit", "tune", "score", "detect", "inspect", "demo"])
def test_every_command_has_help_with_an_example(command, capsys):
    status, out, _ = _run([command, "--help"], capsys)
    assert status == 0
    assert "example" in out and f"gaussext {command} " in out.split("example")[1]


# -- the published figures of server-operational-params.csv, through the CLI ---

PUBLISHED_MU = [14.11222578, 14.99771051]
PUBLISHED_SIGMA2 = [1.83263141, 1.70974533]
PUBLISHED_EPSILON = 8.986095083415364e-05


def _oracle_flags(server_csv, epsilon):
    """Rows with p(x) < epsilon by the plain formulas of gaussext.oracle."""
    X, _ = server_csv
    mean, var = oracle.mean_and_variance(X)
    return oracle.diagonal_log_density(X, mean, var), \
        np.flatnonzero(oracle.diagonal_log_density(X, mean, var) < np.log(epsilon))


def _number_after(label, text):
    return float(re.search(rf"{re.escape(label)} = (\S+)", text).group(1))


def test_detect_reproduces_the_published_figures(shared_data, server_csv, tmp_path, capsys):
    data = str(shared_data / "server-operational-params.csv")
    scores = str(tmp_path / "scores.json")
    status, out, err = _run(["detect", data, "--label-column", "Anomaly", "--method", "grid",
                             "--out", scores], capsys)
    assert status == 0 and err == ""
    assert "features Latency (ms), Throughput (mb/s); labels 'Anomaly' (9 anomalies)" in out
    rows = {line.split()[-3]: line for line in out.splitlines()
            if line.strip().startswith(("Latency", "Throughput"))}
    mu = [float(rows["(ms)"].split()[-2]), float(rows["(mb/s)"].split()[-2])]
    sigma2 = [float(rows["(ms)"].split()[-1]), float(rows["(mb/s)"].split()[-1])]
    np.testing.assert_allclose(mu, PUBLISHED_MU, rtol=1e-9)
    np.testing.assert_allclose(sigma2, PUBLISHED_SIGMA2, rtol=1e-8)
    assert _number_after("epsilon", out) == pytest.approx(PUBLISHED_EPSILON, rel=1e-9)
    assert _number_after("F1", out) == 0.8
    assert "flagged rows (p(x) < epsilon): 6" in out
    records = json.loads((tmp_path / "scores.json").read_text())
    flagged = [r["row"] for r in records if r["anomaly"] == 1]
    log_density, expected = _oracle_flags(server_csv, PUBLISHED_EPSILON)
    assert flagged == expected.tolist() and len(flagged) == 6
    np.testing.assert_allclose([r["log_density"] for r in records], log_density, rtol=1e-12)
    # the anomalies flagged are labelled ones: precision 1, 6 of 9 found
    assert np.all(server_csv[1][flagged] == 1)


def test_fit_tune_score_reproduce_the_published_figures(shared_data, server_csv, tmp_path,
                                                       capsys):
    data = str(shared_data / "server-operational-params.csv")
    model, scores = str(tmp_path / "model.npz"), str(tmp_path / "scores.csv")
    status, out, _ = _run(["fit", data, "--model", model, "--label-column", "Anomaly"], capsys)
    assert status == 0 and "fitted a diagonal Gaussian on 307 rows x 2 features" in out
    fitted = GaussianAnomalyDetector.load(model)
    np.testing.assert_allclose(fitted.mean_, PUBLISHED_MU, rtol=1e-9)
    np.testing.assert_allclose(fitted.var_, PUBLISHED_SIGMA2, rtol=1e-8)
    assert list(fitted.feature_names_in_) == ["Latency (ms)", "Throughput (mb/s)"]

    status, out, _ = _run(["tune", model, data, "--label-column", "Anomaly", "--method", "grid"],
                          capsys)
    assert status == 0
    assert _number_after("epsilon", out) == pytest.approx(PUBLISHED_EPSILON, rel=1e-9)
    assert "F1 = 0.8000" in out and "(tp 6, fp 0, fn 3, tn 298)" in out
    assert GaussianAnomalyDetector.load(model).epsilon_ == pytest.approx(PUBLISHED_EPSILON,
                                                                         rel=1e-12)

    status, out, _ = _run(["score", model, data, "--out", scores, "--explain", "1"], capsys)
    assert status == 0 and "307 rows" in out and "6 flagged" in out
    with open(scores, newline="") as handle:
        records = list(csv.DictReader(handle))
    flagged = [int(r["row"]) for r in records if r["anomaly"] == "1"]
    assert flagged == _oracle_flags(server_csv, PUBLISHED_EPSILON)[1].tolist()
    # the exact scan never does worse than the grid on the same data
    status, out, _ = _run(["tune", model, data, "--label-column", "Anomaly"], capsys)
    assert _number_after("F1", out) >= 0.8


def test_score_names_the_features_that_made_a_row_unlikely(tmp_path, capsys):
    X = np.random.default_rng(4).normal(size=(500, 3)) * [1.0, 10.0, 100.0]
    X[7] = [0.0, 80.0, 0.0]        # far out in feature 1 only
    np.save(tmp_path / "x.npy", X)
    model = str(tmp_path / "m.npz")
    assert _run(["fit", str(tmp_path / "x.npy"), "--model", model], capsys)[0] == 0
    status, out, _ = _run(["score", model, str(tmp_path / "x.npy"), "--explain", "1"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[7]["anomaly"] == "1" and rows[7]["top_features"].startswith("1 +")
    # the excess is half the squared standardised residual of feature 1
    det = GaussianAnomalyDetector.load(model)
    z = (80.0 - det.mean_[1]) / np.sqrt(det.var_[1])
    assert float(rows[7]["top_features"].split("+")[1]) == pytest.approx(z * z / 2, rel=1e-2)
    assert all(r["top_features"] == "" for r in rows if r["anomaly"] == "0")


# -- every command on a synthetic .npy ------------------------------------------

@pytest.fixture
def synthetic(tmp_path):
    """Train .npy (unlabelled), a validation .npz (X and y) and a .npy with a
    label column (index 3)."""
    rng = np.random.default_rng(8)
    X_train = rng.normal([1.0, 5.0, -2.0], [1.0, 0.5, 2.0], size=(600, 3))
    X_val = rng.normal([1.0, 5.0, -2.0], [1.0, 0.5, 2.0], size=(200, 3))
    y_val = np.zeros(200, dtype=int)
    y_val[:12] = 1
    X_val[:12] += rng.choice([-6.0, 6.0], size=(12, 3))
    np.save(tmp_path / "train.npy", X_train)
    np.savez(tmp_path / "val.npz", X=X_val, y=y_val)
    np.save(tmp_path / "val_labelled.npy", np.column_stack([X_val, y_val]))
    return tmp_path, X_train, X_val, y_val


def test_fit_tune_score_on_npy(synthetic, capsys):
    folder, X_train, X_val, y_val = synthetic
    model = str(folder / "m.npz")
    assert _run(["fit", str(folder / "train.npy"), "--model", model, "--covariance", "full"],
                capsys)[0] == 0
    expected = GaussianAnomalyDetector("full").fit(X_train)
    loaded = GaussianAnomalyDetector.load(model)
    np.testing.assert_array_equal(loaded.covariance_, expected.covariance_)
    assert not hasattr(loaded, "feature_names_in_")

    status, out, _ = _run(["tune", model, str(folder / "val.npz"), "--label-column", "y",
                           "--out", str(folder / "tuned.npz")], capsys)
    assert status == 0
    result = expected.tune_threshold(X_val, y_val)
    assert f"F1 = {result.f1:.4f}" in out
    tuned = GaussianAnomalyDetector.load(str(folder / "tuned.npz"))
    assert tuned.log_epsilon_ == result.log_epsilon
    # a label column inside the .npy, named by its index, is left out of the features
    status, out, _ = _run(["tune", model, str(folder / "val_labelled.npy"), "--label-column",
                           "3"], capsys)
    assert status == 0 and f"F1 = {result.f1:.4f}" in out

    status, out, _ = _run(["score", str(folder / "tuned.npz"), str(folder / "val.npz")], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 200
    np.testing.assert_array_equal([float(r["log_density"]) for r in rows],
                                  expected.score_samples(X_val))
    np.testing.assert_array_equal([int(r["anomaly"]) for r in rows],
                                  expected.predict(X_val) == -1)


def test_detect_and_inspect_on_npy(synthetic, capsys):
    folder, _, X_val, y_val = synthetic
    status, out, _ = _run(["detect", str(folder / "val_labelled.npy"), "--label-column", "3",
                           "--explain", "2"], capsys)
    assert status == 0
    det = GaussianAnomalyDetector().fit(X_val)
    result = det.tune_threshold(X_val, y_val)
    assert f"F1 = {result.f1:.4f}" in out
    assert f"flagged rows (p(x) < epsilon): {int(np.sum(det.predict(X_val) == -1))}" in out
    # without labels: the contamination quantile
    status, out, _ = _run(["detect", str(folder / "train.npy"), "--columns", "0", "2"], capsys)
    assert status == 0 and "features 0, 2" in out and "flagged rows (p(x) < epsilon): 60" in out

    status, out, _ = _run(["inspect", str(folder / "val_labelled.npy"), "--label-column", "3"],
                          capsys)
    assert status == 0
    for name, column in zip(["0", "1", "2"], X_val.T):
        assert re.search(rf"^\s*{name}\s+{stats.skew(column):.3f}\s", out, flags=re.M)


def test_inspect_suggests_log_for_a_lognormal_csv_column(tmp_path, capsys):
    rng = np.random.default_rng(2)
    rows = zip(rng.normal(size=300), rng.lognormal(size=300), ["web"] * 300)
    (tmp_path / "m.csv").write_text(_csv_text(["load", "latency", "host"], rows))
    status, out, _ = _run(["inspect", str(tmp_path / "m.csv")], capsys)
    assert status == 0 and "host" not in out
    lines = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert lines["latency"][4] == "log" and lines["load"][4] == "identity"
    latency = np.loadtxt(tmp_path / "m.csv", delimiter=",", skiprows=1, usecols=1)
    assert float(lines["latency"][1]) == pytest.approx(stats.skew(latency), abs=1e-3)
    assert float(lines["latency"][2]) == pytest.approx(stats.kurtosis(latency), abs=1e-3)


def test_plot_options_write_png(tmp_path, capsys):
    out = io.StringIO()
    run_demo("full", n_train=300, n_val=100, out=out, plot=str(tmp_path / "demo.png"))
    X = np.random.default_rng(3).normal(size=(200, 2))
    np.save(tmp_path / "x.npy", X)
    status, _, _ = _run(["detect", str(tmp_path / "x.npy"), "--plot", str(tmp_path / "d.png")],
                        capsys)
    assert status == 0
    for name in ("demo.png", "d.png"):
        content = (tmp_path / name).read_bytes()
        assert content.startswith(b"\x89PNG\r\n\x1a\n") and len(content) > 20_000


def test_a_directory_named_like_a_numpy_file(tmp_path, capsys):
    (tmp_path / "x.npy").mkdir()
    status, _, err = _run(["fit", str(tmp_path / "x.npy"), "--model", str(tmp_path / "m.npz")],
                          capsys)
    assert status == 1
    assert err == f"gaussext: error: {tmp_path / 'x.npy'} is a directory, not a data file\n"
