/* Row loops and small products of the kernels, in C for what Cython cannot
 * say:
 *
 * - Sums of squares are taken over eight independent lanes (lane k adds the
 *   terms j = k mod 8 in turn; the lanes are then added pairwise, in a fixed
 *   order).  Compilers vectorise the lanes without reassociating anything,
 *   so every build -- any vector width, OpenMP or not, optimised or not --
 *   and every alignment of the data give the same bits.
 * - The full model's products (whitening at scoring, the scatter matrix at
 *   fit) are ours rather than BLAS's, because they run inside the kernels'
 *   OpenMP threads: a BLAS call there starts BLAS threads of its own, unless
 *   a process-wide limit, which other threads of the host application see,
 *   stops it; and its bits depend on the BLAS loaded and its thread count.
 *   Ours vectorise across independent sums (rows, or entries of the
 *   scatter), each sum taken term after term in a fixed order, so their
 *   bits depend on no thread count or layout; the scatter's are the same
 *   everywhere, the whitening product's on every CPU of one kind (it fuses
 *   its multiply-adds where the CPU has FMA).  BLAS/LAPACK stays for the
 *   once-per-fit d x d factorisation.
 * - On x86-64 glibc each helper is compiled twice, for baseline x86-64 (SSE2,
 *   what wheels target) and for AVX2, and the loader picks the clone the CPU
 *   runs (`target_clones`, resolved once through an ifunc).  Twice the vector
 *   width roughly halves the instructions spent widening float32 to double;
 *   without it the float32 full model is bound by that, not by reading X.
 *   GAUSSEXT_DISABLE_DISPATCH (setup.py) builds the baseline clone only.
 *
 * Each helper handles a block of rows in one call, so the dispatch costs one
 * indirect call per block, not per row.  Every sum is taken in double, and
 * float elements are widened to double before any arithmetic, but for one
 * product: the full model whitens float32 rows in float32 (see there).  C
 * has no fused types: each helper is a macro instantiated once per element
 * type. */
#ifndef GAUSSEXT_SIMD_H
#define GAUSSEXT_SIMD_H

#include <math.h>
#include <stddef.h>
#include <stdlib.h> /* defines __GLIBC__ where it applies */
#include <string.h>

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

/* No aliasing between a helper's output and its inputs, so that sums stay in
 * vector registers across a row instead of going back to memory. */
#if defined(_MSC_VER)
#define GAUSSEXT_RESTRICT __restrict
#else
#define GAUSSEXT_RESTRICT restrict
#endif

/* Fit statistics over a block of n_rows rows of n contiguous features,
 * row_step elements apart, with v_ij = (row_ij - shift_j) - centre_j in
 * double:
 *
 *   sums_j += sum_i v_ij      (squared == 0),
 *   sums_j += sum_i v_ij^2    (squared != 0),
 *
 * the rows taken four at a time, sums_j += (t_i + t_i+1) + (t_i+2 + t_i+3)
 * (t the term), then the last n_rows % 4 one by one.  One addition into
 * sums_j per four rows instead of one per row: the chain of additions
 * through sums_j, not the arithmetic, bounds this loop.  The strided path
 * in _kernels.pyx adds in the same order, so every layout gives the same
 * bits. */
#define GAUSSEXT_COLUMN_TERM(ROW, J)                                            \
    (((double)(ROW)[J] - shift[J]) - centre[J])
#define GAUSSEXT_DEFINE_COLUMN_SUMS(NAME, ELEMENT)                              \
    GAUSSEXT_DISPATCH static void NAME(                                        \
        const ELEMENT *GAUSSEXT_RESTRICT rows, ptrdiff_t row_step,             \
        ptrdiff_t n_rows, ptrdiff_t n, const double *GAUSSEXT_RESTRICT shift,  \
        const double *GAUSSEXT_RESTRICT centre, int squared,                   \
        double *GAUSSEXT_RESTRICT sums)                                        \
    {                                                                          \
        ptrdiff_t i = 0;                                                       \
        for (; i + 4 <= n_rows; i += 4) {                                      \
            const ELEMENT *GAUSSEXT_RESTRICT r0 = rows + i * row_step;         \
            const ELEMENT *GAUSSEXT_RESTRICT r1 = r0 + row_step;               \
            const ELEMENT *GAUSSEXT_RESTRICT r2 = r1 + row_step;               \
            const ELEMENT *GAUSSEXT_RESTRICT r3 = r2 + row_step;               \
            if (squared) {                                                     \
                for (ptrdiff_t j = 0; j < n; ++j) {                            \
                    double a = GAUSSEXT_COLUMN_TERM(r0, j);                    \
                    double b = GAUSSEXT_COLUMN_TERM(r1, j);                    \
                    double c = GAUSSEXT_COLUMN_TERM(r2, j);                    \
                    double d = GAUSSEXT_COLUMN_TERM(r3, j);                    \
                    sums[j] += (a * a + b * b) + (c * c + d * d);              \
                }                                                              \
            } else {                                                           \
                for (ptrdiff_t j = 0; j < n; ++j) {                            \
                    sums[j] += (GAUSSEXT_COLUMN_TERM(r0, j)                    \
                                + GAUSSEXT_COLUMN_TERM(r1, j))                 \
                               + (GAUSSEXT_COLUMN_TERM(r2, j)                  \
                                  + GAUSSEXT_COLUMN_TERM(r3, j));              \
                }                                                              \
            }                                                                  \
        }                                                                      \
        for (; i < n_rows; ++i) {                                              \
            const ELEMENT *GAUSSEXT_RESTRICT row = rows + i * row_step;        \
            for (ptrdiff_t j = 0; j < n; ++j) {                                \
                double v = GAUSSEXT_COLUMN_TERM(row, j);                       \
                sums[j] += squared ? v * v : v;                                \
            }                                                                  \
        }                                                                      \
    }

