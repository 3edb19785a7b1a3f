"""Outputs never destroy data: no output over an input, every output written
atomically (a failure leaves the destination as it was and nothing beside it),
CSV cells a spreadsheet would run neutralised, a closed pipe ended quietly."""

import csv
import io
import subprocess
import sys

import numpy as np
import pytest

import gaussext
from gaussext import GaussianAnomalyDetector
from gaussext._cli import main
from gaussext._io import write_records

RNG = np.random.default_rng(3)
X = RNG.normal(10.0, 2.0, size=(200, 2))


def _csv(path, header, rows):
    path.write_text("\n".join([",".join(header), *(",".join(map(str, r)) for r in rows)]) + "\n")
    return path


def _run(argv, capsys):
    try:
        status = main([str(a) for a in argv])
    except SystemExit as exit_info:
        status = exit_info.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


# -- no output over an input --------------------------------------------------

@pytest.mark.parametrize("link", ["symbolic", "hard"])
def test_an_output_reaching_an_input_through_a_link_is_refused(tmp_path, capsys, link):
    data = _csv(tmp_path / "train.csv", ["a", "b"], X)
    before = data.read_bytes()
    alias = tmp_path / "alias.npz"
    (alias.symlink_to if link == "symbolic" else alias.hardlink_to)(data)
    status, out, err = _run(["fit", data, "--model", alias], capsys)
    assert status == 2 and out == ""
    assert err.startswith(f"gaussext: error: refusing to write the model to {alias}: it is "
                          f"the same file as the input (as {data})")
    assert data.read_bytes() == before


def test_tune_in_place_rewrites_the_model_not_the_data(tmp_path, capsys):
    # the one output allowed over an input: tune replaces the model it read
    data = _csv(tmp_path / "v.csv", ["a", "b", "y"],
                [(*row, int(i % 10 == 0)) for i, row in enumerate(X)])
    model = tmp_path / "m.npz"
    GaussianAnomalyDetector().fit(X).save(model)
    status, _, err = _run(["tune", model, data, "--label-column", "y"], capsys)
    assert status == 0, err
    assert GaussianAnomalyDetector.load(model).threshold_ is None
    assert _listing(tmp_path) == ["m.npz", "v.csv"]


# -- atomic outputs -------------------------------------------------------------

def _records_failing_at(row):
    for i in range(1000):
        if i == row:
            raise ValueError(f"no score for row {i}")
        yield {"row": i, "log_density": -float(i)}


@pytest.mark.parametrize("name", ["scores.csv", "scores.json"])
def test_a_failure_while_writing_records_leaves_the_old_file(tmp_path, name):
    path = tmp_path / name
    path.write_text("previous\n")
    with pytest.raises(ValueError, match="no score for row 900"):
        write_records(str(path), ["row", "log_density"], _records_failing_at(900))
    assert path.read_text() == "previous\n"
    assert _listing(tmp_path) == [name]


def test_score_file_failing_at_row_900_leaves_the_previous_output(tmp_path):
    detector = GaussianAnomalyDetector().fit(X)
    rows = RNG.normal(10.0, 2.0, size=(1000, 2))
    rows[900, 1] = np.nan
    np.save(tmp_path / "new.npy", rows)
    previous = np.arange(5.0)
    np.save(tmp_path / "scores.npy", previous)
    with pytest.raises(ValueError, match="row 900"):
        gaussext.score_file(detector, tmp_path / "new.npy", tmp_path / "scores.npy",
                            block_rows=100)
    np.testing.assert_array_equal(np.load(tmp_path / "scores.npy"), previous)
    assert _listing(tmp_path) == ["new.npy", "scores.npy"]


def test_score_file_refuses_a_header_claiming_more_rows_than_the_file_holds(tmp_path):
    detector = GaussianAnomalyDetector().fit(X)
    path = tmp_path / "liar.npy"
    header = repr({"descr": "<f8", "fortran_order": False, "shape": (10**12, 2)}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header
                     + X.tobytes())
    with pytest.raises(ValueError, match=r"liar.npy' is \d+ bytes, but its header describes "
                                         r"a float64 array of shape \(1000000000000, 2\)"):
        gaussext.score_file(detector, path, tmp_path / "scores.npy")
    assert _listing(tmp_path) == ["liar.npy"]


