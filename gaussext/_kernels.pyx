"""Typed kernels of gaussext.

Every function here trusts its caller: shapes agree, arrays are non-empty,
values are finite, variances are positive, output arrays are allocated and
C-contiguous.  The public Python layer (`gaussext._estimator`,
`gaussext._threshold`) proves all of that before calling in.  Inputs are
`const` memoryviews so read-only and memory-mapped arrays are accepted; any
memory layout is read in place (no copy of X), and float32 input is widened to
float64 element by element, never as a whole array.
"""

from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.math cimport log

import numpy as np

from gaussext._blas cimport (
    LEFT, LOWER, NO_TRANSPOSE, NON_UNIT, TRANSPOSE, UPPER, _potrf, _syrk, _trsm,
)
from gaussext._openmp cimport GAUSSEXT_OPENMP_ENABLED, omp_get_max_threads
from gaussext._typedefs cimport blas_int, float64_t, int64_t, uint8_t

# Rows handled per task.  The full model keeps a float64 block of
# rows x features per thread; ~128 KiB keeps it in a core's L2 cache.
cdef Py_ssize_t BLOCK_ELEMENTS = 16384
cdef Py_ssize_t DIAGONAL_BLOCK_ROWS = 2048


def openmp_enabled():
    """True when this build runs its kernels over OpenMP threads."""
    return bool(GAUSSEXT_OPENMP_ENABLED)


def max_threads():
    """OpenMP's default team size (1 when built without OpenMP)."""
    return omp_get_max_threads()