/* Diagonal model, rows of n contiguous features, row_step elements apart:
 * out[i] = log_norm - 1/2 sum_j ((row_ij - mean_j) inv_std_j)^2.
 *
 * Rows of one to four features, packed (row_step == n), take a loop written
 * for that n: the same GAUSSEXT_SUM_OF_SQUARES with n a constant, so the
 * same bits, but with the per-row loop over features unrolled the compiler
 * vectorises across rows (at d = 2 the general loop spends more on its own
 * control than on the arithmetic).  Rows of eight features or more are taken
 * four at a time where the compiler has vector types (below). */
#define GAUSSEXT_PACKED_SHORT_ROWS(ELEMENT, N)                                  \
    do {                                                                       \
        double mean_[N], inv_std_[N];                                          \
        for (int j_ = 0; j_ < (N); ++j_) {                                     \
            mean_[j_] = mean[j_];                                              \
            inv_std_[j_] = inv_std[j_];                                        \
        }                                                                      \
        for (ptrdiff_t i = 0; i < n_rows; ++i) {                               \
            const ELEMENT *row = rows + i * (N);                               \
            double sum;                                                        \
            GAUSSEXT_SUM_OF_SQUARES(sum, (N), j, ((double)row[j] - mean_[j]) * inv_std_[j]); \
            out[i] = log_norm - 0.5 * sum;                                     \
        }                                                                      \
        return;                                                                \
    } while (0)

/* Rows of n >= 8 features, four at a time, from row `i` on (which it
 * advances past the last whole group of four).  Each row's eight lanes of
 * GAUSSEXT_SUM_OF_SQUARES are two vectors of four, lanes 0-3 and 4-7, fed
 * the same terms in the same order, the n % 8 last features included (as
 * vectors whose unused lanes add 0, which changes no lane: lanes are sums
 * of squares, never -0).  The closing sum ((l0 + l4) + (l2 + l6)) +
 * ((l1 + l5) + (l3 + l7)) is then taken for the four rows at once: the
 * vertical lanes + lanes, transposed, (a0 + a2) + (a1 + a3).  The same
 * operations as row by row, so the same bits; but a row's sum no longer
 * ends in a reduction across its own vector, which bounded the row loop (at
 * d = 8, 2-2.5x faster in cache, measured by hand). */
#if defined(__GNUC__) || defined(__clang__)
#define GAUSSEXT_TAIL_SQUARE(K)                                                 \
    case (K) + 1: {                                                            \
        double t_ = ((double)x_[K] - mean[base_ + (K)]) * inv_std[base_ + (K)]; \
        tail_[K] = t_ * t_;                                                    \
    }                                                                          \
    __attribute__((fallthrough))
#define GAUSSEXT_DIAGONAL_FOUR_ROWS(ELEMENT)                                    \
    for (; i + 4 <= n_rows; i += 4) {                                          \
        gaussext_column_f64 low_[4], high_[4];                                 \
        memset(low_, 0, sizeof(low_));                                         \
        memset(high_, 0, sizeof(high_));                                       \
        ptrdiff_t base_ = 0;                                                   \
        for (; base_ + GAUSSEXT_LANES <= n; base_ += GAUSSEXT_LANES) {         \
            gaussext_column_f64 mean_low_, mean_high_, scale_low_, scale_high_; \
            memcpy(&mean_low_, mean + base_, sizeof(mean_low_));               \
            memcpy(&mean_high_, mean + base_ + 4, sizeof(mean_high_));         \
            memcpy(&scale_low_, inv_std + base_, sizeof(scale_low_));          \
            memcpy(&scale_high_, inv_std + base_ + 4, sizeof(scale_high_));    \
            for (int r_ = 0; r_ < 4; ++r_) {                                   \
                const ELEMENT *x_ = rows + (i + r_) * row_step + base_;        \
                gaussext_column_f64 t_low_ = {x_[0], x_[1], x_[2], x_[3]};     \
                gaussext_column_f64 t_high_ = {x_[4], x_[5], x_[6], x_[7]};    \
                t_low_ = (t_low_ - mean_low_) * scale_low_;                    \
                t_high_ = (t_high_ - mean_high_) * scale_high_;                \
                low_[r_] += t_low_ * t_low_;                                   \
                high_[r_] += t_high_ * t_high_;                                \
            }                                                                  \
        }                                                                      \
        if (base_ < n) {                                                       \
            for (int r_ = 0; r_ < 4; ++r_) {                                   \
                const ELEMENT *x_ = rows + (i + r_) * row_step + base_;        \
                double tail_[GAUSSEXT_LANES - 1] = {0.0};                      \
                switch (n - base_) {                                           \
                GAUSSEXT_TAIL_SQUARE(6);                                       \
                GAUSSEXT_TAIL_SQUARE(5);                                       \
                GAUSSEXT_TAIL_SQUARE(4);                                       \
                GAUSSEXT_TAIL_SQUARE(3);                                       \
                GAUSSEXT_TAIL_SQUARE(2);                                       \
                GAUSSEXT_TAIL_SQUARE(1);                                       \
                GAUSSEXT_TAIL_SQUARE(0);                                       \
                default: break;                                                \
                }                                                              \
                gaussext_column_f64 tail_low_ = {tail_[0], tail_[1], tail_[2], tail_[3]}; \
                gaussext_column_f64 tail_high_ = {tail_[4], tail_[5], tail_[6], 0.0}; \
                low_[r_] += tail_low_;                                         \
                high_[r_] += tail_high_;                                       \
            }                                                                  \
        }                                                                      \
        gaussext_column_f64 a0_ = low_[0] + high_[0], a1_ = low_[1] + high_[1]; \
        gaussext_column_f64 a2_ = low_[2] + high_[2], a3_ = low_[3] + high_[3]; \
        gaussext_column_f64 first_ = {a0_[0], a1_[0], a2_[0], a3_[0]};         \
        gaussext_column_f64 second_ = {a0_[1], a1_[1], a2_[1], a3_[1]};        \
        gaussext_column_f64 third_ = {a0_[2], a1_[2], a2_[2], a3_[2]};         \
        gaussext_column_f64 fourth_ = {a0_[3], a1_[3], a2_[3], a3_[3]};        \
        gaussext_column_f64 sums_ = (first_ + third_) + (second_ + fourth_);   \
        gaussext_column_f64 scores_ = log_norm - 0.5 * sums_;                  \
        memcpy(out + i, &scores_, sizeof(scores_));                            \
    }
