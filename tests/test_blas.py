"""The BLAS / LAPACK wrappers of ``gaussext._blas`` against NumPy and SciPy.

The kernels reach BLAS through fused-type wrappers (``_trsm``, ``_syrk``,
``_potrf``) that pick the single- or double-precision routine and pass
flags, sizes and leading dimensions through.  Their Python-visible twins
(``trsm_lower_left``, ``syrk_lower``, ``potrf_lower``) take Fortran-ordered
arrays; this module checks that each computes what its name says, in both
precisions, for square and rectangular shapes.

Tolerances
----------
`TOLERANCE` holds one relative tolerance per dtype, used as a multiple of
the problem's own scale: the condition number for solves and factors, the
magnitude of the summed products for the rank-k update.  The matrices are
well conditioned (triangular factors with a dominant diagonal, covariances
M M^T / m + I) so that the scaled bounds stay tight.  A wrong triangle,
transposition or leading dimension errs by O(1) instead, and single
precision where double was asked for by ~1e-7.
"""

import numpy as np
import pytest
from scipy.linalg import solve_triangular

from gaussext import _blas

TOLERANCE = {
    # unit roundoff 6e-8; rounding errors of these routines grow like
    # (size <= 120) x eps, so 1e-5 per unit of condition leaves a margin
    np.float32: 1e-5,
    # unit roundoff 1.1e-16; same growth, a margin of ~100 at the largest size
    np.float64: 1e-12,
}

DTYPES = [np.float32, np.float64]


def _lower_triangular(rng, m, dtype):
    """Fortran-ordered lower-triangular m x m: off-diagonal entries in
    (-1, 1), diagonal entries of either sign with magnitude sqrt(m)..2 sqrt(m),
    which keeps the condition number below ~3 at every size tested."""
    factor = np.tril(rng.uniform(-1.0, 1.0, size=(m, m)), -1)
    signs = rng.choice([-1.0, 1.0], size=m)
    factor[np.diag_indices(m)] = signs * rng.uniform(1.0, 2.0, size=m) * np.sqrt(m)
    return np.asfortranarray(factor, dtype=dtype)


