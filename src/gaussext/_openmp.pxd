# OpenMP shim: the kernels call these whether or not the build has OpenMP.

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define GAUSSEXT_OPENMP_ENABLED 1
    #else
    #define GAUSSEXT_OPENMP_ENABLED 0
    static int omp_get_max_threads(void) { return 1; }
    #endif
    """
    bint GAUSSEXT_OPENMP_ENABLED
    int omp_get_max_threads() noexcept nogil
