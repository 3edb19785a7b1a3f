"""missing="marginalize": marginal densities, tails and explanations of rows
with NaN cells, against SciPy on the observed sub-vector."""

import re

import numpy as np
import pytest
from scipy import stats

from gaussext import GaussianAnomalyDetector
from gaussext._cli import main

COVARIANCE = np.array([[1.0, 0.6, 0.2, 0.0],
                       [0.6, 2.0, -0.3, 0.4],
                       [0.2, -0.3, 1.5, 0.5],
                       [0.0, 0.4, 0.5, 0.8]])
MEAN = np.array([0.0, 5.0, -3.0, 1.0])


def training_rows(n=800, seed=0):
    return np.random.default_rng(seed).multivariate_normal(MEAN, COVARIANCE, n)


def rows_with_holes(n=300, seed=1):
    """Rows with about a third of their cells missing, in many patterns,
    including complete and all-missing rows."""
    rng = np.random.default_rng(seed)
    X = rng.multivariate_normal(MEAN, COVARIANCE, n) * 1.3
    X[rng.random(X.shape) < 0.35] = np.nan
    X[0] = np.nan
    X[1] = MEAN + 0.5
    return X


def fitted(covariance):
    return GaussianAnomalyDetector(covariance, missing="marginalize").fit(training_rows())


def model_spread(det):
    return det.covariance_ if det.covariance == "full" else np.diag(det.var_)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance", ["full", "diagonal"])
def test_marginal_log_density_matches_scipy(covariance, dtype):
    det = fitted(covariance)
    X = rows_with_holes().astype(dtype)
    scores = det.score_samples(X)
    spread = model_spread(det)
    rtol = 1e-10 if dtype == np.float64 else 1e-5
    for x, score in zip(X.astype(np.float64), scores):
        observed = ~np.isnan(x)
        if not observed.any():
            assert score == 0.0  # the density of an empty vector
            continue
        expected = stats.multivariate_normal(det.mean_[observed],
                                             spread[np.ix_(observed, observed)]).logpdf(
            x[observed])
        np.testing.assert_allclose(score, expected, rtol=rtol)


@pytest.mark.parametrize("covariance", ["full", "diagonal"])
def test_complete_rows_score_as_without_marginalizing(covariance):
    X = rows_with_holes()
    complete = ~np.isnan(X).any(axis=1)
    plain = GaussianAnomalyDetector(covariance).fit(training_rows())
    np.testing.assert_array_equal(fitted(covariance).score_samples(X)[complete],
                                  plain.score_samples(X[complete]))


@pytest.mark.parametrize("covariance", ["full", "diagonal"])
def test_tail_probability_counts_the_observed_features(covariance):
    det = fitted(covariance)
    X = rows_with_holes()
    spread = model_spread(det)
    tails = det.tail_probability(X)
    for x, tail in zip(X, tails):
        observed = ~np.isnan(x)
        k = int(observed.sum())
        if k == 0:
            assert tail == 1.0
            continue
        residual = x[observed] - det.mean_[observed]
        distance = residual @ np.linalg.solve(spread[np.ix_(observed, observed)], residual)
        np.testing.assert_allclose(tail, stats.chi2.sf(distance, k), rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("covariance", ["full", "diagonal"])
def test_explain_sums_to_the_marginal_score_and_is_zero_where_missing(covariance):
    det = fitted(covariance)
    X = rows_with_holes()
    contributions = det.explain(X)
    np.testing.assert_allclose(contributions.sum(axis=1), -det.score_samples(X),
                               rtol=1e-12, atol=1e-12)
    assert np.all(contributions[np.isnan(X)] == 0.0)
    if covariance == "diagonal":
        # each observed cell's own term, written plainly
        expected = 0.5 * np.log(2 * np.pi * det.var_) + (X - det.mean_) ** 2 / (2 * det.var_)
        observed = ~np.isnan(X)
        np.testing.assert_allclose(contributions[observed], expected[observed], rtol=1e-12)


def test_one_factorisation_per_missingness_pattern(monkeypatch):
    det = fitted("full")
    X = np.tile(MEAN, (60, 1))
    X[:20, 0] = np.nan
    X[20:40, [1, 3]] = np.nan
    X[40:, 2] = np.nan
    calls = []
    from scipy import linalg  # what _missing factorises with

    cholesky = linalg.cholesky

    def counting(matrix, **kwargs):
        calls.append(matrix.shape)
        return cholesky(matrix, **kwargs)

    monkeypatch.setattr(linalg, "cholesky", counting)
    det.score_samples(X)
    assert sorted(calls) == [(2, 2), (3, 3), (3, 3)]


def test_errors():
    X = rows_with_holes()
    with pytest.raises(ValueError, match="Input X contains NaN or infinity"):
        GaussianAnomalyDetector("full").fit(training_rows()).score_samples(X)
    det = fitted("full")
    X[1, 2] = np.inf  # an observed infinity is not a missing value
    with pytest.raises(ValueError, match=re.escape("(0 NaN, 1 inf); the first at row 1, "
                                                   "column 2")):
        det.score_samples(X)
    with pytest.raises(ValueError, match=re.escape(
            "X has 1 missing (NaN) cell(s), the first at row 3, column 1: missing='marginalize' "
            "applies to scoring; fitting needs complete rows.")):
        train = training_rows()
        train[3, 1] = np.nan
        GaussianAnomalyDetector(missing="marginalize").fit(train)
    with pytest.raises(ValueError, match=re.escape(
            "missing must be one of ('error', 'marginalize'), got 'drop'")):
        GaussianAnomalyDetector(missing="drop").fit(training_rows())


def test_cli_scores_empty_cells(tmp_path):
    names = "a,b,c,d"
    np.savetxt(tmp_path / "train.csv", training_rows(), delimiter=",", header=names,
               comments="", fmt="%.17g")
    # an id column keeps the all-empty row a row (the reader skips blank lines)
    (tmp_path / "new.csv").write_text(f"id,{names}\nr1,1,5,,1\nr2,,,,\nr3,0.5,4,-3,2\n")
    model = str(tmp_path / "m.npz")
    assert main(["fit", str(tmp_path / "train.csv"), "--model", model, "--covariance", "full",
                 "--missing", "marginalize"]) == 0
    assert main(["score", model, str(tmp_path / "new.csv"), "--out",
                 str(tmp_path / "s.csv")]) == 0
    scores = np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1, usecols=1)
    det = GaussianAnomalyDetector("full").fit(training_rows())
    observed = [0, 1, 3]
    expected = stats.multivariate_normal(det.mean_[observed],
                                         det.covariance_[np.ix_(observed, observed)]).logpdf(
        [1.0, 5.0, 1.0])
    np.testing.assert_allclose(scores[0], expected, rtol=1e-12)
    assert scores[1] == 0.0
    # without --missing an empty cell is still an error naming it
    plain = str(tmp_path / "plain.npz")
    assert main(["fit", str(tmp_path / "train.csv"), "--model", plain]) == 0
    assert main(["score", plain, str(tmp_path / "new.csv")]) == 1