#else
#define GAUSSEXT_DIAGONAL_FOUR_ROWS(ELEMENT) ((void)0)
#endif

#define GAUSSEXT_DEFINE_DIAGONAL_ROWS(NAME, ELEMENT)                            \
    GAUSSEXT_DISPATCH static void NAME(                                        \
        const ELEMENT *GAUSSEXT_RESTRICT rows, ptrdiff_t row_step,             \
        ptrdiff_t n_rows, ptrdiff_t n, const double *GAUSSEXT_RESTRICT mean,   \
        const double *GAUSSEXT_RESTRICT inv_std, double log_norm,              \
        double *GAUSSEXT_RESTRICT out)                                         \
    {                                                                          \
        if (row_step == n) {                                                   \
            switch (n) {                                                       \
            case 1: GAUSSEXT_PACKED_SHORT_ROWS(ELEMENT, 1);                    \
            case 2: GAUSSEXT_PACKED_SHORT_ROWS(ELEMENT, 2);                    \
            case 3: GAUSSEXT_PACKED_SHORT_ROWS(ELEMENT, 3);                    \
            case 4: GAUSSEXT_PACKED_SHORT_ROWS(ELEMENT, 4);                    \
            default: break;                                                    \
            }                                                                  \
        }                                                                      \
        ptrdiff_t i = 0;                                                       \
        if (n >= GAUSSEXT_LANES) {                                             \
            GAUSSEXT_DIAGONAL_FOUR_ROWS(ELEMENT);                              \
        }                                                                      \
        for (; i < n_rows; ++i) {                                              \
            const ELEMENT *row = rows + i * row_step;                          \
            double sum;                                                        \
            GAUSSEXT_SUM_OF_SQUARES(sum, n, j, ((double)row[j] - mean[j]) * inv_std[j]); \
            out[i] = log_norm - 0.5 * sum;                                     \
        }                                                                      \
    }

/* The full model's products vectorise across rows, not along them: rows are
 * stored in panels of GAUSSEXT_PANEL_ROWS, feature by feature (element (r, j)
 * of a panel at j * GAUSSEXT_PANEL_ROWS + r), so one vector holds feature j
 * of every row of the panel and a matrix entry multiplies it as a scalar.
 * Each row's sums then run in one fixed order, term after term, whichever
 * lane of whichever vector width holds it: the bits do not depend on the
 * vector width (only on fused multiply-adds, see the whitening product),
 * and short rows (d = 2, 3) fill vectors as well as long ones.  A panel of
 * eight fills one AVX2 vector of float, two of double. */
#define GAUSSEXT_PANEL_ROWS 8

/* Standardising into panels transposes the rows: row r's feature j lands in
 * lane r of the panel's vector j.  Written element by element that is one
 * scalar store per element, and at d = 32 it took as long as the float32
 * whitening product after it.  With AVX, each group of eight (float) or
 * four (double) features of a whole panel's eight rows is standardised as
 * vectors along the rows and transposed in registers; each element still
 * gets ((double)x - mean_j) * inv_std_j, rounded once to ELEMENT, so the
 * bits are those of the element-by-element loop.  NAME returns how many of
 * the leading features it stored (a multiple of the group); the caller
 * stores the rest, and panels that are not whole, element by element. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)                \
    && (defined(__AVX__) || GAUSSEXT_DISPATCH_ENABLED)
#include <immintrin.h>
#define GAUSSEXT_TRANSPOSE_BUILT 1
#if defined(__AVX__)
#define GAUSSEXT_TRANSPOSE_ATTRIBUTE
#define GAUSSEXT_TRANSPOSE_IN_REGISTERS 1
#else
#define GAUSSEXT_TRANSPOSE_ATTRIBUTE __attribute__((target("avx")))
#define GAUSSEXT_TRANSPOSE_IN_REGISTERS __builtin_cpu_supports("avx")
#endif

/* (x - mean) * inv_std of four features, in double */
#define GAUSSEXT_STANDARDISED_4(X4, J)                                           \
    _mm256_mul_pd(_mm256_sub_pd((X4), _mm256_loadu_pd(mean + (J))),            \
                  _mm256_loadu_pd(inv_std + (J)))

GAUSSEXT_TRANSPOSE_ATTRIBUTE static ptrdiff_t gaussext_transposed_panel_f32(
    const float *rows, ptrdiff_t row_step, ptrdiff_t n, const double *mean,
    const double *inv_std, float *GAUSSEXT_RESTRICT panel)
{
    ptrdiff_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 v[8], t[8], u[8];
        for (int r = 0; r < 8; ++r) {
            const float *x = rows + r * row_step + j;
            __m128 low = _mm256_cvtpd_ps(
                GAUSSEXT_STANDARDISED_4(_mm256_cvtps_pd(_mm_loadu_ps(x)), j));
            __m128 high = _mm256_cvtpd_ps(
                GAUSSEXT_STANDARDISED_4(_mm256_cvtps_pd(_mm_loadu_ps(x + 4)), j + 4));
            v[r] = _mm256_insertf128_ps(_mm256_castps128_ps256(low), high, 1);
        }
        /* rows r, r + 1 interleaved; then four rows per 128-bit half; then
         * halves exchanged: t[c] holds feature j + c of rows 0..7 */
        for (int r = 0; r < 8; r += 2) {
            u[r] = _mm256_unpacklo_ps(v[r], v[r + 1]);
            u[r + 1] = _mm256_unpackhi_ps(v[r], v[r + 1]);
        }
        for (int r = 0; r < 8; r += 4) {
            v[r] = _mm256_shuffle_ps(u[r], u[r + 2], 0x44);
            v[r + 1] = _mm256_shuffle_ps(u[r], u[r + 2], 0xEE);
            v[r + 2] = _mm256_shuffle_ps(u[r + 1], u[r + 3], 0x44);
            v[r + 3] = _mm256_shuffle_ps(u[r + 1], u[r + 3], 0xEE);
        }
        for (int c = 0; c < 4; ++c) {
            t[c] = _mm256_permute2f128_ps(v[c], v[c + 4], 0x20);
            t[c + 4] = _mm256_permute2f128_ps(v[c], v[c + 4], 0x31);
        }
        for (int c = 0; c < 8; ++c) {
            _mm256_storeu_ps(panel + (j + c) * GAUSSEXT_PANEL_ROWS, t[c]);
        }
    }
    return j;
}

