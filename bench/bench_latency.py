"""One-row latency: the serving case, one event scored at a time.

Peers score the same single row (d = 8, float64), each call complete with
its own validation:

* ``gaussext-diagonal`` / ``gaussext-full`` — ``score_samples`` of one row;
* ``gaussext-diagonal-predict`` / ``gaussext-full-predict`` — ``predict``;
* ``scipy-mvn`` — ``scipy.stats.multivariate_normal(mu, Sigma).logpdf``;
* ``sklearn-gmm-full`` — ``GaussianMixture(1, "full").score_samples``.

The group's arrays are tiny, so a median here is Python and call overhead:
what a web service pays per event.
"""

import numpy as np

JOB = "one-row latency"
PEERS = ["gaussext-diagonal", "gaussext-full", "gaussext-diagonal-predict",
         "gaussext-full-predict", "scipy-mvn", "sklearn-gmm-full"]
QUICK_CASES = [(1, 8, "float64")]
FULL_CASES = [(1, 8, "float64"), (1, 32, "float64")]


def make_scorer(peer, training):
    from gaussext import GaussianAnomalyDetector

    if peer.startswith("gaussext"):
        covariance = "full" if "full" in peer else "diagonal"
        detector = GaussianAnomalyDetector(covariance).fit(training)
        return detector.predict if peer.endswith("predict") else detector.score_samples
    if peer == "scipy-mvn":
        from scipy.stats import multivariate_normal

        return multivariate_normal(training.mean(axis=0), np.cov(training, rowvar=False,
                                                                 bias=True)).logpdf
    from sklearn.mixture import GaussianMixture

    assert peer == "sklearn-gmm-full"
    return GaussianMixture(1, covariance_type="full", reg_covar=0.0).fit(training).score_samples


def test_one_row_latency(measure, data, training_rows, case, peer):
    n_rows, n_features, dtype_name = case
    training = data(training_rows, n_features, dtype_name)
    row = np.array(training[:n_rows])
    result = np.atleast_1d(measure(make_scorer(peer, training), row))
    assert result.shape == (n_rows,)
    if peer.endswith("predict"):
        assert set(result.tolist()) <= {-1, 1}
        return
    from scipy.stats import multivariate_normal

    covariance = np.cov(training, rowvar=False, bias=True)
    if peer == "gaussext-diagonal":
        covariance = np.diag(np.diagonal(covariance))
    expected = multivariate_normal(training.mean(axis=0), covariance).logpdf(row)
    np.testing.assert_allclose(result, expected, rtol=1e-9)
