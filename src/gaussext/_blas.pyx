"""Fused BLAS / LAPACK wrappers, and Python-visible twins used only by tests."""

from cython cimport floating
from scipy.linalg.cython_blas cimport dgemm, dsyrk, dtrmm, sgemm, ssyrk, strmm
from scipy.linalg.cython_lapack cimport dpotrf, dtrtri, spotrf, strtri

from gaussext._typedefs cimport blas_int


cdef void _gemm(char transa, char transb, blas_int m, blas_int n, blas_int k,
                floating alpha, const floating *a, blas_int lda,
                const floating *b, blas_int ldb,
                floating beta, floating *c, blas_int ldc) noexcept nogil:
    """C := alpha * op(A) op(B) + beta * C;  op(A) m x k, op(B) k x n, C m x n,
    column-major."""
    if floating is float:
        sgemm(&transa, &transb, &m, &n, &k, &alpha, <float *> a, &lda,
              <float *> b, &ldb, &beta, c, &ldc)
    else:
        dgemm(&transa, &transb, &m, &n, &k, &alpha, <double *> a, &lda,
              <double *> b, &ldb, &beta, c, &ldc)


cdef void _trmm(char side, char uplo, char transa, char diag,
                blas_int m, blas_int n, floating alpha,
                const floating *a, blas_int lda,
                floating *b, blas_int ldb) noexcept nogil:
    """B := alpha * op(A) B  (side 'L')  or  alpha * B op(A)  (side 'R');
    A triangular, B m x n, column-major."""
    if floating is float:
        strmm(&side, &uplo, &transa, &diag, &m, &n, &alpha, <float *> a, &lda, b, &ldb)
    else:
        dtrmm(&side, &uplo, &transa, &diag, &m, &n, &alpha, <double *> a, &lda, b, &ldb)


cdef void _syrk(char uplo, char trans, blas_int n, blas_int k,
                floating alpha, const floating *a, blas_int lda,
                floating beta, floating *c, blas_int ldc) noexcept nogil:
    """C := alpha * A A^T + beta * C  (trans 'N', A n x k)  or
    alpha * A^T A + beta * C  (trans 'T', A k x n); only the `uplo`
    triangle of the n x n matrix C is referenced and updated; column-major."""
    if floating is float:
        ssyrk(&uplo, &trans, &n, &k, &alpha, <float *> a, &lda, &beta, c, &ldc)
    else:
        dsyrk(&uplo, &trans, &n, &k, &alpha, <double *> a, &lda, &beta, c, &ldc)


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

def gemm(const floating[::1, :] a, const floating[::1, :] b, floating[::1, :] c):
    """C := A B + C; A m x k, B k x n."""
    _gemm(NO_TRANSPOSE, NO_TRANSPOSE, <blas_int> a.shape[0], <blas_int> b.shape[1],
          <blas_int> a.shape[1], 1.0, &a[0, 0], <blas_int> a.shape[0],
          &b[0, 0], <blas_int> b.shape[0], 1.0, &c[0, 0], <blas_int> c.shape[0])


def trmm_lower_left(const floating[::1, :] a, floating[::1, :] b):
    """B := L B in place of B, L the lower triangle of A (non-unit diagonal)."""
    _trmm(LEFT, LOWER, NO_TRANSPOSE, NON_UNIT, <blas_int> b.shape[0], <blas_int> b.shape[1],
          1.0, &a[0, 0], <blas_int> a.shape[0], &b[0, 0], <blas_int> b.shape[0])


def syrk_lower(const floating[::1, :] a, floating[::1, :] c):
    """C := A A^T + C on the lower triangle of C; A is n x k."""
    _syrk(LOWER, NO_TRANSPOSE, <blas_int> a.shape[0], <blas_int> a.shape[1], 1.0,
          &a[0, 0], <blas_int> a.shape[0], 1.0, &c[0, 0], <blas_int> c.shape[0])


def potrf_lower(floating[::1, :] a):
    """Factor A = L L^T in place (lower triangle); return LAPACK's info."""
    return _potrf(LOWER, <blas_int> a.shape[0], &a[0, 0], <blas_int> a.shape[0])


def trtri_lower(floating[::1, :] a):
    """Invert the lower triangle of A in place; return LAPACK's info."""
    return _trtri(LOWER, NON_UNIT, <blas_int> a.shape[0], &a[0, 0], <blas_int> a.shape[0])
