r"""Mergeable sufficient statistics of a Gaussian: count, mean, centred co-moment."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from gaussext import _kernels
from gaussext._sample import RowSample
from gaussext._parallel import check_n_jobs, n_threads_for
from gaussext._typing import ArrayLike, Float64Array
from gaussext._validation import check_array, check_finite, check_scalar

__all__ = ["GaussianStatistics", "check_half_life", "exact_mean_and_spread", "mean_and_spread"]

_KINDS = ("diagonal", "full")


class GaussianStatistics:
    r"""Count, mean and centred second moments of rows seen so far, mergeable.

    For rows :math:`x_1, \dots, x_n` of d features it holds

    - ``n_samples`` = n,
    - ``mean`` = :math:`\bar x = \frac1n \sum_i x_i`, shape (d,),
    - ``scatter``, the centred co-moment: for ``kind="diagonal"`` the per-feature
      sums :math:`M_j = \sum_i (x_{ij} - \bar x_j)^2`, shape (d,); for
      ``kind="full"`` the scatter matrix
      :math:`M = \sum_i (x_i - \bar x)(x_i - \bar x)^T`, shape (d, d),

    all in float64 whatever the data's dtype.  Two sets of statistics A and B
    of disjoint rows merge into those of their union with the pairwise update
    of Chan, Golub and LeVeque,

    .. math::

        n = n_A + n_B, \quad \delta = \bar x_B - \bar x_A, \quad
        \bar x = \bar x_A + \delta\, n_B / n, \quad
        M = M_A + M_B + \delta \delta^T\, n_A n_B / n,

    computed by the same compiled kernel that merges the blocks of an
    in-memory fit.  So ``update`` over any split of the rows into chunks, or
    ``merge`` of parts computed apart (on other processes or machines), gives
    the statistics of one pass over all rows up to rounding (about 1e-15
    relative).  Means are kept internally relative to the first row seen, so
    a large common offset in the data (1e6, 1e12) costs no accuracy.

    Empty statistics (``n_samples == 0``) are the identity of ``merge``.

    With `half_life` h, row i of the n seen weighs
    :math:`w_i = 2^{-(n-1-i)/h}`: the mean and scatter are weighted
    (:math:`\bar x = \sum_i w_i x_i / V_1`,
    :math:`M = \sum_i w_i (x_i - \bar x)(x_i - \bar x)^T`, with
    :math:`V_1 = \sum_i w_i`, :math:`V_2 = \sum_i w_i^2` kept beside them),
    and merging an earlier part A with a later part B of :math:`n_B` rows
    first decays A's :math:`V_1, M` by :math:`f = 2^{-n_B/h}` and its
    :math:`V_2` by :math:`f^2`, then applies the update above with the
    weights :math:`V_1` as counts.  Variances divide by
    ``divisor(ddof)`` :math:`= V_1 - \text{ddof}\,V_2/V_1` (reliability
    weights; ``n_samples - ddof`` without forgetting).

    With `sample`, a bounded row sample (``gaussext._sample.RowSample``)
    is kept beside the moments: the rows of highest priority, a hash of
    each row's global number (`first_row` onwards), so the same rows are
    kept whatever the chunking and merges.  A detector takes epsilon from it
    (:meth:`GaussianAnomalyDetector.fit_statistics`).

    Parameters
    ----------
    kind : {"diagonal", "full"}, default="diagonal"
        Per-feature sums of squares, or the full scatter matrix.
    n_features : int or None, default=None
        Number of features; None takes it from the first chunk given to
        :meth:`update`.
    half_life : float or None, default=None
        Forgetting, in rows (a positive, finite number); None weighs every
        row alike.
    sample : bool or int, default=False
        Keep a row sample: True for the default capacity (131072 rows up to
        30 features, then 32 MiB of rows, at least 4096), an int for that
        many rows.  Statistics merge only with statistics that keep a sample
        of the same capacity, or none.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussext import GaussianStatistics
    >>> X = np.arange(12.0).reshape(6, 2)
    >>> left = GaussianStatistics("full").update(X[:2])
    >>> right = GaussianStatistics("full").update(X[2:])
    >>> both = left.merge(right)
    >>> both.n_samples, both.mean.tolist()
    (6, [5.0, 6.0])
    >>> bool(np.allclose(both.covariance(ddof=1), np.cov(X, rowvar=False)))
    True
    """

    # Defaults for statistics pickled before forgetting and row samples existed.
    half_life = None
    first_row = None
    sample = None
    _weight = _weight_squared = 0.0
    _keeps_sample = False
    _sample_capacity = None

    def __init__(self, kind: str = "diagonal", n_features: int | None = None, *,
                 half_life: float | None = None, sample: bool | int = False) -> None:
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
        if n_features is not None:
            check_scalar(n_features, "n_features", kind=numbers.Integral, low=1)
            n_features = int(n_features)
        check_half_life(half_life)
        if not isinstance(sample, (bool, numbers.Integral)) or (
                not isinstance(sample, bool) and sample < 1):
            raise ValueError(f"sample must be True, False or a positive row count, got {sample!r}")
        self.kind = kind
        self.n_features = n_features
        self.half_life = None if half_life is None else float(half_life)
        self.n_samples = 0
        # The global number of the first row summarised: row numbers key the
        # sample, and with forgetting two parts merge only when contiguous.
        self.first_row = None
        # The mean is held as shift + relative mean, the shift being the first
        # row seen: relative means are small numbers, so merging them (their
        # difference delta) is not rounded at the scale of the data's offset.
        self._shift = None
        self._relative_mean = None
        self._scatter = None
        # With forgetting: the sums of the weights and of their squares
        # (V1, V2), the row weights taken relative to the last row (weight 1).
        self._weight = self._weight_squared = 0.0
        self._sample_capacity = None if sample is False else (
            None if sample is True else int(sample))
        self._keeps_sample = sample is not False
        self.sample = None  # a RowSample once the feature count is known


    # -- accessors -------------------------------------------------------

    @property
    def mean(self) -> Float64Array:
        """Mean of the rows, float64 of shape (n_features,) (a new array)."""
        self._require_rows(1, "mean")
        # inf only when the data's spread itself overflows, which fitting names
        with np.errstate(over="ignore", invalid="ignore"):
            return self._shift + self._relative_mean

    @property
    def scatter(self) -> Float64Array:
        """Centred co-moment (a new array): shape (n_features,) for the
        diagonal kind, (n_features, n_features) symmetric for the full one."""
        self._require_rows(1, "scatter")
        if self.kind == "diagonal":
            return self._scatter.copy()
        upper = np.triu(self._scatter)
        return upper + np.triu(upper, 1).T

    @property
    def weight(self) -> float:
        """Sum of the row weights, :math:`V_1`: `n_samples` without forgetting."""
        return float(self.n_samples) if self.half_life is None else self._weight

    @property
    def effective_n_samples(self) -> float:
        """Kish's effective number of rows :math:`V_1^2 / V_2` (`n_samples`
        without forgetting; about :math:`2h/\\ln 2 \\approx 2.885\\,h` rows
        once many half-lives h have passed)."""
        if self.half_life is None:
            return float(self.n_samples)
        return self._weight * self._weight / self._weight_squared

    def divisor(self, ddof: int = 0) -> float:
        """What the scatter is divided by: ``n_samples - ddof``, with
        forgetting the reliability-weights :math:`V_1 - \\text{ddof}\\, V_2 / V_1`."""
        if self.half_life is None:
            return self.n_samples - ddof
        return self._weight - ddof * self._weight_squared / self._weight

    def _require_divisor(self, ddof, what):
        check_scalar(ddof, "ddof", kind=numbers.Integral, low=0)
        self._require_rows(ddof + 1, what)
        if self.half_life is not None and not self.divisor(ddof) > 0:
            raise ValueError(
                f"GaussianStatistics with an effective {self.effective_n_samples:.6g} row(s) "
                f"(half_life={self.half_life}) define no {what}: more than ddof={ddof} "
                "effective rows are needed")

    def variance(self, ddof: int = 0) -> Float64Array:
        """Per-feature variances ``M_jj / divisor(ddof)`` (``n_samples - ddof``
        without forgetting), shape (n_features,)."""
        self._require_divisor(ddof, f"variance with ddof={ddof}")
        diagonal = self._scatter if self.kind == "diagonal" else np.diagonal(self._scatter)
        return np.maximum(diagonal, 0.0) / self.divisor(ddof)

    def covariance(self, ddof: int = 0) -> Float64Array:
        """Covariance matrix ``M / divisor(ddof)``, shape (n_features, n_features);
        diagonal for the diagonal kind."""
        if self.kind == "diagonal":
            return np.diag(self.variance(ddof))
        self._require_divisor(ddof, f"covariance with ddof={ddof}")
        return self.scatter / self.divisor(ddof)

    def _require_rows(self, minimum, what):
        if self.n_samples < minimum:
            raise ValueError(
                f"GaussianStatistics of {self.n_samples} row(s) define no {what}; "
                f"at least {minimum} row(s) are needed (call update with data first)"
            )

    def __repr__(self):
        extra = "" if self.half_life is None else f", half_life={self.half_life}"
        return (f"GaussianStatistics(kind={self.kind!r}, n_features={self.n_features}, "
                f"n_samples={self.n_samples}{extra})")

    # -- accumulation ----------------------------------------------------

    def _check_compatible(self, kind, n_features, what):
        if kind != self.kind:
            raise ValueError(
                f"Cannot combine {what} of kind {kind!r} with GaussianStatistics of "
                f"kind {self.kind!r}"
            )
        if None not in (self.n_features, n_features) and n_features != self.n_features:
            raise ValueError(
                f"{what} has {n_features} features, but these GaussianStatistics "
                f"have {self.n_features}"
            )

    def _next_row(self, first_row):
        """The global number of the next chunk's first row, checked."""
        expected = 0 if self.first_row is None else self.first_row + self.n_samples
        if first_row is None:
            return expected
        check_scalar(first_row, "first_row", kind=numbers.Integral, low=0)
        if self.n_samples and first_row != expected:
            raise ValueError(
                f"update continues the rows seen so far, which end before row {expected}; "
                f"got first_row={first_row} (compute other rows apart and merge them)")
        return int(first_row)

    def update(self, X: ArrayLike, *, first_row: int | None = None,
               n_jobs: int | None = None) -> GaussianStatistics:
        """Add the rows of a chunk X, in place, and return self.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            float32 and float64 are read in place, other numeric dtypes are
            converted to float64.  A chunk with no rows changes nothing.
        first_row : int or None, default=None
            The global number of X's first row in the stream (its place in
            all the training rows, counted from 0), which keys the row
            sample.  None continues after the rows seen so far
            (``first_row + n_samples``; 0 for the first chunk).  Give it for
            the first chunk of a part computed apart (a Dask partition:
            the number of rows in the partitions before it), then merge.
        n_jobs : int or None, default=None
            Threads for the kernel, as the estimator's `n_jobs` (None: all cores).

        Raises
        ------
        ValueError
            For a shape that is not 2-D, a feature count other than the
            statistics', NaN or infinite entries (then nothing is added), and
            a `first_row` that does not continue the rows seen so far.
        """
        check_n_jobs(n_jobs)
        X = check_array(X, name="X", min_samples=0, ensure_finite=False)
        self._check_compatible(self.kind, X.shape[1], "X")
        start = self._next_row(first_row)
        self.n_features = X.shape[1]
        if X.shape[0] == 0:
            return self
        if self.half_life is None and self.n_samples:
            self._accumulate(X, n_jobs)
        else:
            shift = self._shift if self.n_samples else np.array(X[0], dtype=np.float64)
            if self.half_life is None:
                mean, moments = self._chunk_statistics(X, shift, n_jobs)
                weight = weight_squared = None
            else:
                mean, moments, weight, weight_squared = self._weighted_chunk_statistics(
                    X, shift)
            if self.n_samples == 0:
                self._shift, self._relative_mean, self._scatter = shift, mean, moments
                self._weight, self._weight_squared = weight or 0.0, weight_squared or 0.0
                self.n_samples, self.first_row = X.shape[0], start
            else:
                self._merge_in(X.shape[0], mean, moments, weight, weight_squared)
        if self._keeps_sample:
            if self.sample is None:
                self.sample = RowSample(self.n_features, self.half_life, self._sample_capacity)
            self.sample.add(X, start)
        return self

    def _threads(self, X, n_jobs):
        """Threads for the statistics of X: about (d + 3) / 2 multiply-adds an
        element for the scatter matrix, 2 for the per-feature sums."""
        n_samples, n_features = X.shape
        per_element = (n_features + 3) // 2 if self.kind == "full" else 2
        return n_threads_for(n_jobs, n_samples * n_features * per_element)

    def _accumulate(self, X, n_jobs):
        """Add validated, non-empty X to statistics of at least one row,
        without forgetting, in place: one kernel call, the same bits as
        _chunk_statistics and _merge_in.  X holding a NaN or inf raises and
        changes nothing."""
        # the running arrays are written in place: own, C-ordered float64
        self._relative_mean = np.require(self._relative_mean, np.float64, ["C", "W", "O"])
        self._scatter = np.require(self._scatter, np.float64, ["C", "W", "O"])
        chunk_mean = np.empty(X.shape[1])
        chunk_moments = np.empty(self._scatter.size)
        if _kernels.accumulate_statistics(
                X, self._shift, float(self.n_samples), self._relative_mean,
                self._scatter.reshape(-1), chunk_mean, chunk_moments, self.kind == "full",
                self._threads(X, n_jobs)):
            self.n_samples += X.shape[0]
            return
        check_finite(X)
        # finite rows whose spread overflows float64 are merged all the same:
        # the model fitted from these statistics names the features
        self._merge_in(X.shape[0], chunk_mean, chunk_moments.reshape(self._scatter.shape))

    def _chunk_statistics(self, X, shift, n_jobs):
        """(mean relative to shift, moments) of validated, non-empty X."""
        n_features = X.shape[1]
        matrix = self.kind == "full"
        mean = np.empty(n_features)
        moments = np.empty(n_features * n_features if matrix else n_features)
        _kernels.shifted_statistics(X, shift, mean, moments, matrix, self._threads(X, n_jobs))
        # a NaN or inf anywhere in X makes its feature's mean or moment non-finite
        diagonal = moments[:: n_features + 1] if matrix else moments
        if not (np.isfinite(mean).all() and np.isfinite(diagonal).all()):
            check_finite(X)
        return mean, moments.reshape(n_features, n_features) if matrix else moments

    def _weighted_chunk_statistics(self, X, shift):
        """(weighted mean relative to shift, weighted moments, V1, V2) of
        validated, non-empty X, row j of m weighted 2^{-(m-1-j)/h}."""
        m = X.shape[0]
        weights = np.exp2((np.arange(m, dtype=np.float64) - (m - 1)) / self.half_life)
        total = float(weights.sum())
        with np.errstate(over="ignore", invalid="ignore"):
            centred = np.subtract(X, shift, dtype=np.float64)
            mean = weights @ centred / total
            centred -= mean
            if self.kind == "diagonal":
                moments = weights @ (centred * centred)
                diagonal = moments
            else:
                moments = (centred * weights[:, None]).T @ centred
                diagonal = np.diagonal(moments)
        if not (np.isfinite(mean).all() and np.isfinite(diagonal).all()):
            check_finite(X)
        return mean, moments, total, float(weights @ weights)

    def _merge_in(self, n_rows, relative_mean, moments, weight=None, weight_squared=None):
        """Merge a later part (relative to self's shift) into self, in place;
        with forgetting self's weights decay by 2^{-n_rows/h} first."""
        if self.half_life is None:
            counts, scatter = [self.n_samples, n_rows], self._scatter
        else:
            decay = 2.0 ** (-n_rows / self.half_life)
            counts, scatter = [self._weight * decay, weight], self._scatter * decay
            self._weight = self._weight * decay + weight
            self._weight_squared = self._weight_squared * decay * decay + weight_squared
            if counts[0] == 0.0:  # self's rows weigh nothing any more
                self._relative_mean, self._scatter = relative_mean.copy(), moments.copy()
                self.n_samples += n_rows
                return
        # outputs only: the kernel starts them from zero
        mean, merged = np.empty_like(self._relative_mean), np.empty_like(scatter)
        _kernels.merge_statistics(
            np.array(counts, dtype=np.float64),
            np.stack([self._relative_mean, relative_mean]),
            np.stack([scatter.reshape(-1), moments.reshape(-1)]),
            mean, merged.reshape(-1), self.kind == "full",
        )
        self._relative_mean, self._scatter = mean, merged
        self.n_samples += n_rows

    def merge(self, other: GaussianStatistics) -> GaussianStatistics:
        """Statistics of the union of the rows of self and `other`, as a new object.

        Neither operand is modified.  Empty statistics are the identity.
        Row samples merge too (see :mod:`gaussext._sample`): the result's is
        the sample one pass over both parts' rows keeps.  With forgetting,
        `other` must hold the rows right after self's (``other.first_row ==
        self.first_row + self.n_samples``): self's weights decay by
        :math:`2^{-n_B/h}` before the weighted Chan update.  Without it the
        order does not matter.

        Raises
        ------
        TypeError
            When `other` is not a GaussianStatistics.
        ValueError
            When the kinds, feature counts, half-lives or sampling differ,
            or (with forgetting) `other` does not continue self's rows.
        """
        if not isinstance(other, GaussianStatistics):
            raise TypeError(
                f"merge needs another GaussianStatistics, got {type(other).__name__}"
            )
        self._check_compatible(other.kind, other.n_features, "the other GaussianStatistics")
        if other.half_life != self.half_life:
            raise ValueError(f"cannot merge GaussianStatistics of half_life={self.half_life} "
                             f"and half_life={other.half_life}")
        if (other._keeps_sample, other._sample_capacity) != (self._keeps_sample,
                                                             self._sample_capacity):
            raise ValueError("cannot merge GaussianStatistics that keep row samples of "
                             "different sizes (or one with a sample, one without)")
        if other.n_features is None and self.n_features is None:
            return self.copy()
        if other.n_samples == 0:
            result = self.copy()
            result.n_features = self.n_features or other.n_features
            return result
        if self.n_samples == 0:
            result = other.copy()
            result.n_features = self.n_features or other.n_features
            return result
        if self.half_life is not None and other.first_row != self.first_row + self.n_samples:
            raise ValueError(
                "with half_life the merged parts must be consecutive, earlier part first: "
                f"self holds rows {self.first_row} to {self.first_row + self.n_samples - 1}, "
                f"the other starts at row {other.first_row}")
        result = self.copy()
        # other's mean relative to self's shift: the shifts' difference is
        # of the data's spread, not its offset, and so is the sum
        # (data spread beyond float64's range overflows to inf here, and
        # the model fitted from these statistics names the features)
        with np.errstate(over="ignore", invalid="ignore"):
            relative_mean = (other._shift - self._shift) + other._relative_mean
        result._merge_in(other.n_samples, relative_mean, other._scatter, other._weight,
                         other._weight_squared)
        result.first_row = min(self.first_row, other.first_row)
        if self.sample is not None:
            result.sample = self.sample.merge(other.sample)
        return result

    @property
    def keeps_sample(self) -> bool:
        """Whether the statistics keep a row sample of the rows they take."""
        return self._keeps_sample

    def start_sample(self) -> GaussianStatistics:
        """Keep a row sample from the next row on (statistics built without
        one: their earlier rows are not in it).  Returns self."""
        if not self._keeps_sample:
            self._keeps_sample, self._sample_capacity = True, None
        return self

    def copy(self) -> GaussianStatistics:
        """An independent copy (its row sample shares storage until either writes)."""
        result = GaussianStatistics(self.kind, self.n_features, half_life=self.half_life,
                                    sample=self._sample_option())
        result.n_samples, result.first_row = self.n_samples, self.first_row
        result._weight, result._weight_squared = self._weight, self._weight_squared
        if self.n_samples:
            result._shift = self._shift.copy()
            result._relative_mean = self._relative_mean.copy()
            result._scatter = self._scatter.copy()
        if self.sample is not None:
            result.sample = self.sample.copy()
        return result

    # -- the running sums, for model files that resume a stream ------------

    def running_sums(self) -> dict[str, Any]:
        """The sums :meth:`update` keeps, as a model file stores them.

        Returns
        -------
        dict
            ``shift`` and ``relative_mean``, float64 of shape (n_features,),
            whose sum is the mean (the shift is the first row seen, so that
            merging small relative means loses nothing to the data's
            offset); ``scatter``, the sums of squared deviations from the
            mean, of shape (n_features,) or (n_features, n_features);
            ``weight`` and ``weight_squared``, the sums of the row weights
            and of their squares with forgetting (0.0 without).  The arrays
            are the statistics' own, not copies: read them only.
        """
        return {"shift": self._shift, "relative_mean": self._relative_mean,
                "scatter": self._scatter, "weight": self._weight,
                "weight_squared": self._weight_squared}

    @classmethod
    def from_running_sums(cls, kind: str, *, n_samples: int, first_row: int,
                          running_sums: dict[str, Any], half_life: float | None = None,
                          sample: RowSample | None = None) -> GaussianStatistics:
        """Statistics that resume from :meth:`running_sums` of n_samples rows
        numbered from first_row, with the row sample `sample` (a
        ``gaussext._sample.RowSample``, or None for none).  The sums are
        taken as given: the caller checks them (``gaussext.load`` does)."""
        statistics = cls(kind, running_sums["shift"].shape[0], half_life=half_life,
                         sample=False if sample is None else sample.capacity)
        statistics.n_samples, statistics.first_row = int(n_samples), int(first_row)
        statistics._shift = running_sums["shift"]
        statistics._relative_mean = running_sums["relative_mean"]
        statistics._scatter = running_sums["scatter"]
        statistics._weight = float(running_sums["weight"])
        statistics._weight_squared = float(running_sums["weight_squared"])
        statistics.sample = sample
        return statistics

    def _sample_option(self):
        if not self._keeps_sample:
            return False
        return True if self._sample_capacity is None else self._sample_capacity