GAUSSEXT_TRANSPOSE_ATTRIBUTE static ptrdiff_t gaussext_transposed_panel_f64(
    const double *rows, ptrdiff_t row_step, ptrdiff_t n, const double *mean,
    const double *inv_std, double *GAUSSEXT_RESTRICT panel)
{
    ptrdiff_t j = 0;
    for (; j + 4 <= n; j += 4) {
        /* rows 0..3, then 4..7: lanes 0..3, then 4..7, of each feature */
        for (int half = 0; half < 8; half += 4) {
            __m256d v[4], u[4];
            for (int r = 0; r < 4; ++r) {
                v[r] = GAUSSEXT_STANDARDISED_4(
                    _mm256_loadu_pd(rows + (half + r) * row_step + j), j);
            }
            u[0] = _mm256_unpacklo_pd(v[0], v[1]);
            u[1] = _mm256_unpackhi_pd(v[0], v[1]);
            u[2] = _mm256_unpacklo_pd(v[2], v[3]);
            u[3] = _mm256_unpackhi_pd(v[2], v[3]);
            for (int c = 0; c < 2; ++c) {
                _mm256_storeu_pd(panel + (j + c) * GAUSSEXT_PANEL_ROWS + half,
                                 _mm256_permute2f128_pd(u[c], u[c + 2], 0x20));
                _mm256_storeu_pd(panel + (j + c + 2) * GAUSSEXT_PANEL_ROWS + half,
                                 _mm256_permute2f128_pd(u[c], u[c + 2], 0x31));
            }
        }
    }
    return j;
}
#undef GAUSSEXT_STANDARDISED_4
#else
#define GAUSSEXT_TRANSPOSE_BUILT 0
#define GAUSSEXT_TRANSPOSE_IN_REGISTERS 0
#define gaussext_transposed_panel_f32(rows, row_step, n, mean, inv_std, panel) ((ptrdiff_t)0)
#define gaussext_transposed_panel_f64(rows, row_step, n, mean, inv_std, panel) ((ptrdiff_t)0)
#endif

/* Full model, first step: the panels of rows [0, n_rows), feature j of row
 * i at rows[i row_step + j column_step], standardised in double,
 * s_ij = (x_ij - mean_j) inv_std_j, and stored as ELEMENT (the input's
 * precision); the rows that pad the last panel are zeros.  NAME_on
 * transposes whole panels of adjacent features in registers when
 * `in_registers` is non-zero (only where GAUSSEXT_TRANSPOSE_BUILT); NAME does
 * where this CPU can. */
#define GAUSSEXT_DEFINE_STANDARDISE_PANELS(NAME, NAME_ON, ELEMENT, TRANSPOSED)   \
    GAUSSEXT_DISPATCH static void NAME_ON(                                     \
        int in_registers, const ELEMENT *rows, ptrdiff_t row_step,             \
        ptrdiff_t column_step, ptrdiff_t n_rows, ptrdiff_t n,                  \
        const double *mean, const double *inv_std, ELEMENT *panels)            \
    {                                                                          \
        in_registers = in_registers && column_step == 1;                       \
        for (ptrdiff_t first = 0; first < n_rows; first += GAUSSEXT_PANEL_ROWS) { \
            ELEMENT *panel = panels + first * n;                               \
            ptrdiff_t r = 0, done = 0;                                         \
            if (in_registers && n_rows - first >= GAUSSEXT_PANEL_ROWS) {       \
                done = TRANSPOSED(rows + first * row_step, row_step, n, mean,  \
                                  inv_std, panel);                             \
            }                                                                  \
            for (; r < GAUSSEXT_PANEL_ROWS && first + r < n_rows; ++r) {       \
                const ELEMENT *row = rows + (first + r) * row_step;            \
                for (ptrdiff_t j = done; j < n; ++j) {                         \
                    panel[j * GAUSSEXT_PANEL_ROWS + r] = (ELEMENT)(            \
                        ((double)row[j * column_step] - mean[j]) * inv_std[j]); \
                }                                                              \
            }                                                                  \
            for (; r < GAUSSEXT_PANEL_ROWS; ++r) {                             \
                for (ptrdiff_t j = 0; j < n; ++j) {                            \
                    panel[j * GAUSSEXT_PANEL_ROWS + r] = 0;                    \
                }                                                              \
            }                                                                  \
        }                                                                      \
    }                                                                          \
    static void NAME(                                                          \
        const ELEMENT *rows, ptrdiff_t row_step, ptrdiff_t column_step,        \
        ptrdiff_t n_rows, ptrdiff_t n, const double *mean,                     \
        const double *inv_std, ELEMENT *panels)                                \
    {                                                                          \
        NAME_ON(GAUSSEXT_TRANSPOSE_IN_REGISTERS, rows, row_step, column_step,  \
                n_rows, n, mean, inv_std, panels);                             \
    }

/* WIDTH rows of a panel's column (one feature of WIDTH of its rows, 32
 * bytes: one AVX2 vector, two SSE2 ones) as one value: GCC and Clang's vector
 * extension, with no alignment assumed (memcpy loads); other compilers get a
 * plain array and loops over its elements.  Either way each element is
 * computed by the same operations, so the bits are the same. */
