"""Fused LAPACK wrappers (the fit's once-per-fit factorisation), and
Python-visible twins used only by tests."""

from cython cimport floating
from scipy.linalg.cython_lapack cimport dpotrf, dtrtri, spotrf, strtri

from gaussext._typedefs cimport blas_int


cdef blas_int _potrf(char uplo, blas_int n, floating *a, blas_int lda) noexcept nogil:
    """Cholesky factorisation in place: A = U^T U (uplo 'U') or A = L L^T
    (uplo 'L'), column-major.  Returns LAPACK's info: 0 on success, k > 0 when
    the leading minor of order k is not positive definite."""
    cdef blas_int info = 0
    if floating is float:
        spotrf(&uplo, &n, a, &lda, &info)
    else:
        dpotrf(&uplo, &n, a, &lda, &info)
    return info


cdef blas_int _trtri(char uplo, char diag, blas_int n, floating *a, blas_int lda) noexcept nogil:
    """Inverse of a triangular matrix in place, column-major.  Returns
    LAPACK's info: 0 on success, k > 0 when A[k-1, k-1] is exactly zero."""
    cdef blas_int info = 0
    if floating is float:
        strtri(&uplo, &diag, &n, a, &lda, &info)
    else:
        dtrtri(&uplo, &diag, &n, a, &lda, &info)
    return info


# ---------------------------------------------------------------------------
# Python-visible twins, for tests only: they take Fortran-ordered (column-major)
# arrays and do no validation beyond what the memoryview types enforce.

def potrf_lower(floating[::1, :] a):
    """Factor A = L L^T in place (lower triangle); return LAPACK's info."""
    return _potrf(LOWER, <blas_int> a.shape[0], &a[0, 0], <blas_int> a.shape[0])


def trtri_lower(floating[::1, :] a):
    """Invert the lower triangle of A in place; return LAPACK's info."""
    return _trtri(LOWER, NON_UNIT, <blas_int> a.shape[0], &a[0, 0], <blas_int> a.shape[0])
