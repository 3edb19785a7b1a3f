/* Row loops of the scoring kernels, in C for what Cython cannot say:
 *
 * - Sums of squares are taken over eight independent lanes (lane k adds the
 *   terms j = k mod 8 in turn; the lanes are then added pairwise, in a fixed
 *   order).  Compilers vectorise the lanes without reassociating anything,
 *   so every build -- any vector width, OpenMP or not, optimised or not --
 *   and every alignment of the data give the same bits.
 * - On x86-64 glibc each helper is compiled twice, for baseline x86-64 (SSE2,
 *   what wheels target) and for AVX2, and the loader picks the clone the CPU
 *   runs (`target_clones`, resolved once through an ifunc).  Twice the vector
 *   width roughly halves the instructions spent widening float32 to double;
 *   without it the float32 full model is bound by that, not by reading X.
 *   GAUSSEXT_DISABLE_DISPATCH (setup.py) builds the baseline clone only.
 *
 * Each helper handles a block of rows in one call, so the dispatch costs one
 * indirect call per block, not per row.  Every sum is taken in double, and
 * float elements are widened to double before any arithmetic.  C has no
 * fused types: each helper is a macro instantiated once per element type. */
#ifndef GAUSSEXT_SIMD_H
#define GAUSSEXT_SIMD_H

#include <stddef.h>
#include <stdlib.h> /* defines __GLIBC__ where it applies */

/* SUM = sum over J in [0, N) of (TERM)^2, TERM an expression in J, over
 * eight lanes in the fixed order described above (the closing pairwise sum
 * is written for eight); rows shorter than that are summed in turn. */
#define GAUSSEXT_LANES 8
#define GAUSSEXT_SUM_OF_SQUARES(SUM, N, J, TERM)                                \
    do {                                                                       \
        if ((N) < GAUSSEXT_LANES) {                                            \
            double short_sum_ = 0.0;                                           \
            for (ptrdiff_t J = 0; J < (N); ++J) {                              \
                double term_ = (TERM);                                         \
                short_sum_ += term_ * term_;                                   \
            }                                                                  \
            (SUM) = short_sum_;                                                \
            break;                                                             \
        }                                                                      \
        double lane_[GAUSSEXT_LANES] = {0.0};                                  \
        ptrdiff_t base_ = 0;                                                   \
        for (; base_ + GAUSSEXT_LANES <= (N); base_ += GAUSSEXT_LANES) {       \
            for (ptrdiff_t J = base_; J < base_ + GAUSSEXT_LANES; ++J) {       \
                double term_ = (TERM);                                         \
                lane_[J - base_] += term_ * term_;                             \
            }                                                                  \
        }                                                                      \
        for (ptrdiff_t J = base_; J < (N); ++J) {                              \
            double term_ = (TERM);                                             \
            lane_[J - base_] += term_ * term_;                                 \
        }                                                                      \
        (SUM) = ((lane_[0] + lane_[4]) + (lane_[2] + lane_[6]))                \
              + ((lane_[1] + lane_[5]) + (lane_[3] + lane_[7]));               \
    } while (0)

/* A hint only: it changes no result, so compilers without it skip it. */
#define GAUSSEXT_CACHE_LINE 64
#if defined(__GNUC__) || defined(__clang__)
#define GAUSSEXT_PREFETCH(address) __builtin_prefetch((address), 0, 3)
#else
#define GAUSSEXT_PREFETCH(address) ((void)(address))
#endif

/* ifuncs need an ELF loader that resolves them: glibc on x86-64. */
#if !defined(GAUSSEXT_DISABLE_DISPATCH) && defined(__x86_64__) && defined(__GLIBC__) \
    && defined(__has_attribute)
#if __has_attribute(target_clones)
#define GAUSSEXT_DISPATCH __attribute__((target_clones("avx2", "default")))
#define GAUSSEXT_DISPATCH_ENABLED 1
#endif
#endif
#ifndef GAUSSEXT_DISPATCH
#define GAUSSEXT_DISPATCH
#define GAUSSEXT_DISPATCH_ENABLED 0
#endif

/* Diagonal model, rows of n contiguous features, row_step elements apart:
 * out[i] = log_norm - 1/2 sum_j ((row_ij - mean_j) inv_std_j)^2. */
