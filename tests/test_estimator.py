"""The estimator's contract: scikit-learn's checks, the API semantics, errors."""

import pickle

import numpy as np
import pytest
from scipy import stats

import gaussext
from gaussext import GaussianAnomalyDetector, NotFittedError
from gaussext._testing import sklearn_checks


def _sklearn_checks():
    for covariance in ("diagonal", "full"):
        yield from sklearn_checks(GaussianAnomalyDetector(covariance), f"{covariance}-")


@pytest.mark.filterwarnings("ignore:.*does not inherit from:UserWarning")
# scikit-learn's checks fit tiny data sets: the full model rightly warns there
@pytest.mark.filterwarnings("ignore::gaussext.ConditioningWarning")
@pytest.mark.parametrize("estimator, check", list(_sklearn_checks()))
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def correlated():
    rng = np.random.default_rng(7)
    mixing = np.array([[2.0, 0.0, 0.0], [1.2, 0.5, 0.0], [-0.3, 0.4, 1.0]])
    return rng.normal(size=(4000, 3)) @ mixing.T + np.array([10.0, -5.0, 3.0])


def test_diagonal_matches_scipy(correlated):
    det = GaussianAnomalyDetector("diagonal").fit(correlated)
    mean, std = correlated.mean(axis=0), correlated.std(axis=0)
    expected = stats.norm(mean, std).logpdf(correlated[:50]).sum(axis=1)
    np.testing.assert_allclose(det.score_samples(correlated[:50]), expected, rtol=1e-12)
    np.testing.assert_allclose(det.var_, correlated.var(axis=0), rtol=1e-12)
    assert not hasattr(det, "covariance_")


def test_full_matches_scipy(correlated):
    det = GaussianAnomalyDetector("full").fit(correlated)
    covariance = np.cov(correlated, rowvar=False, bias=True)
    np.testing.assert_allclose(det.covariance_, covariance, rtol=1e-12)
    np.testing.assert_allclose(det.cholesky_factor_ @ det.cholesky_factor_.T, covariance,
                               rtol=1e-12)
    assert np.all(np.triu(det.cholesky_factor_, 1) == 0)
    expected = stats.multivariate_normal(correlated.mean(axis=0), covariance).logpdf(correlated)
    np.testing.assert_allclose(det.score_samples(correlated), expected, rtol=1e-12)
    assert det.log_det_ == pytest.approx(np.linalg.slogdet(covariance)[1], rel=1e-12)
    assert not hasattr(det, "var_")


def test_ddof_gives_unbiased_estimates(correlated):
    diagonal = GaussianAnomalyDetector(ddof=1).fit(correlated)
    np.testing.assert_allclose(diagonal.var_, correlated.var(axis=0, ddof=1), rtol=1e-12)
    full = GaussianAnomalyDetector("full", ddof=1).fit(correlated)
    np.testing.assert_allclose(full.covariance_, np.cov(correlated, rowvar=False), rtol=1e-12)


def test_refit_switches_model(correlated):
    det = GaussianAnomalyDetector("full").fit(correlated)
    det.set_params(covariance="diagonal").fit(correlated)
    assert not hasattr(det, "covariance_") and not hasattr(det, "cholesky_factor_")
    np.testing.assert_allclose(det.score_samples(correlated[:5]),
                               GaussianAnomalyDetector().fit(correlated).score_samples(correlated[:5]))


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_decision_predict_pdf_consistent(correlated, covariance):
    det = GaussianAnomalyDetector(covariance, contamination=0.05).fit(correlated)
    scores = det.score_samples(correlated)
    np.testing.assert_array_equal(det.decision_function(correlated), scores - det.log_epsilon_)
    assert det.offset_ == det.log_epsilon_
    assert det.epsilon_ == pytest.approx(np.exp(det.log_epsilon_), rel=1e-15)
    predictions = det.predict(correlated)
    np.testing.assert_array_equal(predictions, np.where(scores < det.log_epsilon_, -1, 1))
    # the contamination quantile flags that fraction of the training set
    assert np.sum(predictions == -1) == 200
    np.testing.assert_allclose(det.pdf(correlated), np.exp(scores), rtol=1e-15)
    np.testing.assert_array_equal(det.fit_predict(correlated), predictions)


def test_full_model_catches_broken_correlation(correlated):
    # a point whose coordinates are each ordinary but whose combination is not
    center = correlated.mean(axis=0)
    odd = center + np.array([2.0, -1.5, 0.0]) * correlated.std(axis=0)
    diagonal = GaussianAnomalyDetector("diagonal", contamination=0.01).fit(correlated)
    full = GaussianAnomalyDetector("full", contamination=0.01).fit(correlated)
    assert diagonal.predict([odd])[0] == 1
    assert full.predict([odd])[0] == -1


