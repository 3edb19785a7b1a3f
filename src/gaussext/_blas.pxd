# Fused-type wrappers over SciPy's LAPACK, one per routine: the fit's
# once-per-fit d x d factorisation.  (The kernels' per-row products are our
# own, in _simd.h: no BLAS call runs inside their threads.)
#
# Each wrapper picks the single- or double-precision routine at compile time
# from the `floating` fused type.  Arrays are column-major as LAPACK expects;
# callers holding row-major data swap the triangle flag instead of copying.

from cython cimport floating

from gaussext._typedefs cimport blas_int

# LAPACK flag characters, as C constants usable without the GIL.
cdef enum:
    LOWER = 76         # 'L'
    UPPER = 85         # 'U'
    NON_UNIT = 78      # 'N'


cdef blas_int _potrf(char uplo, blas_int n, floating *a, blas_int lda) noexcept nogil

cdef blas_int _trtri(char uplo, char diag, blas_int n, floating *a, blas_int lda) noexcept nogil
