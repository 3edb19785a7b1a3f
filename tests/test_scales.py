"""Features on different scales: the full model judges rank and conditioning
scale-free (on the correlation matrix the kernel works with), and each problem
gets one message whose advice works."""

import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from gaussext import ConditioningWarning, GaussianAnomalyDetector


def _independent(scales, n_samples=5_000, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_samples, len(scales))) * np.asarray(scales) + 3.0 * np.asarray(
        scales)


@pytest.mark.parametrize("scales", [[1e9, 1e-2], [1e3, 1e-3], [1e150, 1e-150], [1.0, 1e-12]])
def test_independent_features_on_any_scales_fit_without_complaint(scales):
    """Bytes (1e9) beside a CPU fraction (1e-2) used to be refused as 'not
    positive definite ... feature 1 = a constant'; 1e3 beside 1e-3 warned
    that 11 of 16 digits may be lost.  Neither is a problem: no warning, and
    the scores equal SciPy's log-density of the same Gaussian evaluated on
    standardised data (shifted by the log of the scales' Jacobian)."""
    X = _independent(scales)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConditioningWarning)
        detector = GaussianAnomalyDetector("full").fit(X)
    assert detector.rank_ == 2 and detector.condition_number_ < 1.2
    std = np.sqrt(np.diagonal(detector.covariance_))
    correlation = detector.covariance_ / np.outer(std, std)
    reference = multivariate_normal(np.zeros(2), correlation).logpdf(
        (X[:200] - detector.mean_) / std) - np.sum(np.log(std))
    np.testing.assert_allclose(detector.score_samples(X[:200]), reference, rtol=1e-12,
                               atol=1e-12 * np.abs(reference).max())


def test_a_dependency_between_features_of_different_scales_is_named_in_their_units():
    """feature 2 = 1e6 * feature 0 + 3: the relation is given in the features'
    own units, and the advice says that a ridge would swamp the small ones."""
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.normal(size=500) * 1e-3, rng.normal(size=500) * 1e4, np.zeros(500)])
    X[:, 2] = 1e6 * X[:, 0] + 3.0
    with pytest.raises(ValueError) as error:
        GaussianAnomalyDetector("full").fit(X)
    message = str(error.value)
    assert "numerical rank 2 of 3" in message
    assert "feature(s) 0, 2 are (nearly) linearly dependent" in message
    assert ("feature 2 = a constant + 1e+06 * feature 0" in message
            or "feature 0 = a constant + 1e-06 * feature 2" in message)
    assert "scale the features to comparable variances first" in message


def test_the_full_models_zero_variance_message_names_shrinkage():
    X = _independent([1.0, 2.0])
    X[:, 1] = 4.0
    with pytest.raises(ValueError, match=r"Feature\(s\) 1 have zero variance .* Drop them, or "
                                         r"set reg_covar > 0 or shrinkage='ledoit-wolf'\."):
        GaussianAnomalyDetector("full").fit(X)
    detector = GaussianAnomalyDetector("full", shrinkage="ledoit-wolf").fit(X)
    assert np.all(np.isfinite(detector.score_samples(X)))


def test_one_problem_gives_one_message():
    """12 rows of 4 features (fewer than 10 per feature) with an exact
    dependency: the fit raises the dependency error alone, without first
    warning about the sample count (whose advice would not help); a fit that
    succeeds with few rows warns once."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(12, 4))
    X[:, 3] = X[:, 0] - X[:, 1]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="not positive definite"):
            GaussianAnomalyDetector("full").fit(X)
    assert [w for w in caught if issubclass(w.category, ConditioningWarning)] == []
    with pytest.warns(ConditioningWarning, match="12 samples for 4 features") as record:
        GaussianAnomalyDetector("full").fit(rng.normal(size=(12, 4)))
    assert len(record) == 1
