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
SAMPLE_BYTES = 1 << 25  # 32 MiB kept; with the insertion buffer at most twice that
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


def _likely_floor(n, capacity):
    """A floor on u above which n rows almost surely hold more than
    `capacity` (6 standard deviations to spare): -inf (all rows) unless n is
    well beyond capacity."""
    share = (capacity + 6.0 * math.sqrt(capacity) + 64.0) / n
    return -np.inf if share >= 0.5 else 1.0 - share


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


def _top(keys, index, capacity):
    """Positions of the `capacity` highest keys, ties to the lower row number,
    and the highest key left out (-inf when none is)."""
    n = keys.shape[0]
    if n <= capacity:
        return np.arange(n), -np.inf
    order = np.argpartition(keys, n - capacity)
    kept, dropped = order[n - capacity:], order[:n - capacity]
    boundary = keys[kept].min()
    left_out = keys[dropped].max()
    if left_out == boundary:  # a tie at the cut: decide it by row number, not by position
        order = np.lexsort((index, -keys))
        kept, dropped = order[:capacity], order[capacity:]
        left_out = keys[dropped].max()
    return kept, float(left_out)


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

    New rows go to an insertion buffer of a quarter of the capacity, merged
    into the sample when it fills, so a one-row update costs O(1) amortised;
    once the sample is full a row whose priority is below its lowest is
    discarded at once.  Rows entering the sample take the places of those
    leaving it, in place (unless a snapshot still reads the arrays), so the
    memory is the sample and the buffer, about ``1.25 * capacity`` rows of
    ``itemsize * n_features + 16`` bytes, plus at most one chunk's
    candidates while they are merged.

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
        # The sample proper: the first _size entries of the storage arrays, in
        # no particular order.  float32 while every row offered was float32
        # (scored then as the in-memory fit scores float32 rows), float64 from
        # any other row on.
        self._rows = np.empty((0, n_features), dtype=np.float32)
        self._index = np.empty(0, dtype=np.int64)
        self._keys = np.empty(0)
        self._size = 0
        self._floor = -np.inf  # lowest priority kept, once the sample is full
        self._threshold = -np.inf  # highest priority discarded
        # True while a snapshot (frozen, copy) reads the storage: the next
        # compaction then writes to new arrays
        self._shared = False
        # False for a snapshot: its storage belongs to the sample it was taken
        # from, which may append to it; it copies before any write of its own
        self._owns = True
        # the insertion buffer: only its first _n_buffered rows are meaningful;
        # rows are written after them, never over them, so a snapshot of
        # (arrays, count) taken earlier stays valid
        self._buffer = None
        self._n_buffered = 0

    def __len__(self) -> int:
        self.compact()
        return self._size

    @property
    def threshold(self) -> float:
        """Highest priority of a row left out, -inf while every row is kept."""
        self.compact()
        return self._threshold

    # Bumped before and after every change (odd while one is under way): a
    # reader that saw the same even version before and after reading read a
    # consistent sample (see GaussianAnomalyDetector's pending epsilon).
    _version = 0

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
        n = X.shape[0]
        if X.dtype != self._rows.dtype and self._rows.dtype == np.float32:
            self._promote()
        if self.half_life is None:
            # u orders rows as their priorities do: one pass in C, then only
            # the rows above the sample's lowest kept priority (or, for a chunk
            # far larger than the room left, above a floor almost surely below
            # its top rows) are taken
            u = np.empty(n)
            _kernels.row_uniforms(first_row, u)
            floor = self._floor if self._size == self.capacity else _likely_floor(
                n, self.capacity)
            # `pick`: the rows of X still candidates (None: all); X itself is
            # gathered once, where the rows are finally written
            keys, index, pick = u, None, None
            if floor > -np.inf:
                above = u > floor
                positions = np.flatnonzero(above)
                if positions.shape[0] >= min(n, self.capacity) or self._size == self.capacity:
                    if positions.shape[0] < n:
                        if positions.shape[0] <= self.capacity or self._size == self.capacity:
                            # else the chunk's own cut below leaves out a candidate,
                            # which is above every row under the floor
                            self._threshold = max(self._threshold, float(
                                np.where(above, -np.inf, u).max()))
                        keys, pick = u[positions], positions
                    index = positions + first_row
                # else: fewer rows above the estimated floor than the chunk must
                # offer (about 6 standard deviations away): all are candidates
            if index is None:
                index = np.arange(first_row, first_row + n, dtype=np.int64)
        else:
            index = np.arange(first_row, first_row + n, dtype=np.int64)
            keys, pick = row_priorities(index, self.half_life), None
        if self._size == self.capacity and self.half_life is not None:
            # below the sample's lowest priority a row can never enter it
            candidates = keys > self._floor
            if not candidates.all():
                self._threshold = max(self._threshold, float(keys[~candidates].max()))
                pick = np.flatnonzero(candidates)
                index, keys = index[pick], keys[pick]
        if keys.shape[0] > self.capacity:  # a large chunk: its own top rows first
            kept, left_out = _top(keys, index, self.capacity)
            kept.sort()
            self._threshold = max(self._threshold, left_out)
            index, keys = index[kept], keys[kept]
            pick = kept if pick is None else pick[kept]
        m = keys.shape[0]
        if m == 0:
            return
        if self._n_buffered == 0 and self._size + m <= self.capacity:
            # filling: every row is kept, appended where it will stay
            end = self._size + m
            self._storage_for(end, overwrite=False)
            if pick is None:
                self._rows[self._size:end] = X
            elif X.dtype == self._rows.dtype:  # gathered straight into place
                np.take(X, pick, axis=0, out=self._rows[self._size:end])
            else:
                self._rows[self._size:end] = X[pick]
            self._index[self._size:end] = index
            self._keys[self._size:end] = keys
            self._size = end
            if end == self.capacity:
                self._floor = float(self._keys[:end].min())
            return
        if pick is not None:
            X = X[pick]
        if self._buffer is None or self._n_buffered + m > self._buffer[0].shape[0]:
            if self._n_buffered + m > self._buffer_limit:
                self._compact_with(X, index, keys)
                return
            self._grow(self._n_buffered + m)
        rows, buffered_index, buffered_keys = self._buffer
        end = self._n_buffered + m
        rows[self._n_buffered:end] = X
        buffered_index[self._n_buffered:end] = index
        buffered_keys[self._n_buffered:end] = keys
        self._n_buffered = end

    @property
    def _buffer_limit(self):
        # a quarter of the sample: compactions stay rare (each costs
        # O(capacity)) while the buffer adds little to the sample's memory
        return max(self.capacity // 4, 1)

    def _promote(self):
        """Hold the rows as float64 from now on (exact: float32 widens losslessly).
        Only the meaningful entries are converted (the rest is unwritten memory)."""
        self._copy_storage(max(self._rows.shape[0], 1), dtype=np.float64)
        if self._buffer is not None:
            rows, index, keys = self._buffer
            widened = np.empty(rows.shape, dtype=np.float64)
            widened[:self._n_buffered] = rows[:self._n_buffered]
            self._buffer = (widened, index, keys)

    def _grow(self, needed):
        size = self._buffer_limit  # untouched pages cost no memory (see _storage_for)
        rows = np.empty((size, self.n_features), dtype=self._rows.dtype)
        index = np.empty(size, dtype=np.int64)
        keys = np.empty(size)
        if self._buffer is not None:
            n = self._n_buffered
            rows[:n], index[:n], keys[:n] = (part[:n] for part in self._buffer)
        self._buffer = (rows, index, keys)

    def _storage_for(self, size, overwrite=True):
        """Make the storage hold `size` entries and be writable: entries
        beyond _size only (overwrite=False), or any (overwrite=True).

        Snapshots (frozen, copy, view) read the first entries of the
        storage as it was: the sample that owns the storage may append
        after them, but not overwrite them nor move them (resize), so
        then it writes to new arrays; a snapshot never writes to it."""
        allocated = self._rows.shape[0]
        if not self._owns or (overwrite and self._shared):
            new = max(size, allocated) if self._owns else size
            self._copy_storage(min(self.capacity, max(new, size)))
            return
        if allocated >= size:
            return
        # the whole capacity at once: np.empty touches no page, so memory is
        # only used as rows are written, and the sample never moves again
        self._copy_storage(self.capacity)

    def _copy_storage(self, new, dtype=None):
        """Move the kept entries to new arrays of `new` entries, owned by self."""
        rows = np.empty((new, self.n_features), dtype=dtype or self._rows.dtype)
        index, keys = np.empty(new, dtype=np.int64), np.empty(new)
        n = self._size
        rows[:n], index[:n], keys[:n] = self._rows[:n], self._index[:n], self._keys[:n]
        self._rows, self._index, self._keys = rows, index, keys
        self._shared, self._owns = False, True

    def _compact_with(self, X=None, index=None, keys=None):
        """Merge the buffer and the candidates (X, index, keys) into the sample:
        one partial sort of the priorities; entering rows take the places of
        leaving ones, then free places."""
        incoming = []
        if self._n_buffered:
            incoming.append(tuple(part[:self._n_buffered] for part in self._buffer))
        if X is not None:
            incoming.append((X, index, keys))
        self._buffer, self._n_buffered = None, 0
        if not incoming:
            return
        n_kept = self._size
        in_index = np.concatenate([part[1] for part in incoming])
        in_keys = np.concatenate([part[2] for part in incoming])
        n_all = n_kept + in_keys.shape[0]
        n_drop = n_all - self.capacity
        if n_drop <= 0:
            leaving = np.empty(0, dtype=np.intp)
            entering = np.arange(in_keys.shape[0])
        else:
            all_keys = np.concatenate([self._keys[:n_kept], in_keys])
            order = np.argpartition(all_keys, n_drop)
            dropped = order[:n_drop]
            left_out = float(all_keys[dropped].max())
            lowest_kept = float(all_keys[order[n_drop]])
            if left_out == lowest_kept:
                # a tie at the cut: decided by row number, not by position
                all_index = np.concatenate([self._index[:n_kept], in_index])
                order = np.lexsort((-all_index, all_keys))
                dropped = order[:n_drop]
                left_out = float(all_keys[dropped].max())
                lowest_kept = float(all_keys[order[n_drop]])
            self._threshold = max(self._threshold, left_out)
            leaving = np.sort(dropped[dropped < n_kept])
            stays = np.ones(in_keys.shape[0], dtype=bool)
            stays[dropped[dropped >= n_kept] - n_kept] = False
            entering = np.flatnonzero(stays)  # positions among the incoming
        new_size = n_kept - leaving.shape[0] + entering.shape[0]
        self._storage_for(new_size, overwrite=leaving.shape[0] > 0)
        slots = np.concatenate([leaving, np.arange(n_kept, new_size)])
        self._index[slots] = in_index[entering]
        self._keys[slots] = in_keys[entering]
        start = 0
        for part_rows, part_index, _ in incoming:
            end = start + part_index.shape[0]
            lo, hi = np.searchsorted(entering, (start, end))
            if hi > lo:
                self._rows[slots[lo:hi]] = part_rows[entering[lo:hi] - start]
            start = end
        self._size = new_size
        if n_drop > 0:
            self._floor = lowest_kept
        elif self._size == self.capacity:
            self._floor = float(self._keys[:self._size].min())

    def compact(self) -> RowSample:
        """Merge the insertion buffer into the sample (the logical content is unchanged)."""
        if self._n_buffered:
            self._version += 1
            try:
                self._compact_with()
            finally:
                self._version += 1
        return self

    def _order(self):
        """Positions of the kept rows in row-number order."""
        return np.argsort(self._index[:self._size], kind="stable")

    def view(self):
        """(rows, row numbers, threshold), in row order: new arrays (or the
        storage itself when it is in order), not changed afterwards."""
        self.compact()
        order = self._order()
        n = self._size
        if np.array_equal(order, np.arange(n)):
            self._shared = True  # handed out: never written in place again
            return self._rows[:n], self._index[:n], self._threshold
        return self._rows[order], self._index[order], self._threshold

    def scores(self, log_density, block_rows=65536):
        """(log_density of the kept rows, their row numbers), in the order the
        sample stores them (a quantile needs no order), scored in blocks of
        consecutive stored rows: no copy of the sample, no sort."""
        self.compact()
        scores = np.empty(self._size)
        for start in range(0, self._size, block_rows):
            stop = min(start + block_rows, self._size)
            scores[start:stop] = log_density(self._rows[start:stop])
        return scores, self._index[:self._size].copy()

    def frozen(self):
        """The sample as it is now, in O(1): its contents are computed (not
        changing this sample) when it is read."""
        frozen = self._share()
        frozen._buffer, frozen._n_buffered = self._buffer, self._n_buffered
        return frozen

    def _share(self):
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
        result = self.copy()
        other = other.copy()
        rows, index, keys = (other._rows[:other._size], other._index[:other._size],
                             other._keys[:other._size])
        if np.intersect1d(result._index[:result._size], index).size:
            raise ValueError("the row samples share row numbers: merge parts of disjoint rows "
                             "(give each part its first_row)")
        if rows.dtype != result._rows.dtype:
            if result._rows.dtype == np.float32:
                result._promote()
            else:
                rows = rows.astype(np.float64)
        result._threshold = max(result._threshold, other._threshold)
        result._compact_with(rows, index, keys)
        return result

    def copy(self) -> RowSample:
        """An independent sample of the same content (the arrays are shared
        until either writes)."""
        self.compact()
        return self._share()

    @classmethod
    def from_arrays(cls, rows, index, threshold, half_life, capacity):
        """A sample from stored arrays (rows (m, d) float64 or float32,
        increasing int64 row numbers); the priorities are recomputed from
        the row numbers."""
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
        scores, index = self.scores(log_density)
        return sample_quantile(scores, index, self._threshold, self.half_life, q)


def sample_quantile(scores, index, threshold, half_life, q):
    """The q-quantile of the scores of rows numbered `index` of a sample whose
    highest discarded priority is `threshold`."""
    if half_life is None:  # equal weights: the exact quantile of an in-memory fit
        return contamination_quantile(scores, q)
    return weighted_quantile(scores, log_inclusion_weights(index, threshold, half_life), q)