def full_block_rows(Py_ssize_t n_features):
    """Rows per block in the full-covariance kernel, for `n_features`."""
    return max(1, BLOCK_ELEMENTS // max(1, n_features))


# ---------------------------------------------------------------------------
# 1. Diagonal log-density
#
#   log p(x_i) = log_norm - 1/2 sum_j ((x_ij - mu_j) * inv_std_j)^2,
#   log_norm   = -1/2 sum_j log(2 pi var_j).

cdef inline void _diagonal_block(
    const floating[:, :] X, const float64_t[::1] mean,
    const float64_t[::1] inv_std, float64_t log_norm,
    float64_t[::1] out, Py_ssize_t start, Py_ssize_t stop,
) noexcept nogil:
    cdef Py_ssize_t i, j, n_features = X.shape[1]
    cdef float64_t z, acc
    if X.strides[1] <= X.strides[0]:
        # row-major: one row at a time, features contiguous
        for i in range(start, stop):
            acc = 0.0
            for j in range(n_features):
                z = (<float64_t> X[i, j] - mean[j]) * inv_std[j]
                acc += z * z
            out[i] = log_norm - 0.5 * acc
    else:
        # column-major: walk each column over the block, accumulating in out
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
    """Fill out[i] with the diagonal-Gaussian log-density of row i of X."""
    cdef Py_ssize_t n_samples = X.shape[0]
    cdef Py_ssize_t n_blocks = (n_samples + DIAGONAL_BLOCK_ROWS - 1) // DIAGONAL_BLOCK_ROWS
    cdef Py_ssize_t block, start, stop
    with nogil:
        for block in prange(n_blocks, schedule="static", num_threads=n_threads):
            start = block * DIAGONAL_BLOCK_ROWS
            stop = min(start + DIAGONAL_BLOCK_ROWS, n_samples)
            _diagonal_block(X, mean, inv_std, log_norm, out, start, stop)


# ---------------------------------------------------------------------------
# 2. Full-covariance log-density over a precomputed Cholesky factor
#
#   Sigma = L L^T,  z = L^-1 (x - mu),  log p(x) = log_norm - 1/2 |z|^2,
#   log_norm = -1/2 (d log 2 pi + log det Sigma),  log det Sigma = 2 sum log L_jj.

cdef inline void _full_block(
    const floating[:, :] X, const float64_t[::1] mean,
    const float64_t[:, ::1] cholesky_factor, float64_t log_norm,
    float64_t[::1] out, Py_ssize_t start, Py_ssize_t stop,
    float64_t *residual,
) noexcept nogil:
    cdef Py_ssize_t i, j, n_features = X.shape[1], n_rows = stop - start
    cdef float64_t *row
    cdef float64_t acc
    for i in range(n_rows):
        row = residual + i * n_features
        for j in range(n_features):
            row[j] = <float64_t> X[start + i, j] - mean[j]
    # `residual` is n_rows x d row-major, i.e. d x n_rows column-major, one
    # residual per column.  The row-major lower factor L reads column-major as
    # U = L^T, so solving L Z = R is U^T Z = R: upper triangle, transposed.
    _trsm(LEFT, UPPER, TRANSPOSE, NON_UNIT, <blas_int> n_features, <blas_int> n_rows, 1.0,
          &cholesky_factor[0, 0], <blas_int> n_features,
          residual, <blas_int> n_features)
    for i in range(n_rows):
        row = residual + i * n_features
        acc = 0.0
        for j in range(n_features):
            acc += row[j] * row[j]
        out[start + i] = log_norm - 0.5 * acc


def full_log_density(
    const floating[:, :] X, const float64_t[::1] mean,
    const float64_t[:, ::1] cholesky_factor, float64_t log_norm,
    float64_t[::1] out, float64_t[:, ::1] workspace, int n_threads,
):
    """Fill out[i] with the full-Gaussian log-density of row i of X.

    `workspace` holds one block of residuals per thread:
    shape (n_threads, full_block_rows(d) * d), float64.
    """
    cdef Py_ssize_t n_samples = X.shape[0], n_features = X.shape[1]
    cdef Py_ssize_t block_rows = full_block_rows(n_features)
    cdef Py_ssize_t n_blocks = (n_samples + block_rows - 1) // block_rows
    cdef Py_ssize_t block, start, stop
    with nogil, parallel(num_threads=n_threads):
        for block in prange(n_blocks, schedule="static"):
            start = block * block_rows
            stop = min(start + block_rows, n_samples)
            _full_block(X, mean, cholesky_factor, log_norm, out, start, stop,
                        &workspace[threadid(), 0])


# ---------------------------------------------------------------------------
# 3. Fit statistics: mean, then centred second moments, accumulated in float64.
#
# Two passes: the mean, then squares of deviations from it.  The deviations'
# own sum (zero in exact arithmetic) corrects the second pass for the rounding
# of the mean (the "corrected two-pass" algorithm of Chan, Golub and LeVeque).

cdef void _column_sums(const floating[:, :] X, float64_t[::1] sums) noexcept nogil:
    cdef Py_ssize_t i, j
    for j in range(X.shape[1]):
        sums[j] = 0.0
    if X.strides[1] <= X.strides[0]:
        for i in range(X.shape[0]):
            for j in range(X.shape[1]):
                sums[j] += X[i, j]
    else:
        for j in range(X.shape[1]):
            for i in range(X.shape[0]):
                sums[j] += X[i, j]


def diagonal_statistics(const floating[:, :] X, float64_t[::1] mean,
                        float64_t[::1] sum_squares):
    """Fill mean[j] and sum_squares[j] = sum_i (x_ij - mean_j)^2."""
    cdef Py_ssize_t i, j, n_samples = X.shape[0], n_features = X.shape[1]
    cdef float64_t deviation
    cdef float64_t[::1] deviation_sum = np.zeros(n_features)
    with nogil:
        _column_sums(X, mean)
        for j in range(n_features):
            mean[j] /= n_samples
            sum_squares[j] = 0.0
        if X.strides[1] <= X.strides[0]:
            for i in range(n_samples):
                for j in range(n_features):
                    deviation = <float64_t> X[i, j] - mean[j]
                    deviation_sum[j] += deviation
                    sum_squares[j] += deviation * deviation
        else:
            for j in range(n_features):
                for i in range(n_samples):
                    deviation = <float64_t> X[i, j] - mean[j]
                    deviation_sum[j] += deviation
                    sum_squares[j] += deviation * deviation
        for j in range(n_features):
            sum_squares[j] -= deviation_sum[j] * deviation_sum[j] / n_samples


def full_statistics(const floating[:, :] X, float64_t[::1] mean,
                    float64_t[:, ::1] scatter):
    """Fill mean[j] and the scatter matrix sum_i (x_i - mean)(x_i - mean)^T.

    Residuals are gathered block by block into a float64 buffer and
    accumulated with one symmetric rank-k update (syrk) per block.
    """
    cdef Py_ssize_t i, j, k, n_samples = X.shape[0], n_features = X.shape[1]
    cdef Py_ssize_t block_rows = full_block_rows(n_features)
    cdef Py_ssize_t block, start, n_rows
    cdef float64_t[::1] residual = np.empty(block_rows * n_features)
    cdef float64_t[::1] deviation_sum = np.zeros(n_features)
    cdef float64_t *row
    with nogil:
        _column_sums(X, mean)
        for j in range(n_features):
            mean[j] /= n_samples
        for i in range(n_features):
            for j in range(n_features):
                scatter[i, j] = 0.0
        for block in range((n_samples + block_rows - 1) // block_rows):
            start = block * block_rows
            n_rows = min(block_rows, n_samples - start)
            for i in range(n_rows):
                row = &residual[i * n_features]
                for j in range(n_features):
                    row[j] = <float64_t> X[start + i, j] - mean[j]
                    deviation_sum[j] += row[j]
            # residual: d x n_rows column-major; scatter += R R^T, filling the
            # column-major lower triangle (the row-major upper one).
            _syrk(LOWER, NO_TRANSPOSE, <blas_int> n_features, <blas_int> n_rows, 1.0,
                  &residual[0], <blas_int> n_features, 1.0,
                  &scatter[0, 0], <blas_int> n_features)
        for i in range(n_features):
            for j in range(i, n_features):
                scatter[i, j] -= deviation_sum[i] * deviation_sum[j] / n_samples
                scatter[j, i] = scatter[i, j]


def cholesky_lower(const float64_t[:, ::1] matrix):
    """Return (L, info): the row-major lower Cholesky factor of a symmetric
    positive-definite matrix, and LAPACK potrf's info (0 on success, k > 0 when
    the leading minor of order k is not positive definite)."""
    cdef Py_ssize_t i, j, n = matrix.shape[0]
    cdef float64_t[:, ::1] factor = np.array(matrix, dtype=np.float64, order="C")
    cdef blas_int info
    with nogil:
        # Row-major lower is column-major upper: factor A = U^T U with U = L^T.
        info = _potrf(UPPER, <blas_int> n, &factor[0, 0], <blas_int> n)
        for i in range(n):
            for j in range(i + 1, n):
                factor[i, j] = 0.0
    return np.asarray(factor), int(info)


# ---------------------------------------------------------------------------
# 4. Threshold scans over scores sorted in ascending order.

def f1_scan(const float64_t[::1] sorted_scores, const uint8_t[::1] sorted_labels):
    """One pass over sorted scores: counts and F1 at every distinct threshold.

    Candidate k flags every point whose score is <= the k-th distinct score.
    Returns (group_end, true_positives, false_positives, precision, recall,
    f1, best): group_end[k] is the index one past the last point of the k-th
    distinct score; `best` is the first candidate of strictly maximal F1,
    compared exactly in integers (F1 = 2 tp / (tp + fp + n_anomalies)).
    """
    cdef Py_ssize_t n = sorted_scores.shape[0]
    cdef Py_ssize_t i, n_groups = 0, best = 0
    cdef int64_t tp = 0, fp = 0, n_anomalies = 0
    cdef int64_t best_num = -1, best_den = 1, num, den
    cdef int64_t[::1] group_end = np.empty(n, dtype=np.int64)
    cdef int64_t[::1] true_positives = np.empty(n, dtype=np.int64)
    cdef int64_t[::1] false_positives = np.empty(n, dtype=np.int64)
    cdef float64_t[::1] precision = np.empty(n)
    cdef float64_t[::1] recall = np.empty(n)
    cdef float64_t[::1] f1 = np.empty(n)
    with nogil:
        for i in range(n):
            n_anomalies += sorted_labels[i]
        for i in range(n):
            if sorted_labels[i]:
                tp += 1
            else:
                fp += 1
            if i + 1 < n and sorted_scores[i + 1] == sorted_scores[i]:
                continue
            group_end[n_groups] = i + 1
            true_positives[n_groups] = tp
            false_positives[n_groups] = fp
            precision[n_groups] = <float64_t> tp / (tp + fp)
            recall[n_groups] = <float64_t> tp / n_anomalies
            num = 2 * tp
            den = tp + fp + n_anomalies
            f1[n_groups] = <float64_t> num / den
            # num / den > best_num / best_den, exactly
            if num * best_den > best_num * den:
                best_num = num
                best_den = den
                best = n_groups
            n_groups += 1
    return (np.asarray(group_end[:n_groups]), np.asarray(true_positives[:n_groups]),
            np.asarray(false_positives[:n_groups]), np.asarray(precision[:n_groups]),
            np.asarray(recall[:n_groups]), np.asarray(f1[:n_groups]), best)


def grid_counts(const float64_t[::1] sorted_values, const uint8_t[::1] sorted_labels,
                const float64_t[::1] ascending_thresholds):
    """Counts of (anomalous, normal) points with value < t for each threshold t,
    by one merge of two ascending sequences.  Returns (tp, fp), int64."""
    cdef Py_ssize_t n = sorted_values.shape[0], n_thresholds = ascending_thresholds.shape[0]
    cdef Py_ssize_t i = 0, k
    cdef int64_t tp = 0, fp = 0
    cdef int64_t[::1] true_positives = np.empty(n_thresholds, dtype=np.int64)
    cdef int64_t[::1] false_positives = np.empty(n_thresholds, dtype=np.int64)
    with nogil:
        for k in range(n_thresholds):
            while i < n and sorted_values[i] < ascending_thresholds[k]:
                if sorted_labels[i]:
                    tp += 1
                else:
                    fp += 1
                i += 1
            true_positives[k] = tp
            false_positives[k] = fp
    return np.asarray(true_positives), np.asarray(false_positives)