#if defined(__GNUC__) || defined(__clang__)
#define GAUSSEXT_DEFINE_PANEL_COLUMN(NAME, ELEMENT, WIDTH)                      \
    typedef ELEMENT NAME __attribute__((vector_size((WIDTH) * sizeof(ELEMENT))));
#define GAUSSEXT_COLUMN_ZERO(C) memset(&(C), 0, sizeof(C))
#define GAUSSEXT_COLUMN_LOAD(C, ADDRESS) memcpy(&(C), (ADDRESS), sizeof(C))
#define GAUSSEXT_COLUMN_MULTIPLY_ADD(C, SCALAR, V) ((C) += (SCALAR) * (V))
#else
#define GAUSSEXT_DEFINE_PANEL_COLUMN(NAME, ELEMENT, WIDTH)                      \
    typedef struct { ELEMENT e[WIDTH]; } NAME;
#define GAUSSEXT_COLUMN_ZERO(C) memset(&(C), 0, sizeof(C))
#define GAUSSEXT_COLUMN_LOAD(C, ADDRESS) memcpy(&(C), (ADDRESS), sizeof(C))
#define GAUSSEXT_COLUMN_MULTIPLY_ADD(C, SCALAR, V)                              \
    do {                                                                       \
        for (int r_ = 0; r_ < (int)(sizeof((C).e) / sizeof((C).e[0])); ++r_) { \
            (C).e[r_] += (SCALAR) * (V).e[r_];                                 \
        }                                                                      \
    } while (0)
#endif
#if defined(__GNUC__) || defined(__clang__)
#define GAUSSEXT_COLUMN_ELEMENT(C, R) ((C)[R])
#else
#define GAUSSEXT_COLUMN_ELEMENT(C, R) ((C).e[R])
#endif
GAUSSEXT_DEFINE_PANEL_COLUMN(gaussext_column_f64, double, 4)
GAUSSEXT_DEFINE_PANEL_COLUMN(gaussext_column_f32, float, 8)
GAUSSEXT_DEFINE_PANEL_COLUMN(gaussext_column2_f64, double, 2)
GAUSSEXT_DEFINE_PANEL_COLUMN(gaussext_column4_f32, float, 4)

/* Full model, last step, over the standardised panels of n_rows rows s_i and
 * the whitening matrix W (n x n, row-major, lower triangular; nothing above
 * the diagonal is read), both ELEMENT:
 *
 *   z_i = W s_i,  out[i] = log_norm - 1/2 |z_i|^2.
 *
 * z_ik = sum_{j <= k} W_kj s_ij is accumulated in ELEMENT, j = 0, 1, ..., k
 * in turn; |z_i|^2 in double, k = 0, 1, ..., n - 1 in turn.  Four entries of
 * z are formed at once for two groups of WIDTH rows (a vector each: 32
 * bytes, or 16 on CPUs without AVX2, see the end of this file),
 * in registers, so each column of s loaded feeds four multiply-adds, each
 * entry of W two, and eight independent sums hide the adds' latency: the
 * loop is bound by arithmetic, not by loads or latency.  On CPUs with AVX2
 * and FMA each multiply-add is fused (one rounding instead of two, and one
 * instruction: 1.2-1.4x faster here at d = 32 and 128); elsewhere it is a
 * multiply, then an add.  So a score's last bits may differ between CPUs;
 * on one CPU they depend on nothing else (threads, layout, rows scored
 * with it).
 *
 * While it runs, the n_prefetch_bytes from `prefetch` on are requested from
 * memory, a cache line at a time spread evenly over the steps: the rows the
 * thread standardises next, which would otherwise be read only once this
 * product, which reads no X, is over. */
/* The triangle of a block of four rows of W (k .. k + 3) over one column
 * value of the panel at S: row k + b takes columns k .. k + b. */
#define GAUSSEXT_WHITENED_TRIANGLE(Z0, Z1, Z2, Z3, S_J, S)                      \
    do {                                                                       \
        GAUSSEXT_COLUMN_LOAD(S_J, (S) + k * P);                                \
        GAUSSEXT_COLUMN_MULTIPLY_ADD(Z0, w0[k], S_J);                          \
        GAUSSEXT_COLUMN_MULTIPLY_ADD(Z1, w1[k], S_J);                          \
        GAUSSEXT_COLUMN_MULTIPLY_ADD(Z2, w2[k], S_J);                          \
        GAUSSEXT_COLUMN_MULTIPLY_ADD(Z3, w3[k], S_J);                          \
        GAUSSEXT_COLUMN_LOAD(S_J, (S) + (k + 1) * P);                          \
        GAUSSEXT_COLUMN_MULTIPLY_ADD(Z1, w1[k + 1], S_J);                      \
        GAUSSEXT_COLUMN_MULTIPLY_ADD(Z2, w2[k + 1], S_J);                      \
        GAUSSEXT_COLUMN_MULTIPLY_ADD(Z3, w3[k + 1], S_J);                      \
        GAUSSEXT_COLUMN_LOAD(S_J, (S) + (k + 2) * P);                          \
        GAUSSEXT_COLUMN_MULTIPLY_ADD(Z2, w2[k + 2], S_J);                      \
        GAUSSEXT_COLUMN_MULTIPLY_ADD(Z3, w3[k + 2], S_J);                      \
        GAUSSEXT_COLUMN_LOAD(S_J, (S) + (k + 3) * P);                          \
        GAUSSEXT_COLUMN_MULTIPLY_ADD(Z3, w3[k + 3], S_J);                      \
    } while (0)

