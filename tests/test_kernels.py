"""The compiled kernels of ``gaussext._kernels`` against the reference oracle.

Every kernel is called directly, with the argument types the public layer
builds for it (see ``GaussianAnomalyDetector.fit`` and ``_log_density``), and
its output is compared with ``gaussext.oracle``: plain Python with
``math.fsum``, sharing no code with the kernels.  Where the oracle has no
counterpart (the Cholesky factor and its inverse, inputs too large for pure
Python) NumPy or SciPy is the reference instead.

Property tests (hypothesis) cover one row, one feature, up to 64 features,
float32 and float64 data, C- and Fortran-ordered arrays, strided and
column-subset views, reversed views, read-only arrays, one or two threads,
and tied scores in the threshold scan.  Fixed cases cover 300 features,
inputs spanning many blocks, bitwise reproducibility across thread counts,
and data with a large offset, where only centring before squaring keeps the
variance accurate.

Tolerances
----------
All comparisons use the relative tolerances in `RTOL`, applied to the scale
that rounding errors actually grow with (the magnitude of the terms that are
summed, not the possibly cancelling sum); the helpers below state each
scale.  Kernel and oracle differ by rounding only, a few ulps (1e-16) per
term times at most a few hundred terms, so 1e-10 leaves a margin of about
1e3 while still failing on any arithmetic done in float32 (1e-7) and on any
wrong term, row or block.
"""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import linalg, stats
from threadpoolctl import threadpool_limits

from gaussext import GaussianAnomalyDetector, GaussianStatistics, _kernels, oracle

LOG_2PI = math.log(2.0 * math.pi)
EPS = np.finfo(np.float64).eps

RTOL = {
    # float64 data: the requirement.  Every kernel here is backward
    # stable, so its distance to the oracle is a few ulps per summed term
    # (<= 300 terms) relative to the scale of those terms: ~1e-13 at worst.
    np.float64: 1e-10,
    # float32 data: the kernels widen each element to float64, which is exact,
    # and compute in float64 from there.  Compared with the oracle run on
    # X.astype(float64) the float64 tolerance therefore holds unchanged; a
    # kernel that did any other arithmetic in float32 would miss it by ~1e-7.
    # The one exception, by design: the full model whitens float32 rows in
    # float32, and its scores are allowed the stated bound of that product
    # (conftest.py, `single_precision_product_bound`) on top.
    np.float32: 1e-10,
}

PROPERTY_SETTINGS = settings(max_examples=60, deadline=None)

# Memory layouts the kernels must read in place.  The kernels pick their loop
# order from X.strides, so both orders appear contiguous and non-contiguous.
LAYOUTS = ("C", "F", "C-strided", "F-strided", "column-subset", "reversed")


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """BLAS on one thread throughout, as the estimator holds it while its own
    threads run.  The oracle makes one small BLAS call per row; BLAS threads
    competing for this machine's two cores with the kernels' OpenMP threads,
    or with any other load, slow those calls down several times."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _arrange(values, layout, read_only):
    """An array equal to `values` with the given memory layout.

    Strided views are cut from a NaN-filled parent, so a kernel that reads a
    gap between the elements it was given returns NaN and fails.
    """
    n, d = values.shape
    if layout == "C":
        X = np.array(values, order="C")
    elif layout == "F":
        X = np.array(values, order="F")
    elif layout == "C-strided":
        parent = np.full((2 * n, 3 * d), np.nan, dtype=values.dtype)
        X = parent[::2, ::3]
    elif layout == "F-strided":
        parent = np.full((n + 2, 2 * d), np.nan, dtype=values.dtype, order="F")
        X = parent[1:-1, ::2]
    elif layout == "column-subset":
        parent = np.full((n, d + 2), np.nan, dtype=values.dtype)
        X = parent[:, 1:-1]
    elif layout == "reversed":
        parent = np.array(values[::-1, ::-1], order="C")
        X = parent[::-1, ::-1]
    else:
        raise AssertionError(layout)
    X[...] = values
    X.setflags(write=not read_only)
    return X


def _read_only(*arrays):
    """Mark arrays read-only, as a memory-mapped or frozen input would be."""
    for array in arrays:
        array.setflags(write=False)


MAX_ELEMENTS = 256


@st.composite
def data_matrices(draw, max_rows=16, max_features=64, offsets=(0.0,)):
    """X of shape (n, d) in float32 or float64, in any of `LAYOUTS`.

    Elements lie in [-1e3, 1e3], plus one of `offsets`; an offset large
    against that spread is what separates centred from uncentred sums of
    squares.  Offset data are cast after the addition: the cast values are
    the data.
    """
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    d = draw(st.integers(1, max_features))
    # at most MAX_ELEMENTS drawn one by one, within hypothesis's data budget
    n = draw(st.integers(1, max(1, min(max_rows, MAX_ELEMENTS // d))))
    elements = st.floats(-1e3, 1e3, width=32 if dtype is np.float32 else 64,
                         allow_subnormal=False)
    values = draw(hnp.arrays(dtype, (n, d), elements=elements, fill=st.nothing()))
    offset = draw(st.sampled_from(offsets))
    if offset:
        values = (values + offset).astype(dtype)
    layout = draw(st.sampled_from(LAYOUTS))
    return _arrange(values, layout, read_only=draw(st.booleans()))


def _vectors(d, low, high):
    """float64 vectors of length d with every element drawn from [low, high]."""
    return hnp.arrays(np.float64, d, elements=st.floats(low, high), fill=st.nothing())


@st.composite
def covariances(draw, d):
    """A symmetric positive-definite d x d covariance, D (A A^T / d + I / 2) D.

    With |A_ij| <= 1 the bracket has eigenvalues in [1/2, d + 1/2]
    (condition <= 2d + 1); D scales features by 0.1 to 10, which Cholesky
    factorisation is insensitive to.  So the problem is well conditioned and
    the float64 tolerance is meaningful for it.
    """
    # A from a drawn seed: d^2 independently drawn floats would exceed
    # hypothesis's data budget at d = 64 (its entries need no shrinking)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    scales = draw(_vectors(d, 0.1, 10.0), label="scales")
    return _covariance(rng.uniform(-1.0, 1.0, size=(d, d)), scales)


def _covariance(mixing, scales):
    """D (A A^T / d + I / 2) D from A = `mixing` and D = diag(`scales`)."""
    d = len(scales)
    correlation = mixing @ mixing.T / d + 0.5 * np.eye(d)
    covariance = scales[:, None] * correlation * scales[None, :]
    return 0.5 * (covariance + covariance.T)  # exactly symmetric


def _random_covariance(rng, d):
    """Seeded counterpart of `covariances` for the fixed-input tests."""
    return _covariance(rng.uniform(-1.0, 1.0, size=(d, d)), rng.uniform(0.1, 10.0, size=d))


def _diagonal_log_density(X, mean, var, n_threads):
    """Run the diagonal kernel as the estimator does; returns (out, log_norm)."""
    inv_std = 1.0 / np.sqrt(var)
    log_norm = -0.5 * (X.shape[1] * LOG_2PI + float(np.sum(np.log(var))))
    out = np.full(X.shape[0], np.nan)  # NaN: a row the kernel skips fails
    _kernels.diagonal_log_density(X, mean, inv_std, log_norm, out, n_threads)
    return out, log_norm


def _full_log_density(X, mean, covariance, n_threads):
    """Run the full kernel as the estimator does, with the factor from
    `cholesky_lower` scaled into the whitening matrix L^-1 diag(sigma), in
    X's type; returns (out, log_norm)."""
    d = X.shape[1]
    factor, inverse_factor, info = _kernels.cholesky_lower(np.ascontiguousarray(covariance))
    assert info == 0
    std = np.sqrt(np.diagonal(covariance))
    log_norm = -0.5 * (d * LOG_2PI + 2.0 * float(np.sum(np.log(np.diagonal(factor)))))
    out = np.full(X.shape[0], np.nan)
    # garbage in the workspace: the kernel must not rely on it being zeroed
    workspace = np.full(_kernels.full_workspace_shape(n_threads, d, X.shape[0]), np.nan,
                        dtype=X.dtype)
    _kernels.full_log_density(X, mean, 1.0 / std, (inverse_factor * std).astype(X.dtype),
                              log_norm, out, workspace, n_threads)
    return out, log_norm


