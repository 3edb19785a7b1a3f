"""explain(): per-feature contributions to -log p(x), against SciPy and the
oracle, summing back to -score_samples."""

import numpy as np
import pytest
from scipy import linalg, stats

from gaussext import GaussianAnomalyDetector, NotFittedError, oracle

RNG = np.random.default_rng(5)
MIX = np.array([[1.0, 0.0, 0.0, 0.0], [0.8, 0.6, 0.0, 0.0], [-0.3, 0.5, 1.2, 0.0],
                [0.1, 0.2, 0.3, 2.0]])
X_TRAIN = RNG.normal(size=(800, 4)) @ MIX.T + [3.0, -1.0, 10.0, 0.5]
X_NEW = RNG.normal(size=(60, 4)) * 3 @ MIX.T + [3.0, -1.0, 10.0, 0.5]


def test_diagonal_contributions_are_each_features_normal_term():
    det = GaussianAnomalyDetector().fit(X_TRAIN)
    expected = -stats.norm.logpdf(X_NEW, loc=det.mean_, scale=np.sqrt(det.var_))
    contributions = det.explain(X_NEW)
    assert contributions.shape == X_NEW.shape and contributions.dtype == np.float64
    np.testing.assert_allclose(contributions, expected, rtol=1e-12)
    mean, var = oracle.mean_and_variance(X_TRAIN)
    np.testing.assert_allclose(contributions.sum(axis=1),
                               -oracle.diagonal_log_density(X_NEW, mean, var), rtol=1e-12)


def test_full_contributions_follow_the_whitened_residual():
    det = GaussianAnomalyDetector("full").fit(X_TRAIN)
    cov = np.cov(X_TRAIN, rowvar=False, bias=True)
    factor = np.linalg.cholesky(cov)
    z = linalg.solve_triangular(factor, (X_NEW - X_TRAIN.mean(axis=0)).T, lower=True).T
    expected = 0.5 * z**2 + np.log(np.diag(factor)) + 0.5 * np.log(2 * np.pi)
    contributions = det.explain(X_NEW)
    np.testing.assert_allclose(contributions, expected, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(contributions.sum(axis=1),
                               -oracle.full_log_density(X_NEW, X_TRAIN.mean(axis=0), cov),
                               rtol=1e-11)


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_rows_sum_to_minus_the_score(covariance):
    det = GaussianAnomalyDetector(covariance).fit(X_TRAIN)
    np.testing.assert_allclose(det.explain(X_NEW).sum(axis=1), -det.score_samples(X_NEW),
                               rtol=1e-12)


def test_full_attribution_depends_on_column_order_as_documented():
    # feature 0 is judged alone: its term is the marginal -log N(x0; mu0, Sigma00);
    # the last feature's is the conditional one given all the others
    det = GaussianAnomalyDetector("full").fit(X_TRAIN)
    first = det.explain(X_NEW)[:, 0]
    np.testing.assert_allclose(
        first, -stats.norm.logpdf(X_NEW[:, 0], det.mean_[0], np.sqrt(det.covariance_[0, 0])),
        rtol=1e-12)
    last = det.explain(X_NEW)[:, 3]
    cov, mean = det.covariance_, det.mean_
    weights = np.linalg.solve(cov[:3, :3], cov[:3, 3])
    conditional_mean = mean[3] + (X_NEW[:, :3] - mean[:3]) @ weights
    conditional_var = cov[3, 3] - cov[:3, 3] @ weights
    np.testing.assert_allclose(
        last, -stats.norm.logpdf(X_NEW[:, 3], conditional_mean, np.sqrt(conditional_var)),
        rtol=1e-9)
    reordered = GaussianAnomalyDetector("full").fit(X_TRAIN[:, ::-1])
    assert not np.allclose(reordered.explain(X_NEW[:, ::-1])[:, ::-1], det.explain(X_NEW))


def test_a_point_off_in_one_feature_is_blamed_on_it():
    det = GaussianAnomalyDetector().fit(X_TRAIN)
    point = det.mean_.copy()
    point[2] += 8 * np.sqrt(det.var_[2])
    excess = det.explain(point[None]) - det.explain(det.mean_[None])
    assert np.argmax(excess) == 2 and excess[0, 2] == pytest.approx(32.0)


def test_float32_input_and_no_modification():
    det = GaussianAnomalyDetector("full").fit(X_TRAIN)
    X32 = X_NEW.astype(np.float32)
    X32.flags.writeable = False
    np.testing.assert_allclose(det.explain(X32), det.explain(X32.astype(np.float64)), rtol=1e-12)
    assert np.array_equal(X32, X_NEW.astype(np.float32))


def test_bad_input():
    det = GaussianAnomalyDetector().fit(X_TRAIN)
    bad = X_NEW.copy()
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match="first at row 4, column 1"):
        det.explain(bad)
    with pytest.raises(ValueError, match="X has 3 features, but GaussianAnomalyDetector is "
                                         "expecting 4"):
        det.explain(X_NEW[:, :3])
    with pytest.raises(NotFittedError):
        GaussianAnomalyDetector().explain(X_NEW)


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_points_beyond_float64_range_get_infinite_contributions_not_nan(covariance):
    """x - mu overflows for x = +-1.7e308: the contributions are +inf (the
    score is -inf), never NaN; ordinary rows in the same call are unaffected."""
    det = GaussianAnomalyDetector(covariance).fit(X_TRAIN)
    far = np.array([[1.7e308, -1.7e308, 1.7e308, -1.7e308], [1e200, -1e200, 0.0, 0.0]])
    contributions = det.explain(np.vstack([far, X_NEW[:3]]))
    assert not np.isnan(contributions).any()
    assert np.all(contributions[0] == np.inf) and np.all(det.score_samples(far) == -np.inf)
    assert contributions[1, 0] == np.inf
    np.testing.assert_array_equal(contributions[2:], det.explain(X_NEW[:3]))
