"""Diagonal (per-feature) scoring: log p(x) = sum_j log N(x_j; mu_j, sigma_j^2).

Peers, all fitted on the same training rows and scoring the same X:

* ``gaussext`` — ``GaussianAnomalyDetector().score_samples`` (all cores);
* ``gaussext-1-thread`` — the same with ``n_jobs=1``;
* ``python-loop`` — the classic notebook: a Python loop over every element
  multiplying densities (n = 10^4 only);
* ``numpy`` — the vectorised NumPy formula;
* ``scipy-norm`` — ``scipy.stats.norm.logpdf(X, mu, sigma).sum(axis=1)``;
* ``sklearn-gmm-diag`` — ``GaussianMixture(1, covariance_type="diag").score_samples``;
* ``floor-sum`` — ``X.sum()``: one read pass over X, what memory allows.
"""

import math

import numpy as np

JOB = "diagonal scoring"
PEERS = ["gaussext", "gaussext-1-thread", "python-loop", "numpy", "scipy-norm",
         "sklearn-gmm-diag", "floor-sum"]
PYTHON_LOOP_MAX_ROWS = 10_000


def runs(peer, case):
    n_samples = case[0]
    return peer != "python-loop" or n_samples <= PYTHON_LOOP_MAX_ROWS


def python_loop(X, mean, var):
    """The classic notebook: p(x) as a product of per-feature densities."""
    probabilities = []
    for row in X:
        p = 1.0
        for x, mu, sigma2 in zip(row, mean, var):
            p *= math.exp(-((x - mu) ** 2) / (2 * sigma2)) / math.sqrt(2 * math.pi * sigma2)
        probabilities.append(p)
    return np.log(probabilities)


def numpy_log_density(X, mean, var):
    """The vectorised formula, as a NumPy user writes it."""
    return -0.5 * np.sum(np.log(2 * np.pi * var)) - 0.5 * np.sum((X - mean) ** 2 / var, axis=1)


def make_scorer(peer, training, detector):
    if peer == "gaussext":
        return detector(n_jobs=None).score_samples
    if peer == "gaussext-1-thread":
        return detector(n_jobs=1).score_samples
    mean, var = training.mean(axis=0, dtype=np.float64), training.var(axis=0, dtype=np.float64)
    if peer == "python-loop":
        return lambda X: python_loop(X, mean, var)
    if peer == "numpy":
        return lambda X: numpy_log_density(X, mean, var)
    if peer == "scipy-norm":
        from scipy.stats import norm

        return lambda X: norm.logpdf(X, mean, np.sqrt(var)).sum(axis=1)
    if peer == "sklearn-gmm-diag":
        from sklearn.mixture import GaussianMixture

        return GaussianMixture(1, covariance_type="diag", reg_covar=0.0).fit(training).score_samples
    assert peer == "floor-sum"
    return lambda X: X.sum()


def test_diagonal_scoring(measure, data, training_rows, fitted_detector, case, peer):
    X = data(*case)
    training = X[:training_rows]
    scorer = make_scorer(peer, training, lambda n_jobs: fitted_detector(training, "diagonal", n_jobs))
    result = measure(scorer, X)
    if peer != "floor-sum":
        expected = fitted_detector(training, "diagonal", 1).score_samples(X)
        # Peers fed float32 compute in float32; gaussext widens each element.
        rtol = 1e-9 if X.dtype == np.float64 else 1e-4
        np.testing.assert_allclose(result, expected, rtol=rtol)