def _assert_log_density_close(actual, expected, log_norm, rtol, allowance=0.0):
    """Row by row, |actual - expected| <= rtol * max(1, |log_norm| + |expected - log_norm|)
    + allowance.

    The scale is the magnitude of the two terms summed, |log_norm| plus half
    the squared Mahalanobis distance: rounding errors grow with it even where
    the two nearly cancel.  The floor of 1 covers log(2 pi var) being rounded
    in absolute, not relative, terms when 2 pi var is near 1.  `allowance`
    (per row) is the full model's float32 product bound, where it applies.
    """
    assert actual.shape == expected.shape and actual.dtype == np.float64
    scale = np.maximum(1.0, np.abs(log_norm) + np.abs(expected - log_norm))
    error = np.abs(actual - expected)
    bad = np.flatnonzero(~(error <= rtol * scale + allowance))  # NaN counts as bad
    assert bad.size == 0, (
        f"{bad.size} rows differ, first {bad[:3]}: got {actual[bad[:3]]}, "
        f"expected {expected[bad[:3]]}, relative error {(error / scale)[bad[:3]]}"
    )


def _assert_full_log_density_close(actual, expected, log_norm, X, mean, covariance,
                                   product_bound):
    """`_assert_log_density_close` for the full model: float64 input within
    RTOL, float32 input within RTOL plus the stated bound of its float32
    product."""
    allowance = product_bound(X, mean, covariance) if X.dtype == np.float32 else 0.0
    _assert_log_density_close(actual, expected, log_norm, RTOL[X.dtype.type], allowance)


def _diagonal_statistics(X, mean, sum_squares, n_threads):
    """Fill mean and the per-feature centred sums of squares by the statistics
    kernel as fit runs it (through GaussianStatistics, shifted by the first row)."""
    statistics = GaussianStatistics("diagonal").update(X, n_jobs=n_threads)
    mean[:], sum_squares[:] = statistics.mean, statistics.scatter


def _full_statistics(X, mean, scatter, n_threads):
    """Fill mean and the scatter matrix, likewise."""
    statistics = GaussianStatistics("full").update(X, n_jobs=n_threads)
    mean[:], scatter[:] = statistics.mean, statistics.scatter


