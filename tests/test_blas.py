"""The LAPACK wrappers of ``gaussext._blas`` against NumPy and SciPy.

The fit reaches LAPACK through fused-type wrappers (``_potrf``, ``_trtri``)
that pick the single- or double-precision routine and pass flags, sizes and
leading dimensions through.  Their Python-visible twins (``potrf_lower``,
``trtri_lower``) take Fortran-ordered arrays; this module checks that each
computes what its name says, in both precisions.  (The kernels' per-row
products are their own, tested in ``test_products.py``.)

Tolerances
----------
`TOLERANCE` holds one relative tolerance per dtype, used as a multiple of
the problem's own scale: the condition number for inverses and factors.  The
matrices are well conditioned (triangular factors with a dominant diagonal,
covariances M M^T / m + I) so that the scaled bounds stay tight.  A wrong
triangle or leading dimension errs by O(1) instead, and single precision
where double was asked for by ~1e-7.
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
@pytest.mark.parametrize("m", [1, 2, 5, 40, 64])
def test_trtri_lower_inverts_the_lower_triangle(dtype, m):
    """trtri_lower returns info 0 and leaves in the lower triangle of A the
    inverse of its lower triangle (SciPy's triangular solve against I, in
    float64, as referee); the strict upper triangle is left as it was."""
    rng = np.random.default_rng(m)
    lower = _lower_triangular(rng, m, dtype)
    upper = np.triu_indices(m, 1)
    lower[upper] = 7.0  # unrelated numbers, which must be neither read nor written
    before = lower.copy()

    info = _blas.trtri_lower(lower)

    assert info == 0
    lower64 = np.tril(before.astype(np.float64))
    expected = solve_triangular(lower64, np.eye(m), lower=True)
    condition = np.linalg.cond(lower64)
    scale = np.abs(expected).max()
    assert np.all(np.abs(np.tril(lower) - expected) <= TOLERANCE[dtype] * condition * scale)
    assert np.array_equal(lower[upper], before[upper])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("zero_at", [0, 2, 4])
def test_trtri_lower_reports_an_exactly_zero_diagonal(dtype, zero_at):
    """A zero on the diagonal makes L singular: info is its 1-based index."""
    lower = _lower_triangular(np.random.default_rng(zero_at), 5, dtype)
    lower[zero_at, zero_at] = 0.0
    assert _blas.trtri_lower(lower) == zero_at + 1


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
    with pytest.raises(ValueError, match="Fortran contiguous"):
        _blas.potrf_lower(np.ascontiguousarray(2.0 * np.eye(3), dtype=dtype))
    with pytest.raises(ValueError, match="Fortran contiguous"):
        _blas.trtri_lower(np.ascontiguousarray(2.0 * np.eye(3), dtype=dtype))