/* |z|^2 of WIDTH rows plus four entries of their z, added in order k .. k + 3. */
#define GAUSSEXT_WHITENED_NORMS(NORM, Z0, Z1, Z2, Z3, WIDTH)                    \
    do {                                                                       \
        for (int r = 0; r < (WIDTH); ++r) {                                    \
            double z0_r = GAUSSEXT_COLUMN_ELEMENT(Z0, r);                      \
            double z1_r = GAUSSEXT_COLUMN_ELEMENT(Z1, r);                      \
            double z2_r = GAUSSEXT_COLUMN_ELEMENT(Z2, r);                      \
            double z3_r = GAUSSEXT_COLUMN_ELEMENT(Z3, r);                      \
            (NORM)[r] = ((((NORM)[r] + z0_r * z0_r) + z1_r * z1_r)             \
                         + z2_r * z2_r) + z3_r * z3_r;                         \
        }                                                                      \
    } while (0)

#define GAUSSEXT_DEFINE_WHITENED_PANELS(NAME, ELEMENT, COLUMN, WIDTH, ATTRIBUTE) \
    ATTRIBUTE static void NAME(                                                \
        const ELEMENT *whitening, ptrdiff_t n, const ELEMENT *panels,          \
        ptrdiff_t n_rows, double log_norm, double *out,                        \
        const char *prefetch, ptrdiff_t n_prefetch_bytes)                      \
    {                                                                          \
        /* A step takes two consecutive groups of WIDTH rows (one vector     \
         * each) at once: eight sums in registers, each entry of W's four     \
         * rows loaded once for both groups.  A group is part of a panel, or  \
         * a whole one (float on 32-byte vectors): then a step is two panels  \
         * and an odd last panel pairs with itself (the copy's sums are       \
         * dropped). */                                                       \
        enum { P = GAUSSEXT_PANEL_ROWS, STEP = 2 * (WIDTH) };                  \
        ptrdiff_t n_padded = (n_rows + P - 1) / P * P;                         \
        ptrdiff_t n_steps = (n_padded + STEP - 1) / STEP;                      \
        /* lines owed so far, in units of 1 / n_steps of a line */            \
        ptrdiff_t n_lines = (n_prefetch_bytes + GAUSSEXT_CACHE_LINE - 1)       \
                            / GAUSSEXT_CACHE_LINE;                             \
        ptrdiff_t owed = 0;                                                    \
        for (ptrdiff_t first = 0; first < n_padded; first += STEP) {           \
            for (owed += n_lines; owed >= n_steps; owed -= n_steps) {          \
                GAUSSEXT_PREFETCH(prefetch);                                   \
                prefetch += GAUSSEXT_CACHE_LINE;                               \
            }                                                                  \
            double norm[STEP] = {0.0};                                         \
            /* row r of the padded rows is lane r mod P of panel r / P */     \
            const ELEMENT *s = panels + first / P * P * n + first % P;         \
            ptrdiff_t second = first + (WIDTH) < n_padded ? first + (WIDTH) : first; \
            const ELEMENT *t = panels + second / P * P * n + second % P;       \
            COLUMN s_j, t_j, z0, z1, z2, z3, y0, y1, y2, y3;                   \
            ptrdiff_t k = 0;                                                   \
            for (; k + 4 <= n; k += 4) {                                       \
                const ELEMENT *w0 = whitening + k * n, *w1 = w0 + n;           \
                const ELEMENT *w2 = w1 + n, *w3 = w2 + n;                      \
                GAUSSEXT_COLUMN_ZERO(z0); GAUSSEXT_COLUMN_ZERO(z1);            \
                GAUSSEXT_COLUMN_ZERO(z2); GAUSSEXT_COLUMN_ZERO(z3);            \
                GAUSSEXT_COLUMN_ZERO(y0); GAUSSEXT_COLUMN_ZERO(y1);            \
                GAUSSEXT_COLUMN_ZERO(y2); GAUSSEXT_COLUMN_ZERO(y3);            \
                /* the columns all four rows of W have */                      \
                for (ptrdiff_t j = 0; j < k; ++j) {                            \
                    GAUSSEXT_COLUMN_LOAD(s_j, s + j * P);                      \
                    GAUSSEXT_COLUMN_LOAD(t_j, t + j * P);                      \
                    GAUSSEXT_COLUMN_MULTIPLY_ADD(z0, w0[j], s_j);              \
                    GAUSSEXT_COLUMN_MULTIPLY_ADD(z1, w1[j], s_j);              \
                    GAUSSEXT_COLUMN_MULTIPLY_ADD(z2, w2[j], s_j);              \
                    GAUSSEXT_COLUMN_MULTIPLY_ADD(z3, w3[j], s_j);              \
                    GAUSSEXT_COLUMN_MULTIPLY_ADD(y0, w0[j], t_j);              \
                    GAUSSEXT_COLUMN_MULTIPLY_ADD(y1, w1[j], t_j);              \
                    GAUSSEXT_COLUMN_MULTIPLY_ADD(y2, w2[j], t_j);              \
                    GAUSSEXT_COLUMN_MULTIPLY_ADD(y3, w3[j], t_j);              \
                }                                                              \
                /* then the triangle: row k + b stops at column k + b */       \
                GAUSSEXT_WHITENED_TRIANGLE(z0, z1, z2, z3, s_j, s);            \
                GAUSSEXT_WHITENED_NORMS(norm, z0, z1, z2, z3, WIDTH);          \
                GAUSSEXT_WHITENED_TRIANGLE(y0, y1, y2, y3, t_j, t);            \
                GAUSSEXT_WHITENED_NORMS(norm + (WIDTH), y0, y1, y2, y3, WIDTH); \
            }                                                                  \
            /* the last n mod 4 entries of z, one at a time */                 \
            for (; k < n; ++k) {                                               \
                const ELEMENT *w = whitening + k * n;                          \
                GAUSSEXT_COLUMN_ZERO(z0);                                      \
                GAUSSEXT_COLUMN_ZERO(y0);                                      \
                for (ptrdiff_t j = 0; j <= k; ++j) {                           \
                    GAUSSEXT_COLUMN_LOAD(s_j, s + j * P);                      \
                    GAUSSEXT_COLUMN_LOAD(t_j, t + j * P);                      \
                    GAUSSEXT_COLUMN_MULTIPLY_ADD(z0, w[j], s_j);               \
                    GAUSSEXT_COLUMN_MULTIPLY_ADD(y0, w[j], t_j);               \
                }                                                              \
                for (int r = 0; r < (WIDTH); ++r) {                            \
                    double z_r = GAUSSEXT_COLUMN_ELEMENT(z0, r);               \
                    double y_r = GAUSSEXT_COLUMN_ELEMENT(y0, r);               \
                    norm[r] += z_r * z_r;                                      \
                    norm[(WIDTH) + r] += y_r * y_r;                            \
                }                                                              \
            }                                                                  \
            ptrdiff_t n_valid = n_rows - first < STEP ? n_rows - first : STEP; \
            for (ptrdiff_t r = 0; r < n_valid; ++r) {                          \
                out[first + r] = log_norm - 0.5 * norm[r];                     \
            }                                                                  \
        }                                                                      \
    }