def _assert_statistics_close(X64, mean, second_moment, expected_mean, expected_second,
                             rtol):
    """Compare a mean and a variance vector or covariance matrix with the oracle.

    Mean: |error_a| <= rtol * max_i |x_ia|, the scale of the summed terms
    (the mean itself may cancel to ~0).

    Second moments: |error_ab| <= rtol * sum_i |d_ia d_ib| / n
    + 16 (eps max_i |x_ia|)(eps max_i |x_ib|) + 4 n * 5e-324, with d the
    deviations from the oracle's mean.  The first term is the magnitude of
    the summed products (for a variance, the variance itself).  The second
    is the oracle's own error: it squares deviations from a mean rounded by
    up to one ulp, without correction, which biases a (nearly) constant
    column by up to (2 eps |mean|)^2 (a margin of 4 here); that is below
    1e-30 of the squared data scale, far below anything a wrong formula
    produces.  The last covers products that fall below the normal range,
    where rounding is absolute, in steps of the smallest subnormal.
    """
    n = X64.shape[0]
    column_scale = np.max(np.abs(X64), axis=0)
    mean_error = np.abs(mean - expected_mean)
    assert np.all(mean_error <= rtol * column_scale), (mean, expected_mean)
    deviation = np.abs(X64 - expected_mean)
    magnitude = deviation.T @ deviation / n
    floor = (16 * EPS**2 * np.outer(column_scale, column_scale)
             + 4 * n * np.finfo(np.float64).smallest_subnormal)
    if second_moment.ndim == 1:  # variances: the diagonal of the same bound
        magnitude, floor = np.diagonal(magnitude), np.diagonal(floor)
    bound = rtol * magnitude + floor
    error = np.abs(second_moment - expected_second)
    assert np.all(error <= bound), (
        f"largest error / bound {np.max(error / bound)}: "
        f"got {second_moment}, expected {expected_second}"
    )


# ---------------------------------------------------------------------------
# Log-densities


@PROPERTY_SETTINGS
@given(data=st.data(), X=data_matrices(), n_threads=st.sampled_from([1, 2]))
def test_diagonal_log_density_matches_oracle(data, X, n_threads):
    """diagonal_log_density equals oracle.diagonal_log_density on the widened
    data, for every layout and dtype, and leaves its inputs untouched."""
    d = X.shape[1]
    mean = data.draw(_vectors(d, -1e3, 1e3), label="mean")
    var = data.draw(_vectors(d, 1e-3, 1e3), label="var")
    X_before, mean_before = X.copy(), mean.copy()
    if not X.flags.writeable:  # parameters read-only along with the data
        _read_only(mean, var)

    actual, log_norm = _diagonal_log_density(X, mean, var, n_threads)

    expected = oracle.diagonal_log_density(X.astype(np.float64), mean, var)
    _assert_log_density_close(actual, expected, log_norm, RTOL[X.dtype.type])
    assert np.array_equal(X, X_before) and np.array_equal(mean, mean_before)


@PROPERTY_SETTINGS
@given(data=st.data(), X=data_matrices(), n_threads=st.sampled_from([1, 2]))
def test_full_log_density_matches_oracle(data, X, n_threads, single_precision_product_bound):
    """full_log_density, over the factor from cholesky_lower, equals
    oracle.full_log_density (linear solve and slogdet) on the widened data,
    and leaves its inputs untouched."""
    d = X.shape[1]
    mean = data.draw(_vectors(d, -1e3, 1e3), label="mean")
    covariance = data.draw(covariances(d), label="covariance")
    X_before, mean_before, covariance_before = X.copy(), mean.copy(), covariance.copy()
    if not X.flags.writeable:
        _read_only(mean, covariance)

    actual, log_norm = _full_log_density(X, mean, covariance, n_threads)

    expected = oracle.full_log_density(X.astype(np.float64), mean, covariance)
    _assert_full_log_density_close(actual, expected, log_norm, X, mean, covariance,
                                   single_precision_product_bound)
    assert np.array_equal(X, X_before) and np.array_equal(mean, mean_before)
    assert np.array_equal(covariance, covariance_before)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_samples, n_features",
                         [(1, 1), (1, 300), (7, 1), (2 * _kernels.full_block_rows(300) + 7, 300)])
def test_log_densities_edge_shapes_match_oracle(dtype, n_samples, n_features,
                                               single_precision_product_bound):
    """One row, one feature and 300 features (three blocks of the full
    kernel, the last of 7 rows) match the oracle."""
    rng = np.random.default_rng(n_samples * 1000 + n_features)
    mean = rng.uniform(-5, 5, size=n_features)
    covariance = _random_covariance(rng, n_features)
    values = rng.multivariate_normal(mean, covariance, size=n_samples)
    X = np.asfortranarray(values.astype(dtype))
    X64 = X.astype(np.float64)
    var = np.diagonal(covariance).copy()

    diagonal, log_norm = _diagonal_log_density(X, mean, var, n_threads=2)
    _assert_log_density_close(diagonal, oracle.diagonal_log_density(X64, mean, var),
                              log_norm, RTOL[dtype])
    full, log_norm = _full_log_density(X, mean, covariance, n_threads=2)
    _assert_full_log_density_close(full, oracle.full_log_density(X64, mean, covariance),
                                   log_norm, X, mean, covariance, single_precision_product_bound)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_densities_over_many_blocks_match_scipy(dtype, single_precision_product_bound):
    """Over 3.5 blocks of the full kernel (full_block_rows(20) rows each;
    six diagonal blocks of 2048), the last of each partial, on two threads,
    both kernels equal SciPy's normal log-densities."""
    rng = np.random.default_rng(11)
    n_features = 20
    n_samples = 3 * _kernels.full_block_rows(n_features) + _kernels.full_block_rows(n_features) // 2
    assert 5 * 2048 < n_samples < 6 * 2048
    mean = rng.uniform(-10, 10, size=n_features)
    covariance = _random_covariance(rng, n_features)
    X = rng.multivariate_normal(mean, covariance, size=n_samples).astype(dtype)
    X64 = X.astype(np.float64)
    var = np.diagonal(covariance).copy()

    diagonal, log_norm = _diagonal_log_density(X, mean, var, n_threads=2)
    expected = stats.norm(mean, np.sqrt(var)).logpdf(X64).sum(axis=1)
    _assert_log_density_close(diagonal, expected, log_norm, RTOL[dtype])

    full, log_norm = _full_log_density(X, mean, covariance, n_threads=2)
    expected = stats.multivariate_normal(mean, covariance).logpdf(X64)
    _assert_full_log_density_close(full, expected, log_norm, X, mean, covariance,
                                   single_precision_product_bound)


