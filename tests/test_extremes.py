"""Numerical extremes against an exact reference.

Huge offsets (1e6, 1e9) on every feature and variances near the ends of the
floating-point range (1e-300 and 1e300 in float64; 1e-36 and 1e36 in float32):
the fitted parameters and the log-densities must agree with a reference
computed in exact rational arithmetic (``fractions.Fraction``) on the very same
input values.

Stated tolerances:

- mean: relative 1e-13 of max(|mu|, sigma), i.e. a few units in the last place
  of the larger of the mean and the spread;
- variance and covariance: relative 1e-12 of sqrt(Sigma_ii Sigma_jj);
- log p(x): the reference is evaluated at the fitted parameters taken as exact
  numbers (so it tests the scoring arithmetic, not the rounding of the
  parameters), to relative 1e-12 of the sum of the magnitudes of its terms.

A float32 input is held exactly in float64 and in the reference, so the same
tolerances hold (the kernels accumulate in float64), but for one stated
allowance: the full model whitens float32 rows in float32, and its scores may
move by that product's bound as well (`single_precision_product_bound` in
conftest.py).
"""

import math
from fractions import Fraction

import numpy as np
import pytest

from gaussext import ConditioningWarning, GaussianAnomalyDetector

LOG_2PI = math.log(2 * math.pi)

# (dtype, offset, scale): data = offset + scale * N(0, Sigma) with a mild correlation
CASES = [
    (np.float64, 1e6, 1.0),
    (np.float64, 1e9, 3.0),
    (np.float64, 0.0, 1e-150),       # variances near 1e-300
    (np.float64, 3e-149, 1e-150),
    (np.float64, 0.0, 1e150),        # variances near 1e300; n * sigma^2 overflows
    (np.float64, 2e150, 1e150),
    (np.float32, 1e6, 16.0),
    (np.float32, 1e9, 1e4),
    (np.float32, 0.0, 1e-18),        # variances near 1e-36
    (np.float32, 0.0, 1e18),         # variances near 1e36
]


def _data(dtype, offset, scale, n_samples=200, seed=0):
    rng = np.random.default_rng(seed)
    mixing = np.array([[1.0, 0.0, 0.0], [0.5, 1.0, 0.0], [-0.3, 0.2, 0.7]])
    X = offset + scale * (rng.normal(size=(n_samples, 3)) @ mixing.T)
    return X.astype(dtype)


def _fractions(X):
    return [[Fraction(value) for value in row] for row in np.asarray(X, np.float64).tolist()]


def exact_moments(X):
    """Exact mean (list) and maximum-likelihood covariance (list of lists)."""
    rows = _fractions(X)
    n_samples = len(rows)
    mean = [sum(column) / n_samples for column in zip(*rows)]
    deviations = [[value - m for value, m in zip(row, mean)] for row in rows]
    n_features = len(mean)
    covariance = [
        [sum(row[i] * row[j] for row in deviations) / n_samples for j in range(n_features)]
        for i in range(n_features)
    ]
    return mean, covariance


def _solve(matrix, vector):
    """Exact solution of matrix @ y = vector by Gaussian elimination."""
    size = len(vector)
    augmented = [list(row) + [value] for row, value in zip(matrix, vector)]
    for pivot in range(size):
        best = max(range(pivot, size), key=lambda r: abs(augmented[r][pivot]))
        augmented[pivot], augmented[best] = augmented[best], augmented[pivot]
        for row in range(size):
            if row != pivot and augmented[row][pivot] != 0:
                factor = augmented[row][pivot] / augmented[pivot][pivot]
                augmented[row] = [a - factor * b for a, b in zip(augmented[row], augmented[pivot])]
    return [augmented[i][size] / augmented[i][i] for i in range(size)]


