"""The main job, `gaussext demo`, as a user runs it."""

import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from gaussext import GaussianAnomalyDetector
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