@pytest.mark.parametrize(
    "n_samples, n_features",
    [
        (10_000, 8),    # 5 diagonal blocks of 2048 and 2 full blocks of 8192, partial last
        (16_384, 8),    # exactly 8 diagonal and 2 full blocks
        (20_000, 7),    # full blocks of 9362 rows
        (3_001, 300),   # 14 full blocks of 218 rows
    ],
)
def test_thread_count_does_not_change_any_bit(n_samples, n_features):
    """One and two threads give bitwise identical log-densities: each row is
    computed by the same operations whichever thread owns its block."""
    rng = np.random.default_rng(n_features)
    mean = rng.normal(size=n_features)
    covariance = _random_covariance(rng, n_features)
    X = rng.normal(size=(n_samples, n_features)) * np.sqrt(np.diagonal(covariance)) + mean
    var = np.diagonal(covariance).copy()
    # BLAS on one thread (the fixture holds it there too), so that only the
    # kernels' split of the blocks between their threads varies
    with threadpool_limits(limits=1, user_api="blas"):
        diagonal = [_diagonal_log_density(X, mean, var, n_threads)[0] for n_threads in (1, 2)]
        full = [_full_log_density(X, mean, covariance, n_threads)[0] for n_threads in (1, 2)]
    assert np.all(np.isfinite(diagonal[0])) and np.all(np.isfinite(full[0]))
    assert np.array_equal(diagonal[0], diagonal[1])
    assert np.array_equal(full[0], full[1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_features", [8, 33])
def test_alignment_of_the_data_does_not_change_any_bit(dtype, n_features):
    """The same rows stored one element off (so that no row shares the other
    copy's alignment to a vector register) give bitwise identical scores: the
    row sums run over fixed lanes in a fixed order, which a compiler may not
    regroup around the data's alignment."""
    rng = np.random.default_rng(n_features)
    mean = rng.normal(size=n_features)
    covariance = _random_covariance(rng, n_features)
    X = (rng.normal(size=(3000, n_features)) + mean).astype(dtype)
    shifted = np.empty(X.size + 1, dtype=dtype)[1:].reshape(X.shape)
    shifted[:] = X
    assert shifted.ctypes.data % 32 != X.ctypes.data % 32
    var = np.diagonal(covariance).copy()
    for kernel in (_diagonal_log_density, _full_log_density):
        spread = var if kernel is _diagonal_log_density else covariance
        with threadpool_limits(limits=1, user_api="blas"):
            aligned, _ = kernel(X, mean, spread, 2)
            offset, _ = kernel(shifted, mean, spread, 2)
        assert np.all(np.isfinite(aligned)) and np.array_equal(aligned, offset)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_features", [8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 23, 33])
def test_diagonal_score_of_a_row_does_not_depend_on_the_rows_around_it(dtype, n_features):
    """From eight features on, the diagonal kernel sums rows four at a time
    (the leftover rows one by one): for every count of features past the last
    eight, a row's score is the same bits alone, in any slice of rows, among
    rows a stride apart, and on one or two threads; and it is the formula's."""
    rng = np.random.default_rng(n_features)
    mean = 1e3 + rng.normal(size=n_features)
    var = rng.uniform(0.5, 2.0, size=n_features)
    X = (mean + rng.normal(size=(39, n_features)) * np.sqrt(var)).astype(dtype)

    one_by_one = np.array([_diagonal_log_density(X[i:i + 1], mean, var, 1)[0][0]
                           for i in range(X.shape[0])])
    for start, stop in [(0, 39), (1, 39), (2, 38), (3, 12), (5, 6), (7, 31)]:
        for n_threads in (1, 2):
            scores, _ = _diagonal_log_density(X[start:stop], mean, var, n_threads)
            assert np.array_equal(scores, one_by_one[start:stop])
    strided, _ = _diagonal_log_density(X[::3], mean, var, 2)
    assert np.array_equal(strided, one_by_one[::3])
    expected = oracle.diagonal_log_density(X, mean, var)
    np.testing.assert_allclose(one_by_one, expected, rtol=1e-12)


PRODUCT_FEATURES = [1, 2, 3, 7, 8, 9, 31, 32, 33, 64, 128, 300]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_features", PRODUCT_FEATURES)
@pytest.mark.parametrize("n_samples", [1, 2, 7, 8, 9, 1000])
def test_full_log_density_over_panel_shapes_matches_scipy(dtype, n_features, n_samples,
                                                          single_precision_product_bound):
    """The full kernel, on data at an offset of 1e6, equals SciPy's
    multivariate normal log-density for every feature count where its
    product changes shape and row counts either side of a panel of 8 rows,
    float32 within the stated bound of its product."""
    rng = np.random.default_rng(100 * n_features + n_samples)
    mean = 1e6 + rng.uniform(-5, 5, size=n_features)
    covariance = _random_covariance(rng, n_features)
    X = rng.multivariate_normal(mean, covariance, size=n_samples).astype(dtype)

    full, log_norm = _full_log_density(X, mean, covariance, n_threads=2)

    expected = stats.multivariate_normal(mean, covariance).logpdf(X.astype(np.float64))
    _assert_full_log_density_close(full, np.atleast_1d(expected), log_norm, X, mean,
                                   covariance, single_precision_product_bound)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_features", PRODUCT_FEATURES)
def test_full_scores_do_not_depend_on_threads_storage_or_blas(dtype, n_features):
    """Over 2.5 blocks (so that two threads split them), the full kernel gives
    the same bits on one or two threads, run after run, for C- or
    Fortran-ordered rows or rows one element off alignment, and whatever
    BLAS's own thread count is: no BLAS runs in its loops.  A row's score
    does not depend on the rows scored with it either (the product takes
    rows in groups, an odd one alone)."""
    rng = np.random.default_rng(n_features)
    n_samples = 5 * _kernels.full_block_rows(n_features) // 2
    mean = rng.normal(size=n_features)
    covariance = _random_covariance(rng, n_features)
    X = (rng.normal(size=(n_samples, n_features)) + mean).astype(dtype)
    shifted = np.empty(X.size + 1, dtype=dtype)[1:].reshape(X.shape)
    shifted[:] = X
    # one factor for every run (LAPACK's own bits may depend on BLAS threads)
    factor, inverse_factor, info = _kernels.cholesky_lower(covariance)
    assert info == 0
    std = np.sqrt(np.diagonal(covariance))
    whitening = (inverse_factor * std).astype(dtype)

    def scores(rows, n_threads):
        out = np.full(rows.shape[0], np.nan)
        workspace = np.full(_kernels.full_workspace_shape(n_threads, n_features, rows.shape[0]),
                            np.nan, dtype=dtype)
        _kernels.full_log_density(rows, mean, 1.0 / std, whitening, -1.0, out, workspace,
                                  n_threads)
        return out

    reference = scores(X, 1)
    assert np.all(np.isfinite(reference))
    for stored, n_threads in [(X, 1), (X, 2), (X, 2), (np.asfortranarray(X), 2), (shifted, 2)]:
        assert np.array_equal(scores(stored, n_threads), reference)
    for start, stop in [(0, 1), (5, 6), (3, 12), (1, 18), (7, 40)]:
        assert np.array_equal(scores(X[start:stop], 1), reference[start:stop])
    for blas_threads in (1, 2):
        with threadpool_limits(limits=blas_threads, user_api="blas"):
            assert np.array_equal(scores(X, 2), reference)


# ---------------------------------------------------------------------------
# Fit statistics


STATISTICS_OFFSETS = (0.0, 0.0, 1e6)


@PROPERTY_SETTINGS
@given(X=data_matrices(offsets=STATISTICS_OFFSETS))
def test_diagonal_statistics_match_oracle(X):
    """The diagonal statistics give the oracle's mean and, divided by n, its
    variance, on the widened data; X is left untouched."""
    X_before = X.copy()
    n, d = X.shape
    mean, sum_squares = np.full(d, np.nan), np.full(d, np.nan)

    _diagonal_statistics(X, mean, sum_squares, 2)

    X64 = X.astype(np.float64)
    expected_mean, expected_var = oracle.mean_and_variance(X64)
    _assert_statistics_close(X64, mean, sum_squares / n, expected_mean, expected_var,
                             RTOL[X.dtype.type])
    assert np.array_equal(X, X_before)


@PROPERTY_SETTINGS
@given(X=data_matrices(max_features=24, offsets=STATISTICS_OFFSETS))
def test_full_statistics_match_oracle(X):
    """The full statistics give the oracle's mean and, divided by n, its
    covariance; the scatter matrix is exactly symmetric; X is left untouched."""
    X_before = X.copy()
    n, d = X.shape
    mean, scatter = np.full(d, np.nan), np.full((d, d), np.nan)

    _full_statistics(X, mean, scatter, 2)

    X64 = X.astype(np.float64)
    expected_mean, expected_covariance = oracle.covariance(X64)
    _assert_statistics_close(X64, mean, scatter / n, expected_mean, expected_covariance,
                             RTOL[X.dtype.type])
    # cholesky_lower reads one triangle only; both must hold the same numbers
    assert np.array_equal(scatter, scatter.T)
    assert np.array_equal(X, X_before)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_statistics_with_300_features_match_oracle(dtype):
    """At 300 features, over two blocks of the full kernel (the second of 11
    rows), both statistics kernels match the oracle."""
    rng = np.random.default_rng(300)
    n = _kernels.full_block_rows(300) + 11
    X = rng.normal(loc=rng.uniform(-3, 3, size=300), size=(n, 300)).astype(dtype)
    X64 = X.astype(np.float64)
    mean, sum_squares = np.empty(300), np.empty(300)
    _diagonal_statistics(X, mean, sum_squares, 1)
    _assert_statistics_close(X64, mean, sum_squares / n, *oracle.mean_and_variance(X64),
                             RTOL[dtype])
    scatter = np.empty((300, 300))
    _full_statistics(X, mean, scatter, 1)
    _assert_statistics_close(X64, mean, scatter / n, *oracle.covariance(X64), RTOL[dtype])


def _offset_data(offset, dtype):
    """24_000 rows of offset + correlated N(0, 1) noise in 3 features: twelve
    blocks of the diagonal statistics (2048 rows) and two of the full
    statistics (full_block_rows(3) = 21845 rows), merged pairwise."""
    rng = np.random.default_rng(2)
    mixing = np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [-0.3, 0.2, 0.9]])
    return (offset + rng.normal(size=(24_000, 3)) @ mixing.T).astype(dtype)


