"""Choosing epsilon on labelled data by maximising F1."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from gaussext import _kernels
from gaussext._typing import ArrayLike
from gaussext._validation import check_both_classes, check_labels, check_log_density, check_scalar

__all__ = [
    "ThresholdResult",
    "anomalous_scores",
    "contamination_quantile",
    "count_normals_by_interval",
    "distinct_anomalous_scores",
    "merge_interval_counts",
    "select_threshold",
    "threshold_from_interval_counts",
]

# The grid holds steps + 1 floats and as many counts: 10**7 steps is about
# 240 MB, far more than the classic 1000 needs; more is refused, not attempted.
MAX_GRID_STEPS = 10**7
# log of the largest finite float64: exp of anything above it overflows
_LOG_LARGEST_DENSITY = float(np.log(np.finfo(np.float64).max))


@dataclass(frozen=True, eq=False)
class ThresholdResult:
    """The threshold chosen on a labelled set, and the curve it was chosen from.

    A point is an anomaly when ``p(x) < epsilon``, i.e. when
    ``log p(x) < log_epsilon``.  Decisions are always taken in log space;
    `epsilon` is ``exp(log_epsilon)`` and can underflow to 0.0 for models with
    many features (or overflow to inf for variances near 1e-300) while
    `log_epsilon` stays exact.

    Attributes
    ----------
    epsilon, log_epsilon : float
        The chosen threshold, in probability and in log-density units.
    f1, precision, recall : float
        The scores reached on the labelled set at that threshold.
    true_positives, false_positives, false_negatives, true_negatives : int
        The counts behind them; :func:`gaussext.evaluate` at `epsilon` gives
        the same counts and scores.
    thresholds : ndarray of shape (n_candidates,)
        Candidate thresholds in log-density units, ascending.
    precision_curve, recall_curve, f1_curve : ndarray of shape (n_candidates,)
        The scores at each candidate.
    method : {"exact", "grid"}
        How the candidates were chosen.
    """

    epsilon: float
    log_epsilon: float
    f1: float
    precision: float
    recall: float
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int
    thresholds: np.ndarray
    precision_curve: np.ndarray
    recall_curve: np.ndarray
    f1_curve: np.ndarray
    method: str

    def __repr__(self) -> str:
        return (
            f"ThresholdResult(method={self.method!r}, epsilon={self.epsilon:.6g}, "
            f"log_epsilon={self.log_epsilon:.6g}, f1={self.f1:.6g}, "
            f"precision={self.precision:.6g}, recall={self.recall:.6g}, "
            f"n_candidates={self.thresholds.shape[0]})"
        )


def select_threshold(y_true: ArrayLike, log_density: ArrayLike, *, method: str = "exact",
                     steps: int = 1000) -> ThresholdResult:
    """Choose the anomaly threshold epsilon that maximises F1 on labelled data.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 for an anomaly, 0 for a normal point (booleans accepted); both
        classes must be present.
    log_density : array-like of shape (n_samples,)
        log p(x) of each point, e.g. from ``GaussianAnomalyDetector.score_samples``.
        -inf (density 0) is allowed; NaN and +inf are not.
    method : {"exact", "grid"}, default="exact"
        ``"exact"`` sorts the scores once and evaluates every distinct
        threshold in one pass, so no better F1 exists on these data.
        ``"grid"`` reproduces the classic course search: ``steps`` equally
        spaced epsilons from min p to max p in probability units, skipping
        those that flag nothing or find no anomaly, keeping the first with
        strictly the highest F1.
    steps : int, default=1000
        Number of grid intervals, for ``method="grid"`` only; at most 10**7.

    Returns
    -------
    ThresholdResult

    Notes
    -----
    Exact-scan semantics: a point is flagged iff ``log p < log_epsilon``
    (strict).  Candidate k flags every point whose score is at most the k-th
    smallest distinct score; its threshold is the midpoint (in log space)
    between that score and the next distinct one, so applying it reproduces
    exactly the counts reported.  The largest candidate sits one ulp above the
    largest score.  Among candidates with equal best F1 (compared exactly, in
    integers) the smallest threshold, flagging the fewest points, wins, as
    the classic loop's strict comparison does.

    F1 = 2 tp / (2 tp + fp + fn).  In the grid method an epsilon with tp = 0
    gets F1 = 0 (the classic loop computes 0/0 there).

    Examples
    --------
    >>> import numpy as np
    >>> from gaussext import select_threshold
    >>> y = np.array([0, 0, 0, 1, 0, 1])
    >>> log_p = np.array([-1.0, -1.5, -0.5, -9.0, -2.0, -7.0])
    >>> result = select_threshold(y, log_p)
    >>> float(result.f1), float(result.log_epsilon)
    (1.0, -4.5)
    """
    scores = check_log_density(log_density)
    labels = check_labels(y_true, scores.shape[0], name="y_true")
    if method == "exact":
        return _exact_scan(labels, scores)
    if method == "grid":
        check_scalar(steps, "steps", kind=numbers.Integral, low=1)
        if steps > MAX_GRID_STEPS:
            raise ValueError(
                f"steps must be at most {MAX_GRID_STEPS} (the grid holds steps + 1 "
                f"thresholds), got {steps}; method='exact' evaluates every distinct "
                "threshold without a grid"
            )
        if scores.max() > _LOG_LARGEST_DENSITY:
            raise ValueError(
                f"method='grid' searches in probability units, and a log-density of "
                f"{scores.max():.6g} is a density beyond float64's range (above "
                f"{_LOG_LARGEST_DENSITY:.6g}); use method='exact', which works in log space"
            )
        return grid_search(labels, density_from_log(scores), steps)
    raise ValueError(f"method must be 'exact' or 'grid', got {method!r}")


def density_from_log(log_density):
    """exp(log p), rounded as float64 must: 0.0 below about -745 and inf above
    about 709.78 (a density beyond float64's range, as from variances near
    1e-300), without warnings; decisions always use the exact log."""
    with np.errstate(under="ignore", over="ignore"):
        return np.exp(log_density)


def _one_ulp_above(largest_score):
    """The threshold that flags every point: one ulp above the largest score,
    +inf when that score is float64's largest (p < +inf flags every finite
    score, so the counts still hold)."""
    with np.errstate(over="ignore"):
        return np.nextafter(largest_score, np.inf)


def _result(method, n_anomalies, n_normal, thresholds, precision, recall, f1, best,
            best_tp=0, best_fp=0, epsilon=None):
    """Build a ThresholdResult from the candidates, the index of the best and
    its counts."""
    if best is None:  # no candidate found any anomaly: flag nothing
        log_epsilon, epsilon, best_tp, best_fp = -np.inf, 0.0, 0, 0
        best_scores = (0.0, 0.0, 0.0)
    else:
        log_epsilon, best_tp, best_fp = float(thresholds[best]), int(best_tp), int(best_fp)
        if epsilon is None:
            epsilon = float(density_from_log(log_epsilon))
        best_scores = (float(f1[best]), float(precision[best]), float(recall[best]))
    return ThresholdResult(
        epsilon=epsilon,
        log_epsilon=log_epsilon,
        f1=best_scores[0],
        precision=best_scores[1],
        recall=best_scores[2],
        true_positives=best_tp,
        false_positives=best_fp,
        false_negatives=n_anomalies - best_tp,
        true_negatives=n_normal - best_fp,
        thresholds=thresholds,
        precision_curve=precision,
        recall_curve=recall,
        f1_curve=f1,
        method=method,
    )


def _exact_scan(labels, scores):
    # Two sorts of the disjoint normal and anomalous scores, merged in the
    # kernel: a plain sort is several times faster than the argsort a
    # single sort carrying the labels would need.  Each sorts its own copy
    # in place.
    is_anomaly = labels.view(bool)
    sorted_normal = scores[~is_anomaly]
    sorted_normal.sort()
    sorted_anomalous = scores[is_anomaly]
    sorted_anomalous.sort()
    thresholds, precision, recall, f1, best, best_tp, best_fp = _kernels.f1_scan(
        sorted_normal, sorted_anomalous)
    n_anomalies = sorted_anomalous.shape[0]
    return _result("exact", n_anomalies, sorted_normal.shape[0], thresholds, precision, recall,
                   f1, best, best_tp, best_fp)


# -- the exact scan over a labelled set held in parts -----------------------
#
# F1 = 2 tp / (tp + fp + n_anomalies) only falls between two consecutive
# distinct anomalous scores a_(k-1) < a_k (tp stays, fp grows), so the best
# candidate always flags exactly the points <= some a_k.  Its counts need, from
# every part, only how many normal scores lie in each interval
# (a_(k-1), a_k], and its threshold only the smallest normal score of each
# interval: O(#anomalies) numbers per part instead of a global sort.


def _validated_part(y_part, log_density_part):
    """(float64 scores, bool is-anomaly) of one part of a labelled set, which
    may be empty and may hold one class only."""
    if np.shape(log_density_part)[:1] == (0,):
        return np.empty(0), np.empty(0, dtype=bool)
    scores = check_log_density(log_density_part)
    labels = check_labels(y_part, scores.shape[0], name="y_true", both_classes=False)
    return scores, labels.view(bool)


def anomalous_scores(y_part, log_density_part):
    """Validate one part of a labelled set; return (its anomalies' scores,
    its number of normal points)."""
    scores, is_anomaly = _validated_part(y_part, log_density_part)
    return scores[is_anomaly], int(scores.shape[0] - is_anomaly.sum())


def distinct_anomalous_scores(parts, *, name):
    """The sorted distinct anomalous scores and their multiplicities, from
    the (anomalies' scores, number of normal points) of every part; both
    classes must be present over all parts."""
    anomalous = np.concatenate([scores for scores, _ in parts])
    check_both_classes(anomalous.shape[0], sum(n_normal for _, n_normal in parts), name=name)
    return np.unique(anomalous, return_counts=True)


def count_normals_by_interval(y_part, log_density_part, distinct_anomalous):
    """Counts of one part's normal scores per interval between the sorted
    distinct anomalous scores a_0 < ... < a_(K-1).

    Returns
    -------
    counts : ndarray of shape (K + 1,), int64
        counts[k]: normal scores in (a_(k-1), a_k], with a_(-1) = -inf and
        a_K = +inf.
    smallest : ndarray of shape (K + 1,), float64
        The smallest normal score in each interval, +inf when it is empty.
    """
    scores, is_anomaly = _validated_part(y_part, log_density_part)
    normal = scores[~is_anomaly]
    # side="left": a normal score equal to a_k lands in interval k, flagged with it
    interval = np.searchsorted(distinct_anomalous, normal, side="left")
    n_intervals = distinct_anomalous.shape[0] + 1
    counts = np.bincount(interval, minlength=n_intervals).astype(np.int64)
    smallest = np.full(n_intervals, np.inf)
    np.minimum.at(smallest, interval, normal)
    return counts, smallest


def merge_interval_counts(left, right):
    """(counts, smallest) of two parts together."""
    return left[0] + right[0], np.minimum(left[1], right[1])


def threshold_from_interval_counts(distinct, multiplicity, counts, smallest):
    """The exact scan's result from the distinct anomalous scores with their
    multiplicities (:func:`distinct_anomalous_scores`) and the interval
    counts summed over all parts.

    Equal, bit for bit, to :func:`select_threshold` on the whole set in
    epsilon, log_epsilon, f1, precision, recall and the counts.  The curves
    hold only the candidates that can be best: one per distinct anomalous
    score (the in-memory curves restricted to those thresholds).
    """
    tp = np.cumsum(multiplicity).astype(np.int64)
    fp = np.cumsum(counts[:-1]).astype(np.int64)
    n_anomalies = int(tp[-1])
    precision, recall, f1, best = _kernels.f1_from_counts(tp, fp, n_anomalies)
    # the next distinct score after a_k: the smallest normal score above it,
    # or a_(k+1) when that is smaller; one ulp up above the largest score
    next_value = np.minimum(smallest[1:-1], distinct[1:])
    last = smallest[-1] if np.isfinite(smallest[-1]) else _one_ulp_above(distinct[-1])
    next_value = np.append(next_value, last)
    thresholds = _kernels.thresholds_between(distinct, next_value)
    n_normal = int(np.sum(counts))
    return _result("exact", n_anomalies, n_normal, thresholds, precision, recall, f1, best,
                   tp[best], fp[best])


def grid_search(labels, probabilities, steps):
    """The classic grid search over validated uint8 labels and densities."""
    is_anomaly = labels.view(bool)
    sorted_anomalous = np.sort(probabilities[is_anomaly])
    sorted_normal = np.sort(probabilities[~is_anomaly])
    low = min(sorted_anomalous[0], sorted_normal[0])
    high = max(sorted_anomalous[-1], sorted_normal[-1])
    step = (high - low) / steps
    # every density equal: the classic grid is empty
    epsilons = np.arange(low, high, step) if step > 0 else np.empty(0)
    # points flagged by epsilon: those with p < epsilon
    tp = np.searchsorted(sorted_anomalous, epsilons, side="left")
    fp = np.searchsorted(sorted_normal, epsilons, side="left")
    # the classic loop skips an epsilon that flags nothing ("tp + fn == 0"
    # cannot happen: both classes are present)
    keep = (tp + fp) > 0
    epsilons, tp, fp = epsilons[keep], tp[keep].astype(np.int64), fp[keep].astype(np.int64)
    n_anomalies = int(labels.sum())
    # the figures as the exact scan computes them; its choice of best is not used
    precision, recall, f1, _ = _kernels.f1_from_counts(tp, fp, n_anomalies)
    # Select with F1 computed as the classic loop computes it, 2PR / (P + R)
    # in floating point, so that near-ties resolve as they do there (the first
    # strictly greater wins); report F1 = 2 tp / (2 tp + fp + fn) like the
    # exact scan, so the two methods' figures compare exactly.
    with np.errstate(invalid="ignore"):
        classic_f1 = np.where(tp > 0, 2 * precision * recall / (precision + recall), 0.0)
    best = int(np.argmax(classic_f1)) if classic_f1.size and classic_f1.max() > 0 else None
    with np.errstate(divide="ignore"):
        thresholds = np.log(epsilons)
    n_normal = labels.shape[0] - n_anomalies
    if best is None:
        return _result("grid", n_anomalies, n_normal, thresholds, precision, recall, f1, None)
    return _result("grid", n_anomalies, n_normal, thresholds, precision, recall, f1, best,
                   tp[best], fp[best], epsilon=float(epsilons[best]))


def contamination_quantile(values, q, *, overwrite=False):
    """The q-quantile of `values` with linear interpolation (NumPy's default
    method), by one partial sort: O(n), several times cheaper than np.quantile.
    overwrite=True partitions `values` in place (no copy): for scores the
    caller no longer needs in row order."""
    position = q * (values.shape[0] - 1)
    lower = int(math.floor(position))
    upper = min(lower + 1, values.shape[0] - 1)
    if overwrite:
        values.partition(upper)
        partitioned = values
    else:
        partitioned = np.partition(values, upper)
    high = float(partitioned[upper])
    # everything left of `upper` is <= high; the largest of it is order statistic `lower`
    low = float(partitioned[:upper].max()) if upper > lower else high
    fraction = position - lower
    if fraction == 0.0 or low == high:  # also keeps -inf from becoming NaN
        return low
    return low + (high - low) * fraction
