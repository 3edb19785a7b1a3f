"""Tail probabilities against SciPy and closed forms; conformal p-values, their
threshold and their false-alarm guarantee by seeded simulation."""

import re

import numpy as np
import pytest
from scipy import special, stats

from gaussext import GaussianAnomalyDetector, NotFittedError
from gaussext._calibration import chi2_log_sf

COVARIANCE = np.array([[1.5, 0.6, -0.2], [0.6, 1.0, 0.3], [-0.2, 0.3, 0.8]])


def gaussian_rows(n, seed):
    return np.random.default_rng(seed).multivariate_normal([1.0, -1.0, 3.0], COVARIANCE, n)


def t3_rows(n, rng, d=3):
    """Multivariate t with 3 degrees of freedom: heavy tails, finite variance."""
    return rng.standard_normal((n, d)) / np.sqrt(rng.chisquare(3, size=(n, 1)) / 3.0)


def mahalanobis_squared(det, X):
    """The distance written plainly, from the fitted parameters."""
    residual = X - det.mean_
    if det.covariance == "full":
        return np.einsum("ij,ij->i", residual, np.linalg.solve(det.covariance_, residual.T).T)
    return np.sum(residual**2 / det.var_, axis=1)


@pytest.mark.parametrize("covariance", ["full", "diagonal"])
def test_tail_probability_is_the_chi2_survival_function(covariance):
    det = GaussianAnomalyDetector(covariance).fit(gaussian_rows(500, 0))
    X = gaussian_rows(200, 1) * 2.0
    expected = stats.chi2.sf(mahalanobis_squared(det, X), df=3)
    np.testing.assert_allclose(det.tail_probability(X), expected, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(det.log_tail_probability(X), np.log(expected), rtol=1e-9)


@pytest.mark.parametrize("covariance", ["full", "diagonal"])
def test_tail_probability_is_uniform_on_data_from_the_fitted_model(covariance):
    det = GaussianAnomalyDetector(covariance).fit(gaussian_rows(500, 2))
    rng = np.random.default_rng(3)
    spread = det.covariance_ if covariance == "full" else np.diag(det.var_)
    probabilities = det.tail_probability(rng.multivariate_normal(det.mean_, spread, 20000))
    assert stats.kstest(probabilities, "uniform").pvalue > 0.01


def test_log_tail_is_exact_far_out_against_closed_forms():
    # two features: P(chi2_2 >= x) = exp(-x / 2) exactly
    det = GaussianAnomalyDetector("full").fit(gaussian_rows(500, 4)[:, :2])
    far = det.mean_ + np.array([[30.0, 0.0], [0.0, 100.0], [500.0, -300.0], [1e4, 1e4]])
    distances = mahalanobis_squared(det, far)
    assert distances.max() > 1e8 and det.tail_probability(far)[-1] == 0.0
    np.testing.assert_allclose(det.log_tail_probability(far), -distances / 2, rtol=1e-9)
    # four degrees of freedom: exp(-x / 2) (1 + x / 2); one: 2 Phi(-sqrt(x))
    x = np.array([2000.0, 1e4, 1e6, 1e12])
    np.testing.assert_allclose(chi2_log_sf(x, 4), -x / 2 + np.log1p(x / 2), rtol=1e-12)
    np.testing.assert_allclose(chi2_log_sf(x, 1), np.log(2) + special.log_ndtr(-np.sqrt(x)),
                               rtol=1e-12)
    assert chi2_log_sf(np.inf, 3) == -np.inf


@pytest.mark.parametrize("dof", [1, 2, 3, 7, 30])
def test_chi2_log_sf_matches_scipy_where_scipy_is_finite(dof):
    x = np.r_[0.0, np.logspace(-3, 3.1, 200)]
    expected = stats.chi2.logsf(x, dof)
    assert np.isfinite(expected).all()
    np.testing.assert_allclose(chi2_log_sf(x, dof), expected, rtol=1e-10, atol=1e-300)


def fitted_and_calibrated(alpha=0.05, n_cal=199):
    det = GaussianAnomalyDetector("full").fit(gaussian_rows(500, 5))
    return det.calibrate(gaussian_rows(n_cal, 6), false_alarm_rate=alpha)


def test_p_values_follow_the_formula():
    det = fitted_and_calibrated()
    X = gaussian_rows(300, 7) * 1.5
    calibration = det.score_samples(gaussian_rows(199, 6))
    expected = [(1 + np.sum(calibration <= s)) / 200 for s in det.score_samples(X)]
    np.testing.assert_array_equal(det.p_values(X), expected)
    # a calibration row counts itself: the lowest-scoring one gets 2 / (n + 1)
    assert det.p_values(gaussian_rows(199, 6)).min() == 2 / 200


@pytest.mark.parametrize("alpha", [0.001, 1 / 200, 0.01, 0.05, 0.2, 0.5, 0.99])
def test_predict_flags_exactly_the_rows_with_p_at_most_alpha(alpha):
    det = fitted_and_calibrated(alpha)
    # the calibration rows themselves are the hard case: ties with the scores
    X = np.vstack([gaussian_rows(2000, 8) * 1.3, gaussian_rows(199, 6)])
    np.testing.assert_array_equal(det.predict(X) == -1, det.p_values(X) <= alpha)
    assert det.threshold_ is None and det.false_alarm_rate_ == alpha
    if alpha < 1 / 200:
        assert det.log_epsilon_ == -np.inf and np.all(det.predict(X) == 1)


def conformal_false_alarms(make_rows, alpha, n_trials, n_cal, seed):
    """Over independent trials (fixed model, fresh calibration rows and one
    fresh normal row each), how many rows calibrate() flags."""
    rng = np.random.default_rng(seed)
    # one thread: thousands of tiny calls, no thread start-up each time
    det = GaussianAnomalyDetector("full", n_jobs=1).fit(make_rows(1000, rng))
    alarms = 0
    for _ in range(n_trials):
        det.calibrate(make_rows(n_cal, rng), false_alarm_rate=alpha)
        alarms += int(det.predict(make_rows(1, rng))[0] == -1)
    return alarms


@pytest.mark.parametrize("rows", ["gaussian", "t3"])
def test_conformal_false_alarm_rate_is_at_most_alpha(rows):
    make_rows = (lambda n, rng: rng.standard_normal((n, 3)) @ np.linalg.cholesky(COVARIANCE).T
                 ) if rows == "gaussian" else t3_rows
    alpha, n_cal, n_trials = 0.1, 49, 4000
    alarms = conformal_false_alarms(make_rows, alpha, n_trials, n_cal, seed=11)
    # exactly Binomial(n_trials, floor(alpha (n + 1)) / (n + 1)) for continuous
    # scores: here 5 / 50 = alpha; accept within 3.5 binomial standard deviations
    rate = np.floor(alpha * (n_cal + 1)) / (n_cal + 1)
    sd = np.sqrt(n_trials * rate * (1 - rate))
    assert abs(alarms - n_trials * rate) < 3.5 * sd


def test_chi2_misses_alpha_on_heavy_tails_where_conformal_does_not():
    rng = np.random.default_rng(12)
    det = GaussianAnomalyDetector("full").fit(t3_rows(5000, rng))
    normal_rows = t3_rows(200_000, rng)
    alpha = 0.01
    chi2_rate = np.mean(det.tail_probability(normal_rows) <= alpha)
    binomial_sd = np.sqrt(alpha * (1 - alpha) / normal_rows.shape[0])
    assert chi2_rate > alpha + 20 * binomial_sd  # measured 3.8%: far above 1%
    det.calibrate(t3_rows(9999, rng), false_alarm_rate=alpha)
    conformal_rate = np.mean(det.predict(normal_rows) == -1)
    # this one calibration set's rate is Beta(100, 9900)-distributed around alpha (sd 0.001)
    assert abs(conformal_rate - alpha) < 0.0035


def test_calibration_errors_and_lifecycle():
    det = GaussianAnomalyDetector("full").fit(gaussian_rows(300, 13))
    X = gaussian_rows(20, 14)
    with pytest.raises(NotFittedError, match=re.escape(
            "This GaussianAnomalyDetector is not calibrated: call 'calibrate' with held-out "
            "normal rows before 'p_values'.")):
        det.p_values(X)
    for alpha, error, message in [(0.0, ValueError, "false_alarm_rate must be > 0.0, got 0.0"),
                                  (1.0, ValueError, "false_alarm_rate must be < 1.0, got 1.0"),
                                  ("0.1", TypeError, "false_alarm_rate must be a real number")]:
        with pytest.raises(error, match=re.escape(message)):
            det.calibrate(X, false_alarm_rate=alpha)
    with pytest.raises(NotFittedError):
        GaussianAnomalyDetector().calibrate(X)
    det.calibrate(X, false_alarm_rate=0.2)
    det.fit(gaussian_rows(300, 13))  # a new fit invalidates the calibration
    assert not hasattr(det, "calibration_scores_")


def test_calibration_survives_save_and_load(tmp_path):
    det = fitted_and_calibrated(alpha=0.05)
    det.save(tmp_path / "m.npz")
    loaded = GaussianAnomalyDetector.load(tmp_path / "m.npz")
    X = gaussian_rows(500, 15) * 1.4
    np.testing.assert_array_equal(loaded.p_values(X), det.p_values(X))
    np.testing.assert_array_equal(loaded.predict(X), det.predict(X))
    assert loaded.false_alarm_rate_ == 0.05


def test_a_file_with_half_the_calibration_is_refused(tmp_path):
    det = fitted_and_calibrated()
    det.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as archive:
        arrays = {name: archive[name] for name in archive.files}
    del arrays["calibration_scores"]
    np.savez(tmp_path / "half.npz", **arrays)
    with pytest.raises(ValueError,
                       match="calibration_scores and false_alarm_rate go together: got only one"):
        GaussianAnomalyDetector.load(tmp_path / "half.npz")
    arrays["calibration_scores"] = np.array([3.0, 1.0])
    np.savez(tmp_path / "unsorted.npz", **arrays)
    with pytest.raises(ValueError, match="calibration_scores must be a sorted"):
        GaussianAnomalyDetector.load(tmp_path / "unsorted.npz")