def _assert_offset_statistics(X, expected_mean, expected_covariance, rtol):
    """Both statistics kernels on X against the expected mean and covariance,
    purely relatively: the variances to `rtol` of themselves, covariances to
    `rtol` of sqrt(var_a var_b), the scale of their terms."""
    n, d = X.shape
    expected_var = np.diagonal(expected_covariance)
    mean, sum_squares = np.empty(d), np.empty(d)
    _diagonal_statistics(X, mean, sum_squares, 1)
    np.testing.assert_allclose(mean, expected_mean, rtol=rtol, atol=0)
    np.testing.assert_allclose(sum_squares / n, expected_var, rtol=rtol, atol=0)

    scatter = np.empty((d, d))
    _full_statistics(X, mean, scatter, 1)
    np.testing.assert_allclose(mean, expected_mean, rtol=rtol, atol=0)
    np.testing.assert_allclose(np.diagonal(scatter) / n, expected_var, rtol=rtol, atol=0)
    scale = np.sqrt(np.outer(expected_var, expected_var))
    assert np.all(np.abs(scatter / n - expected_covariance) <= rtol * scale)


@pytest.mark.parametrize(
    "dtype, offset",
    [(np.float32, 1e6), (np.float64, 1e6), (np.float64, 1e9)],
)
def test_statistics_survive_a_large_offset(dtype, offset):
    """With data offset + N(0, 1), the means, variances and covariances match
    the oracle's (fsum) on the widened data to a relative 1e-10.

    Squares summed before centring (sum x^2 - n mean^2) cancel offset^2
    against itself and lose eps * offset^2 / var: 1e-4 relative at 1e6 and
    all digits at 1e9, in float64.  The float32 data sit on a grid of 1/16
    around 1e6 (the widened values are the data); accumulating them in
    float32 would not even get the mean right.
    """
    X = _offset_data(offset, dtype)
    X64 = X.astype(np.float64)
    expected_mean, _ = oracle.mean_and_variance(X64)
    _, expected_covariance = oracle.covariance(X64)
    _assert_offset_statistics(X, expected_mean, expected_covariance, RTOL[dtype])


