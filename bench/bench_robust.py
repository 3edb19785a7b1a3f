"""Robust fit and score on contaminated rows: ours against EllipticEnvelope.

Peers, each fitted on all rows of ``robust_suite.large_set`` (correlated
Gaussian inliers, 10% scattered anomalies) and scoring the same rows:

* ``gaussext-robust-full`` — ``GaussianAnomalyDetector("full", robust=True)``;
* ``gaussext-robust-diagonal`` — the same with ``"diagonal"``;
* ``sklearn-elliptic-envelope`` — ``EllipticEnvelope(random_state=0)``
  (scikit-learn's FastMCD).

Each checks that its ranking finds the anomalies (ROC AUC > 0.95), so a fast
wrong answer cannot pass.  The AUC table over the whole suite is made by
``python bench/robust_suite.py`` (see bench/README.md).
"""

import importlib.util
import pathlib
import warnings

import numpy as np

JOB = "robust fit+score"
PEERS = ["gaussext-robust-full", "gaussext-robust-diagonal", "sklearn-elliptic-envelope"]
QUICK_CASES = [(1_000, 4, "float64")]
FULL_CASES = [(50_000, 9, "float64")]

_spec = importlib.util.spec_from_file_location(
    "robust_suite", pathlib.Path(__file__).with_name("robust_suite.py"))
robust_suite = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(robust_suite)


def make_scorer(peer):
    from gaussext import GaussianAnomalyDetector

    if peer == "gaussext-robust-full":
        return lambda X: GaussianAnomalyDetector("full", robust=True).fit(X).score_samples(X)
    if peer == "gaussext-robust-diagonal":
        return lambda X: GaussianAnomalyDetector("diagonal", robust=True).fit(X) \
            .score_samples(X)
    from sklearn.covariance import EllipticEnvelope

    assert peer == "sklearn-elliptic-envelope"
    return lambda X: EllipticEnvelope(random_state=0).fit(X).score_samples(X)


def test_robust_fit_and_score(measure, case, peer):
    from sklearn.metrics import roc_auc_score

    n, d, _ = case
    _, X, y = robust_suite.large_set(n, d)
    with warnings.catch_warnings():
        # scikit-learn's MCD warns about determinants that increase; not ours to judge
        warnings.simplefilter("ignore", RuntimeWarning)
        scores = measure.pedantic(make_scorer(peer), args=(X,), rounds=3, iterations=1)
    assert scores.shape == (X.shape[0],) and np.all(np.isfinite(scores))
    assert roc_auc_score(y, -scores) > 0.95
