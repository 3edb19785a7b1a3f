"""Judging a threshold on labelled data: counts, precision, recall, F-scores."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from gaussext._threshold import density_from_log
from gaussext._typing import ArrayLike
from gaussext._validation import check_labels, check_log_density, check_scalar

__all__ = ["Evaluation", "evaluate"]


def _ratio(numerator, denominator):
    """numerator / denominator, 0.0 when the denominator is 0 (scikit-learn's
    ``zero_division=0``)."""
    return numerator / denominator if denominator else 0.0


@dataclass(frozen=True)
class Evaluation:
    """Confusion counts of a threshold on labelled data, and the scores they give.

    An anomaly (label 1) flagged is a true positive; a normal point flagged a
    false positive; an anomaly not flagged a false negative; a normal point
    not flagged a true negative.

    Attributes
    ----------
    tp, fp, fn, tn : int
        The four counts; they sum to the number of samples.
    epsilon : float
        The density threshold evaluated (anomaly iff p(x) < epsilon); with
        `log_epsilon` given, ``exp(log_epsilon)``.
    precision : float
        tp / (tp + fp); 0.0 when nothing is flagged.
    recall : float
        tp / (tp + fn); 0.0 when the labels hold no anomaly.
    f1 : float
        2 tp / (2 tp + fp + fn), the harmonic mean of precision and recall;
        0.0 when tp = 0.
    """

    tp: int
    fp: int
    fn: int
    tn: int
    epsilon: float

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    def fbeta(self, beta: float) -> float:
        r"""The F-beta score, recall weighted `beta` times as much as precision.

        .. math:: F_\beta = \frac{(1 + \beta^2)\,tp}{(1 + \beta^2)\,tp + \beta^2 fn + fp}

        which equals :math:`(1 + \beta^2) P R / (\beta^2 P + R)`; 0.0 when
        tp = 0.  ``fbeta(1)`` is `f1`.

        Parameters
        ----------
        beta : float > 0

        Returns
        -------
        float
        """
        check_scalar(beta, "beta", low=0.0, low_inclusive=False)
        weight = beta * beta
        return _ratio((1 + weight) * self.tp, (1 + weight) * self.tp + weight * self.fn + self.fp)


def evaluate(y_true: ArrayLike, log_density: ArrayLike, epsilon: float | None = None, *,
             log_epsilon: float | None = None) -> Evaluation:
    """Confusion counts, precision, recall and F1 of the threshold `epsilon`.

    A point is flagged as an anomaly iff ``p(x) < epsilon``, decided in log
    space as ``log_density < log(epsilon)``, the rule the detector's
    ``predict`` and :func:`gaussext.select_threshold` use.  At a tuned
    ``ThresholdResult.epsilon`` this reproduces that result's counts and
    scores; passing its ``log_epsilon`` instead does so by construction,
    also where two scores are so close that rounding ``log(exp(.))`` could
    move the boundary past one of them.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 for an anomaly, 0 for a normal point (booleans accepted); one class
        alone is allowed.
    log_density : array-like of shape (n_samples,)
        log p(x), e.g. from ``GaussianAnomalyDetector.score_samples``; -inf
        allowed, NaN and +inf not.
    epsilon : float >= 0
        Density threshold in probability units; 0 flags nothing.
    log_epsilon : float, keyword-only
        The threshold in log-density units (-inf flags nothing, +inf every
        point: the threshold select_threshold returns when the largest score
        is float64's largest), instead of `epsilon`; give exactly one of the two.

    Returns
    -------
    Evaluation
        With attributes `tp`, `fp`, `fn`, `tn`, `precision`, `recall`, `f1`
        and the method ``fbeta(beta)``.  Precision with nothing flagged and
        recall with no anomaly in `y_true` are 0.0 (scikit-learn's
        ``zero_division=0``), so no score is ever NaN.

    Raises
    ------
    TypeError, ValueError
        For labels other than 0/1, lengths that differ, NaN or +inf scores,
        an epsilon that is negative, infinite or not a number, a log_epsilon
        that is NaN, and both or neither of the two given.

    Examples
    --------
    >>> from gaussext import evaluate
    >>> result = evaluate([0, 1, 1, 0], [-1.0, -9.0, -2.0, -3.0], epsilon=0.1)
    >>> (result.tp, result.fp, result.fn, result.tn), result.f1
    ((1, 1, 1, 1), 0.5)
    """
    scores = check_log_density(log_density)
    labels = check_labels(y_true, scores.shape[0], name="y_true", both_classes=False)
    if (epsilon is None) == (log_epsilon is None):
        raise TypeError("give exactly one of epsilon (probability units) and log_epsilon")
    if epsilon is not None:
        check_scalar(epsilon, "epsilon", kind=numbers.Real, low=0.0)
        log_epsilon = math.log(epsilon) if epsilon > 0 else -math.inf
    else:
        if isinstance(log_epsilon, bool) or not isinstance(log_epsilon, numbers.Real):
            raise TypeError(f"log_epsilon must be a real number, got {log_epsilon!r}")
        if math.isnan(log_epsilon):
            raise ValueError(f"log_epsilon must be a number, got {log_epsilon!r}")
        epsilon = float(density_from_log(log_epsilon))
    flagged = scores < log_epsilon
    is_anomaly = labels.view(bool)
    tp = int(np.count_nonzero(flagged & is_anomaly))
    fp = int(np.count_nonzero(flagged)) - tp
    n_anomalies = int(np.count_nonzero(is_anomaly))
    return Evaluation(tp=tp, fp=fp, fn=n_anomalies - tp,
                      tn=scores.shape[0] - n_anomalies - fp, epsilon=float(epsilon))
