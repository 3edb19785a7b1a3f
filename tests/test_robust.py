"""robust=True: deterministic MCD against scikit-learn's MinCovDet, known truths
and exact error messages."""

import re

import numpy as np
import pytest
from sklearn.covariance import MinCovDet

from gaussext import GaussianAnomalyDetector

TRUE_COVARIANCE = np.array([[2.0, 0.8, 0.3, 0.0],
                            [0.8, 1.0, 0.2, 0.1],
                            [0.3, 0.2, 1.5, -0.4],
                            [0.0, 0.1, -0.4, 0.7]])
TRUE_MEAN = np.array([1.0, -2.0, 0.5, 10.0])


def clean_rows(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    return rng.multivariate_normal(TRUE_MEAN, TRUE_COVARIANCE, size=n)


def contaminated_rows(fraction, n=3000, seed=1):
    """Clean rows with the first `fraction` of them replaced by a far cluster."""
    X = clean_rows(n, seed)
    n_out = int(fraction * n)
    rng = np.random.default_rng(seed + 100)
    X[:n_out] = TRUE_MEAN + 12.0 + rng.normal(size=(n_out, 4))
    return X, n_out


def test_full_agrees_with_mincovdet_on_clean_data():
    X = clean_rows()
    ours = GaussianAnomalyDetector("full", robust=True).fit(X)
    theirs = MinCovDet(random_state=0).fit(X)
    np.testing.assert_allclose(ours.mean_, theirs.location_, atol=0.02)
    np.testing.assert_allclose(ours.covariance_, theirs.covariance_, atol=0.03)
    # the reweighted supports differ by boundary rows only
    assert np.mean(ours.support_ != theirs.support_) < 0.005


def test_diagonal_agrees_with_mincovdet_on_clean_independent_data():
    rng = np.random.default_rng(2)
    X = rng.normal(TRUE_MEAN, np.sqrt(np.diagonal(TRUE_COVARIANCE)), size=(4000, 4))
    ours = GaussianAnomalyDetector("diagonal", robust=True).fit(X)
    theirs = MinCovDet(random_state=0).fit(X)
    np.testing.assert_allclose(ours.mean_, theirs.location_, atol=0.02)
    np.testing.assert_allclose(ours.var_, np.diagonal(theirs.covariance_), rtol=0.03)


@pytest.mark.parametrize("covariance", ["full", "diagonal"])
def test_consistent_at_the_normal_distribution(covariance):
    # the raw and the reweighted estimates both estimate the true covariance
    # (for the diagonal model: of independent features, which it assumes)
    X = clean_rows(n=20000, seed=3)
    if covariance == "diagonal":
        X = np.random.default_rng(3).normal(TRUE_MEAN, np.sqrt(np.diagonal(TRUE_COVARIANCE)),
                                            size=(20000, 4))
    det = GaussianAnomalyDetector(covariance, robust=True).fit(X)
    truth = TRUE_COVARIANCE if covariance == "full" else np.diagonal(TRUE_COVARIANCE)
    fitted = det.covariance_ if covariance == "full" else det.var_
    raw = det.raw_covariance_ if covariance == "full" else det.raw_var_
    scale = np.sqrt(np.outer(np.diagonal(TRUE_COVARIANCE), np.diagonal(TRUE_COVARIANCE)))
    if covariance == "diagonal":
        scale = np.diagonal(TRUE_COVARIANCE)
    assert np.max(np.abs(fitted - truth) / scale) < 0.04
    assert np.max(np.abs(raw - truth) / scale) < 0.08
    np.testing.assert_allclose(det.raw_location_, TRUE_MEAN, atol=0.05)


@pytest.mark.parametrize("covariance", ["full", "diagonal"])
@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.45])
def test_recovers_the_inliers_under_contamination(covariance, fraction):
    X, n_out = contaminated_rows(fraction)
    det = GaussianAnomalyDetector(covariance, robust=True).fit(X)
    plain = GaussianAnomalyDetector(covariance).fit(X)
    assert not det.support_[:n_out].any()  # every planted anomaly left out
    assert det.support_[n_out:].mean() > 0.95
    np.testing.assert_allclose(det.mean_, TRUE_MEAN, atol=0.1)
    assert np.max(np.abs(plain.mean_ - TRUE_MEAN)) > 1.0  # the plain fit is pulled away
    # the final fit is the plain fit of the rows kept
    np.testing.assert_allclose(det.mean_, X[det.support_].mean(axis=0), rtol=1e-12)


