"""Fitting: the mean and (co)variance of n rows.

Peers on the same X:

* ``gaussext-diagonal`` — ``GaussianAnomalyDetector("diagonal").fit``;
* ``gaussext-full`` — ``GaussianAnomalyDetector("full").fit``;
* ``numpy-mean-var`` — ``X.mean(0)`` and ``X.var(0)``;
* ``numpy-cov`` — ``np.cov(X, rowvar=False)``;
* ``sklearn-empirical-covariance`` — ``EmpiricalCovariance().fit``.

The estimator's fit also sets epsilon from `contamination`, which scores the
training rows once; that is part of what a user pays for and is measured.
"""

import numpy as np

JOB = "fit"
PEERS = ["gaussext-diagonal", "gaussext-full", "numpy-mean-var", "numpy-cov",
         "sklearn-empirical-covariance"]


def make_fitter(peer):
    from gaussext import GaussianAnomalyDetector

    if peer == "gaussext-diagonal":
        return lambda X: GaussianAnomalyDetector("diagonal").fit(X).var_
    if peer == "gaussext-full":
        return lambda X: GaussianAnomalyDetector("full").fit(X).covariance_
    if peer == "numpy-mean-var":
        return lambda X: (X.mean(axis=0), X.var(axis=0))[1]
    if peer == "numpy-cov":
        return lambda X: np.cov(X, rowvar=False, bias=True)
    from sklearn.covariance import EmpiricalCovariance

    assert peer == "sklearn-empirical-covariance"
    return lambda X: EmpiricalCovariance().fit(X).covariance_


def test_fit(measure, data, case, peer):
    X = data(*case)
    result = measure(make_fitter(peer), X)
    # Every peer's variances against a float64 two-pass reference.
    centred = X - X.mean(axis=0, dtype=np.float64)
    expected_var = np.einsum("ij,ij->j", centred, centred) / X.shape[0]
    variances = result if result.ndim == 1 else np.diagonal(result)
    rtol = 1e-9 if X.dtype == np.float64 else 1e-3
    np.testing.assert_allclose(variances, expected_var, rtol=rtol)