#define GAUSSEXT_DEFINE_DIAGONAL_ROWS(NAME, ELEMENT)                            \
    GAUSSEXT_DISPATCH static void NAME(                                        \
        const ELEMENT *rows, ptrdiff_t row_step, ptrdiff_t n_rows, ptrdiff_t n, \
        const double *mean, const double *inv_std, double log_norm,            \
        double *out)                                                           \
    {                                                                          \
        for (ptrdiff_t i = 0; i < n_rows; ++i) {                               \
            const ELEMENT *row = rows + i * row_step;                          \
            double sum;                                                        \
            GAUSSEXT_SUM_OF_SQUARES(sum, n, j, ((double)row[j] - mean[j]) * inv_std[j]); \
            out[i] = log_norm - 0.5 * sum;                                     \
        }                                                                      \
    }

/* Full model, first step: standardised[i n + j] = (row_ij - mean_j) inv_std_j,
 * computed in double and stored as ELEMENT (the input's precision). */
#define GAUSSEXT_DEFINE_STANDARDISE_ROWS(NAME, ELEMENT)                         \
    GAUSSEXT_DISPATCH static void NAME(                                        \
        const ELEMENT *rows, ptrdiff_t row_step, ptrdiff_t n_rows, ptrdiff_t n, \
        const double *mean, const double *inv_std, ELEMENT *standardised)      \
    {                                                                          \
        for (ptrdiff_t i = 0; i < n_rows; ++i) {                               \
            const ELEMENT *row = rows + i * row_step;                          \
            ELEMENT *out = standardised + i * n;                               \
            for (ptrdiff_t j = 0; j < n; ++j) {                                \
                out[j] = (ELEMENT)(((double)row[j] - mean[j]) * inv_std[j]);   \
            }                                                                  \
        }                                                                      \
    }

/* Full model, last step, over whitened rows z (n_rows x n, contiguous):
 * out[i] = log_norm - 1/2 sum_j z_ij^2.
 *
 * While it runs, the n_prefetch_bytes from `prefetch` on are requested from
 * memory, a cache line at a time spread evenly over the rows: the rows the
 * thread standardises next.  The rest of a block's work is a BLAS product
 * that reads no X, so without this the next block's rows would be read only
 * once that product is over, and the memory would sit idle during it. */
#define GAUSSEXT_DEFINE_WHITENED_ROWS(NAME, ELEMENT)                            \
    GAUSSEXT_DISPATCH static void NAME(                                        \
        const ELEMENT *z, ptrdiff_t n_rows, ptrdiff_t n, double log_norm,      \
        double *out, const char *prefetch, ptrdiff_t n_prefetch_bytes)         \
    {                                                                          \
        /* lines owed so far, in units of 1 / n_rows of a line */              \
        ptrdiff_t n_lines = (n_prefetch_bytes + GAUSSEXT_CACHE_LINE - 1)       \
                            / GAUSSEXT_CACHE_LINE;                             \
        ptrdiff_t owed = 0;                                                    \
        for (ptrdiff_t i = 0; i < n_rows; ++i) {                               \
            for (owed += n_lines; owed >= n_rows; owed -= n_rows) {            \
                GAUSSEXT_PREFETCH(prefetch);                                   \
                prefetch += GAUSSEXT_CACHE_LINE;                               \
            }                                                                  \
            const ELEMENT *row = z + i * n;                                    \
            double sum;                                                        \
            GAUSSEXT_SUM_OF_SQUARES(sum, n, j, (double)row[j]);                \
            out[i] = log_norm - 0.5 * sum;                                     \
        }                                                                      \
    }

GAUSSEXT_DEFINE_DIAGONAL_ROWS(gaussext_diagonal_rows_f64, double)
GAUSSEXT_DEFINE_DIAGONAL_ROWS(gaussext_diagonal_rows_f32, float)
GAUSSEXT_DEFINE_STANDARDISE_ROWS(gaussext_standardise_rows_f64, double)
GAUSSEXT_DEFINE_STANDARDISE_ROWS(gaussext_standardise_rows_f32, float)
GAUSSEXT_DEFINE_WHITENED_ROWS(gaussext_whitened_rows_f64, double)
GAUSSEXT_DEFINE_WHITENED_ROWS(gaussext_whitened_rows_f32, float)

#endif