/* Fit: scatter += R^T R on the upper triangle (a <= b) of the row-major n x n
 * scatter, R the n_rows x n block of centred residuals, its rows row_step
 * elements apart, row_step a multiple of GAUSSEXT_SCATTER_PAD (at least n),
 * the entries between n and row_step zero:
 *
 *   scatter_ab += sum_i R_ia R_ib,  the sum taken i = 0, 1, ... in turn
 *
 * and then added to scatter_ab.  Tiles of 8 x 4 entries (a x b) are summed at
 * once over the rows: per row, eight scalars R_ia, each times the same four
 * contiguous R_ib (one 32-byte column value, as in the whitening product),
 * the tile's eight sums in registers, so each load feeds eight vector
 * multiply-adds and eight independent sums hide the adds' latency.  The
 * zero padding makes every tile whole, including those on the triangle's
 * edges (their sums over padding are not written): no slow edge loops, and
 * every entry is its own sum in row order, multiply then add (no fused
 * multiply-add, as above).  Nothing below the diagonal is written. */
#define GAUSSEXT_SCATTER_PAD 8
#define GAUSSEXT_DEFINE_SCATTER_UPDATE(NAME, COLUMN, WIDTH, ATTRIBUTE)           \
    ATTRIBUTE static void NAME(                                                \
        const double *residual, ptrdiff_t n_rows, ptrdiff_t n,                 \
        ptrdiff_t row_step, double *scatter)                                   \
    {                                                                          \
        enum { TILE_A = 8, TILE_B = (WIDTH) };                                 \
        for (ptrdiff_t a0 = 0; a0 < n; a0 += TILE_A) {                         \
            /* from the tile holding the diagonal on: left of it is below */   \
            for (ptrdiff_t b0 = a0; b0 < n; b0 += TILE_B) {                    \
                COLUMN s0, s1, s2, s3, s4, s5, s6, s7, r_b;                    \
                const double *row = residual;                                  \
                GAUSSEXT_COLUMN_ZERO(s0); GAUSSEXT_COLUMN_ZERO(s1);            \
                GAUSSEXT_COLUMN_ZERO(s2); GAUSSEXT_COLUMN_ZERO(s3);            \
                GAUSSEXT_COLUMN_ZERO(s4); GAUSSEXT_COLUMN_ZERO(s5);            \
                GAUSSEXT_COLUMN_ZERO(s6); GAUSSEXT_COLUMN_ZERO(s7);            \
                for (ptrdiff_t i = 0; i < n_rows; ++i, row += row_step) {      \
                    GAUSSEXT_COLUMN_LOAD(r_b, row + b0);                       \
                    GAUSSEXT_COLUMN_MULTIPLY_ADD(s0, row[a0], r_b);            \
                    GAUSSEXT_COLUMN_MULTIPLY_ADD(s1, row[a0 + 1], r_b);        \
                    GAUSSEXT_COLUMN_MULTIPLY_ADD(s2, row[a0 + 2], r_b);        \
                    GAUSSEXT_COLUMN_MULTIPLY_ADD(s3, row[a0 + 3], r_b);        \
                    GAUSSEXT_COLUMN_MULTIPLY_ADD(s4, row[a0 + 4], r_b);        \
                    GAUSSEXT_COLUMN_MULTIPLY_ADD(s5, row[a0 + 5], r_b);        \
                    GAUSSEXT_COLUMN_MULTIPLY_ADD(s6, row[a0 + 6], r_b);        \
                    GAUSSEXT_COLUMN_MULTIPLY_ADD(s7, row[a0 + 7], r_b);        \
                }                                                              \
                COLUMN sums[TILE_A] = {s0, s1, s2, s3, s4, s5, s6, s7};        \
                for (ptrdiff_t t = 0; t < TILE_A && a0 + t < n; ++t) {         \
                    for (ptrdiff_t u = 0; u < TILE_B && b0 + u < n; ++u) {     \
                        if (b0 + u >= a0 + t) {                                \
                            scatter[(a0 + t) * n + b0 + u] +=                  \
                                GAUSSEXT_COLUMN_ELEMENT(sums[t], u);           \
                        }                                                      \
                    }                                                          \
                }                                                              \
            }                                                                  \
        }                                                                      \
    }

/* Eight sums of a 32-byte column are sixteen 16-byte registers, all there are
 * in baseline x86-64, where GCC then spills them: the baseline runs tiles of
 * 8 x 2 on 16-byte columns instead, and AVX2 CPUs tiles of 8 x 4, picked at
 * run time (target_clones cannot give the two clones different code).  Each
 * entry's sum is the same either way, so are the bits. */
GAUSSEXT_DEFINE_SCATTER_UPDATE(gaussext_scatter_update_2, gaussext_column2_f64, 2, )
#if GAUSSEXT_DISPATCH_ENABLED
GAUSSEXT_DEFINE_SCATTER_UPDATE(gaussext_scatter_update_4, gaussext_column_f64, 4,
                               __attribute__((target("avx2"))))
