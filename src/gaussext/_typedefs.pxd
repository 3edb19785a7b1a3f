# Shared C-level types of the compiled modules.

ctypedef double float64_t
ctypedef unsigned char uint8_t
ctypedef long long int64_t
ctypedef unsigned long long uint64_t

# SciPy's cython_blas / cython_lapack take Fortran INTEGER as C int.  A build of
# SciPy against 64-bit-integer BLAS would change that; keeping one typedef here
# means one place to change.
ctypedef int blas_int
