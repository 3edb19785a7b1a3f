"""Property tests over the public API with arbitrary data: every call either
returns finite (or -inf, a density of 0) results, or raises ValueError /
TypeError; none returns NaN, none crashes, none modifies its input."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gaussext import ConditioningWarning, GaussianAnomalyDetector, select_threshold

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

DTYPES = st.sampled_from([np.float64, np.float32, np.float16, np.int8, np.uint8, np.int16,
                          np.int64, np.bool_, np.complex128])


@st.composite
def arbitrary_arrays(draw):
    """Arrays of 0 to 3 dimensions with any values their dtype can hold:
    NaN, +-inf, subnormals, huge magnitudes, zeros."""
    dtype = draw(DTYPES)
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6))
    return draw(hnp.arrays(dtype, shape))


def _outcome(call):
    """Run call; return its result, or None if it raised ValueError/TypeError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConditioningWarning)
            return call()
    except (ValueError, TypeError):
        return None


def _assert_no_nan(result):
    if result is not None:
        assert not np.any(np.isnan(result))


@SETTINGS
@given(X=arbitrary_arrays(), covariance=st.sampled_from(["diagonal", "full"]),
       reg_covar=st.sampled_from([0.0, 1e-3]))
def test_fit_then_score_arbitrary_data(X, covariance, reg_covar):
    X_before = X.copy()
    detector = _outcome(lambda: GaussianAnomalyDetector(covariance, reg_covar=reg_covar).fit(X))
    assert np.array_equal(X, X_before, equal_nan=X.dtype.kind in "fc")
    if detector is None:
        return
    assert np.isfinite(detector.mean_).all()
    scores = _outcome(lambda: detector.score_samples(X))
    _assert_no_nan(scores)
    if scores is not None:
        assert np.all(scores < np.inf)
        _assert_no_nan(_outcome(lambda: detector.decision_function(X)))
        predictions = detector.predict(X)
        assert set(np.unique(predictions)) <= {-1, 1}


@SETTINGS
@given(X=arbitrary_arrays())
def test_scoring_arbitrary_data_with_a_fitted_model(X):
    """A model fitted on good data, asked to score anything."""
    detector = GaussianAnomalyDetector("full").fit(np.random.default_rng(0).normal(size=(60, 3)))
    X_before = X.copy()
    scores = _outcome(lambda: detector.score_samples(X))
    _assert_no_nan(scores)
    assert np.array_equal(X, X_before, equal_nan=X.dtype.kind in "fc")


@SETTINGS
@given(labels=arbitrary_arrays(), scores=arbitrary_arrays(),
       method=st.sampled_from(["exact", "grid"]))
def test_select_threshold_arbitrary_input(labels, scores, method):
    labels_before, scores_before = labels.copy(), scores.copy()
    result = _outcome(lambda: select_threshold(labels, scores, method=method))
    if result is not None:
        assert not np.isnan(result.log_epsilon) and 0.0 <= result.f1 <= 1.0
        assert not np.any(np.isnan(result.f1_curve))
    assert np.array_equal(labels, labels_before, equal_nan=labels.dtype.kind in "fc")
    assert np.array_equal(scores, scores_before, equal_nan=scores.dtype.kind in "fc")


@pytest.mark.parametrize("dtype", [np.uint8, np.int16])
@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_small_integer_data_never_overflows(dtype, covariance):
    """uint8 / int16 data at the ends of their range, squared in their own
    type, would wrap; the scores equal the oracle's, which reads every value
    as an exact Python float."""
    from gaussext import oracle

    info = np.iinfo(dtype)
    X = np.random.default_rng(1).choice(np.array([info.min, info.max, 0, 1], dtype=dtype),
                                        size=(500, 3))
    scores = GaussianAnomalyDetector(covariance).fit(X).score_samples(X)
    if covariance == "diagonal":
        expected = oracle.diagonal_log_density(X, *oracle.mean_and_variance(X))
    else:
        expected = oracle.full_log_density(X, *oracle.covariance(X))
    np.testing.assert_allclose(scores, expected, rtol=1e-10)


def test_five_thousand_features_stay_finite_and_rank_as_the_oracle():
    """With d = 5000 the product of the per-feature densities is 0.0 in
    float64 (the classic code's output), yet the log-densities are finite,
    equal the oracle's sum of logs, rank the points identically, and the
    exact threshold search still separates the planted anomalies."""
    from gaussext import oracle

    rng = np.random.default_rng(5000)
    X_train = rng.normal(size=(300, 5000))
    X_val = rng.normal(size=(40, 5000))
    X_val[:5] += rng.choice([-4.0, 4.0], size=(5, 5000)) * (rng.random((5, 5000)) < 0.05)
    y_val = np.zeros(40, dtype=int)
    y_val[:5] = 1
    detector = GaussianAnomalyDetector().fit(X_train)
    scores = detector.score_samples(X_val)
    assert np.all(np.isfinite(scores)) and np.all(detector.pdf(X_val) == 0.0)
    expected = oracle.diagonal_log_density(X_val, *oracle.mean_and_variance(X_train))
    np.testing.assert_allclose(scores, expected, rtol=1e-10)
    assert np.array_equal(np.argsort(scores, kind="stable"), np.argsort(expected, kind="stable"))
    assert detector.tune_threshold(X_val, y_val).f1 == 1.0