def _determinant(matrix):
    size = len(matrix)
    rows = [list(row) for row in matrix]
    determinant = Fraction(1)
    for pivot in range(size):
        best = next(r for r in range(pivot, size) if rows[r][pivot] != 0)
        if best != pivot:
            rows[pivot], rows[best] = rows[best], rows[pivot]
            determinant = -determinant
        determinant *= rows[pivot][pivot]
        for row in range(pivot + 1, size):
            factor = rows[row][pivot] / rows[pivot][pivot]
            rows[row] = [a - factor * b for a, b in zip(rows[row], rows[pivot])]
    return determinant


def _log(positive):
    """log of a positive Fraction beyond float64's range: logs of its integers."""
    return math.log(positive.numerator) - math.log(positive.denominator)


def exact_log_density_terms(x, mean, covariance):
    """The three terms of log p(x) = -(d log 2 pi + log det + quadratic) / 2,
    each rounded once from its exact value."""
    deviation = [Fraction(value) - m for value, m in zip(x, mean)]
    quadratic = sum(a * b for a, b in zip(deviation, _solve(covariance, deviation)))
    return len(mean) * LOG_2PI, _log(_determinant(covariance)), float(quadratic)


def _as_fractions(array):
    return [Fraction(value) for value in np.ravel(array).tolist()]


@pytest.mark.parametrize("dtype, offset, scale", CASES,
                         ids=[f"{np.dtype(c[0]).name}-offset{c[1]:g}-scale{c[2]:g}" for c in CASES])
@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_parameters_and_scores_match_exact_arithmetic(covariance, dtype, offset, scale,
                                                      single_precision_product_bound):
    X = _data(dtype, offset, scale)
    detector = GaussianAnomalyDetector(covariance).fit(X)
    mean, exact_covariance = exact_moments(X)

    exact_mean = np.array([float(m) for m in mean])
    spread = np.sqrt(np.array([float(exact_covariance[j][j]) for j in range(3)]))
    assert np.all(np.abs(detector.mean_ - exact_mean)
                  <= 1e-13 * np.maximum(np.abs(exact_mean), spread))
    exact_matrix = np.array([[float(value) for value in row] for row in exact_covariance])
    fitted = detector.var_ if covariance == "diagonal" else detector.covariance_
    expected = np.diagonal(exact_matrix) if covariance == "diagonal" else exact_matrix
    bound = 1e-12 * (spread**2 if covariance == "diagonal" else np.outer(spread, spread))
    assert np.all(np.abs(fitted - expected) <= bound)

    # scores at training points and at points 4 to 8 standard deviations out
    rng = np.random.default_rng(1)
    far = (exact_mean + spread * rng.uniform(4, 8, size=(5, 3))
           * rng.choice([-1.0, 1.0], size=(5, 3))).astype(dtype)
    points = np.vstack([X[:10], far])
    scores = detector.score_samples(points)
    fitted_mean = _as_fractions(detector.mean_)
    if covariance == "diagonal":
        fitted_covariance = [[Fraction(0)] * 3 for _ in range(3)]
        for j, variance in enumerate(_as_fractions(detector.var_)):
            fitted_covariance[j][j] = variance
    else:
        fitted_covariance = [_as_fractions(row) for row in detector.covariance_]
    allowance = (single_precision_product_bound(points, detector.mean_, detector.covariance_)
                 if covariance == "full" and dtype == np.float32 else np.zeros(len(points)))
    for point, score, allowed in zip(points.tolist(), scores, allowance):
        terms = exact_log_density_terms(point, fitted_mean, fitted_covariance)
        reference = -0.5 * math.fsum(terms)
        assert abs(score - reference) <= 1e-12 * sum(abs(t) for t in terms) + allowed, (
            point, score, reference)


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_variance_beyond_float64_is_named(covariance):
    """Only when the variance itself overflows is the fit refused."""
    X = _data(np.float64, 0.0, 1.0)
    X[:, 1] *= 1e155
    with pytest.raises(ValueError, match=r"variance of feature\(s\) 1 overflows float64"):
        GaussianAnomalyDetector(covariance).fit(X)


