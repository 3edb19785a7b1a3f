"""Scorers for tuning a detector with scikit-learn's model selection on labelled data.

scikit-learn's own scorer names do not fit an outlier detector: ``"f1"``
compares ``predict``'s +1 (normal) / -1 (anomaly) with 0/1 labels, and
``"roc_auc"`` or ``"average_precision"`` rank by ``decision_function``,
which is *high* for normal points, so they reward the worse model.  These
scorers take labels as this package does everywhere (1 = anomaly, 0 =
normal) and read the detector the right way round:

- :func:`f1`, :func:`make_fbeta` judge ``predict``: a row is flagged when
  ``predict(X) == -1``, i.e. when p(x) < epsilon; they therefore judge the
  threshold too (set by ``contamination`` in a search).
- :func:`roc_auc` and :func:`average_precision` judge the ranking alone:
  the anomaly score is ``-score_samples(X)`` (that is, -log p(x)), so they do
  not depend on epsilon.

Each is a callable ``scorer(estimator, X, y) -> float``, higher is better,
which is what ``GridSearchCV(scoring=...)``, ``cross_val_score`` and
``cross_validate`` accept (also in a dict of several).  The estimator may be
a ``GaussianAnomalyDetector`` or a ``Pipeline`` ending in one.

Examples
--------
>>> import numpy as np
>>> from sklearn.model_selection import GridSearchCV, StratifiedKFold
>>> from gaussext import GaussianAnomalyDetector, scorers
>>> from gaussext.datasets import make_server_metrics
>>> X, y = make_server_metrics(1000, anomaly_fraction=0.05, random_state=0)
>>> search = GridSearchCV(
...     GaussianAnomalyDetector(),
...     {"covariance": ["diagonal", "full"], "contamination": [0.02, 0.05, 0.1]},
...     scoring={"f1": scorers.f1, "roc_auc": scorers.roc_auc}, refit="f1",
...     cv=StratifiedKFold(5)).fit(X, y)
>>> search.best_params_["covariance"]
'full'
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from gaussext._evaluate import Evaluation
from gaussext._typing import ArrayLike
from gaussext._validation import check_labels, check_scalar

__all__ = ["average_precision", "f1", "make_fbeta", "roc_auc"]


def _flag_counts(estimator: Any, X: ArrayLike, y: ArrayLike) -> Evaluation:
    """The Evaluation of ``estimator.predict(X) == -1`` against labels `y`."""
    flagged = np.asarray(estimator.predict(X)) == -1
    labels = check_labels(y, flagged.shape[0], both_classes=False).astype(bool)
    tp = int(np.count_nonzero(flagged & labels))
    fp = int(np.count_nonzero(flagged & ~labels))
    fn = int(np.count_nonzero(~flagged & labels))
    tn = flagged.shape[0] - tp - fp - fn
    return Evaluation(tp=tp, fp=fp, fn=fn, tn=tn, epsilon=float("nan"))


def f1(estimator: Any, X: ArrayLike, y: ArrayLike) -> float:
    """F1 of the rows ``estimator.predict`` flags (-1) against `y` (1 = anomaly).

    .. math:: F_1 = \\frac{2\\,tp}{2\\,tp + fp + fn}

    0.0 when nothing is flagged correctly (scikit-learn's ``zero_division=0``).

    Parameters
    ----------
    estimator : fitted detector or Pipeline with ``predict`` returning +1/-1
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        0 (normal) or 1 (anomaly); -1/+1 labels are refused with a hint.

    Returns
    -------
    float in [0, 1]
    """
    return _flag_counts(estimator, X, y).f1


def make_fbeta(beta: float) -> Callable[[Any, ArrayLike, ArrayLike], float]:
    """A scorer of the F-beta score of ``predict``'s flags, recall weighted
    `beta` times as much as precision.

    .. math:: F_\\beta = \\frac{(1 + \\beta^2)\\,tp}{(1 + \\beta^2)\\,tp + \\beta^2 fn + fp}

    Parameters
    ----------
    beta : float > 0

    Returns
    -------
    callable ``scorer(estimator, X, y) -> float``
    """
    check_scalar(beta, "beta", kind=numbers.Real, low=0.0, low_inclusive=False)

    def fbeta(estimator: Any, X: ArrayLike, y: ArrayLike) -> float:
        return _flag_counts(estimator, X, y).fbeta(beta)

    fbeta.__name__ = fbeta.__qualname__ = f"fbeta_{beta:g}"
    return fbeta


def _ranking_score(metric, estimator, X, y):
    """scikit-learn's `metric` (a name in ``sklearn.metrics``) of the anomaly
    score ``-score_samples(X)`` against labels `y` holding both classes."""
    from sklearn import metrics

    scores = -np.asarray(estimator.score_samples(X), dtype=np.float64)
    labels = check_labels(y, scores.shape[0])
    return float(getattr(metrics, metric)(labels, scores))


def roc_auc(estimator: Any, X: ArrayLike, y: ArrayLike) -> float:
    """Area under the ROC curve of the anomaly score ``-score_samples(X)``.

    The probability that a random anomaly has a lower log-density than a
    random normal point (ties count one half); independent of epsilon.
    Arguments as for :func:`f1`, with ``score_samples`` instead of
    ``predict``; `y` must hold both classes.

    Returns
    -------
    float in [0, 1]
    """
    return _ranking_score("roc_auc_score", estimator, X, y)


def average_precision(estimator: Any, X: ArrayLike, y: ArrayLike) -> float:
    """Average precision of the anomaly score ``-score_samples(X)``.

    .. math:: AP = \\sum_k (R_k - R_{k-1})\\,P_k

    over the thresholds k from the most anomalous down (scikit-learn's
    ``average_precision_score``); independent of epsilon.  Arguments as for
    :func:`roc_auc`.

    Returns
    -------
    float in [0, 1]
    """
    return _ranking_score("average_precision_score", estimator, X, y)
