"""Typed kernels of gaussext.

Every function here trusts its caller: shapes agree, arrays are non-empty,
variances are positive, output arrays are allocated and C-contiguous.  The
public Python layer (`gaussext._estimator`, `gaussext._threshold`) proves all
of that before calling in.  Data values are never used as indices or sizes, so
a NaN or inf in X can only make results non-finite: the scoring kernels count
those, and the caller then locates the offending entry.  Inputs are
`const` memoryviews so read-only and memory-mapped arrays are accepted; any
memory layout is read in place (no copy of X), and float32 input is widened to
float64 element by element, never as a whole array.  Every sum is taken in
float64; the one product done in float32, for float32 input, is the full
model's whitening (section 2 says why and what it costs).
"""

from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.math cimport INFINITY, isfinite, nextafter
from libc.string cimport memcpy

import numpy as np

cimport numpy as cnp

cnp.import_array()

from gaussext._blas cimport NON_UNIT, UPPER, _potrf, _trtri
from gaussext._openmp cimport GAUSSEXT_OPENMP_ENABLED, omp_get_max_threads
from gaussext._typedefs cimport blas_int, float64_t, int64_t, uint64_t

# Rows handled per task.  The full model keeps one block of rows x features
# per thread, in X's type (512 KiB in float64), so that a block stays in a
# core's L2 cache.
cdef Py_ssize_t BLOCK_ELEMENTS = 65536
cdef Py_ssize_t DIAGONAL_BLOCK_ROWS = 2048
# Below this many features a row's reduction costs more than its arithmetic,
# and sweeping the block column by column is faster even on row-major data.
cdef Py_ssize_t ROW_SWEEP_MIN_FEATURES = 8
# From this many features on, the full kernel prefetches its next block's rows.
cdef Py_ssize_t PREFETCH_MIN_FEATURES = 8
# The fit statistics are merged over a partition of the rows that depends on n
# only, never on the thread count, so the result is the same bit for bit
# whatever n_jobs is: a power of two of equal chunks (so that 2, 4, 8 threads
# get equal shares), each of at least MIN_CHUNK_ROWS rows, at most MAX_CHUNKS.
# Small enough that a stream's chunk of 10^4 rows splits over two threads.
cdef Py_ssize_t MIN_CHUNK_ROWS = 4096
# Elements of one block of centred rows in the full fit.  The scatter product
# sweeps such a block once per tile of the matrix (about d^2 / 64 times), so
# the block must stay in a core's L2 cache beside the rows of X streaming in:
# a quarter of a 512 KiB L2 in float64.
cdef Py_ssize_t SCATTER_BLOCK_ELEMENTS = 16384
cdef Py_ssize_t MAX_CHUNKS = 64


def openmp_enabled():
    """True when this build runs its kernels over OpenMP threads."""
    return bool(GAUSSEXT_OPENMP_ENABLED)


def max_threads():
    """OpenMP's default team size (1 when built without OpenMP)."""
    return omp_get_max_threads()