def _positive_definite(rng, m, dtype):
    """Fortran-ordered symmetric positive-definite M M^T / m + I (condition ~5)."""
    mixing = rng.normal(size=(m, m))
    matrix = mixing @ mixing.T / m + np.eye(m)
    return np.asfortranarray(0.5 * (matrix + matrix.T), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m, n", [(1, 1), (5, 5), (7, 3), (3, 7), (40, 65), (64, 1)])
def test_trsm_lower_left_solves_the_triangular_system(dtype, m, n):
    """trsm_lower_left overwrites B (m x n, square or not) with L^-1 B, as
    scipy.linalg.solve_triangular computes it in float64, and leaves L alone."""
    rng = np.random.default_rng(100 * m + n)
    lower = _lower_triangular(rng, m, dtype)
    rhs = np.asfortranarray(rng.normal(size=(m, n)), dtype=dtype)
    lower_before, rhs_before = lower.copy(), rhs.copy()

    _blas.trsm_lower_left(lower, rhs)

    # reference in float64 from the exact same (widened) inputs
    lower64 = lower_before.astype(np.float64)
    expected = solve_triangular(lower64, rhs_before.astype(np.float64), lower=True)
    condition = np.linalg.cond(lower64)
    # column by column: each right-hand side is an independent solve
    error = np.linalg.norm(rhs - expected, axis=0)
    assert np.all(error <= TOLERANCE[dtype] * condition * np.linalg.norm(expected, axis=0))
    assert rhs.dtype == dtype
    assert np.array_equal(lower, lower_before)


@pytest.mark.parametrize("dtype", DTYPES)
def test_trsm_lower_left_ignores_the_upper_triangle(dtype):
    """Only the lower triangle of A is read: filling the strict upper triangle
    with NaN changes nothing."""
    rng = np.random.default_rng(1)
    lower = _lower_triangular(rng, 6, dtype)
    rhs = np.asfortranarray(rng.normal(size=(6, 4)), dtype=dtype)
    with_nan = lower.copy(order="F")
    with_nan[np.triu_indices(6, 1)] = np.nan
    clean, dirty = rhs.copy(order="F"), rhs.copy(order="F")
    _blas.trsm_lower_left(lower, clean)
    _blas.trsm_lower_left(with_nan, dirty)
    assert np.array_equal(clean, dirty)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, k", [(1, 1), (4, 4), (6, 2), (2, 6), (50, 120), (33, 1)])
def test_syrk_lower_adds_a_a_transpose_to_the_lower_triangle(dtype, n, k):
    """syrk_lower sets the lower triangle of C to that of A A^T + C (A n x k,
    any aspect), leaves the strict upper triangle bit for bit as it was,
    and reads nothing from it (it holds unrelated numbers here)."""
    rng = np.random.default_rng(1000 * n + k)
    a = np.asfortranarray(rng.normal(size=(n, k)), dtype=dtype)
    c = np.asfortranarray(rng.normal(size=(n, n)), dtype=dtype)  # not symmetric
    a_before, c_before = a.copy(), c.copy()

    _blas.syrk_lower(a, c)

    a64, c64 = a_before.astype(np.float64), c_before.astype(np.float64)
    expected = np.tril(a64 @ a64.T + c64)
    # entry (i, j) sums k products and one addend: its error scales with
    # sum_l |a_il a_jl| + |c_ij|, not with the (possibly cancelling) result
    scale = np.tril(np.abs(a64) @ np.abs(a64).T + np.abs(c64))
    assert np.all(np.abs(np.tril(c) - expected) <= TOLERANCE[dtype] * scale)
    upper = np.triu_indices(n, 1)
    assert np.array_equal(c[upper], c_before[upper])
    assert c.dtype == dtype
    assert np.array_equal(a, a_before)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", [1, 2, 5, 40, 64])
def test_potrf_lower_matches_numpy_cholesky(dtype, m):
    """potrf_lower returns info 0 on a positive-definite matrix, leaves in its
    lower triangle NumPy's Cholesky factor and its upper triangle as it was."""
    rng = np.random.default_rng(m)
    matrix = _positive_definite(rng, m, dtype)
    matrix_before = matrix.copy()

    info = _blas.potrf_lower(matrix)

    assert info == 0
    matrix64 = matrix_before.astype(np.float64)
    expected = np.linalg.cholesky(matrix64)
    factor = np.tril(matrix).astype(np.float64)
    # row i of L has norm sqrt(A_ii): its entries' errors scale with that
    row_scale = np.sqrt(np.diagonal(matrix64))[:, None]
    condition = np.linalg.cond(matrix64)
    assert np.all(np.abs(factor - expected) <= TOLERANCE[dtype] * condition * row_scale)
    upper = np.triu_indices(m, 1)
    assert np.array_equal(matrix[upper], matrix_before[upper])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "matrix, first_bad_minor",
    [
        ([[-2.0]], 1),
        ([[0.0]], 1),
        ([[1.0, 2.0], [2.0, 1.0]], 2),          # positive diagonal, indefinite
        (np.diag([2.0, 3.0, -1.0, 4.0]), 3),
        (np.ones((3, 3)), 2),                   # singular; 1 - 1 * 1 == 0 exactly
    ],
)
def test_potrf_lower_reports_the_first_non_positive_minor(dtype, matrix, first_bad_minor):
    """On a matrix that is not positive definite potrf_lower returns the order
    of the first leading minor that is not (LAPACK's info > 0)."""
    matrix = np.asfortranarray(matrix, dtype=dtype)
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(matrix)
    assert _blas.potrf_lower(matrix) == first_bad_minor


@pytest.mark.parametrize("dtype", DTYPES)
def test_twins_accept_fortran_order_only(dtype):
    """The twins take Fortran-ordered arrays; a C-ordered (non-Fortran)
    array is refused instead of being read with the wrong strides."""
    square = np.asfortranarray(np.eye(3), dtype=dtype)
    c_ordered = np.ones((3, 2), dtype=dtype)
    with pytest.raises(ValueError, match="Fortran contiguous"):
        _blas.trsm_lower_left(square, c_ordered)
    with pytest.raises(ValueError, match="Fortran contiguous"):
        _blas.syrk_lower(c_ordered, square)
    with pytest.raises(ValueError, match="Fortran contiguous"):
        _blas.potrf_lower(np.ascontiguousarray(2.0 * np.eye(3), dtype=dtype))