def check_half_life(half_life):
    """None or a positive, finite number of rows; raises ValueError otherwise."""
    if half_life is None:
        return
    if isinstance(half_life, (bool, np.bool_)) or not isinstance(half_life, numbers.Real):
        raise TypeError(f"half_life must be None or a positive number of rows, got "
                        f"{half_life!r}")
    if not (math.isfinite(half_life) and half_life > 0):
        raise ValueError(f"half_life must be None or a positive, finite number of rows, got "
                         f"{half_life!r}")


def mean_and_spread(statistics, ddof):
    """Mean and variances (d,) or covariance (d, d) of `statistics`."""
    if statistics.kind == "diagonal":
        return statistics.mean, statistics.variance(ddof)
    return statistics.mean, statistics.covariance(ddof)


def exact_mean_and_spread(X, covariance, ddof, n_jobs):
    """Mean and variances (d,) or covariance (d, d) of finite X, for data
    whose sums of squared deviations overflow float64 (deviations beyond
    about 1e154, as with variances near 1e300).

    They are measured on a copy scaled per feature by a power of two, which
    is exact, and scaled back, so the result only overflows when the variance
    itself does.
    """
    largest = np.maximum(np.max(X, axis=0), -np.min(X, axis=0)).astype(np.float64)
    # scale large features down to magnitudes below 1; small ones stay as they are
    scale = np.ldexp(1.0, -np.maximum(np.frexp(largest)[1], 0))
    scaled_mean, scaled_spread = mean_and_spread(
        GaussianStatistics(covariance).update(X * scale, n_jobs=n_jobs), ddof)
    # one factor at a time: scale**2 itself can underflow to 0
    with np.errstate(over="ignore"):
        if covariance == "diagonal":
            return scaled_mean / scale, scaled_spread / scale / scale
        return scaled_mean / scale, scaled_spread / scale[:, None] / scale[None, :]