def test_score_file_success_replaces_the_output(tmp_path):
    detector = GaussianAnomalyDetector().fit(X)
    np.save(tmp_path / "new.npy", X)
    np.save(tmp_path / "scores.npy", np.arange(5.0))
    written = gaussext.score_file(detector, tmp_path / "new.npy", tmp_path / "scores.npy")
    np.testing.assert_array_equal(written, detector.score_samples(X))
    assert _listing(tmp_path) == ["new.npy", "scores.npy"]


# -- CSV cells a spreadsheet would run ------------------------------------------

def test_formula_like_text_cells_are_neutralised_and_numbers_untouched():
    out = io.StringIO()
    records = [{"name": "=HYPERLINK(\"http://x\")", "value": -1.5},
               {"name": "+1", "value": 2.0}, {"name": "-a", "value": -0.0},
               {"name": "@SUM(A1)", "value": 3.0}, {"name": "\tx", "value": 1e300},
               {"name": "plain", "value": -7}]
    write_records(out, ["name", "value"], records, format="csv")
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [row["name"] for row in rows] == ["'=HYPERLINK(\"http://x\")", "'+1", "'-a",
                                             "'@SUM(A1)", "'\tx", "plain"]
    assert [row["value"] for row in rows] == ["-1.5", "2.0", "-0.0", "3.0", "1e+300", "-7"]


def test_a_formula_in_a_column_name_reaches_the_output_csv_neutralised(tmp_path, capsys):
    name = '=HYPERLINK("http://x","y")'
    rows = np.vstack([X, [[30.0, 10.0]]])
    data = _csv(tmp_path / "d.csv", ['"' + name.replace('"', '""') + '"', "b"], rows)
    status, _, err = _run(["detect", data, "--out", tmp_path / "s.csv", "--explain", "1"],
                          capsys)
    assert status == 0, err
    written = list(csv.DictReader(open(tmp_path / "s.csv", newline="")))
    top = [row["top_features"] for row in written if row["top_features"]]
    assert top and all(cell.startswith("'=HYPERLINK") for cell in top if "HYPERLINK" in cell)
    assert any("HYPERLINK" in cell for cell in top)
    assert all(not row["log_density"].startswith("'") for row in written)


# -- a closed pipe; a missing matplotlib ---------------------------------------

@pytest.mark.parametrize("argv, first_line", [
    (["score", "m.npz", "big.npy"], b"row,log_density"),       # scores to standard output
    (["detect", "big.npy", "--model", "kept.npz"], b"big.npy: 50000 rows"),  # a long report
])
def test_a_reader_closing_the_pipe_ends_the_command_quietly(tmp_path, argv, first_line):
    np.save(tmp_path / "big.npy", RNG.normal(size=(50000, 2)))
    GaussianAnomalyDetector().fit(X - 10.0).save(tmp_path / "m.npz")
    process = subprocess.Popen([sys.executable, "-m", "gaussext", *argv],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = process.stdout.readline()
    process.stdout.close()  # as `| head -1` does
    status = process.wait(timeout=120)
    err = process.stderr.read().decode()
    process.stderr.close()
    assert first.startswith(first_line)
    assert status == 0 and err == ""
    if "--model" in argv:  # the work goes on: the model asked for is written
        assert GaussianAnomalyDetector.load(tmp_path / "kept.npz").n_features_in_ == 2


_WITHOUT_MATPLOTLIB = (
    "import sys; sys.modules['matplotlib'] = None; "  # import matplotlib then fails
    "from gaussext._cli import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.mark.parametrize("argv", [["detect", "d.csv", "--model", "m.npz", "--plot", "r.png"],
                                  ["demo", "--plot", "r.png"]])
def test_plot_without_matplotlib_fails_before_any_work(tmp_path, argv):
    # a fresh process: matplotlib's modules must not be loaded already
    _csv(tmp_path / "d.csv", ["a", "b"], X)
    done = subprocess.run([sys.executable, "-c", _WITHOUT_MATPLOTLIB, *argv], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("gaussext: error: gaussext.plot needs matplotlib")
    assert done.stderr.count("\n") == 1
    assert _listing(tmp_path) == ["d.csv"]
