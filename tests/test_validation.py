"""Bad input to the estimator: a clear error naming what is wrong, never a
crash, never a silent NaN, never a change to the caller's array."""

import warnings

import numpy as np
import pytest

import gaussext
from gaussext import GaussianAnomalyDetector, NotFittedError

RNG = np.random.default_rng(11)
GOOD = RNG.normal(size=(50, 3))


def _with(value, row, column):
    X = GOOD.copy()
    X[row, column] = value
    return X


@pytest.mark.parametrize(
    "X, error, message",
    [
        (_with(np.nan, 4, 2), ValueError,
         r"contains NaN or infinity: 1 non-finite value\(s\) \(1 NaN, 0 inf\); the first at row 4, column 2"),
        (_with(np.inf, 7, 0), ValueError, r"\(0 NaN, 1 inf\); the first at row 7, column 0"),
        (_with(-np.inf, 0, 1), ValueError, "row 0, column 1"),
        (None, TypeError, "X must be array-like, got None"),
        ("abc", TypeError, "must hold numbers"),
        ([["a", "b"], ["c", "d"]], TypeError, "must hold numbers"),
        (np.array([[1.0, {}], [2.0, 3.0]], dtype=object), TypeError, "non-numeric value"),
        (GOOD.astype(complex), ValueError, "Complex data not supported"),
        (np.empty((0, 3)), ValueError, r"0 sample\(s\) \(shape=\(0, 3\)\)"),
        (np.empty((5, 0)), ValueError, r"0 feature\(s\) \(shape=\(5, 0\)\)"),
        (GOOD[:, 0], ValueError, "got a 1-D array of shape \\(50,\\). Reshape your data"),
        (GOOD.reshape(5, 10, 3), ValueError, "got a 3-D array"),
        (np.float64(3.0), ValueError, "got a 0-D array"),
        ([[1.0, 2.0], [3.0]], ValueError, "could not be read as a rectangular numeric array"),
        (GOOD[:1], ValueError, "at least 2 to estimate a variance; got n_samples = 1"),
    ],
    ids=["nan", "inf", "-inf", "none", "string", "strings", "object-dict", "complex",
         "no-rows", "no-columns", "1-D", "3-D", "0-D", "ragged", "one-row"],
)
@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_fit_rejects(X, error, message, covariance):
    with pytest.raises(error, match=message):
        GaussianAnomalyDetector(covariance).fit(X)


@pytest.mark.parametrize("method", ["score_samples", "decision_function", "predict", "pdf"])
@pytest.mark.parametrize(
    "X, message",
    [
        (GOOD[:, :2], "X has 2 features, but GaussianAnomalyDetector is expecting 3 features"),
        (_with(np.nan, 3, 1), "row 3, column 1"),
        (np.empty((0, 3)), r"0 sample\(s\)"),
        (GOOD[0], "1-D array"),
    ],
    ids=["feature-count", "nan", "empty", "1-D"],
)
def test_scoring_rejects(method, X, message):
    det = GaussianAnomalyDetector().fit(GOOD)
    with pytest.raises(ValueError, match=message):
        getattr(det, method)(X)


@pytest.mark.parametrize("method", ["score_samples", "decision_function", "predict", "pdf"])
def test_before_fit(method):
    with pytest.raises(NotFittedError, match="not fitted yet. Call 'fit'"):
        getattr(GaussianAnomalyDetector(), method)(GOOD)


def test_tune_before_fit():
    with pytest.raises(NotFittedError):
        GaussianAnomalyDetector().tune_threshold(GOOD, np.r_[np.ones(5), np.zeros(45)])


def test_tune_rejects_bad_labels():
    det = GaussianAnomalyDetector().fit(GOOD)
    with pytest.raises(ValueError, match="has 49 labels but there are 50 samples"):
        det.tune_threshold(GOOD, np.r_[np.ones(5), np.zeros(44)])
    with pytest.raises(ValueError, match="single class"):
        det.tune_threshold(GOOD, np.zeros(50))


