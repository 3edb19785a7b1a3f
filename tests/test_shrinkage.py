"""Covariance shrinkage of the full model against scikit-learn's estimators
of the same closed forms (LedoitWolf, OAS, ShrunkCovariance)."""

import numpy as np
import pytest
from scipy import stats
from sklearn.covariance import OAS, LedoitWolf, ShrunkCovariance

from gaussext import GaussianAnomalyDetector

# Both sides compute the same closed forms in float64 from the same data, in a
# different order: rounding only.
RTOL = 1e-10

SHAPES = [(200, 5), (40, 12), (15, 30)]  # many samples, few, fewer than features


def _correlated(n_samples, n_features, seed=0):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(n_features, n_features)) / np.sqrt(n_features) + np.eye(n_features)
    return rng.normal(size=(n_samples, n_features)) @ mixing + rng.uniform(-3, 3, n_features)


@pytest.mark.parametrize("n_samples, n_features", SHAPES)
@pytest.mark.parametrize("method, reference", [("ledoit-wolf", LedoitWolf), ("oas", OAS)])
def test_closed_form_shrinkage_matches_scikit_learn(method, reference, n_samples, n_features):
    X = _correlated(n_samples, n_features)
    det = GaussianAnomalyDetector("full", shrinkage=method).fit(X)
    expected = reference().fit(X)
    assert det.shrinkage_ == pytest.approx(expected.shrinkage_, rel=RTOL)
    np.testing.assert_allclose(det.covariance_, expected.covariance_, rtol=RTOL,
                               atol=RTOL * np.abs(expected.covariance_).max())


@pytest.mark.parametrize("intensity", [0.0, 0.25, 1.0])
def test_given_shrinkage_matches_shrunk_covariance(intensity):
    X = _correlated(100, 6, seed=1)
    det = GaussianAnomalyDetector("full", shrinkage=intensity).fit(X)
    expected = ShrunkCovariance(shrinkage=intensity).fit(X).covariance_
    assert det.shrinkage_ == intensity
    np.testing.assert_allclose(det.covariance_, expected, rtol=RTOL, atol=RTOL)


def test_shrinkage_fits_fewer_samples_than_features_and_scores_as_scipy():
    """With 15 samples in 30 dimensions the covariance is singular, but the
    shrunk one is not: fit succeeds and scores are those of the shrunk normal."""
    X = _correlated(15, 30, seed=2)
    with pytest.raises(ValueError, match="singular.*shrinkage='ledoit-wolf'"):
        GaussianAnomalyDetector("full").fit(X)
    det = GaussianAnomalyDetector("full", shrinkage="ledoit-wolf").fit(X)
    assert 0.0 < det.shrinkage_ <= 1.0
    X_new = _correlated(50, 30, seed=3)
    expected = stats.multivariate_normal(det.mean_, det.covariance_).logpdf(X_new)
    np.testing.assert_allclose(det.score_samples(X_new), expected, rtol=1e-9)


def test_shrinkage_makes_exactly_collinear_features_usable():
    """A column equal to minus another makes the covariance exactly singular;
    shrinkage gives finite scores (and says so in the error without it)."""
    X = _correlated(500, 4, seed=4)
    X = np.column_stack([X, -X[:, 1]])
    with pytest.raises(ValueError, match="not positive definite.*shrinkage='ledoit-wolf'"):
        GaussianAnomalyDetector("full").fit(X)
    det = GaussianAnomalyDetector("full", shrinkage="oas").fit(X)
    assert np.all(np.isfinite(det.score_samples(X)))


@pytest.mark.parametrize(
    "params, error, message",
    [
        ({"covariance": "diagonal", "shrinkage": "oas"}, ValueError,
         "shrinkage applies to covariance='full' only"),
        ({"covariance": "full", "shrinkage": "bogus"}, ValueError,
         r"shrinkage must be one of \('ledoit-wolf', 'oas'\), a float in \[0, 1\] or None"),
        ({"covariance": "full", "shrinkage": 1.5}, ValueError, "shrinkage must be <= 1.0"),
        ({"covariance": "full", "shrinkage": -0.1}, ValueError, "shrinkage must be >= 0.0"),
        ({"covariance": "full", "shrinkage": [0.1]}, TypeError, "shrinkage must be"),
    ],
)
def test_bad_shrinkage_is_refused_with_a_message(params, error, message):
    with pytest.raises(error, match=message):
        GaussianAnomalyDetector(**params).fit(_correlated(50, 3))
