"""Data the estimator must name or handle: constant, collinear and
overflowing features, conditioning warnings, integer and read-only input.
The catalogue of malformed arguments is ``test_bad_input.py``."""

import warnings

import numpy as np
import pytest

import gaussext
from gaussext import GaussianAnomalyDetector

RNG = np.random.default_rng(11)
GOOD = RNG.normal(size=(50, 3))


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_zero_variance_feature_named(covariance):
    X = GOOD.copy()
    X[:, 1] = 4.2
    remedy = ("variance_floor > 0 or reg_covar > 0" if covariance == "diagonal"
              else "reg_covar > 0 or shrinkage='ledoit-wolf'")
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
    """rank_ and condition_number_ are NumPy's for the fitted covariance
    scaled to unit variances (the correlation matrix): the features' units
    (here 0.1 to 10) do not change them."""
    X = RNG.normal(size=(500, 4)) * [1.0, 10.0, 0.1, 3.0] @ (np.eye(4) + 0.4)
    det = GaussianAnomalyDetector("full").fit(X)
    std = np.sqrt(np.diagonal(det.covariance_))
    correlation = det.covariance_ / np.outer(std, std)
    assert det.rank_ == 4 == np.linalg.matrix_rank(correlation)
    assert det.condition_number_ == pytest.approx(np.linalg.cond(correlation), rel=1e-8)
    rescaled = GaussianAnomalyDetector("full").fit(X * [1e6, 1e-6, 1.0, 1e3])
    assert rescaled.condition_number_ == pytest.approx(det.condition_number_, rel=1e-8)


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
                      match=r"ill-conditioned \(condition number .*e\+1[0-9] after scaling each "
                            r"feature to unit variance\).*reg_covar"):
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


def test_pandas_series_labels_are_read():
    """A pandas Series' ``dtypes`` is its single dtype, not a list of them: labels
    and scores given as Series are validated like arrays, pd.NA refused."""
    pd = pytest.importorskip("pandas")
    y = np.array([0, 1, 0, 1, 0])
    scores = np.array([1.0, -2.0, 0.5, -1.0, 2.0])
    expected = gaussext.select_threshold(y, scores)
    result = gaussext.select_threshold(pd.Series(y), pd.Series(scores))
    assert (result.log_epsilon, result.f1) == (expected.log_epsilon, expected.f1)
    with pytest.raises(ValueError, match="y_true holds pd.NA"):
        gaussext.select_threshold(pd.Series([0, 1, pd.NA, 1, 0], dtype="Int64"), scores)
