"""`gaussext calibrate`, p-values in `gaussext score`, and `--robust`."""

import csv

import numpy as np
import pytest

from gaussext import GaussianAnomalyDetector
from gaussext._cli import main

NAMES = ["a", "b", "c"]


def write_csv(path, X):
    np.savetxt(path, X, delimiter=",", header=",".join(NAMES), comments="", fmt="%.17g")
    return str(path)


def rows(n, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return rng.multivariate_normal([0.0, 1.0, 2.0], [[1, 0.5, 0], [0.5, 1, 0.2], [0, 0.2, 1]],
                                   n) * scale


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_calibrate_then_score_writes_p_values(tmp_path, capsys):
    train = write_csv(tmp_path / "train.csv", rows(300, 0))
    held_out = rows(99, 1)
    cal = write_csv(tmp_path / "cal.csv", held_out)
    new_rows = rows(200, 2, scale=1.5)
    new = write_csv(tmp_path / "new.csv", new_rows)
    model = str(tmp_path / "m.npz")
    assert main(["fit", train, "--model", model, "--covariance", "full"]) == 0
    assert main(["calibrate", model, cal, "--false-alarm-rate", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "calibrated on 99 held-out rows" in out and "p-value <= 0.05" in out
    assert main(["score", model, new, "--out", str(tmp_path / "s.csv")]) == 0
    records = read_csv(tmp_path / "s.csv")
    # the formula written plainly, on a detector fitted by hand
    det = GaussianAnomalyDetector("full").fit(rows(300, 0))
    calibration = det.score_samples(held_out)
    expected = [(1 + np.sum(calibration <= s)) / 100 for s in det.score_samples(new_rows)]
    p_values = np.array([float(r["p_value"]) for r in records])
    np.testing.assert_allclose(p_values, expected, rtol=1e-15)
    flags = np.array([int(r["anomaly"]) for r in records])
    np.testing.assert_array_equal(flags == 1, p_values <= 0.05)


def test_calibrate_errors_and_a_rate_too_small_for_the_rows(tmp_path, capsys):
    train = write_csv(tmp_path / "train.csv", rows(300, 0))
    cal = write_csv(tmp_path / "cal.csv", rows(20, 1))
    model = str(tmp_path / "m.npz")
    assert main(["fit", train, "--model", model]) == 0
    with pytest.raises(SystemExit) as exit_info:
        main(["calibrate", model, cal, "--false-alarm-rate", "1.5"])
    assert exit_info.value.code == 2
    assert "must be in (0, 1), got 1.5" in capsys.readouterr().err
    assert main(["calibrate", model, cal, "--false-alarm-rate", "0.01",
                 "--out", str(tmp_path / "c.npz")]) == 0
    assert "no row can be flagged: a false-alarm rate of 0.01 needs at least 99 " \
        "calibration rows" in capsys.readouterr().out
    assert main(["score", str(tmp_path / "c.npz"), cal]) == 0
    assert "p_value" in capsys.readouterr().out.splitlines()[0]
    # an uncalibrated model's output keeps its columns
    assert main(["score", model, cal]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "row,log_density,decision,anomaly"


def test_fit_robust_option(tmp_path, capsys):
    X = rows(400, 3)
    X[:80] += 15.0  # a fifth of the training rows are anomalies
    train = write_csv(tmp_path / "train.csv", X)
    model = str(tmp_path / "m.npz")
    assert main(["fit", train, "--model", model, "--covariance", "full", "--robust"]) == 0
    loaded = GaussianAnomalyDetector.load(model)
    by_hand = GaussianAnomalyDetector("full", robust=True).fit(X)
    assert loaded.robust is True
    np.testing.assert_array_equal(loaded.mean_, by_hand.mean_)
    kept = int(by_hand.support_.sum())
    assert kept < 320
    assert f"fitted a full Gaussian robustly (on {kept} rows kept) on 400 rows" in \
        capsys.readouterr().out
    assert main(["detect", train, "--covariance", "full", "--robust"]) == 0
    assert f"robust fit (minimum covariance determinant: {kept} of 400 rows kept)" in \
        capsys.readouterr().out
