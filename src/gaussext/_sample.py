r"""A bounded, mergeable, deterministic sample of the rows of a stream.

Epsilon from `contamination` is a quantile of the training rows' scores under
the *final* model, which no running statistic can give.  A fit that sees its
rows once keeps instead a sample of at most `capacity` rows and scores them
when the model is final.

Which rows are kept depends only on their global row numbers, never on the
chunking, the order chunks arrive in, or any random state: row i gets the
priority

.. math::

    k_i = \frac{i}{h}\ln 2 - \ln E_i, \qquad E_i = -\ln u_i, \qquad
    u_i = \frac{\lfloor \mathrm{splitmix64}(i) / 2^{12} \rfloor + \tfrac12}{2^{52}}

(without forgetting, :math:`h = \infty`, the priority is :math:`u_i` itself,
which orders rows as :math:`-\ln E_i` does), and the sample is the
`capacity` rows of highest priority.  :math:`E_i` is an Exp(1) variable, so
with forgetting this is Efraimidis and Spirakis' weighted sampling without
replacement for the weights :math:`w_i = 2^{i/h}` of
:class:`~gaussext.GaussianStatistics` (written in logs, so no weight
overflows); without forgetting it is a uniform sample (bottom-k by a hash).
Merging two samples of disjoint rows keeps the top `capacity` of their union,
exactly the sample one pass over all rows keeps.  The sample also records
the highest priority it discarded, :math:`\tau`, from which a kept row's
inclusion probability is :math:`\pi_i = 1 - \exp(-w_i e^{-\tau})`; quantiles
weight each kept row by :math:`w_i / \pi_i` (Horvitz-Thompson), which makes
the weighted quantile consistent also when `capacity` is not small beside the
effective number of rows.

Error: without forgetting, the flagged share of the training rows has a
standard deviation of about :math:`\sqrt{q(1-q)/k}` around the
contamination q for a sample of k rows (0.00083 at q = 0.1 and k = 2^17),
and is exact while the stream holds at most k rows.  See
:func:`default_capacity` for k as a function of the number of features.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from gaussext import _kernels
from gaussext._threshold import contamination_quantile
from gaussext._validation import check_scalar

__all__ = ["MAX_ROWS", "MIN_ROWS", "SAMPLE_BYTES", "RowSample", "default_capacity",
           "row_priorities", "weighted_quantile"]

# The sample holds at most MAX_ROWS rows, and at most SAMPLE_BYTES of them
# (8 bytes a feature plus 16 of row number and priority), but never fewer
# than MIN_ROWS.  2^17 rows put the flagged share within 0.003 of
# contamination = 0.1 with 3.6 standard deviations to spare.
MAX_ROWS = 1 << 17
MIN_ROWS = 1 << 12
SAMPLE_BYTES = 1 << 25  # 32 MiB kept; with the rows entering, at most twice that
_LN2 = math.log(2.0)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def default_capacity(n_features: int) -> int:
    r"""Rows a sample keeps for data of `n_features` features.

    :math:`k = \min(2^{17}, \max(2^{12}, \lfloor 2^{25} / (8 (d + 2)) \rfloor))`:
    2^17 rows up to d = 30, then 32 MiB of rows, but never fewer than 4096
    (so above d = 1022 the sample takes more than 32 MiB: 8 (d + 2) 4096
    bytes).  The standard deviation of the flagged share is about
    :math:`\sqrt{q(1-q)/k}`: 0.00083 at q = 0.1 for d <= 30, 0.0017 at
    d = 126, 0.0047 from d = 1022 on.
    """
    by_bytes = SAMPLE_BYTES // (8 * (n_features + 2))
    return int(min(MAX_ROWS, max(MIN_ROWS, by_bytes)))


_MASK = (1 << 64) - 1


def _splitmix64(i):
    """splitmix64 of one row number, in Python integers (for tiny chunks,
    where NumPy's per-call cost dominates)."""
    z = (i + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _bits(index):
    """The top 52 bits of splitmix64 of the row numbers, uint64 (the
    arithmetic wraps, as splitmix64's does; in place, no temporaries)."""
    if index.shape[0] <= 4:
        return np.array([_splitmix64(int(i)) >> 12 for i in index], dtype=np.uint64)
    z = index.astype(np.uint64)
    z += _GOLDEN
    z ^= z >> np.uint64(30)
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    z >>= np.uint64(12)
    return z


def _uniform_from_bits(bits):
    # 52 bits and a half: the largest, 1 - 2^-53, is below 1.0, so E_i > 0
    u = bits.astype(np.float64)
    u += 0.5
    u *= 2.0 ** -52
    return u


def _uniform(index):
    """u_i in (0, 1) from splitmix64 of the row numbers."""
    return _uniform_from_bits(_bits(index))


def row_priorities(index: np.ndarray, half_life: float | None) -> np.ndarray:
    """Priorities of the rows numbered `index` (int64), as the module describes."""
    if index.shape[0] > 4 and index[-1] - index[0] == index.shape[0] - 1 and np.all(
            np.diff(index) == 1):
        u = np.empty(index.shape[0])  # consecutive rows: one pass in C
        _kernels.row_uniforms(int(index[0]), u)
    else:
        u = _uniform(index)
    if half_life is None:
        return u
    with np.errstate(divide="ignore"):
        return index * (_LN2 / half_life) - np.log(-np.log(u))


def log_inclusion_weights(index, threshold, half_life):
    r"""log of each kept row's Horvitz-Thompson weight :math:`w_i / \pi_i`,
    up to a constant: :math:`\pi_i = 1 - \exp(-\exp(\ln w_i - \tau))`."""
    log_weight = index * (_LN2 / half_life)
    if threshold == -np.inf:  # nothing discarded: every row kept for sure
        return log_weight
    with np.errstate(over="ignore", under="ignore"):
        inclusion = -np.expm1(-np.exp(log_weight - threshold))
    return log_weight - np.log(inclusion)


def weighted_quantile(values: np.ndarray, log_weights: np.ndarray, q: float) -> float:
    r"""The q-quantile of `values` under weights :math:`\exp(\text{log\_weights})`.

    Sorted values :math:`v_0 \le \dots \le v_{m-1}` with weights
    :math:`w_j` sit at the plotting positions
    :math:`p_j = (S_j + w_j/2 - w_0/2) / (W - w_0/2 - w_{m-1}/2)`
    (:math:`S_j` the weight before :math:`v_j`, W the total) and the
    quantile interpolates linearly between them; with equal weights
    :math:`p_j = j / (m - 1)`, NumPy's default (linear) quantile.
    """
    if values.shape[0] == 1:
        return float(values[0])
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    weights = np.exp(log_weights - log_weights.max())[order]
    before = np.cumsum(weights) - weights
    total = before[-1] + weights[-1]
    positions = (before + 0.5 * weights - 0.5 * weights[0]) / (
        total - 0.5 * weights[0] - 0.5 * weights[-1])
    j = int(np.searchsorted(positions, q, side="right")) - 1
    j = min(max(j, 0), values.shape[0] - 2)
    low, high = float(sorted_values[j]), float(sorted_values[j + 1])
    width = positions[j + 1] - positions[j]
    fraction = min(max((q - positions[j]) / width, 0.0), 1.0) if width > 0 else 0.0
    if fraction == 0.0 or low == high or low == -np.inf:
        return low
    return low + (high - low) * fraction


class RowSample:
    """The rows of highest priority seen so far (see the module), at most
    `capacity` of them, with their row numbers; stored as float32 while every
    row offered was float32, else as float64.

    The storage has room for ``2 * capacity`` entries.  Offered
    rows whose priority reaches the floor (the lowest priority kept at the
    last cut) are appended; when the storage is full, one cut (a partial sort
    of the priorities) keeps the `capacity` highest-ranked entries, priority
    descending and then row number ascending, and the entering rows move
    into the places of the leaving ones, in place.  So a row costs O(1)
    amortised (a cut every `capacity` rows that enter, at most), and the
    memory is at most ``2 * capacity`` rows of
    ``itemsize * n_features + 16`` bytes.  Offering rows without forgetting
    (their priorities, the comparison and the copy) is one compiled loop.

    Reading (``len``, `threshold`, :meth:`view`, :meth:`scores`,
    :meth:`quantile`) never writes: a storage holding more than `capacity`
    entries is read through the cut it would make.  Copies share the
    storage until either writes (only the sample that owns it appends to it
    in place, and a cut of shared storage first copies it).

    Parameters
    ----------
    n_features : int
    half_life : float or None
        Rows, as :class:`~gaussext.GaussianStatistics` takes it.
    capacity : int or None
        None: :func:`default_capacity` of `n_features`.
    """

    def __init__(self, n_features: int, half_life: float | None = None,
                 capacity: int | None = None) -> None:
        if capacity is None:
            capacity = default_capacity(n_features)
        check_scalar(capacity, "capacity", kind=numbers.Integral, low=1)
        self.n_features, self.half_life, self.capacity = n_features, half_life, int(capacity)
        # Entries (row, row number, priority) at positions 0.._size-1 of the
        # storage, in no order.  float32 while every row offered was float32
        # (scored then as the in-memory fit scores float32 rows), float64 from
        # any other row on.
        self._rows = np.empty((0, n_features), dtype=np.float32)
        self._index = np.empty(0, dtype=np.int64)
        self._keys = np.empty(0)
        self._size = 0
        # Rows of lower priority can never enter: the lowest kept at the last cut
        self._floor = -np.inf
        # The highest priority discarded so far (a pending cut's not included)
        self._threshold = -np.inf
        # True while a copy reads the storage: the next cut writes to new arrays
        self._shared = False
        # False for a copy: its storage belongs to the sample it was taken
        # from, which may append to it; it copies before any write of its own
        self._owns = True

    @property
    def _allocation(self):
        return 2 * self.capacity

    def __len__(self) -> int:
        return min(self._size, self.capacity)

    @property
    def threshold(self) -> float:
        """Highest priority of a row left out, -inf while every row is kept."""
        return max(self._threshold, self._cut()[2])

    # Bumped before and after every change (odd while one is under way): a
    # reader that saw the same even version before and after reading read a
    # consistent sample (see GaussianAnomalyDetector's pending epsilon).
    _version = 0

    @property
    def version(self) -> int:
        """A count of changes, odd while one is under way."""
        return self._version

    def add(self, X: np.ndarray, first_row: int) -> None:
        """Offer the rows of X (finite, 2-D), numbered first_row, first_row + 1, ..."""
        if X.shape[0] == 0:
            return
        self._version += 1
        try:
            self._add(X, first_row)
        finally:
            self._version += 1

    def _add(self, X, first_row):
        if X.dtype != self._rows.dtype:
            if self._rows.dtype == np.float32:
                self._promote()
            else:
                X = X.astype(np.float64)
        if self.half_life is None:
            # priorities, comparison with the floor and copies in one compiled pass
            read = 0
            while read < X.shape[0]:
                self._make_room()
                consumed, added, largest_below = _kernels.sample_offer(
                    X[read:], first_row + read, self._floor, self._rows, self._index,
                    self._keys, self._size)
                self._size += added
                self._threshold = max(self._threshold, largest_below)
                read += consumed
            return
        index = np.arange(first_row, first_row + X.shape[0], dtype=np.int64)
        keys = row_priorities(index, self.half_life)
        candidates = keys >= self._floor
        if not candidates.all():
            self._threshold = max(self._threshold, float(keys[~candidates].max()))
            X, index, keys = X[candidates], index[candidates], keys[candidates]
        self._append(X, index, keys)

    def _append(self, rows, index, keys):
        """Store entries (rows of the storage's dtype), cutting as the storage fills."""
        start = 0
        while start < keys.shape[0]:
            self._make_room()
            stop = min(keys.shape[0], start + self._rows.shape[0] - self._size)
            end = self._size + stop - start
            self._rows[self._size:end] = rows[start:stop]
            self._index[self._size:end] = index[start:stop]
            self._keys[self._size:end] = keys[start:stop]
            self._size, start = end, stop

    def _make_room(self):
        """Own storage of the full allocation, with at least one free place."""
        if not self._owns or self._rows.shape[0] < self._allocation:
            # np.empty touches no page: memory is used only as rows are written
            self._copy_storage()
        if self._size == self._rows.shape[0]:
            self._cut_in_place()

    def _promote(self):
        """Hold the rows as float64 from now on (exact: float32 widens losslessly)."""
        self._copy_storage(dtype=np.float64)

    def _copy_storage(self, dtype=None):
        """Move the stored entries to new arrays of the full allocation, owned by self."""
        size = max(self._allocation, self._size)
        rows = np.empty((size, self.n_features), dtype=dtype or self._rows.dtype)
        index, keys = np.empty(size, dtype=np.int64), np.empty(size)
        n = self._size
        rows[:n], index[:n], keys[:n] = self._rows[:n], self._index[:n], self._keys[:n]
        self._rows, self._index, self._keys = rows, index, keys
        self._shared, self._owns = False, True

    def _cut(self):
        """(keep_key, keep_row, largest dropped priority) of the cut keeping the
        `capacity` highest-ranked stored entries: an entry is kept when its
        priority is above keep_key, or equal to it with a row number at most
        keep_row.  (None, None, -inf) when every entry is kept."""
        n_drop = self._size - self.capacity
        if n_drop <= 0:
            return None, None, -np.inf
        keys = self._keys[:self._size]
        ordered = np.partition(keys, n_drop)
        keep_key, largest_dropped = float(ordered[n_drop]), float(ordered[:n_drop].max())
        keep_row = np.iinfo(np.int64).max
        if largest_dropped == keep_key:  # a tie at the cut: the lower row numbers stay
            n_tied_kept = self.capacity - int(np.count_nonzero(keys > keep_key))
            tied = self._index[:self._size][keys == keep_key]
            keep_row = int(np.partition(tied, n_tied_kept - 1)[n_tied_kept - 1])
        return keep_key, keep_row, largest_dropped

    def _kept(self):
        """(positions of the kept entries among the stored ones, a slice or a
        mask; the threshold), read only."""
        keep_key, keep_row, largest_dropped = self._cut()
        threshold = max(self._threshold, largest_dropped)
        if keep_key is None:
            return slice(0, self._size), threshold
        keys, index = self._keys[:self._size], self._index[:self._size]
        return (keys > keep_key) | ((keys == keep_key) & (index <= keep_row)), threshold

    def _cut_in_place(self):
        keep_key, keep_row, largest_dropped = self._cut()
        if keep_key is None:
            return
        if self._shared or not self._owns:
            self._copy_storage()
        _kernels.sample_compact(self._rows, self._index, self._keys, self._size,
                                self.capacity, keep_key, keep_row)
        self._size = self.capacity
        self._floor = keep_key
        self._threshold = max(self._threshold, largest_dropped)

    def view(self):
        """(rows, row numbers, threshold) of the kept rows, in row order: new arrays."""
        kept, threshold = self._kept()
        rows, index = self._rows[:self._size][kept], self._index[:self._size][kept]
        order = np.argsort(index, kind="stable")
        return rows[order], index[order], threshold

    def scores(self, log_density, block_rows=65536):
        """(log_density of the kept rows, their row numbers, the threshold), in
        the order the sample stores them (a quantile needs no order): the
        stored rows are scored in place, block by block, and the kept ones
        taken."""
        n = self._size
        scores = np.empty(n)
        for start in range(0, n, block_rows):
            stop = min(start + block_rows, n)
            scores[start:stop] = log_density(self._rows[start:stop])
        kept, threshold = self._kept()
        return scores[kept], np.array(self._index[:n][kept]), threshold

    def copy(self) -> RowSample:
        """An independent sample of the same content, in O(1): the storage is
        shared until either writes."""
        result = RowSample(self.n_features, self.half_life, self.capacity)
        result._rows, result._index, result._keys = self._rows, self._index, self._keys
        result._size, result._floor = self._size, self._floor
        result._threshold = self._threshold
        self._shared, result._shared, result._owns = True, True, False
        return result

    def merge(self, other: RowSample) -> RowSample:
        """The sample of the union of two samples' (disjoint) rows, a new object."""
        if (other.n_features, other.half_life, other.capacity) != (
                self.n_features, self.half_life, self.capacity):
            raise ValueError(
                "cannot merge row samples of different features, half-life or capacity: "
                f"({self.n_features}, {self.half_life}, {self.capacity}) and "
                f"({other.n_features}, {other.half_life}, {other.capacity})")
        kept, threshold = other._kept()
        rows = other._rows[:other._size][kept]
        index, keys = other._index[:other._size][kept], other._keys[:other._size][kept]
        if np.intersect1d(self._index[:self._size], index).size:
            raise ValueError("the row samples share row numbers: merge parts of disjoint rows "
                             "(give each part its first_row)")
        result = self.copy()
        if rows.dtype != result._rows.dtype:
            if result._rows.dtype == np.float32:
                result._promote()
            else:
                rows = rows.astype(np.float64)
        result._threshold = max(result._threshold, threshold)
        result._append(rows, index, keys)
        return result

    @classmethod
    def from_arrays(cls, rows, index, threshold, half_life, capacity):
        """A sample from stored arrays (rows (m, d) float64 or float32, m at
        most `capacity`, increasing int64 row numbers); the priorities are
        recomputed from the row numbers."""
        result = cls(rows.shape[1], half_life, capacity)
        result._rows = np.ascontiguousarray(
            rows, dtype=np.float32 if rows.dtype == np.float32 else np.float64)
        result._index = np.ascontiguousarray(index, dtype=np.int64)
        result._keys = row_priorities(result._index, half_life)
        result._size = result._index.shape[0]
        # the arrays may be the caller's: copied before any write
        result._shared, result._owns = True, False
        if result._size == result.capacity:
            result._floor = float(result._keys.min())
        result._threshold = float(threshold)
        return result

    def quantile(self, log_density, q: float) -> float:
        """The q-quantile of the kept rows' scores ``log_density(rows)``,
        weighted as the module describes (unweighted without forgetting)."""
        scores, index, threshold = self.scores(log_density)
        return sample_quantile(scores, index, threshold, self.half_life, q)


def sample_quantile(scores, index, threshold, half_life, q):
    """The q-quantile of the scores of rows numbered `index` of a sample whose
    highest discarded priority is `threshold`."""
    if half_life is None:  # equal weights: the exact quantile of an in-memory fit
        return contamination_quantile(scores, q)
    return weighted_quantile(scores, log_inclusion_weights(index, threshold, half_life), q)