@pytest.mark.parametrize(
    "params, error, message",
    [
        ({"covariance": "spherical"}, ValueError, "covariance must be one of"),
        ({"contamination": 0.0}, ValueError, "contamination must be > 0.0"),
        ({"contamination": 0.7}, ValueError, "contamination must be <= 0.5"),
        ({"contamination": "auto"}, TypeError, "contamination must be a real number"),
        ({"contamination": np.nan}, ValueError, "contamination must be finite"),
        ({"ddof": -1}, ValueError, "ddof must be >= 0"),
        ({"ddof": 0.5}, TypeError, "ddof must be an integer"),
        ({"reg_covar": -1e-3}, ValueError, "reg_covar must be >= 0.0"),
        ({"reg_covar": np.inf}, ValueError, "reg_covar must be finite"),
        ({"variance_floor": -1.0}, ValueError, "variance_floor must be >= 0.0"),
        ({"variance_floor": np.nan}, ValueError, "variance_floor must be finite"),
        ({"variance_floor": "1e-3"}, TypeError, "variance_floor must be a real number"),
        ({"covariance": "full", "variance_floor": 1e-3}, ValueError,
         "variance_floor applies to covariance='diagonal' only; for the full model use "
         "reg_covar or shrinkage"),
        ({"n_jobs": 0}, ValueError, "n_jobs must be a non-zero integer"),
        ({"n_jobs": 1.5}, TypeError, "n_jobs must be an integer"),
        ({"ddof": 50}, ValueError, "more samples than ddof=50"),
    ],
)
def test_bad_parameters_reported_at_fit(params, error, message):
    det = GaussianAnomalyDetector(**params)  # constructing never raises
    with pytest.raises(error, match=message):
        det.fit(GOOD)


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_zero_variance_feature_named(covariance):
    X = GOOD.copy()
    X[:, 1] = 4.2
    remedy = "variance_floor > 0 or reg_covar > 0" if covariance == "diagonal" else "reg_covar > 0"
    with pytest.raises(ValueError, match=rf"Feature\(s\) 1 have zero variance.*set {remedy}\.$"):
        GaussianAnomalyDetector(covariance).fit(X)
    det = GaussianAnomalyDetector(covariance, reg_covar=1e-3).fit(X)
    assert np.all(np.isfinite(det.score_samples(X)))


def test_collinear_features_name_rank_and_remedy():
    X = np.column_stack([GOOD, GOOD[:, 0] - GOOD[:, 2]])
    with pytest.raises(ValueError, match=r"not positive definite \(numerical rank 3 of 4.*"
                                         r"feature\(s\) 0, 2, 3 are \(nearly\) linearly dependent.*"
                                         r"Drop linearly dependent features.*reg_covar > 0"):
        GaussianAnomalyDetector("full").fit(X)
    det = GaussianAnomalyDetector("full", reg_covar=1e-6).fit(X)
    assert np.all(np.isfinite(det.score_samples(X)))


def test_fewer_samples_than_features_full():
    X = RNG.normal(size=(5, 8))
    with pytest.raises(ValueError, match="5 samples in 8 dimensions is singular"):
        GaussianAnomalyDetector("full").fit(X)
    # the per-feature model needs no more than 2 rows
    GaussianAnomalyDetector("diagonal").fit(X)


def test_variance_overflow_named():
    X = GOOD.copy()
    X[:, 2] *= 1e300
    with pytest.raises(ValueError, match=r"variance of feature\(s\) 2 overflows float64"):
        GaussianAnomalyDetector().fit(X)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int64, bool])
def test_integer_data_computed_in_float64(dtype):
    # uint8 values squared overflow in uint8; results must equal float64's
    X = RNG.integers(0, 2 if dtype is bool else 120, size=(200, 3)).astype(dtype)
    X[0] = 1 if dtype is bool else 119  # keep some variance in every column
    X[1] = 0
    det = GaussianAnomalyDetector().fit(X)
    ref = GaussianAnomalyDetector().fit(X.astype(np.float64))
    np.testing.assert_array_equal(det.var_, ref.var_)
    np.testing.assert_array_equal(det.score_samples(X), ref.score_samples(X.astype(np.float64)))


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_caller_arrays_never_modified(covariance):
    X = GOOD.astype(np.float32, order="F")
    before = X.copy(order="K")
    det = GaussianAnomalyDetector(covariance).fit(X)
    det.score_samples(X)
    det.predict(X)
    np.testing.assert_array_equal(X, before)
    assert X.flags.f_contiguous


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_read_only_and_memory_mapped(tmp_path, covariance):
    path = tmp_path / "X.npy"
    np.save(path, GOOD)
    mapped = np.load(path, mmap_mode="r")
    assert not mapped.flags.writeable
    det = GaussianAnomalyDetector(covariance).fit(mapped)
    np.testing.assert_array_equal(det.score_samples(mapped),
                                  GaussianAnomalyDetector(covariance).fit(GOOD).score_samples(GOOD))