def test_hundreds_of_features_stay_finite():
    # 800 per-feature densities multiply to 0.0 in float64; their logs do not
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 800))
    det = GaussianAnomalyDetector().fit(X)
    scores = det.score_samples(X)
    assert np.all(np.isfinite(scores))
    assert np.all(det.pdf(X) == 0.0)
    assert np.all(np.isfinite(det.decision_function(X)))
    assert np.sum(det.predict(X) == -1) == 50


def test_tune_threshold_stores_epsilon():
    rng = np.random.default_rng(3)
    X_train = rng.normal(size=(1000, 2))
    X_val = np.vstack([rng.normal(size=(95, 2)), rng.normal(size=(5, 2)) * 6])
    y_val = np.r_[np.zeros(95), np.ones(5)]
    det = GaussianAnomalyDetector().fit(X_train)
    result = det.tune_threshold(X_val, y_val)
    assert det.threshold_ is result
    assert det.log_epsilon_ == result.log_epsilon == det.offset_
    assert det.epsilon_ == result.epsilon
    flagged = det.predict(X_val) == -1
    assert int(np.sum(flagged & (y_val == 1))) == result.true_positives
    assert int(np.sum(flagged & (y_val == 0))) == result.false_positives
    grid = det.tune_threshold(X_val, y_val, method="grid")
    assert det.epsilon_ == grid.epsilon and grid.f1 <= result.f1


def test_dataframe_feature_names(correlated):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(correlated, columns=["latency", "throughput", "load"])
    det = GaussianAnomalyDetector().fit(frame)
    np.testing.assert_array_equal(det.feature_names_in_, ["latency", "throughput", "load"])
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        unnamed = det.score_samples(correlated)
    np.testing.assert_array_equal(det.score_samples(frame), unnamed)
    with pytest.raises(ValueError, match="feature names should match"):
        det.score_samples(frame[["load", "latency", "throughput"]])
    constant = frame.assign(load=1.0)
    with pytest.raises(ValueError, match=r"Feature\(s\) 2 \('load'\) have zero variance"):
        GaussianAnomalyDetector().fit(constant)


def test_get_set_params_and_repr():
    det = GaussianAnomalyDetector("full", contamination=0.05)
    assert det.get_params() == {"contamination": 0.05, "covariance": "full", "ddof": 0,
                                "half_life": None, "missing": "error", "n_jobs": None,
                                "reg_covar": 0.0, "resumable": False,
                                "robust": False, "shrinkage": None, "variance_floor": 0.0}
    assert repr(det) == "GaussianAnomalyDetector(contamination=0.05, covariance='full')"
    assert det.set_params(ddof=1) is det and det.ddof == 1
    with pytest.raises(ValueError, match="Invalid parameter 'sigma'"):
        det.set_params(sigma=1)


def test_pickle_round_trip(correlated):
    det = GaussianAnomalyDetector("full").fit(correlated)
    clone = pickle.loads(pickle.dumps(det))
    np.testing.assert_array_equal(clone.score_samples(correlated), det.score_samples(correlated))


def test_not_fitted_error_without_sklearn_semantics():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        GaussianAnomalyDetector().predict([[1.0]])
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)


def test_public_names():
    assert set(gaussext.__all__) == {"ConditioningWarning", "Evaluation",
                                     "GaussianAnomalyDetector", "GaussianStatistics",
                                     "GaussianizingTransformer", "NotFittedError",
                                     "ThresholdResult", "evaluate", "fit_file", "score_file",
                                     "select_threshold", "tune_file", "__version__"}


@pytest.mark.parametrize("n_samples", [2, 3, 10, 1001])
@pytest.mark.parametrize("contamination", [0.001, 0.01, 0.1, 0.25, 0.5])
def test_contamination_epsilon_is_numpys_linear_quantile(n_samples, contamination):
    """log_epsilon_ is the contamination-quantile of the training scores with
    NumPy's default (linear) interpolation, which fit computes by a partial
    sort rather than by np.quantile."""
    X = np.random.default_rng(n_samples).normal(size=(n_samples, 3))
    det = GaussianAnomalyDetector(contamination=contamination).fit(X)
    expected = np.quantile(det.score_samples(X), contamination)
    assert det.log_epsilon_ == pytest.approx(expected, rel=1e-15, abs=1e-15)
