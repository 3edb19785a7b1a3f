/* Row reductions of the scoring kernels, written in C for one reason: an
 * OpenMP `simd` reduction lets the compiler reassociate the sum and use
 * vector registers, which Cython has no way to ask for.  Without OpenMP the
 * pragma is left out and the loops are plain C. */
#ifndef GAUSSEXT_SIMD_H
#define GAUSSEXT_SIMD_H

#include <stddef.h>

#ifdef _OPENMP
#define GAUSSEXT_SIMD_SUM _Pragma("omp simd reduction(+:sum)")
#else
#define GAUSSEXT_SIMD_SUM
#endif

/* sum_j z_j^2 over n contiguous doubles. */
static inline double gaussext_sum_squares(const double *z, ptrdiff_t n)
{
    double sum = 0.0;
    GAUSSEXT_SIMD_SUM
    for (ptrdiff_t j = 0; j < n; ++j) {
        sum += z[j] * z[j];
    }
    return sum;
}

/* sum_j ((row_j - mean_j) * inv_std_j)^2 over n contiguous features, each
 * element widened to double first; one definition per element type (C has
 * no fused types). */
#define GAUSSEXT_DEFINE_STANDARDISED_SUM_SQUARES(NAME, ELEMENT)                 \
    static inline double NAME(const ELEMENT *row, const double *mean,          \
                              const double *inv_std, ptrdiff_t n)              \
    {                                                                          \
        double sum = 0.0;                                                      \
        GAUSSEXT_SIMD_SUM                                                      \
        for (ptrdiff_t j = 0; j < n; ++j) {                                    \
            double z = ((double)row[j] - mean[j]) * inv_std[j];                \
            sum += z * z;                                                      \
        }                                                                      \
        return sum;                                                            \
    }

GAUSSEXT_DEFINE_STANDARDISED_SUM_SQUARES(gaussext_standardised_sum_squares_f64, double)
GAUSSEXT_DEFINE_STANDARDISED_SUM_SQUARES(gaussext_standardised_sum_squares_f32, float)

#endif
