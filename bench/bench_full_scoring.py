"""Full-covariance scoring: log p(x) = log N(x; mu, Sigma).

Peers, all fitted on the same training rows and scoring the same X:

* ``gaussext`` — ``GaussianAnomalyDetector("full").score_samples`` (all cores);
* ``gaussext-1-thread`` — the same with ``n_jobs=1``;
* ``scipy-mvn`` — ``scipy.stats.multivariate_normal(mu, Sigma).logpdf``;
* ``sklearn-gmm-full`` — ``GaussianMixture(1, covariance_type="full").score_samples``;
* ``sklearn-mahalanobis`` — ``EmpiricalCovariance().mahalanobis`` (squared
  distances only, no log-density);
* ``floor-matmul`` — one ``X @ W`` product with a d x d W: the arithmetic a
  triangular solve needs, at BLAS speed.
"""

import numpy as np

JOB = "full scoring"
PEERS = ["gaussext", "gaussext-1-thread", "scipy-mvn", "sklearn-gmm-full",
         "sklearn-mahalanobis", "floor-matmul"]


def make_scorer(peer, training, detector):
    if peer == "gaussext":
        return detector(n_jobs=None).score_samples
    if peer == "gaussext-1-thread":
        return detector(n_jobs=1).score_samples
    if peer == "scipy-mvn":
        from scipy.stats import multivariate_normal

        fitted = detector(n_jobs=1)
        return multivariate_normal(fitted.mean_, fitted.covariance_).logpdf
    if peer == "sklearn-gmm-full":
        from sklearn.mixture import GaussianMixture

        return GaussianMixture(1, covariance_type="full", reg_covar=0.0).fit(training).score_samples
    if peer == "sklearn-mahalanobis":
        from sklearn.covariance import EmpiricalCovariance

        return EmpiricalCovariance().fit(training).mahalanobis
    assert peer == "floor-matmul"
    n_features = training.shape[1]
    W = np.random.default_rng(0).normal(size=(n_features, n_features)).astype(training.dtype)
    return lambda X: X @ W


def test_full_scoring(measure, data, training_rows, fitted_detector, case, peer):
    X = data(*case)
    training = X[:training_rows]
    scorer = make_scorer(peer, training, lambda n_jobs: fitted_detector(training, "full", n_jobs))
    result = measure(scorer, X)
    if peer == "floor-matmul":
        return
    reference = fitted_detector(training, "full", 1)
    expected = reference.score_samples(X)
    if peer == "sklearn-mahalanobis":
        # squared distance = 2 (log_norm - log p(x))
        log_norm = -0.5 * (X.shape[1] * np.log(2 * np.pi) + reference.log_det_)
        expected = 2.0 * (log_norm - expected)
    # Peers fed float32 compute in float32; gaussext widens each element.
    rtol = 1e-8 if X.dtype == np.float64 else 1e-3
    np.testing.assert_allclose(result, expected, rtol=rtol, atol=rtol * np.abs(expected).max())