@pytest.mark.parametrize("covariance", ["full", "diagonal"])
def test_deterministic_and_independent_of_row_order(covariance):
    X, _ = contaminated_rows(0.2)
    first = GaussianAnomalyDetector(covariance, robust=True).fit(X)
    for _ in range(3):
        again = GaussianAnomalyDetector(covariance, robust=True).fit(X)
        np.testing.assert_array_equal(again.support_, first.support_)
        np.testing.assert_array_equal(again.mean_, first.mean_)
        np.testing.assert_array_equal(again.score_samples(X), first.score_samples(X))
    order = np.random.default_rng(5).permutation(X.shape[0])
    shuffled = GaussianAnomalyDetector(covariance, robust=True).fit(X[order])
    np.testing.assert_array_equal(shuffled.support_, first.support_[order])
    np.testing.assert_allclose(shuffled.mean_, first.mean_, rtol=1e-12)


def test_threshold_is_the_contamination_quantile_of_all_training_rows():
    X, _ = contaminated_rows(0.2)
    det = GaussianAnomalyDetector("full", robust=True, contamination=0.2).fit(X)
    np.testing.assert_allclose(det.log_epsilon_, np.quantile(det.score_samples(X), 0.2),
                               rtol=1e-12)


def test_too_few_rows_is_refused():
    X = clean_rows(5)
    with pytest.raises(ValueError, match=re.escape(
            "robust=True needs more than n_features + 1 = 5 rows (a subset of half of them "
            "must define a Gaussian); got n_samples = 5")):
        GaussianAnomalyDetector("full", robust=True).fit(X)


def test_singular_core_is_named_and_regularisation_fixes_it():
    X = clean_rows(400)
    X[:300, 2] = 7.0  # constant on more than half the rows: the core has no spread there
    with pytest.raises(ValueError, match=r"robust fit: the 203 rows kept by the minimum "
                       r"covariance determinant search define no density: Feature\(s\) 2 "
                       "have zero variance"):
        GaussianAnomalyDetector("full", robust=True).fit(X)
    dependent = clean_rows(400)
    dependent[:300, 3] = dependent[:300, 0] + 2.0 * dependent[:300, 1]
    with pytest.raises(ValueError, match=r"robust fit: .* define no density: The covariance "
                       r"matrix is not positive definite .*feature\(s\) 0, 1, 3 are \(nearly\) "
                       "linearly dependent"):
        GaussianAnomalyDetector("full", robust=True).fit(dependent)
    with pytest.raises(ValueError, match=r"robust fit: .*Feature\(s\) 2 have zero variance"):
        GaussianAnomalyDetector("diagonal", robust=True).fit(X)
    for det in (GaussianAnomalyDetector("full", robust=True, shrinkage="oas"),
                GaussianAnomalyDetector("full", robust=True, shrinkage="ledoit-wolf"),
                GaussianAnomalyDetector("full", robust=True, reg_covar=1e-3),
                GaussianAnomalyDetector("diagonal", robust=True, variance_floor=1e-3)):
        det.fit(X)
        assert np.all(np.isfinite(det.score_samples(X)))
    assert not hasattr(GaussianAnomalyDetector("full"), "support_")


def test_streaming_and_dask_are_refused():
    X = clean_rows(200)
    message = "robust=True cannot be used with {}: its concentration steps revisit every row"
    det = GaussianAnomalyDetector(robust=True)
    with pytest.raises(ValueError, match=message.format("partial_fit")):
        det.partial_fit(X)
    with pytest.raises(ValueError, match=message.format("chunked input")):
        det.fit([X[:100], X[100:]])
    import gaussext.dask

    with pytest.raises(ValueError, match=message.format("gaussext.dask.fit")):
        gaussext.dask.fit(X, robust=True)


def test_robust_must_be_a_bool():
    with pytest.raises(TypeError, match="robust must be True or False, got 'yes'"):
        GaussianAnomalyDetector(robust="yes").fit(clean_rows(50))


def test_a_plain_refit_forgets_the_robust_attributes():
    X = clean_rows(300)
    det = GaussianAnomalyDetector("full", robust=True).fit(X)
    det.set_params(robust=False).fit(X)
    for name in ("support_", "raw_location_", "raw_covariance_"):
        assert not hasattr(det, name)


def test_save_and_load_keep_the_parameter(tmp_path):
    X, _ = contaminated_rows(0.2)
    det = GaussianAnomalyDetector("full", robust=True).fit(X)
    det.save(tmp_path / "m.npz")
    loaded = GaussianAnomalyDetector.load(tmp_path / "m.npz")
    assert loaded.robust is True
    np.testing.assert_array_equal(loaded.score_samples(X), det.score_samples(X))


@pytest.mark.parametrize("covariance", ["full", "diagonal"])
def test_float32_rows_keep_the_same_support(covariance):
    X, _ = contaminated_rows(0.2)
    wide = GaussianAnomalyDetector(covariance, robust=True).fit(X)
    narrow = GaussianAnomalyDetector(covariance, robust=True).fit(X.astype(np.float32))
    np.testing.assert_array_equal(narrow.support_, wide.support_)
    np.testing.assert_allclose(narrow.mean_, wide.mean_, rtol=1e-6)