cdef inline Py_ssize_t _block_rows(Py_ssize_t n_features) noexcept nogil:
    return max(1, BLOCK_ELEMENTS // max(1, n_features))


cdef inline Py_ssize_t _scatter_block_rows(Py_ssize_t n_features) noexcept nogil:
    return max(1, SCATTER_BLOCK_ELEMENTS // max(1, n_features))


def full_block_rows(Py_ssize_t n_features):
    """Rows per block in the full-covariance kernels, for `n_features`."""
    return _block_rows(n_features)


cdef inline Py_ssize_t _panel_elements(Py_ssize_t n_rows, Py_ssize_t n_features) noexcept nogil:
    """Elements of the standardised panels of n_rows rows (the last padded)."""
    return (n_rows + GAUSSEXT_PANEL_ROWS - 1) // GAUSSEXT_PANEL_ROWS * GAUSSEXT_PANEL_ROWS * n_features


def full_workspace_shape(Py_ssize_t n_threads, Py_ssize_t n_features, Py_ssize_t n_rows):
    """Shape of the `workspace` (in X's type) that full_log_density needs to
    score `n_rows` rows: one block's standardised panels per thread, no more
    than the rows need (one row takes one panel)."""
    return (n_threads, _panel_elements(min(max(n_rows, 1), _block_rows(n_features)), n_features))


cdef inline bint _rows_contiguous(const floating[:, :] X) noexcept nogil:
    """True when each row's features are adjacent in memory (any row stride)."""
    return X.shape[1] == 1 or X.strides[1] == sizeof(floating)


# How many of values[0:n] are NaN or infinite, read while still in cache: in
# C, where the count is vectorised (Cython's loop of it was not).
cdef extern from "_simd.h" nogil:
    Py_ssize_t _count_nonfinite "gaussext_count_nonfinite" (const float64_t *values,
                                                            Py_ssize_t n)


# ---------------------------------------------------------------------------
# 1. Diagonal log-density
#
#   log p(x_i) = log_norm - 1/2 sum_j ((x_ij - mu_j) * inv_std_j)^2,
#   log_norm   = -1/2 sum_j log(2 pi var_j).

# The row loops over contiguous rows are C helpers (_simd.h): vectorised sums,
# and a clone per instruction set picked at load time.
cdef extern from "_simd.h" nogil:
    int GAUSSEXT_DISPATCH_ENABLED
    void gaussext_diagonal_rows_f64(
        const double *rows, Py_ssize_t row_step, Py_ssize_t n_rows, Py_ssize_t n,
        const float64_t *mean, const float64_t *inv_std, float64_t log_norm, float64_t *out)
    void gaussext_diagonal_rows_f32(
        const float *rows, Py_ssize_t row_step, Py_ssize_t n_rows, Py_ssize_t n,
        const float64_t *mean, const float64_t *inv_std, float64_t log_norm, float64_t *out)
    Py_ssize_t GAUSSEXT_PANEL_ROWS
    void gaussext_standardise_panels_f64(
        const double *rows, Py_ssize_t row_step, Py_ssize_t column_step, Py_ssize_t n_rows,
        Py_ssize_t n, const float64_t *mean, const float64_t *inv_std, double *panels)
    void gaussext_standardise_panels_f32(
        const float *rows, Py_ssize_t row_step, Py_ssize_t column_step, Py_ssize_t n_rows,
        Py_ssize_t n, const float64_t *mean, const float64_t *inv_std, float *panels)
    # for standardised_panels' test switch: whole panels transposed in
    # registers (in_registers != 0; only where GAUSSEXT_TRANSPOSE_BUILT) or
    # element by element
    int GAUSSEXT_TRANSPOSE_BUILT
    int GAUSSEXT_TRANSPOSE_IN_REGISTERS
    void gaussext_standardise_panels_on_f64(
        int in_registers, const double *rows, Py_ssize_t row_step, Py_ssize_t column_step,
        Py_ssize_t n_rows, Py_ssize_t n, const float64_t *mean, const float64_t *inv_std,
        double *panels)
    void gaussext_standardise_panels_on_f32(
        int in_registers, const float *rows, Py_ssize_t row_step, Py_ssize_t column_step,
        Py_ssize_t n_rows, Py_ssize_t n, const float64_t *mean, const float64_t *inv_std,
        float *panels)
    void gaussext_whitened_panels_f64(
        const double *whitening, Py_ssize_t n, const double *panels, Py_ssize_t n_rows,
        float64_t log_norm, float64_t *out, const char *prefetch, Py_ssize_t n_prefetch_bytes)
    void gaussext_whitened_panels_f32(
        const float *whitening, Py_ssize_t n, const float *panels, Py_ssize_t n_rows,
        float64_t log_norm, float64_t *out, const char *prefetch, Py_ssize_t n_prefetch_bytes)
    # for whitened_log_density's test switch: the product on 32-byte columns
    # (wide != 0; only where GAUSSEXT_WIDE_RUNNABLE) or on 16-byte ones
    int GAUSSEXT_WIDE_RUNNABLE
    void gaussext_whitened_panels_on_f64(
        int wide, const double *whitening, Py_ssize_t n, const double *panels,
        Py_ssize_t n_rows, float64_t log_norm, float64_t *out, const char *prefetch,
        Py_ssize_t n_prefetch_bytes)
    void gaussext_whitened_panels_on_f32(
        int wide, const float *whitening, Py_ssize_t n, const float *panels,
        Py_ssize_t n_rows, float64_t log_norm, float64_t *out, const char *prefetch,
        Py_ssize_t n_prefetch_bytes)
    Py_ssize_t GAUSSEXT_SCATTER_PAD
    void gaussext_column_sums_f64(
        const double *rows, Py_ssize_t row_step, Py_ssize_t n_rows, Py_ssize_t n,
        const float64_t *shift, const float64_t *centre, int squared, float64_t *sums)
    void gaussext_column_sums_f32(
        const float *rows, Py_ssize_t row_step, Py_ssize_t n_rows, Py_ssize_t n,
        const float64_t *shift, const float64_t *centre, int squared, float64_t *sums)
    void gaussext_scatter_update_f64(
        const float64_t *residual, Py_ssize_t n_rows, Py_ssize_t n, Py_ssize_t row_step,
        float64_t *scatter)


def simd_dispatch_enabled():
    """True when the row loops are cloned per instruction set (x86-64 glibc builds)."""
    return bool(GAUSSEXT_DISPATCH_ENABLED)


cdef inline void _diagonal_rows(
    const floating *rows, Py_ssize_t row_step, Py_ssize_t n_rows, Py_ssize_t n_features,
    const float64_t *mean, const float64_t *inv_std, float64_t log_norm, float64_t *out,
) noexcept nogil:
    """The C helper for X's type (_simd.h: gaussext_diagonal_rows_*), for rows
    whose features are adjacent, row_step elements apart."""
    if floating is float:
        gaussext_diagonal_rows_f32(rows, row_step, n_rows, n_features, mean, inv_std,
                                   log_norm, out)
    else:
        gaussext_diagonal_rows_f64(rows, row_step, n_rows, n_features, mean, inv_std,
                                   log_norm, out)


cdef inline void _diagonal_columns(
    const floating *rows, Py_ssize_t row_step, Py_ssize_t n_rows, Py_ssize_t n_features,
    const float64_t *mean, const float64_t *inv_std, float64_t log_norm, float64_t *out,
) noexcept nogil:
    """The column sweep of _diagonal_block over adjacent features, on pointers
    (the few-row scorer's path; the same operations in the same order)."""
    cdef Py_ssize_t i, j
    cdef float64_t z
    for i in range(n_rows):
        out[i] = 0.0
    for j in range(n_features):
        for i in range(n_rows):
            z = (<float64_t> rows[i * row_step + j] - mean[j]) * inv_std[j]
            out[i] += z * z
    for i in range(n_rows):
        out[i] = log_norm - 0.5 * out[i]


cdef inline void _diagonal_block(
    const floating[:, :] X, const float64_t[::1] mean,
    const float64_t[::1] inv_std, float64_t log_norm,
    float64_t[::1] out, Py_ssize_t start, Py_ssize_t stop,
) noexcept nogil:
    cdef Py_ssize_t i, j, n_features = X.shape[1]
    cdef Py_ssize_t row_step = X.strides[0] // <Py_ssize_t> sizeof(floating)
    cdef float64_t z
    if _rows_contiguous(X) and (n_features >= ROW_SWEEP_MIN_FEATURES
                                or (n_features <= 4 and row_step == n_features)):
        # (packed rows of at most four features have loops of their own there)
        _diagonal_rows(&X[start, 0], row_step, stop - start, n_features,
                       &mean[0], &inv_std[0], log_norm, &out[start])
    else:
        # column-major, strided, or rows too short to amortise the per-row
        # reduction: walk each column over the block, accumulating in out
        for i in range(start, stop):
            out[i] = 0.0
        for j in range(n_features):
            for i in range(start, stop):
                z = (<float64_t> X[i, j] - mean[j]) * inv_std[j]
                out[i] += z * z
        for i in range(start, stop):
            out[i] = log_norm - 0.5 * out[i]


def diagonal_log_density(
    const floating[:, :] X, const float64_t[::1] mean,
    const float64_t[::1] inv_std, float64_t log_norm,
    float64_t[::1] out, int n_threads,
):
    """Fill out[i] with the diagonal-Gaussian log-density of row i of X.

    Returns how many of the results are not finite: a NaN or inf in a row of
    X always makes its result non-finite, so 0 proves X finite.
    """
    cdef Py_ssize_t n_samples = X.shape[0]
    cdef Py_ssize_t n_blocks = (n_samples + DIAGONAL_BLOCK_ROWS - 1) // DIAGONAL_BLOCK_ROWS
    cdef Py_ssize_t block, start, stop, n_nonfinite = 0
    if n_threads == 1:  # no OpenMP region at all (see gaussext._parallel)
        with nogil:
            for block in range(n_blocks):
                start = block * DIAGONAL_BLOCK_ROWS
                stop = min(start + DIAGONAL_BLOCK_ROWS, n_samples)
                _diagonal_block(X, mean, inv_std, log_norm, out, start, stop)
                n_nonfinite += _count_nonfinite(&out[start], stop - start)
        return n_nonfinite
    with nogil:
        # guided: runs of consecutive blocks, shorter towards the end, so a
        # thread slowed by another process is not waited for long
        for block in prange(n_blocks, schedule="guided", num_threads=n_threads):
            start = block * DIAGONAL_BLOCK_ROWS
            stop = min(start + DIAGONAL_BLOCK_ROWS, n_samples)
            _diagonal_block(X, mean, inv_std, log_norm, out, start, stop)
            n_nonfinite += _count_nonfinite(&out[start], stop - start)
    return n_nonfinite


# ---------------------------------------------------------------------------
# 2. Full-covariance log-density over a precomputed Cholesky factor
#
#   Sigma = L L^T,  z = L^-1 (x - mu),  log p(x) = log_norm - 1/2 |z|^2,
#   log_norm = -1/2 (d log 2 pi + log det Sigma),  log det Sigma = 2 sum log L_jj.
#
# L^-1 is formed once at fit (LAPACK trtri), so scoring a block of residuals
# is one triangular matrix product, d (d + 1) / 2 multiply-adds per row.  The
# product is ours (_simd.h), not BLAS's: these loops run inside the kernels'
# own threads, where a BLAS call would start threads of its own (or need a
# process-wide limit to stop it), and its results would depend on the BLAS
# loaded and its thread count.  Ours runs on the calling thread and gives the
# same bits whatever the thread count.
#
# The product runs in the input's precision.  Each residual is centred and
# standardised in float64, s_j = (x_j - mu_j) / sigma_j, then stored in the
# input's type, and z = W s with the whitening matrix W = L^-1 diag(sigma):
# after centring, a large offset can no longer cost digits, and W's entries
# (those of the correlation matrix's inverse factor) stay far from float32's
# overflow and underflow whatever the features' scales.  |z|^2 is summed in
# float64.  For float32 input the product adds an error of at most about
# (d + 2) u_32 (|W| |s|)_i to each z_i (u_32 = 2^-24; the tests state the
# bound), in practice a few parts in 1e7 of the score; in exchange float32
# computes twice as many products per vector as float64, and at d = 32 this
# product, not reading X, is what costs.  A finite float32 row whose
# standardised residual overflows float32 is rescored in float64 by the caller.

cdef inline bint _steps_in_elements(const floating[:, :] X) noexcept nogil:
    """True when X's strides are whole elements (numpy allows any byte count)."""
    return (X.strides[0] % <Py_ssize_t> sizeof(floating) == 0
            and X.strides[1] % <Py_ssize_t> sizeof(floating) == 0)


cdef inline void _standardise_panels(
    const floating *rows, Py_ssize_t row_step, Py_ssize_t column_step, Py_ssize_t n_rows,
    Py_ssize_t n_features, const float64_t *mean, const float64_t *inv_std, floating *panels,
) noexcept nogil:
    """The C helper for X's type (_simd.h: gaussext_standardise_panels_*)."""
    if floating is float:
        gaussext_standardise_panels_f32(rows, row_step, column_step, n_rows, n_features,
                                        mean, inv_std, panels)
    else:
        gaussext_standardise_panels_f64(rows, row_step, column_step, n_rows, n_features,
                                        mean, inv_std, panels)


cdef inline void _whiten_panels(
    const floating *whitening, Py_ssize_t n_features, const floating *panels,
    Py_ssize_t n_rows, float64_t log_norm, float64_t *out, const char *prefetch,
    Py_ssize_t n_prefetch_bytes,
) noexcept nogil:
    """The C helper for X's type (_simd.h: gaussext_whitened_panels_*)."""
    if floating is float:
        gaussext_whitened_panels_f32(whitening, n_features, panels, n_rows, log_norm, out,
                                     prefetch, n_prefetch_bytes)
    else:
        gaussext_whitened_panels_f64(whitening, n_features, panels, n_rows, log_norm, out,
                                     prefetch, n_prefetch_bytes)


cdef inline void _standardise_block(
    const floating[:, :] X, const float64_t *mean, const float64_t *inv_std,
    Py_ssize_t start, Py_ssize_t stop, floating *panels,
) noexcept nogil:
    """panels (GAUSSEXT_PANEL_ROWS rows each, feature by feature; see _simd.h)
    = (X[start:stop] - mean) * inv_std, computed in float64 and stored in X's
    type."""
    cdef Py_ssize_t i, j, first, n_panel_rows, n_features = X.shape[1]
    cdef Py_ssize_t row_step, column_step
    cdef floating *panel
    if _steps_in_elements(X):
        row_step = X.strides[0] // <Py_ssize_t> sizeof(floating)
        column_step = X.strides[1] // <Py_ssize_t> sizeof(floating)
        _standardise_panels(&X[start, 0], row_step, column_step, stop - start, n_features,
                            mean, inv_std, panels)
    else:
        # odd byte strides: copy each panel's rows into its own layout (row r
        # of the panel, feature j at j P + r), then standardise it in place
        # as a panel-shaped array of whole-element steps
        first = 0
        while first < stop - start:
            panel = panels + first * n_features
            n_panel_rows = min(GAUSSEXT_PANEL_ROWS, stop - start - first)
            for i in range(n_panel_rows):
                for j in range(n_features):
                    panel[j * GAUSSEXT_PANEL_ROWS + i] = X[start + first + i, j]
            _standardise_panels(<const floating *> panel, 1, GAUSSEXT_PANEL_ROWS, n_panel_rows,
                                n_features, mean, inv_std, panel)
            first += GAUSSEXT_PANEL_ROWS


cdef inline void _full_block(
    const floating[:, :] X, const float64_t[::1] mean, const float64_t[::1] inv_std,
    const floating[:, ::1] whitening, float64_t log_norm,
    float64_t[::1] out, Py_ssize_t start, Py_ssize_t stop, floating *panels,
) noexcept nogil:
    cdef Py_ssize_t n_features = X.shape[1], n_rows = stop - start
    cdef Py_ssize_t n_prefetch_bytes = 0
    cdef const char *prefetch = NULL
    _standardise_block(X, &mean[0], &inv_std[0], start, stop, panels)
    # prange's static schedule gives each thread one run of consecutive
    # blocks, so the rows after this block are, but for its last, the
    # thread's next ones: ask for them while whitening this block, where
    # they are one span of memory (C-contiguous X; other layouts go without).
    # With few features the product is brief and the hardware prefetcher
    # keeps up; asking costs more than it saves there.
    if (n_features >= PREFETCH_MIN_FEATURES and stop < X.shape[0]
            and X.strides[0] == n_features * <Py_ssize_t> sizeof(floating)):
        n_prefetch_bytes = min(n_rows, X.shape[0] - stop) * X.strides[0]
        prefetch = <const char *> &X[stop, 0]
    _whiten_panels(&whitening[0, 0], n_features, <const floating *> panels, n_rows, log_norm,
                   &out[start], prefetch, n_prefetch_bytes)


def full_log_density(
    const floating[:, :] X, const float64_t[::1] mean, const float64_t[::1] inv_std,
    const floating[:, ::1] whitening, float64_t log_norm,
    float64_t[::1] out, floating[:, ::1] workspace, int n_threads,
):
    """Fill out[i] with the full-Gaussian log-density of row i of X.

    `inv_std` is 1 / sqrt(diag Sigma); `whitening` is L^-1 diag(sqrt(diag
    Sigma)), row-major lower triangular (zeros above), in X's type.
    `workspace` holds one block's panels per thread, in X's type: shape
    full_workspace_shape(n_threads, d, n) or larger (refused if smaller).
    Returns how many of the results are not finite, as diagonal_log_density
    does; for float32 input a finite row may also give one, if its
    standardised residual overflows float32.
    """
    cdef Py_ssize_t n_samples = X.shape[0], n_features = X.shape[1]
    cdef Py_ssize_t block_rows = _block_rows(n_features)
    cdef Py_ssize_t n_blocks = (n_samples + block_rows - 1) // block_rows
    cdef Py_ssize_t block, start, stop, n_nonfinite = 0
    cdef floating *panels = NULL  # set per thread below
    if (workspace.shape[0] < max(1, n_threads) or workspace.shape[1]
            < _panel_elements(min(n_samples, _block_rows(n_features)), n_features)):
        raise ValueError(
            f"workspace of shape ({workspace.shape[0]}, {workspace.shape[1]}) is smaller than "
            f"full_workspace_shape({n_threads}, {n_features}, {n_samples})")
    if n_threads == 1:  # no OpenMP region at all (see gaussext._parallel)
        with nogil:
            panels = &workspace[0, 0]
            for block in range(n_blocks):
                start = block * block_rows
                stop = min(start + block_rows, n_samples)
                _full_block(X, mean, inv_std, whitening, log_norm, out, start, stop, panels)
                n_nonfinite += _count_nonfinite(&out[start], stop - start)
        return n_nonfinite
    with nogil, parallel(num_threads=n_threads):
        panels = &workspace[threadid(), 0]
        # guided: see diagonal_log_density; its runs of consecutive blocks
        # keep the next-block prefetch in _full_block mostly on target
        for block in prange(n_blocks, schedule="guided"):
            start = block * block_rows
            stop = min(start + block_rows, n_samples)
            _full_block(X, mean, inv_std, whitening, log_norm, out, start, stop, panels)
            n_nonfinite += _count_nonfinite(&out[start], stop - start)
    return n_nonfinite


# ---------------------------------------------------------------------------
# 2b. A few rows at a time: the serving case
#
# Scoring one event costs microseconds of argument handling around
# nanoseconds of arithmetic: acquiring a typed memoryview is about a
# microsecond, and the kernels above take five.  A FewRowScorer acquires the
# model's arrays once, when the model is fitted, and reads each call's X
# through NumPy's C API.  It computes with the helpers the kernels use, in
# the same order, so its scores equal theirs bit for bit.

# Elements of one call's standardised panels: this many on the stack bounds
# the rows a call takes (ceil(n / 8) * 8 * d of them, so 512 rows of 8
# features, 8 rows of 512).  Such work is far below what threads are started
# for (gaussext._parallel.MIN_PARALLEL_WORK), so nothing is lost by
# running it on the calling thread.
cdef enum:
    FEW_ROWS_PANEL_ELEMENTS = 4096


cdef class FewRowScorer:
    """Log-densities of a few rows under one fitted Gaussian.

    Parameters
    ----------
    mean, inv_std : ndarray of shape (d,), float64, C-contiguous
    log_norm : float
    whitening, whitening_float32 : ndarray of shape (d, d), C-contiguous, or None
        The full model's whitening matrix in float64 and float32 (see
        full_log_density); None for the diagonal model.

    Arrays already C-contiguous, aligned and of that dtype are kept, not
    copied: the caller must not write to them.
    """

    cdef readonly Py_ssize_t n_features
    cdef object _arrays  # what the pointers below point into, kept alive
    cdef const float64_t *_mean
    cdef const float64_t *_inv_std
    cdef const double *_whitening
    cdef const float *_whitening_float32
    cdef float64_t _log_norm

    def __cinit__(self, mean, inv_std, float64_t log_norm, whitening=None,
                  whitening_float32=None):
        # aligned, native, C-ordered copies where the arrays are not (arrays
        # unpickled from out-of-band buffers, as Dask sends them, need not be
        # aligned); the fitted model's own arrays are used as they are
        mean, inv_std = _behaved(mean, np.float64), _behaved(inv_std, np.float64)
        if whitening is not None:
            whitening = _behaved(whitening, np.float64)
        if whitening_float32 is not None:
            whitening_float32 = _behaved(whitening_float32, np.float32)
        cdef Py_ssize_t n_features = cnp.PyArray_SIZE(mean)
        _check_parameter(mean, "mean", 1, n_features)
        _check_parameter(inv_std, "inv_std", 1, n_features)
        if (whitening is None) != (whitening_float32 is None):
            raise ValueError("whitening and whitening_float32 are given together or not at all")
        self.n_features = n_features
        self._arrays = (mean, inv_std, whitening, whitening_float32)
        self._mean = <const float64_t *> cnp.PyArray_DATA(mean)
        self._inv_std = <const float64_t *> cnp.PyArray_DATA(inv_std)
        self._log_norm = log_norm
        if whitening is not None:
            _check_parameter(whitening, "whitening", 2, n_features)
            _check_parameter(whitening_float32, "whitening_float32", 2, n_features)
            self._whitening = <const double *> cnp.PyArray_DATA(whitening)
            self._whitening_float32 = <const float *> cnp.PyArray_DATA(whitening_float32)

    def __reduce__(self):
        return (FewRowScorer, (self._arrays[0], self._arrays[1], self._log_norm,
                               self._arrays[2], self._arrays[3]))

    cdef Py_ssize_t _rows_taken(self, object X) except -2:
        """X's row count when this scorer takes X, else -1: an exact ndarray,
        2-D, C-contiguous, aligned, native float64 or float32, of n_features
        columns and 1 to as many rows as the stack panels hold."""
        cdef cnp.ndarray array
        cdef Py_ssize_t n_rows
        if not cnp.PyArray_CheckExact(X):
            return -1
        array = <cnp.ndarray> X
        if (cnp.PyArray_NDIM(array) != 2 or not cnp.PyArray_IS_C_CONTIGUOUS(array)
                or not cnp.PyArray_ISBEHAVED_RO(array)
                or cnp.PyArray_DIM(array, 1) != self.n_features):
            return -1
        if cnp.PyArray_TYPE(array) != cnp.NPY_DOUBLE and cnp.PyArray_TYPE(array) != cnp.NPY_FLOAT:
            return -1
        n_rows = cnp.PyArray_DIM(array, 0)
        if n_rows < 1 or _panel_elements(n_rows, self.n_features) > FEW_ROWS_PANEL_ELEMENTS:
            return -1
        return n_rows

    cdef Py_ssize_t _score(self, const void *rows, bint is_float32, Py_ssize_t n_rows,
                           float64_t *out) noexcept nogil:
        """Fill out[:n_rows] from the rows taken; return how many scores are
        not finite.  The GIL is kept: a call is a few microseconds of
        arithmetic at most, less than releasing and taking it back costs."""
        cdef double panels[FEW_ROWS_PANEL_ELEMENTS]
        cdef Py_ssize_t n_features = self.n_features
        if self._whitening == NULL:
            if n_features >= ROW_SWEEP_MIN_FEATURES:
                if is_float32:
                    _diagonal_rows(<const float *> rows, n_features, n_rows, n_features,
                                   self._mean, self._inv_std, self._log_norm, out)
                else:
                    _diagonal_rows(<const double *> rows, n_features, n_rows, n_features,
                                   self._mean, self._inv_std, self._log_norm, out)
            elif is_float32:
                _diagonal_columns(<const float *> rows, n_features, n_rows, n_features,
                                  self._mean, self._inv_std, self._log_norm, out)
            else:
                _diagonal_columns(<const double *> rows, n_features, n_rows, n_features,
                                  self._mean, self._inv_std, self._log_norm, out)
        elif is_float32:
            _standardise_panels(<const float *> rows, n_features, 1, n_rows, n_features,
                                self._mean, self._inv_std, <float *> panels)
            _whiten_panels(self._whitening_float32, n_features, <const float *> panels,
                           n_rows, self._log_norm, out, NULL, 0)
        else:
            _standardise_panels(<const double *> rows, n_features, 1, n_rows, n_features,
                                self._mean, self._inv_std, panels)
            _whiten_panels(self._whitening, n_features, <const double *> panels, n_rows,
                           self._log_norm, out, NULL, 0)
        return _count_nonfinite(out, n_rows)

    def log_density(self, X):
        """log p(x) of each row of X as a new float64 array, or None when X
        is not taken (see above) or a score is not finite: the caller's
        general path then validates X, names what is wrong, or rescores."""
        cdef Py_ssize_t n_rows = self._rows_taken(X)
        cdef cnp.npy_intp size
        cdef cnp.ndarray log_density
        if n_rows < 0:
            return None
        size = n_rows
        log_density = cnp.PyArray_EMPTY(1, &size, cnp.NPY_DOUBLE, 0)
        if self._score(cnp.PyArray_DATA(<cnp.ndarray> X), _is_float32(X), n_rows,
                       <float64_t *> cnp.PyArray_DATA(log_density)):
            return None
        return log_density

    def predict(self, X, float64_t log_epsilon):
        """-1 where log p(x) < log_epsilon, else +1 (int64), or None as
        log_density returns it."""
        cdef Py_ssize_t i, n_rows = self._rows_taken(X)
        cdef cnp.npy_intp size
        cdef cnp.ndarray labels
        cdef int64_t *label
        cdef double scores[FEW_ROWS_PANEL_ELEMENTS]
        if n_rows < 0:
            return None
        if self._score(cnp.PyArray_DATA(<cnp.ndarray> X), _is_float32(X), n_rows, scores):
            return None
        size = n_rows
        labels = cnp.PyArray_EMPTY(1, &size, cnp.NPY_INT64, 0)
        label = <int64_t *> cnp.PyArray_DATA(labels)
        for i in range(n_rows):
            label[i] = -1 if scores[i] < log_epsilon else 1
        return labels


cdef cnp.ndarray _behaved(object array, object dtype):
    return np.require(array, dtype=dtype, requirements=("C", "A"))


cdef inline bint _is_float32(object X):
    return cnp.PyArray_TYPE(<cnp.ndarray> X) == cnp.NPY_FLOAT


cdef int _check_parameter(cnp.ndarray array, str name, int ndim,
                          Py_ssize_t n_features) except -1:
    """Refuse a parameter of another shape than the scorer's pointers assume
    (dtype and layout are already made right by _behaved)."""
    cdef Py_ssize_t axis
    cdef bint fits = cnp.PyArray_NDIM(array) == ndim
    for axis in range(ndim if fits else 0):
        fits = fits and cnp.PyArray_DIM(array, axis) == n_features
    if not fits:
        raise ValueError(f"{name} has shape {(<object> array).shape}, expected "
                         f"{(n_features,) * ndim}")
    return 0


cdef inline void _whiten_panels_on(
    bint wide, const floating *whitening, Py_ssize_t n_features, const floating *panels,
    Py_ssize_t n_rows, float64_t log_norm, float64_t *out,
) noexcept nogil:
    """The product on 32-byte (wide) or 16-byte columns, for X's type."""
    if floating is float:
        gaussext_whitened_panels_on_f32(wide, whitening, n_features, panels, n_rows, log_norm,
                                        out, NULL, 0)
    else:
        gaussext_whitened_panels_on_f64(wide, whitening, n_features, panels, n_rows, log_norm,
                                        out, NULL, 0)


cdef inline void _standardise_panels_on(
    bint in_registers, const floating *rows, Py_ssize_t row_step, Py_ssize_t column_step,
    Py_ssize_t n_rows, Py_ssize_t n_features, const float64_t *mean, const float64_t *inv_std,
    floating *panels,
) noexcept nogil:
    """Whole panels transposed in registers (in_registers) or element by
    element, for X's type."""
    if floating is float:
        gaussext_standardise_panels_on_f32(in_registers, rows, row_step, column_step, n_rows,
                                           n_features, mean, inv_std, panels)
    else:
        gaussext_standardise_panels_on_f64(in_registers, rows, row_step, column_step, n_rows,
                                           n_features, mean, inv_std, panels)


def transpose_in_registers():
    """True when this CPU's full kernel transposes whole panels in registers
    (x86-64 with AVX, in a build that has that code)."""
    return bool(GAUSSEXT_TRANSPOSE_BUILT and GAUSSEXT_TRANSPOSE_IN_REGISTERS)


def standardised_panels(const floating[:, :] X, const float64_t[::1] mean,
                        const float64_t[::1] inv_std, str transpose="auto"):
    """For tests only: the full kernel's standardised panels of X (n x d),
    s_ij = (x_ij - mean_j) * inv_std_j in float64 stored in X's type, as
    one flat array: GAUSSEXT_PANEL_ROWS rows a panel (the last padded with
    zero rows), element (r, j) of panel p at (p d + j) GAUSSEXT_PANEL_ROWS
    + r.  Formed as the kernel forms them ("auto"), element by element
    ("elements"), or with whole panels transposed in registers
    ("registers"); the last two need X's strides in whole elements."""
    cdef Py_ssize_t n_rows = X.shape[0], n_features = X.shape[1]
    if transpose not in ("auto", "elements", "registers"):
        raise ValueError(f"transpose must be 'auto', 'elements' or 'registers', got {transpose!r}")
    cdef bint chosen = transpose == "auto", in_registers = transpose == "registers"
    if in_registers and not transpose_in_registers():
        raise ValueError("this CPU (or build) cannot transpose panels in registers (no AVX)")
    if mean.shape[0] != n_features or inv_std.shape[0] != n_features:
        raise ValueError(f"mean and inv_std must have {n_features} entries")
    if n_rows == 0 or n_features == 0:
        raise ValueError("X must have rows and features")
    if not chosen and not _steps_in_elements(X):
        raise ValueError("X's strides must be whole elements")
    cdef floating[::1] panels = np.empty(_panel_elements(n_rows, n_features),
                                         np.asarray(X).dtype)
    with nogil:
        if chosen:
            _standardise_block(X, &mean[0], &inv_std[0], 0, n_rows, &panels[0])
        else:
            _standardise_panels_on(in_registers, &X[0, 0],
                                   X.strides[0] // <Py_ssize_t> sizeof(floating),
                                   X.strides[1] // <Py_ssize_t> sizeof(floating), n_rows,
                                   n_features, &mean[0], &inv_std[0], &panels[0])
    return np.asarray(panels)


def wide_columns_runnable():
    """True when this CPU runs the product on 32-byte columns (AVX2 and FMA, or a
    build that compiled both for the baseline)."""
    return bool(GAUSSEXT_WIDE_RUNNABLE)


def whitened_log_density(const floating[:, ::1] whitening, const floating[:, :] standardised,
                         float64_t log_norm, float64_t[::1] out, str columns="auto"):
    """For tests only: out[i] = log_norm - 1/2 |W s_i|^2 over the rows s_i of
    `standardised` (n x d, any layout), W = `whitening` (d x d, lower
    triangle read), by the full kernel's own panels and product: the one
    the kernel picks ("auto"), or the one on 16-byte ("narrow") or on
    32-byte ("wide") columns."""
    cdef Py_ssize_t n_rows = standardised.shape[0], n_features = standardised.shape[1]
    if columns not in ("auto", "narrow", "wide"):
        raise ValueError(f"columns must be 'auto', 'narrow' or 'wide', got {columns!r}")
    cdef bint chosen = columns == "auto", wide = columns == "wide"
    if wide and not GAUSSEXT_WIDE_RUNNABLE:
        raise ValueError("this CPU cannot run the product on 32-byte columns (no AVX2 and FMA)")
    if whitening.shape[0] != n_features or whitening.shape[1] != n_features:
        raise ValueError(f"whitening must be {n_features} x {n_features}")
    if out.shape[0] != n_rows or n_rows == 0 or n_features == 0:
        raise ValueError(f"out must have {n_rows} > 0 entries, and rows d > 0 features")
    cdef float64_t[::1] zeros = np.zeros(n_features)
    cdef float64_t[::1] ones = np.ones(n_features)
    cdef floating[::1] panels = np.empty(_panel_elements(n_rows, n_features),
                                         np.asarray(whitening).dtype)
    with nogil:
        # (s - 0) * 1 in float64, stored back in s's type: s exactly
        _standardise_block(standardised, &zeros[0], &ones[0], 0, n_rows, &panels[0])
        if chosen:  # through the kernels' own pick, which the tests check
            _whiten_panels(&whitening[0, 0], n_features, <const floating *> &panels[0], n_rows,
                           log_norm, &out[0], NULL, 0)
        else:
            _whiten_panels_on(wide, &whitening[0, 0], n_features,
                              <const floating *> &panels[0], n_rows, log_norm, &out[0])


cdef inline Py_ssize_t _padded_row(Py_ssize_t n_features) noexcept nogil:
    """Elements a centred row takes in the scatter product's blocks: n_features
    rounded up to the product's tile, the rest zero (see _simd.h)."""
    return (n_features + GAUSSEXT_SCATTER_PAD - 1) // GAUSSEXT_SCATTER_PAD * GAUSSEXT_SCATTER_PAD


def scatter_update(const float64_t[:, ::1] residual, float64_t[:, ::1] scatter):
    """For tests only: scatter += residual^T residual on the upper triangle of
    `scatter` (d x d), `residual` n x d, by the fit's own product (on rows
    padded with zeros as the fit pads them); nothing below the diagonal is
    read or written."""
    cdef Py_ssize_t n_features = residual.shape[1]
    if scatter.shape[0] != n_features or scatter.shape[1] != n_features:
        raise ValueError(f"scatter must be {n_features} x {n_features}")
    if residual.shape[0] == 0 or n_features == 0:
        return  # nothing to add, and no first element to point at
    cdef float64_t[:, ::1] padded = np.zeros((residual.shape[0], _padded_row(n_features)))
    padded[:, :n_features] = residual
    with nogil:
        gaussext_scatter_update_f64(&padded[0, 0], padded.shape[0], n_features,
                                    padded.shape[1], &scatter[0, 0])


# ---------------------------------------------------------------------------
# 3. Fit statistics: count, mean and centred second moments, in float64.
#
# Rows are taken in cache-sized blocks.  Each block's mean and centred moments
# are computed in two passes over the block while it is in cache (so a large
# offset never meets a sum of squares), then merged into a running total with
# the pairwise update of Chan, Golub and LeVeque:
#
#   n = n_a + n_b,  delta = mean_b - mean_a,
#   mean = mean_a + delta n_b / n,  M = M_a + M_b + delta delta^T n_a n_b / n.
#
# Means are kept relative to the first row (the shift): they are then small
# numbers whatever the data's offset, so that delta, a difference of two
# means, is not rounded to the offset's ulp.  The rows are split into chunks
# that depend on n only; chunks run in parallel and are merged in order, so
# the result does not depend on the number of threads.

def statistics_chunk_rows(Py_ssize_t n_samples):
    """Rows per parallel chunk of the fit statistics, for `n_samples`."""
    cdef Py_ssize_t n_chunks = 1
    while 2 * n_chunks <= MAX_CHUNKS and n_samples // (2 * n_chunks) >= MIN_CHUNK_ROWS:
        n_chunks *= 2
    return max(1, (n_samples + n_chunks - 1) // n_chunks)


cdef inline void _merge(float64_t n_a, float64_t n_b, float64_t *mean,
                        const float64_t *mean_b, float64_t *moments, float64_t *delta,
                        Py_ssize_t n_features, bint matrix) noexcept nogil:
    """Merge part b (n_b rows, mean_b, moments M_b) into part a (n_a rows,
    `mean`, `moments`), whose moments already include M_b: add
    delta delta^T n_a n_b / n and move the mean.  `moments` are per-feature
    sums of squares, or (matrix) a row-major upper-triangular scatter matrix.
    `delta` is d of scratch."""
    cdef Py_ssize_t i, j
    cdef float64_t weight = n_a * n_b / (n_a + n_b)
    for j in range(n_features):
        delta[j] = mean_b[j] - mean[j]
    if matrix:
        for i in range(n_features):
            for j in range(i, n_features):
                moments[i * n_features + j] += delta[i] * delta[j] * weight
    else:
        for j in range(n_features):
            moments[j] += delta[j] * delta[j] * weight
    for j in range(n_features):
        mean[j] += delta[j] * (n_b / (n_a + n_b))


cdef inline void _column_sums(
    const floating *rows, Py_ssize_t row_step, Py_ssize_t n_rows, Py_ssize_t n_features,
    const float64_t *shift, const float64_t *centre, bint squared, float64_t *sums,
) noexcept nogil:
    """The C helper for X's type (_simd.h: gaussext_column_sums_*)."""
    if floating is float:
        gaussext_column_sums_f32(rows, row_step, n_rows, n_features, shift, centre, squared,
                                 sums)
    else:
        gaussext_column_sums_f64(rows, row_step, n_rows, n_features, shift, centre, squared,
                                 sums)


cdef void _strided_column_sums(
    const floating[:, :] X, Py_ssize_t start, Py_ssize_t stop, const float64_t *shift,
    const float64_t *centre, bint squared, float64_t *sums,
) noexcept nogil:
    """_column_sums for rows whose features are not contiguous, adding in
    the same order (rows four at a time, then one by one), so the same bits."""
    cdef Py_ssize_t i, j
    cdef float64_t a, b, c, d
    for j in range(X.shape[1]):
        i = start
        while i + 4 <= stop:
            a = (<float64_t> X[i, j] - shift[j]) - centre[j]
            b = (<float64_t> X[i + 1, j] - shift[j]) - centre[j]
            c = (<float64_t> X[i + 2, j] - shift[j]) - centre[j]
            d = (<float64_t> X[i + 3, j] - shift[j]) - centre[j]
            if squared:
                sums[j] += (a * a + b * b) + (c * c + d * d)
            else:
                sums[j] += (a + b) + (c + d)
            i += 4
        while i < stop:
            a = (<float64_t> X[i, j] - shift[j]) - centre[j]
            sums[j] += a * a if squared else a
            i += 1


cdef void _block_mean(const floating[:, :] X, Py_ssize_t start, Py_ssize_t stop,
                      const float64_t *shift, float64_t *mean,
                      float64_t *correction) noexcept nogil:
    """mean := the column means of X[start:stop] - shift, corrected by the mean
    of the deviations from a first estimate.  `correction` is d of scratch.

    Accurate to an ulp or so, and exact for a constant column, whose variance
    is then exactly 0.  Means relative to the shift (the first row) are small
    numbers however large the data's offset, which keeps the merges exact.
    """
    cdef Py_ssize_t i, j, n_features = X.shape[1]
    cdef Py_ssize_t row_step = X.strides[0] // <Py_ssize_t> sizeof(floating)
    cdef float64_t n_rows = stop - start
    for j in range(n_features):
        mean[j] = 0.0
        correction[j] = 0.0
    if _rows_contiguous(X):
        # the sums start from the zeros above: correction is centre 0 for the first
        _column_sums(&X[start, 0], row_step, stop - start, n_features, shift, correction,
                     False, mean)
        for j in range(n_features):
            mean[j] /= n_rows
        _column_sums(&X[start, 0], row_step, stop - start, n_features, shift, mean, False,
                     correction)
    else:
        _strided_column_sums(X, start, stop, shift, correction, False, mean)
        for j in range(n_features):
            mean[j] /= n_rows
        _strided_column_sums(X, start, stop, shift, mean, False, correction)
    for j in range(n_features):
        mean[j] += correction[j] / n_rows


cdef void _diagonal_chunk(const floating[:, :] X, Py_ssize_t start, Py_ssize_t stop,
                          const float64_t *shift, float64_t *mean, float64_t *sum_squares,
                          float64_t *scratch) noexcept nogil:
    """mean (relative to shift) and sum of squared deviations of rows
    start..stop, block by block.

    `scratch` holds 3 d float64: a block's mean, its moments, and delta (also
    _block_mean's scratch).
    """
    cdef Py_ssize_t i, j, n_features = X.shape[1], block_start, block_stop
    cdef float64_t *block_mean = scratch
    cdef float64_t *block_squares = scratch + n_features
    cdef float64_t *delta = scratch + 2 * n_features
    cdef float64_t n_a = 0.0, n_b
    cdef Py_ssize_t row_step = X.strides[0] // <Py_ssize_t> sizeof(floating)
    cdef const floating *row
    for j in range(n_features):
        mean[j] = 0.0
        sum_squares[j] = 0.0
    block_start = start
    while block_start < stop:
        block_stop = min(block_start + DIAGONAL_BLOCK_ROWS, stop)
        n_b = block_stop - block_start
        _block_mean(X, block_start, block_stop, shift, block_mean, delta)
        for j in range(n_features):
            block_squares[j] = 0.0
        if _rows_contiguous(X):
            _column_sums(&X[block_start, 0], row_step, block_stop - block_start, n_features,
                         shift, block_mean, True, block_squares)
        else:
            _strided_column_sums(X, block_start, block_stop, shift, block_mean, True,
                                 block_squares)
        for j in range(n_features):
            sum_squares[j] += block_squares[j]
        _merge(n_a, n_b, mean, block_mean, sum_squares, delta, n_features, False)
        n_a += n_b
        block_start = block_stop


cdef inline void _centre_block(
    const floating[:, :] X, const float64_t *shift, const float64_t *mean,
    Py_ssize_t start, Py_ssize_t stop, float64_t *residual, Py_ssize_t residual_step,
) noexcept nogil:
    """residual (row-major, rows start..stop, residual_step apart) = (X[rows]
    - shift) - mean, in float64.  Subtracting a nearby shift first keeps the
    difference exact when the data sit at a large offset."""
    cdef Py_ssize_t i, j, n_features = X.shape[1]
    cdef Py_ssize_t row_step = X.strides[0] // <Py_ssize_t> sizeof(floating)
    cdef const floating *row
    cdef float64_t *centred
    if _rows_contiguous(X):
        row = &X[start, 0]
        for i in range(stop - start):
            centred = residual + i * residual_step
            for j in range(n_features):
                centred[j] = (<float64_t> row[j] - shift[j]) - mean[j]
            row += row_step
    else:
        for j in range(n_features):
            for i in range(stop - start):
                residual[i * residual_step + j] = (<float64_t> X[start + i, j] - shift[j]) - mean[j]


cdef void _full_chunk(const floating[:, :] X, Py_ssize_t start, Py_ssize_t stop,
                      const float64_t *shift, float64_t *mean, float64_t *scatter,
                      float64_t *scratch) noexcept nogil:
    """mean (relative to shift) and scatter (row-major, upper triangle) of
    rows start..stop.

    `scratch` holds 2 d + _scatter_block_rows(d) _padded_row(d) float64: a
    block's mean, delta (also _block_mean's scratch) and its centred rows,
    each padded with zeros for the scatter product.
    """
    cdef Py_ssize_t i, j, n_features = X.shape[1], block_start, block_stop
    cdef Py_ssize_t block_rows = _scatter_block_rows(n_features)
    cdef float64_t *block_mean = scratch
    cdef float64_t *delta = scratch + n_features
    cdef float64_t *residual = scratch + 2 * n_features
    cdef Py_ssize_t row_step = _padded_row(n_features)
    cdef float64_t n_a = 0.0, n_b
    for j in range(n_features):
        mean[j] = 0.0
    for i in range(n_features * n_features):
        scatter[i] = 0.0
    for i in range(block_rows * row_step):  # the padding stays zero
        residual[i] = 0.0
    block_start = start
    while block_start < stop:
        block_stop = min(block_start + block_rows, stop)
        n_b = block_stop - block_start
        _block_mean(X, block_start, block_stop, shift, block_mean, delta)
        _centre_block(X, shift, block_mean, block_start, block_stop, residual, row_step)
        # scatter += R^T R, upper triangle, by our own product (_simd.h):
        # no BLAS threads inside these, and the same bits on every machine
        gaussext_scatter_update_f64(residual, block_stop - block_start, n_features, row_step,
                                    scatter)
        _merge(n_a, n_b, mean, block_mean, scatter, delta, n_features, True)
        n_a += n_b
        block_start = block_stop


cdef void _merge_chunks(const float64_t[:, ::1] chunk_mean,
                        const float64_t[:, ::1] chunk_moments,
                        const float64_t[::1] chunk_count,
                        float64_t[::1] mean, float64_t[::1] moments,
                        float64_t *delta, bint matrix) noexcept nogil:
    """Merge per-chunk (count, mean, moments) in chunk order into (mean, moments)."""
    cdef Py_ssize_t c, j, n_features = mean.shape[0], n_moments = moments.shape[0]
    cdef float64_t n_a = 0.0
    for j in range(n_features):
        mean[j] = 0.0
    for j in range(n_moments):
        moments[j] = 0.0
    for c in range(chunk_mean.shape[0]):
        for j in range(n_moments):
            moments[j] += chunk_moments[c, j]
        _merge(n_a, chunk_count[c], &mean[0], &chunk_mean[c, 0], &moments[0], delta,
               n_features, matrix)
        n_a += chunk_count[c]


cdef inline void _statistics_chunk(
    const floating[:, :] X, Py_ssize_t chunk, Py_ssize_t chunk_rows, const float64_t *shift,
    float64_t[:, ::1] chunk_mean, float64_t[:, ::1] chunk_moments, float64_t[::1] chunk_count,
    float64_t *scratch, bint matrix,
) noexcept nogil:
    """Count, mean and moments of chunk `chunk` (rows of `chunk_rows`) into its slots."""
    cdef Py_ssize_t start = chunk * chunk_rows
    cdef Py_ssize_t stop = min(start + chunk_rows, X.shape[0])
    chunk_count[chunk] = stop - start
    if matrix:
        _full_chunk(X, start, stop, shift, &chunk_mean[chunk, 0], &chunk_moments[chunk, 0],
                    scratch)
    else:
        _diagonal_chunk(X, start, stop, shift, &chunk_mean[chunk, 0], &chunk_moments[chunk, 0],
                        scratch)


cdef void _statistics(const floating[:, :] X, const float64_t[::1] shift, float64_t[::1] mean,
                      float64_t[::1] moments, bint matrix, int n_threads):
    """mean (relative to `shift`) and moments of the rows of X, chunks merged in order."""
    cdef Py_ssize_t n_samples = X.shape[0], n_features = X.shape[1]
    cdef Py_ssize_t chunk_rows = statistics_chunk_rows(n_samples)
    cdef Py_ssize_t n_chunks = (n_samples + chunk_rows - 1) // chunk_rows
    cdef Py_ssize_t n_moments = moments.shape[0], chunk
    cdef Py_ssize_t scratch_size = (2 * n_features
                                    + _scatter_block_rows(n_features) * _padded_row(n_features)
                                    if matrix else 3 * n_features)
    cdef float64_t[:, ::1] chunk_mean = np.empty((n_chunks, n_features))
    cdef float64_t[:, ::1] chunk_moments = np.empty((n_chunks, n_moments))
    cdef float64_t[::1] chunk_count = np.empty(n_chunks)
    cdef float64_t[:, ::1] scratch = np.empty((max(1, n_threads), scratch_size))
    cdef float64_t[::1] delta = np.empty(n_features)
    cdef float64_t *thread_scratch = NULL  # set per thread below
    n_threads = max(1, min(n_threads, n_chunks))
    if n_threads == 1:  # no OpenMP region at all (see gaussext._parallel)
        with nogil:
            for chunk in range(n_chunks):
                _statistics_chunk(X, chunk, chunk_rows, &shift[0], chunk_mean, chunk_moments,
                                  chunk_count, &scratch[0, 0], matrix)
    else:
        with nogil, parallel(num_threads=n_threads):
            thread_scratch = &scratch[threadid(), 0]
            for chunk in prange(n_chunks, schedule="dynamic"):
                _statistics_chunk(X, chunk, chunk_rows, &shift[0], chunk_mean, chunk_moments,
                                  chunk_count, thread_scratch, matrix)
    with nogil:
        _merge_chunks(chunk_mean, chunk_moments, chunk_count, mean, moments, &delta[0], matrix)


def shifted_statistics(const floating[:, :] X, const float64_t[::1] shift,
                       float64_t[::1] mean, float64_t[::1] moments, bint matrix,
                       int n_threads):
    """Fill mean[j] with the mean of x_ij - shift_j, and the centred moments:
    moments[j] = sum_i (x_ij - mean_j)^2 (d entries), or (matrix) the scatter
    matrix flattened row-major (d * d entries, upper triangle only filled).

    A mean relative to a shift near the data (e.g. an earlier row) stays a
    small number, so later merges of such means lose nothing to the data's
    offset.  X must have at least one row.
    """
    _statistics(X, shift, mean, moments, matrix, n_threads)


def merge_statistics(const float64_t[::1] counts, const float64_t[:, ::1] means,
                     const float64_t[:, ::1] moments, float64_t[::1] mean,
                     float64_t[::1] merged_moments, bint matrix):
    """Merge parts c = 0, 1, ... in order, with the pairwise update of Chan,
    Golub and LeVeque, into (mean, merged_moments).

    Part c has counts[c] rows, mean means[c] (all relative to one shift) and
    centred moments moments[c] laid out as shifted_statistics fills them
    (for a matrix, only the upper triangle is read and written).  Every part
    must have at least one row.
    """
    cdef float64_t[::1] delta = np.empty(mean.shape[0])
    with nogil:
        _merge_chunks(means, moments, counts, mean, merged_moments, &delta[0], matrix)


def accumulate_statistics(const floating[:, :] X, const float64_t[::1] shift,
                          float64_t n_before, float64_t[::1] mean, float64_t[::1] moments,
                          float64_t[::1] chunk_mean, float64_t[::1] chunk_moments,
                          bint matrix, int n_threads):
    """The statistics of X's rows into (chunk_mean, chunk_moments), as
    shifted_statistics computes them; then, if they are finite, merged in
    place into the running (mean, moments) of n_before > 0 rows (all
    relative to `shift`) by the operations merge_statistics does for these
    two parts, so the same bits.  One call for a stream's chunk instead of
    two and the arrays between them.

    Returns whether the chunk's mean and moments were finite; when not, the
    running statistics are unchanged (the caller locates a NaN or inf in X,
    or merges the chunk itself).
    """
    cdef Py_ssize_t j, n_features = X.shape[1]
    cdef float64_t[::1] delta = np.empty(n_features)
    _statistics(X, shift, chunk_mean, chunk_moments, matrix, n_threads)
    for j in range(n_features):
        if not (isfinite(chunk_mean[j]) and isfinite(
                chunk_moments[j * (n_features + 1) if matrix else j])):
            return False
    with nogil:
        for j in range(moments.shape[0]):
            moments[j] += chunk_moments[j]
        _merge(n_before, <float64_t> X.shape[0], &mean[0], &chunk_mean[0], &moments[0],
               &delta[0], n_features, matrix)
    return True


def cholesky_lower(const float64_t[:, ::1] matrix):
    """Return (L, L^-1, info): the row-major lower Cholesky factor of a symmetric
    positive-definite matrix, its inverse (lower triangular), and LAPACK's info
    (0 on success; k > 0 when the leading minor of order k is not positive
    definite, and then neither matrix is meaningful)."""
    cdef Py_ssize_t i, j, n = matrix.shape[0]
    cdef float64_t[:, ::1] factor = np.array(matrix, dtype=np.float64, order="C")
    cdef float64_t[:, ::1] inverse
    cdef blas_int info
    with nogil:
        # Row-major lower is column-major upper: factor A = U^T U with U = L^T.
        info = _potrf(UPPER, <blas_int> n, &factor[0, 0], <blas_int> n)
        for i in range(n):
            for j in range(i + 1, n):
                factor[i, j] = 0.0
    inverse = np.array(factor, order="C")
    if info == 0:
        with nogil:
            # U^-1 in column-major is (L^-1)^T, i.e. L^-1 read row-major.
            info = _trtri(UPPER, NON_UNIT, <blas_int> n, &inverse[0, 0], <blas_int> n)
    return np.asarray(factor), np.asarray(inverse), int(info)


# ---------------------------------------------------------------------------
# 4. Threshold scan.

cdef inline bint _beats_best(
    int64_t tp, int64_t fp, int64_t n_anomalies, int64_t *best_num, int64_t *best_den,
) noexcept nogil:
    """True, and makes it the best, when the F1 = 2 tp / (tp + fp + n_anomalies)
    of a candidate flagging tp anomalies and fp normal points is strictly above
    best_num / best_den, compared exactly in integers."""
    cdef int64_t num = 2 * tp, den = tp + fp + n_anomalies
    if num * best_den[0] > best_num[0] * den:
        best_num[0] = num
        best_den[0] = den
        return True
    return False


cdef void _scores_from_counts(
    float64_t *precision, float64_t *recall, float64_t *f1, Py_ssize_t n,
    int64_t n_anomalies,
) noexcept nogil:
    """On entry recall[k] holds candidate k's tp and precision[k] its fp; on
    exit precision = tp / (tp + fp), recall = tp / n_anomalies and
    F1 = 2 tp / (tp + fp + n_anomalies).

    Counts below 2**53 are exact in float64, and so are their sums, so each
    figure is one correctly rounded division of the two integers: the same
    bits as dividing the integers themselves.  A pass of its own, apart from
    the scan's branches, so that the divisions vectorise.
    """
    cdef Py_ssize_t k
    cdef float64_t tp, fp, anomalies = <float64_t> n_anomalies
    for k in range(n):
        tp = recall[k]
        fp = precision[k]
        precision[k] = tp / (tp + fp)
        recall[k] = tp / anomalies
        f1[k] = (tp + tp) / ((tp + fp) + anomalies)


def f1_from_counts(const int64_t[::1] true_positives, const int64_t[::1] false_positives,
                   int64_t n_anomalies):
    """Precision, recall and F1 of candidates given by their counts, as f1_scan
    scores its groups.  Returns (precision, recall, f1, best), `best` the first
    candidate of strictly maximal F1.  Each candidate must flag a point."""
    cdef Py_ssize_t k, n = true_positives.shape[0], best = 0
    cdef int64_t best_num = -1, best_den = 1
    cdef float64_t[::1] precision = np.empty(n)
    cdef float64_t[::1] recall = np.empty(n)
    cdef float64_t[::1] f1 = np.empty(n)
    with nogil:
        for k in range(n):
            recall[k] = <float64_t> true_positives[k]
            precision[k] = <float64_t> false_positives[k]
            if _beats_best(true_positives[k], false_positives[k], n_anomalies,
                           &best_num, &best_den):
                best = k
        if n:
            _scores_from_counts(&precision[0], &recall[0], &f1[0], n, n_anomalies)
    return np.asarray(precision), np.asarray(recall), np.asarray(f1), best


cdef inline float64_t _threshold_between(float64_t value, float64_t next_value) noexcept nogil:
    """A threshold t with value < t <= next_value (so p < t flags value and
    not next_value): their midpoint when it is above value, else next_value
    (two adjacent doubles, or value = -inf)."""
    cdef float64_t midpoint = value / 2 + next_value / 2
    return midpoint if midpoint > value else next_value


def thresholds_between(const float64_t[::1] values, const float64_t[::1] next_values):
    """_threshold_between of each value and the next distinct score above it."""
    cdef Py_ssize_t k, n = values.shape[0]
    cdef float64_t[::1] thresholds = np.empty(n)
    with nogil:
        for k in range(n):
            thresholds[k] = _threshold_between(values[k], next_values[k])
    return np.asarray(thresholds)


def f1_scan(const float64_t[::1] sorted_normal, const float64_t[::1] sorted_anomalous):
    """One merge of the normal and the anomalous scores, each sorted ascending:
    a threshold and the figures at every distinct score.

    Candidate k flags every point whose score is <= the k-th smallest
    distinct score s_k; its threshold lies in (s_k, s_(k+1)]
    (`_threshold_between`; one ulp above the largest score for the last).
    Returns (thresholds, precision, recall, f1, best, best_tp, best_fp):
    `best` is the first candidate of strictly maximal F1, compared exactly in
    integers (F1 = 2 tp / (tp + fp + n_anomalies)), and best_tp, best_fp its
    counts.  At least one score must be given.
    """
    cdef Py_ssize_t n_normal = sorted_normal.shape[0], n_anomalies = sorted_anomalous.shape[0]
    cdef Py_ssize_t n = n_normal + n_anomalies
    cdef Py_ssize_t i = 0, k = 0, n_groups = 0, best = 0
    cdef int64_t tp = 0, fp = 0, best_num = -1, best_den = 1, best_tp = 0, best_fp = 0
    cdef float64_t value, previous = 0.0
    cdef float64_t[::1] thresholds, precision, recall, f1
    if n == 0:
        raise ValueError("f1_scan needs at least one score")
    thresholds = np.empty(n)
    # precision and recall hold each candidate's fp and tp until _scores_from_counts
    precision = np.empty(n)
    recall = np.empty(n)
    f1 = np.empty(n)
    with nogil:
        while i < n_normal or k < n_anomalies:
            if k < n_anomalies and (i == n_normal or sorted_anomalous[k] <= sorted_normal[i]):
                value = sorted_anomalous[k]
            else:
                value = sorted_normal[i]
            while i < n_normal and sorted_normal[i] == value:
                fp += 1
                i += 1
            while k < n_anomalies and sorted_anomalous[k] == value:
                tp += 1
                k += 1
            if n_groups:
                thresholds[n_groups - 1] = _threshold_between(previous, value)
            previous = value
            recall[n_groups] = <float64_t> tp
            precision[n_groups] = <float64_t> fp
            if _beats_best(tp, fp, n_anomalies, &best_num, &best_den):
                best, best_tp, best_fp = n_groups, tp, fp
            n_groups += 1
        thresholds[n_groups - 1] = _threshold_between(previous, nextafter(previous, INFINITY))
        _scores_from_counts(&precision[0], &recall[0], &f1[0], n_groups, n_anomalies)
    return (np.asarray(thresholds[:n_groups]), np.asarray(precision[:n_groups]),
            np.asarray(recall[:n_groups]), np.asarray(f1[:n_groups]), best, best_tp, best_fp)


# ---------------------------------------------------------------------------
# 5. Row priorities of the streaming row sample (gaussext._sample)
#
#   u_i = (floor(splitmix64(i) / 2^12) + 1/2) / 2^52,  i the row's number.
#
# A pure function of the row number, so which rows a sample keeps does not
# depend on chunking or order.  NumPy computes the same numbers in about ten
# passes over the rows; here it is one, a few nanoseconds a row.

cdef inline float64_t _row_uniform(uint64_t row) noexcept nogil:
    cdef uint64_t z = row + <uint64_t> 0x9E3779B97F4A7C15ULL
    z = (z ^ (z >> 30)) * <uint64_t> 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * <uint64_t> 0x94D049BB133111EBULL
    z = z ^ (z >> 31)
    # 52 bits and a half: exact in float64, in (0, 1), never 0 or 1
    return (<float64_t> (z >> 12) + 0.5) * 2.220446049250313e-16


def row_uniforms(int64_t first_row, float64_t[::1] out):
    """out[j] = u of row first_row + j (see above)."""
    cdef Py_ssize_t j
    with nogil:
        for j in range(out.shape[0]):
            out[j] = _row_uniform(<uint64_t> (first_row + j))


# The sample's storage: entries (row, row number, priority) at positions
# 0..size-1, in no order; once it holds more than its capacity, a cut keeps
# the capacity highest-ranked (priority descending, then row number
# ascending).  These two loops are its hot paths: offering a chunk's rows
# (one priority each, and a copy of the few above the floor) and compacting
# after a cut (the kept entries beyond the capacity fill the places of the
# dropped ones below it).

# Rows are offered in blocks: first every priority of the block and the
# positions of the candidates, without a branch (which a comparison with a
# random number mispredicts half the time), then the candidates' copies.
cdef enum:
    OFFER_BLOCK = 256


def sample_offer(const floating[:, :] X, int64_t first_row, float64_t floor,
                 floating[:, ::1] rows, int64_t[::1] index, float64_t[::1] keys,
                 Py_ssize_t size):
    """Append the rows of X whose u (row first_row + i) is >= floor to the
    storage from position `size`, until X or the storage ends.

    Returns (rows of X read, entries appended, the largest u below floor
    among the rows read, -inf when none was).  The caller checks that the
    storage holds X's features and that size <= its length.
    """
    cdef Py_ssize_t i, j, k, block_start = 0, block_stop, n_candidates
    cdef Py_ssize_t n_features = X.shape[1], end = keys.shape[0]
    cdef Py_ssize_t n_rows = X.shape[0], start = size
    cdef Py_ssize_t candidates[OFFER_BLOCK]
    cdef float64_t priorities[OFFER_BLOCK]
    cdef float64_t u, largest_below = -INFINITY
    cdef bint contiguous = X.strides[1] == sizeof(floating)
    with nogil:
        while block_start < n_rows and size < end:
            # never more candidates than places left
            block_stop = min(n_rows, block_start + OFFER_BLOCK, block_start + end - size)
            n_candidates = 0
            for i in range(block_start, block_stop):
                u = _row_uniform(<uint64_t> (first_row + i))
                priorities[i - block_start] = u
                candidates[n_candidates] = i
                n_candidates += u >= floor
                largest_below = max(largest_below, u if u < floor else -INFINITY)
            for k in range(n_candidates):
                i = candidates[k]
                if contiguous:
                    memcpy(&rows[size, 0], &X[i, 0], n_features * sizeof(floating))
                else:
                    for j in range(n_features):
                        rows[size, j] = X[i, j]
                index[size] = first_row + i
                keys[size] = priorities[i - block_start]
                size += 1
            block_start = block_stop
    return block_start, size - start, largest_below


cdef inline bint _kept(float64_t key, int64_t row, float64_t keep_key,
                       int64_t keep_row) noexcept nogil:
    return key > keep_key or (key == keep_key and row <= keep_row)


def sample_compact(floating[:, ::1] rows, int64_t[::1] index, float64_t[::1] keys,
                   Py_ssize_t size, Py_ssize_t capacity, float64_t keep_key,
                   int64_t keep_row):
    """Move the kept entries (key > keep_key, or key == keep_key and row
    number <= keep_row) among positions capacity..size-1 to the positions
    below capacity whose entries are not kept.  Returns the number moved.

    The cut must keep exactly `capacity` of the `size` entries; the caller
    checks size <= the storage's length.
    """
    cdef Py_ssize_t hole = 0, mover = capacity, moved = 0, j
    cdef Py_ssize_t n_features = rows.shape[1]
    with nogil:
        while True:
            while hole < capacity and _kept(keys[hole], index[hole], keep_key, keep_row):
                hole += 1
            while mover < size and not _kept(keys[mover], index[mover], keep_key, keep_row):
                mover += 1
            if hole == capacity or mover == size:
                break
            for j in range(n_features):
                rows[hole, j] = rows[mover, j]
            index[hole] = index[mover]
            keys[hole] = keys[mover]
            hole += 1
            mover += 1
            moved += 1
    return moved