def test_statistics_at_offset_1e12_match_exact_arithmetic():
    """At an offset of 1e12 the variances still match exact rational
    arithmetic to a relative 1e-10.

    Here centring on a naively summed mean is not enough (that mean is off by
    ~1e-2 and its square biases the variance); the kernels correct each
    block's mean by the mean of its deviations from it, which removes the bias.  The oracle cannot referee
    this case: it centres on a mean rounded to the nearest double (ulp 1.2e-4
    at 1e12) without correction, which biases its variances by up to ~1e-8
    relative, so the reference is computed with fractions.Fraction.
    """
    X = _offset_data(1e12, np.float64)
    columns = [[Fraction(value) for value in column] for column in X.T.tolist()]
    n = X.shape[0]
    means = [sum(column) / n for column in columns]
    deviations = [[value - mean for value in column] for column, mean in zip(columns, means)]
    expected_covariance = np.array([
        [float(sum(a * b for a, b in zip(deviations[i], deviations[j])) / n) for j in range(3)]
        for i in range(3)
    ])
    expected_mean = np.array([float(mean) for mean in means])
    _assert_offset_statistics(X, expected_mean, expected_covariance, RTOL[np.float64])


def test_statistics_over_many_chunks_do_not_depend_on_threads():
    """Over 50_003 rows (eight parallel chunks of statistics_chunk_rows, the
    last shorter) both statistics kernels give bitwise the same result on one
    and on two threads (the chunks and their merge order depend on n only),
    and it matches NumPy's two-pass float64 statistics."""
    rng = np.random.default_rng(17)
    n_samples, n_features = 50_003, 5
    chunk_rows = _kernels.statistics_chunk_rows(n_samples)
    assert -(-n_samples // chunk_rows) == 8 and n_samples % chunk_rows != 0
    covariance = _random_covariance(rng, n_features)
    X = rng.multivariate_normal(rng.uniform(-5, 5, n_features), covariance, size=n_samples)
    centred = X - X.mean(axis=0)
    expected_covariance = centred.T @ centred / n_samples
    results = []
    for n_threads in (1, 2):
        mean, sum_squares = np.empty(n_features), np.empty(n_features)
        scatter = np.empty((n_features, n_features))
        _diagonal_statistics(X, mean, sum_squares, n_threads)
        diagonal_mean = mean.copy()
        _full_statistics(X, mean, scatter, n_threads)
        results.append((diagonal_mean, sum_squares, mean, scatter))
    for first, second in zip(*results):
        assert np.array_equal(first, second)
    diagonal_mean, sum_squares, mean, scatter = results[0]
    scale = np.sqrt(np.outer(np.diagonal(expected_covariance), np.diagonal(expected_covariance)))
    np.testing.assert_allclose(diagonal_mean, X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(mean, X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(sum_squares / n_samples, np.diagonal(expected_covariance),
                               rtol=1e-12)
    assert np.all(np.abs(scatter / n_samples - expected_covariance) <= 1e-12 * scale)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("value", [0.1, -3.7e5, 1e12, 2.0 ** -1000])
def test_constant_column_has_exactly_zero_variance(dtype, value):
    """A constant column (over several blocks and chunks) gets exactly its
    value as mean and exactly 0 as variance and covariances, so that the
    estimator can name it as a zero-variance feature instead of dividing by
    rounding noise."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(70_001, 3)).astype(dtype)
    X[:, 1] = value
    constant = float(dtype(value))
    mean, sum_squares = np.empty(3), np.empty(3)
    _diagonal_statistics(X, mean, sum_squares, 2)
    assert mean[1] == constant and sum_squares[1] == 0.0
    scatter = np.empty((3, 3))
    _full_statistics(X, mean, scatter, 2)
    assert mean[1] == constant
    assert np.all(scatter[1] == 0.0) and np.all(scatter[:, 1] == 0.0)


# ---------------------------------------------------------------------------
# Cholesky factor


@PROPERTY_SETTINGS
@given(data=st.data(), d=st.integers(1, 64), read_only=st.booleans())
def test_cholesky_lower_matches_numpy(data, d, read_only):
    """cholesky_lower returns info 0, NumPy's lower factor and the factor's
    inverse, both with an exactly zero upper triangle, as C-contiguous
    float64 arrays; its input, which may be read-only, is left untouched."""
    covariance = data.draw(covariances(d), label="covariance")
    covariance_before = covariance.copy()
    if read_only:
        _read_only(covariance)

    factor, inverse_factor, info = _kernels.cholesky_lower(covariance)

    assert info == 0
    for triangular in (factor, inverse_factor):
        assert triangular.dtype == np.float64 and triangular.flags.c_contiguous
        assert np.all(np.triu(triangular, 1) == 0)
    # L^-1 L = I up to rounding of order cond(L) eps (SciPy's solve as referee)
    expected_inverse = linalg.solve_triangular(np.linalg.cholesky(covariance), np.eye(d),
                                               lower=True)
    condition = np.linalg.cond(np.linalg.cholesky(covariance))
    scale = np.abs(expected_inverse).max()
    assert np.all(np.abs(inverse_factor - expected_inverse) <= 1e3 * condition * EPS * scale)
    # row i of L has norm sqrt(A_ii): the scale its rounding errors grow with
    expected = np.linalg.cholesky(covariance)
    row_scale = np.sqrt(np.diagonal(covariance))[:, None]
    assert np.all(np.abs(factor - expected) <= RTOL[np.float64] * row_scale)
    assert np.array_equal(covariance, covariance_before)


@pytest.mark.parametrize(
    "matrix, first_bad_minor",
    [
        ([[-1.0]], 1),
        ([[1.0, 2.0], [2.0, 1.0]], 2),                     # positive diagonal, indefinite
        (np.diag([2.0, 3.0, -1.0, 4.0]), 3),
        (np.ones((3, 3)), 2),                               # PSD, singular: 1 - 1*1 == 0 exactly
        (np.array([[4.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), 2),  # 1 - (2/2)^2 == 0
    ],
)
def test_cholesky_lower_reports_the_first_non_positive_minor(matrix, first_bad_minor):
    """On a matrix that is not positive definite, info is the order of the
    first leading minor that is not (LAPACK's potrf convention)."""
    matrix = np.array(matrix, dtype=np.float64)
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(matrix)
    _, _, info = _kernels.cholesky_lower(matrix)
    assert info == first_bad_minor


# ---------------------------------------------------------------------------
# Threshold scans

# Few scores, so that draws tie often.  -0.0 and 0.0 are equal scores (one
# candidate); -3.0 and the next double above it are two; -inf is a valid score.
SCORE_VALUES = [-np.inf, -7.5, -3.0, np.nextafter(-3.0, 0.0), -0.0, 0.0, 2.0]


@st.composite
def labelled_scores(draw, max_size=60):
    """(scores, labels): scores from SCORE_VALUES, 0/1 labels with at least one
    anomaly (the public layer guarantees it; recall divides by their count)."""
    n = draw(st.integers(1, max_size))
    scores = draw(hnp.arrays(np.float64, n, elements=st.sampled_from(SCORE_VALUES)))
    labels = draw(hnp.arrays(np.uint8, n, elements=st.integers(0, 1)))
    labels[draw(st.integers(0, n - 1))] = 1
    return scores, labels


def _case(scores, labels):
    return np.array(scores, dtype=np.float64), np.array(labels, dtype=np.uint8)


@PROPERTY_SETTINGS
@given(case=labelled_scores())
# F1 of 2/3 at the first and the last candidate: the first must win
@example(case=_case([-9.0, -8.0, -7.0, -6.0], [1, 0, 0, 1]))
@example(case=_case([0.0], [1]))
def test_f1_scan_matches_oracle(case):
    """f1_scan, given the normal and the anomalous scores each sorted, gives
    one candidate per distinct score of the oracle's, a threshold for each
    that flags (p < t) exactly the points at or below that score, F1,
    precision and recall exactly as the quotients of the oracle's counts, and
    the oracle's best candidate with its counts; its (read-only) inputs are
    accepted and left untouched."""
    scores, labels = case
    sorted_normal = np.sort(scores[labels == 0])
    sorted_anomalous = np.sort(scores[labels == 1])
    _read_only(sorted_normal, sorted_anomalous)
    normal_before, anomalous_before = sorted_normal.copy(), sorted_anomalous.copy()

    thresholds, precision, recall, f1, best, best_tp, best_fp = _kernels.f1_scan(
        sorted_normal, sorted_anomalous)

    distinct, expected_tp, expected_fp, expected_f1, expected_best = oracle.f1_scan(labels,
                                                                                    scores)
    assert thresholds.shape == distinct.shape
    # -0.0 and 0.0 are one score: compare values, not bit patterns
    assert np.all(thresholds > distinct)
    flagged = [int(np.sum(scores < threshold)) for threshold in thresholds]
    assert flagged == list(expected_tp + expected_fp)
    # both sides divide the same two integers once: correctly rounded, equal
    assert np.array_equal(f1, expected_f1)
    assert best == expected_best
    assert (best_tp, best_fp) == (expected_tp[best], expected_fp[best])
    assert np.array_equal(precision, expected_tp / (expected_tp + expected_fp))
    assert np.array_equal(recall, expected_tp / int(labels.sum()))
    assert np.array_equal(sorted_normal, normal_before)
    assert np.array_equal(sorted_anomalous, anomalous_before)


def test_f1_scan_refuses_no_scores():
    with pytest.raises(ValueError, match="at least one score"):
        _kernels.f1_scan(np.empty(0), np.empty(0))


# ---------------------------------------------------------------------------
# Through the public estimator


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_estimator_score_samples_match_oracle(covariance, dtype, n_jobs,
                                             single_precision_product_bound):
    """GaussianAnomalyDetector fitted on float32 or float64 data scores new
    (Fortran-ordered) data as the oracle does, with parameters estimated by
    the oracle from the widened training data.  The two estimates differ by
    rounding (~1e-15 relative), which moves each log-density by that much
    of its terms' magnitude: well within the usual bound."""
    rng = np.random.default_rng(5)
    mixing = rng.normal(size=(6, 6)) * 0.4 + np.eye(6)
    X_train = (rng.normal(size=(3000, 6)) @ mixing.T + 50.0).astype(dtype)
    X_test = np.asfortranarray((rng.normal(size=(300, 6)) * 2 @ mixing.T + 50.0).astype(dtype))
    detector = GaussianAnomalyDetector(covariance=covariance, n_jobs=n_jobs).fit(X_train)

    actual = detector.score_samples(X_test)

    train64, test64 = X_train.astype(np.float64), X_test.astype(np.float64)
    if covariance == "diagonal":
        mean, var = oracle.mean_and_variance(train64)
        expected = oracle.diagonal_log_density(test64, mean, var)
        log_det = float(np.sum(np.log(var)))
    else:
        mean, cov = oracle.covariance(train64)
        expected = oracle.full_log_density(test64, mean, cov)
        log_det = float(np.linalg.slogdet(cov)[1])
    log_norm = -0.5 * (6 * LOG_2PI + log_det)
    if covariance == "diagonal":
        _assert_log_density_close(actual, expected, log_norm, RTOL[dtype])
    else:
        _assert_full_log_density_close(actual, expected, log_norm, X_test, mean, cov,
                                       single_precision_product_bound)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_features", [1, 2, 3, 4, 5])
def test_packed_short_rows_score_as_the_column_sweep(n_features, dtype):
    """Packed rows of one to four features have loops of their own (_simd.h):
    the same bits as the column sweep that strided and column-major data
    take, and the plain formula within rounding."""
    rng = np.random.default_rng(n_features)
    values = (rng.normal(size=(5003, n_features)) * 3 + 1e3).astype(dtype)
    mean = values.mean(axis=0, dtype=np.float64)
    inv_std = 1.0 / values.std(axis=0, dtype=np.float64)

    def scores(X):
        out = np.full(X.shape[0], np.nan)
        assert _kernels.diagonal_log_density(X, mean, inv_std, -1.5, out, 1) == 0
        return out

    packed = scores(np.ascontiguousarray(values))
    for layout in ("C-strided", "F"):
        np.testing.assert_array_equal(packed, scores(_arrange(values, layout, False)))
    expected = -1.5 - 0.5 * np.sum(((values.astype(np.float64) - mean) * inv_std) ** 2, axis=1)
    np.testing.assert_allclose(packed, expected, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("matrix", [False, True])
def test_statistics_of_every_layout_are_the_same_bits(matrix, dtype):
    """Column sums add rows four at a time on contiguous rows (_simd.h) and
    in the same order on strided ones: every layout gives the same bits."""
    rng = np.random.default_rng(7)
    values = (rng.normal(size=(4099, 7)) * 5 + 1e3).astype(dtype)
    shift = values[0].astype(np.float64)

    def statistics(X):
        mean, moments = np.empty(7), np.empty(49 if matrix else 7)
        _kernels.shifted_statistics(X, shift, mean, moments, matrix, 1)
        return mean, moments

    expected = statistics(np.ascontiguousarray(values))
    for layout in ("F", "C-strided", "reversed"):
        for got, want in zip(statistics(_arrange(values, layout, True)), expected):
            np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(expected[0] + shift, values.mean(axis=0, dtype=np.float64),
                               rtol=1e-12)


@pytest.mark.parametrize("matrix", [False, True])
def test_accumulate_statistics_is_merge_statistics_of_the_two_parts(matrix):
    """A stream's chunk in one call: the bits of the chunk's statistics merged
    by merge_statistics; a chunk with a NaN leaves the running ones unchanged."""
    rng = np.random.default_rng(11)
    first = rng.normal(size=(300, 5)) * 3 + 1e6
    chunk = rng.normal(size=(257, 5)) + 1e6 + 2
    shift = first[0].copy()
    n_moments = 25 if matrix else 5

    def statistics(X):
        mean, moments = np.empty(5), np.zeros(n_moments)
        _kernels.shifted_statistics(X, shift, mean, moments, matrix, 1)
        return mean, moments

    def meaningful(moments):  # the scatter matrix's upper triangle only is kept
        return np.triu(moments.reshape(5, 5)) if matrix else moments

    (mean_a, moments_a), (mean_b, moments_b) = statistics(first), statistics(chunk)
    expected_mean, expected_moments = np.empty(5), np.empty(n_moments)
    _kernels.merge_statistics(np.array([300.0, 257.0]), np.stack([mean_a, mean_b]),
                              np.stack([moments_a, moments_b]), expected_mean,
                              expected_moments, matrix)
    mean, moments = mean_a.copy(), moments_a.copy()
    assert _kernels.accumulate_statistics(chunk, shift, 300.0, mean, moments, np.empty(5),
                                          np.empty(n_moments), matrix, 1)
    np.testing.assert_array_equal(mean, expected_mean)
    np.testing.assert_array_equal(meaningful(moments), meaningful(expected_moments))
    bad = chunk.copy()
    bad[100, 2] = np.nan
    assert not _kernels.accumulate_statistics(bad, shift, 557.0, mean, moments, np.empty(5),
                                              np.empty(n_moments), matrix, 1)
    np.testing.assert_array_equal(mean, expected_mean)
    np.testing.assert_array_equal(meaningful(moments), meaningful(expected_moments))
