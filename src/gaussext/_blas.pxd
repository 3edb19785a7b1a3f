# Fused-type wrappers over SciPy's BLAS and LAPACK, one per routine.
#
# Each wrapper picks the single- or double-precision routine at compile time
# from the `floating` fused type.  Arrays are column-major as BLAS expects;
# callers holding row-major data swap the transpose / triangle flags instead of
# copying.  Inputs that BLAS only reads are declared const and cast, because
# SciPy's signatures are not const-qualified.

from cython cimport floating

from gaussext._typedefs cimport blas_int

# BLAS flag characters, as C constants usable without the GIL.
cdef enum:
    LEFT = 76          # 'L'
    LOWER = 76         # 'L'
    UPPER = 85         # 'U'
    NO_TRANSPOSE = 78  # 'N'
    TRANSPOSE = 84     # 'T'
    NON_UNIT = 78      # 'N'


cdef void _gemm(char transa, char transb, blas_int m, blas_int n, blas_int k,
                floating alpha, const floating *a, blas_int lda,
                const floating *b, blas_int ldb,
                floating beta, floating *c, blas_int ldc) noexcept nogil

cdef void _trmm(char side, char uplo, char transa, char diag,
                blas_int m, blas_int n, floating alpha,
                const floating *a, blas_int lda,
                floating *b, blas_int ldb) noexcept nogil

cdef void _syrk(char uplo, char trans, blas_int n, blas_int k,
                floating alpha, const floating *a, blas_int lda,
                floating beta, floating *c, blas_int ldc) noexcept nogil

cdef blas_int _potrf(char uplo, blas_int n, floating *a, blas_int lda) noexcept nogil

cdef blas_int _trtri(char uplo, char diag, blas_int n, floating *a, blas_int lda) noexcept nogil