def test_densities_beyond_float64_range_stay_usable():
    """Variances near 1e-300 make p(x) about 1e450: log space is exact, the
    probability-unit views overflow to inf as float64 must, and the classic
    grid search (probability units) refuses rather than scanning infinities."""
    X = _data(np.float64, 0.0, 1e-150)
    detector = GaussianAnomalyDetector("diagonal").fit(X)
    log_density = detector.score_samples(X)
    assert np.all(log_density > 1000)
    assert np.isfinite(detector.log_epsilon_) and detector.epsilon_ == np.inf
    assert np.all(detector.pdf(X) == np.inf)
    labels = np.zeros(X.shape[0], dtype=int)
    labels[np.argsort(log_density)[:5]] = 1
    result = detector.tune_threshold(X, labels)
    assert result.f1 == 1.0 and result.epsilon == np.inf
    with pytest.raises(ValueError, match=r"method='grid' searches in probability units.*"
                                         r"use method='exact'"):
        detector.tune_threshold(X, labels, method="grid")


def test_float32_rows_beyond_single_precision_once_standardised_are_scored_in_float64():
    """A finite float32 row 1e38 standard deviations out overflows float32 once
    standardised, so the full model's float32 product cannot whiten it: that
    row alone is rescored in float64, and its score equals float64 input's,
    bit for bit, finite (about -1e77), never -inf or NaN.  The other rows keep
    their float32-product scores."""
    rng = np.random.default_rng(38)
    X = (0.5 * rng.normal(size=(2000, 3)) @ np.array([[1.0, 0.3, 0.0], [0.0, 1.0, 0.2],
                                                        [0.0, 0.0, 1.0]])).astype(np.float32)
    detector = GaussianAnomalyDetector("full").fit(X)
    points = X[:100].copy()
    points[[3, 70]] = np.array([[3e38, 0.0, 0.0], [-3e38, 3e38, 1.0]], dtype=np.float32)

    scores = detector.score_samples(points)

    as_float64 = detector.score_samples(points.astype(np.float64))
    assert np.all(np.isfinite(scores)) and np.all(scores[[3, 70]] < -1e76)
    np.testing.assert_array_equal(scores[[3, 70]], as_float64[[3, 70]])
    others = np.delete(np.arange(100), [3, 70])
    np.testing.assert_array_equal(scores[others], detector.score_samples(points[others]))


@pytest.mark.parametrize("shrinkage", ["ledoit-wolf", "oas"])
def test_shrinkage_intensity_does_not_depend_on_the_scale(shrinkage):
    """Both closed forms are scale-invariant; at a scale of 1e150 the squares
    of the covariance's entries overflow unless they are normalised first."""
    X = _data(np.float64, 0.0, 1.0, n_samples=40)
    X[:, 2] = 0.5 * X[:, 0] + 0.1 * X[:, 2]
    unit = GaussianAnomalyDetector("full", shrinkage=shrinkage).fit(X)
    assert 0.0 < unit.shrinkage_ < 1.0
    huge = GaussianAnomalyDetector("full", shrinkage=shrinkage).fit(X * 2.0**500)
    assert huge.shrinkage_ == pytest.approx(unit.shrinkage_, rel=1e-12)


def test_chunked_fit_names_an_overflowing_sum_of_squares():
    """Streaming fits cannot go back to the rows to rescale them: they say so."""
    X = _data(np.float64, 0.0, 1e153, n_samples=3000)
    detector = GaussianAnomalyDetector()
    with pytest.raises(ValueError, match=r"sum of squared deviations of feature\(s\) 0, 1, 2 "
                                         r"overflows float64 in this chunked fit"):
        for start in range(0, 3000, 500):
            detector.partial_fit(X[start:start + 500])
    in_memory = GaussianAnomalyDetector().fit(X)
    assert np.all(np.isfinite(in_memory.var_))