#endif
static void gaussext_scatter_update_f64(
    const double *residual, ptrdiff_t n_rows, ptrdiff_t n, ptrdiff_t row_step,
    double *scatter)
{
#if GAUSSEXT_DISPATCH_ENABLED
    if (__builtin_cpu_supports("avx2")) {
        gaussext_scatter_update_4(residual, n_rows, n, row_step, scatter);
        return;
    }
#endif
    gaussext_scatter_update_2(residual, n_rows, n, row_step, scatter);
}

/* How many of values[0, n) are NaN or infinite: the kernels' proof that X
 * was finite, counted from their scores. */
GAUSSEXT_DISPATCH static ptrdiff_t gaussext_count_nonfinite(
    const double *GAUSSEXT_RESTRICT values, ptrdiff_t n)
{
    ptrdiff_t count = 0;
    for (ptrdiff_t i = 0; i < n; ++i) {
        count += !isfinite(values[i]);
    }
    return count;
}

GAUSSEXT_DEFINE_COLUMN_SUMS(gaussext_column_sums_f64, double)
GAUSSEXT_DEFINE_COLUMN_SUMS(gaussext_column_sums_f32, float)
GAUSSEXT_DEFINE_DIAGONAL_ROWS(gaussext_diagonal_rows_f64, double)
GAUSSEXT_DEFINE_DIAGONAL_ROWS(gaussext_diagonal_rows_f32, float)
GAUSSEXT_DEFINE_STANDARDISE_PANELS(gaussext_standardise_panels_f64,
                                   gaussext_standardise_panels_on_f64, double,
                                   gaussext_transposed_panel_f64)
GAUSSEXT_DEFINE_STANDARDISE_PANELS(gaussext_standardise_panels_f32,
                                   gaussext_standardise_panels_on_f32, float,
                                   gaussext_transposed_panel_f32)
/* The whitening product keeps eight column sums too, plus two loaded
 * columns: as 32-byte columns that is twenty 16-byte registers, and the
 * baseline spilled them to memory at every multiply-add (10 to 25 times
 * slower than AVX2, measured at d = 32 and 128).  So, as for the scatter,
 * CPUs without AVX2 and FMA run it on 16-byte columns (two rows of double,
 * four of float a group), plain multiplies and adds, and the others on
 * 32-byte ones with fused multiply-adds, picked at run time.  A build for
 * AVX CPUs only (-mavx and up) takes the 32-byte code throughout (fused
 * where it was built with FMA). */
#if defined(__AVX__)
#define GAUSSEXT_WIDE_ATTRIBUTE
#define GAUSSEXT_WIDE_COLUMNS 1
#define GAUSSEXT_WIDE_RUNNABLE 1
#elif GAUSSEXT_DISPATCH_ENABLED
/* GCC and Clang fuse a * b + c into one instruction where FMA is enabled
 * (-ffp-contract=fast: GCC's default for GNU C, asked for in setup.py) */
#define GAUSSEXT_WIDE_ATTRIBUTE __attribute__((target("avx2,fma")))
#define GAUSSEXT_WIDE_COLUMNS \
    (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
#define GAUSSEXT_WIDE_RUNNABLE GAUSSEXT_WIDE_COLUMNS
#else  /* both compiled for the baseline; the tests compare them */
#define GAUSSEXT_WIDE_ATTRIBUTE
#define GAUSSEXT_WIDE_COLUMNS 0
#define GAUSSEXT_WIDE_RUNNABLE 1
#endif
GAUSSEXT_DEFINE_WHITENED_PANELS(gaussext_whitened_panels_narrow_f64, double,
                                gaussext_column2_f64, 2, )
GAUSSEXT_DEFINE_WHITENED_PANELS(gaussext_whitened_panels_narrow_f32, float,
                                gaussext_column4_f32, 4, )
GAUSSEXT_DEFINE_WHITENED_PANELS(gaussext_whitened_panels_wide_f64, double,
                                gaussext_column_f64, 4, GAUSSEXT_WIDE_ATTRIBUTE)
GAUSSEXT_DEFINE_WHITENED_PANELS(gaussext_whitened_panels_wide_f32, float,
                                gaussext_column_f32, 8, GAUSSEXT_WIDE_ATTRIBUTE)
/* NAME_on runs the product on 32-byte columns when `wide` is non-zero (only
 * where GAUSSEXT_WIDE_RUNNABLE), on 16-byte ones otherwise; NAME on the ones
 * this CPU should use. */
#define GAUSSEXT_DEFINE_WHITENED_DISPATCH(NAME, NAME_ON, ELEMENT, NARROW, WIDE) \
    static void NAME_ON(                                                       \
        int wide, const ELEMENT *whitening, ptrdiff_t n, const ELEMENT *panels, \
        ptrdiff_t n_rows, double log_norm, double *out,                        \
        const char *prefetch, ptrdiff_t n_prefetch_bytes)                      \
    {                                                                          \
        (wide ? WIDE : NARROW)(whitening, n, panels, n_rows, log_norm, out,    \
                               prefetch, n_prefetch_bytes);                    \
    }                                                                          \
    static void NAME(                                                          \
        const ELEMENT *whitening, ptrdiff_t n, const ELEMENT *panels,          \
        ptrdiff_t n_rows, double log_norm, double *out,                        \
        const char *prefetch, ptrdiff_t n_prefetch_bytes)                      \
    {                                                                          \
        NAME_ON(GAUSSEXT_WIDE_COLUMNS, whitening, n, panels, n_rows, log_norm, \
                out, prefetch, n_prefetch_bytes);                              \
    }
GAUSSEXT_DEFINE_WHITENED_DISPATCH(gaussext_whitened_panels_f64,
                                  gaussext_whitened_panels_on_f64, double,
                                  gaussext_whitened_panels_narrow_f64,
                                  gaussext_whitened_panels_wide_f64)
GAUSSEXT_DEFINE_WHITENED_DISPATCH(gaussext_whitened_panels_f32,
                                  gaussext_whitened_panels_on_f32, float,
                                  gaussext_whitened_panels_narrow_f32,
                                  gaussext_whitened_panels_wide_f32)

#endif