def test_lists_accepted():
    det = GaussianAnomalyDetector().fit(GOOD.tolist())
    np.testing.assert_array_equal(det.score_samples(GOOD[:3].tolist()),
                                  det.score_samples(GOOD[:3]))


def test_full_model_reports_rank_and_condition_number():
    """rank_ and condition_number_ are NumPy's for the fitted covariance."""
    X = RNG.normal(size=(500, 4)) * [1.0, 10.0, 0.1, 3.0]
    det = GaussianAnomalyDetector("full").fit(X)
    assert det.rank_ == 4 == np.linalg.matrix_rank(det.covariance_)
    assert det.condition_number_ == pytest.approx(np.linalg.cond(det.covariance_), rel=1e-8)


def test_few_samples_per_feature_warn():
    """Fewer than 10 samples per feature: the classic rule of thumb warns
    (and 10 per feature does not)."""
    X = RNG.normal(size=(39, 4))
    with pytest.warns(gaussext.ConditioningWarning, match="39 samples for 4 features"):
        GaussianAnomalyDetector("full").fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GaussianAnomalyDetector("full").fit(RNG.normal(size=(40, 4)))


def test_ill_conditioned_covariance_warns_with_its_condition_number():
    """Nearly dependent features (condition ~1e13, still of full rank) warn,
    naming the condition number and the remedies."""
    base = RNG.normal(size=(2000, 3))
    nearly_dependent = base[:, 0] + base[:, 1] + 1e-6 * RNG.normal(size=2000)
    X = np.column_stack([base, nearly_dependent])
    with pytest.warns(gaussext.ConditioningWarning,
                      match=r"ill-conditioned \(condition number .*e\+1[0-9]\).*reg_covar"):
        det = GaussianAnomalyDetector("full").fit(X)
    assert det.rank_ == 4 and det.condition_number_ > 1e10


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_variance_overflow_names_only_the_overflowing_feature(covariance):
    """n * sigma^2 beyond float64's range: an error naming that feature (and
    no other), not inf or NaN spread into the model."""
    X = RNG.normal(size=(1000, 2))
    X[:, 1] *= 1e155  # variance about 1e310
    with pytest.raises(ValueError, match=r"feature\(s\) 1 overflows float64; rescale"):
        GaussianAnomalyDetector(covariance).fit(X)


def test_collinear_relation_is_stated():
    """The message gives the dependency itself, solved for one feature."""
    X = np.column_stack([GOOD[:, :2], -GOOD[:, 0] + 7.0])
    with pytest.raises(ValueError, match=r"feature\(s\) 0, 2 are.*e\.g\. feature (0|2) = "
                                         r"a constant - 1 \* feature (0|2)\. "):
        GaussianAnomalyDetector("full").fit(X)


def test_variance_floor_raises_only_the_variances_below_it():
    X = GOOD.copy()
    X[:, 1] = 4.2
    X[:, 2] *= 1e-3
    floor = 1e-4
    det = GaussianAnomalyDetector(variance_floor=floor).fit(X)
    plain_variance = X.var(axis=0)
    expected = np.where(plain_variance < floor, floor, plain_variance)
    np.testing.assert_allclose(det.var_, expected, rtol=1e-13)
    assert det.var_[0] == GaussianAnomalyDetector().fit(X[:, [0]]).var_[0]
    # reg_covar is added on top of the floor
    both = GaussianAnomalyDetector(variance_floor=floor, reg_covar=1e-2).fit(X)
    np.testing.assert_allclose(both.var_, expected + 1e-2, rtol=1e-13)