def test_chunks_spread_over_the_whole_float64_range_are_refused_cleanly():
    """Chunks starting at -1.5e308 and +1.5e308: the difference of their
    shifts overflows; the fit names the feature instead of warning or
    returning inf."""
    detector = GaussianAnomalyDetector()
    detector.partial_fit(np.array([[-1.5e308]]))  # one row: only accumulated
    with pytest.raises(ValueError, match=r"feature\(s\) 0 overflows float64"):
        detector.partial_fit(np.array([[1.5e308]]))


def test_full_model_scores_a_point_beyond_float64_standardisation_as_minus_inf_not_nan():
    """A finite float64 point at -1.8e308 with a feature of standard
    deviation 1e-3: its standardised residual overflows to -inf, and the
    kernel's product W s meets inf * 0 (NaN).  The row is rescored on exactly
    rescaled residuals: -inf (a density below float64's range), never NaN, in
    score_samples, decision_function, predict and explain.  The fuzz input
    that found it is tests/fuzz_corpus/decision-function-nan-far-point."""
    X = np.array([[-0.0, 0.0], [0.0, 0.0], [0.0, -3.0], [0.0, 0.0], [-0.0, -0.0], [-0.0, -0.0]])
    with pytest.warns(ConditioningWarning, match="6 samples for 2 features"):
        detector = GaussianAnomalyDetector("full", contamination=1e-9, reg_covar=1e-6,
                                           n_jobs=2).fit(X)
    points = np.zeros((13, 2))
    points[0, 0] = -np.finfo(np.float64).max
    scores = detector.score_samples(points)
    assert scores[0] == -np.inf and np.all(np.isfinite(scores[1:]))
    assert np.array_equal(scores[1:], detector.score_samples(points[1:]))
    assert detector.decision_function(points)[0] == -np.inf
    assert detector.predict(points)[0] == -1
    contributions = detector.explain(points)
    assert contributions[0, 0] == np.inf and np.isfinite(contributions[0, 1])


@pytest.mark.parametrize("point", [[1e305, 1e305], [1e300, -1e300], [-1.7e308, 1.7e308]])
def test_full_model_far_points_of_correlated_features_are_minus_inf_not_nan(point):
    """With correlation 0.99995 the whitening's terms for a point 1e300 out
    overflow with opposite signs (inf - inf).  The exact squared distance of
    such a point, computed in rational arithmetic from the fitted parameters,
    exceeds float64's range by hundreds of orders of magnitude, so -inf is
    the float64 answer."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(500, 2)) @ np.array([[1.0, 0.99995], [0.0, 0.01]])
    detector = GaussianAnomalyDetector("full").fit(X)
    mean = [Fraction(v) for v in detector.mean_.tolist()]
    (a, b), (_, c) = [[Fraction(v) for v in row] for row in detector.covariance_.tolist()]
    u, v = Fraction(point[0]) - mean[0], Fraction(point[1]) - mean[1]
    squared_distance = (c * u * u - 2 * b * u * v + a * v * v) / (a * c - b * b)
    assert squared_distance > Fraction(10) ** 400
    score = detector.score_samples(np.array([point]))[0]
    assert score == -np.inf
    assert detector.decision_function(np.array([point]))[0] == -np.inf


def test_decision_function_with_an_epsilon_of_zero_is_never_nan():
    """The grid search over identical scores finds no candidate and keeps
    epsilon = 0 (log_epsilon_ = -inf), which flags nothing: a point of
    density 0 (score -inf) is not below it either, so its decision is 0.0,
    not -inf - -inf = NaN, and predict says +1 for every point."""
    rng = np.random.default_rng(3)
    detector = GaussianAnomalyDetector("full").fit(rng.normal(size=(200, 2)))
    result = detector.tune_threshold(np.ones((4, 2)), [0, 1, 0, 1], method="grid")
    assert result.log_epsilon == -np.inf and detector.offset_ == -np.inf
    points = np.array([[0.0, 0.0], [-np.finfo(np.float64).max, 0.0]])
    assert detector.score_samples(points)[1] == -np.inf
    assert detector.decision_function(points).tolist() == [np.inf, 0.0]
    assert detector.predict(points).tolist() == [1, 1]
