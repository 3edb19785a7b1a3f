"""Synthetic server metrics with injected anomalies, for the demo and examples.

Nothing is downloaded: every sample is drawn from a seeded generator.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from gaussext._typing import Float64Array, LabelArray
from gaussext._validation import check_scalar

__all__ = ["FEATURE_NAMES", "ServerMetricsSplit", "make_server_metrics", "make_demo_split"]

#: Column names of the generated metrics.
FEATURE_NAMES = ("latency_ms", "throughput_mbps", "cpu_load_pct", "memory_used_gb")

# Healthy servers: latency and throughput fall together with load, CPU load
# follows throughput.  Means and a covariance that encodes those relations.
_NORMAL_MEAN = np.array([14.0, 15.0, 55.0, 12.0])
_NORMAL_STD = np.array([1.3, 1.3, 8.0, 1.5])
_NORMAL_CORRELATION = np.array([
    [1.00, -0.55, -0.25, 0.10],
    [-0.55, 1.00, 0.75, 0.20],
    [-0.25, 0.75, 1.00, 0.25],
    [0.10, 0.20, 0.25, 1.00],
])


@dataclass(frozen=True)
class ServerMetricsSplit:
    """Training data (unlabelled) and a labelled validation set.

    Attributes
    ----------
    X_train : ndarray of shape (n_train, 4)
    X_val : ndarray of shape (n_val, 4)
    y_val : ndarray of shape (n_val,)
        1 for an injected anomaly, 0 for a normal point.
    feature_names : tuple of str
    """

    X_train: Float64Array
    X_val: Float64Array
    y_val: LabelArray
    feature_names: tuple[str, ...]


def _anomalies(rng, n):
    """Faults of three kinds: slow (latency up, throughput down), overloaded
    (CPU pinned without the throughput to explain it) and leaking memory."""
    base = _normal(rng, n)
    kind = rng.integers(0, 3, size=n)
    slow, overloaded, leaking = kind == 0, kind == 1, kind == 2
    base[slow, 0] += rng.uniform(4.0, 9.0, size=slow.sum())
    base[slow, 1] -= rng.uniform(3.0, 7.0, size=slow.sum())
    base[overloaded, 2] = rng.uniform(85.0, 99.0, size=overloaded.sum())
    base[overloaded, 1] -= rng.uniform(1.0, 2.5, size=overloaded.sum())
    base[leaking, 3] += rng.uniform(4.0, 8.0, size=leaking.sum())
    return base


def _normal(rng, n):
    covariance = _NORMAL_CORRELATION * np.outer(_NORMAL_STD, _NORMAL_STD)
    return rng.multivariate_normal(_NORMAL_MEAN, covariance, size=n)


def make_server_metrics(n_samples: int = 1000, *, anomaly_fraction: float = 0.02,
                        random_state: int | np.random.Generator | None = None
                        ) -> tuple[Float64Array, LabelArray]:
    """Draw server metrics with a fraction of injected anomalies.

    Parameters
    ----------
    n_samples : int, default=1000
    anomaly_fraction : float in [0, 1), default=0.02
    random_state : int, numpy Generator or None

    Returns
    -------
    X : ndarray of shape (n_samples, 4)
        Columns as in `FEATURE_NAMES`.
    y : ndarray of shape (n_samples,), int64
        1 for an anomaly, 0 for a normal point.
    """
    check_scalar(n_samples, "n_samples", kind=numbers.Integral, low=1)
    check_scalar(anomaly_fraction, "anomaly_fraction", low=0.0, high=1.0, high_inclusive=False)
    rng = np.random.default_rng(random_state)
    n_anomalies = int(round(anomaly_fraction * n_samples))
    X = np.vstack([_normal(rng, n_samples - n_anomalies), _anomalies(rng, n_anomalies)])
    y = np.r_[np.zeros(n_samples - n_anomalies, dtype=np.int64), np.ones(n_anomalies, dtype=np.int64)]
    order = rng.permutation(n_samples)
    return X[order], y[order]


def make_demo_split(n_train: int = 2000, n_val: int = 500, *,
                    random_state: int | np.random.Generator | None = 0) -> ServerMetricsSplit:
    """The demo's data: a training set of normal traffic with a few unlabelled
    anomalies (0.5%), and a labelled validation set with 4% anomalies."""
    check_scalar(n_train, "n_train", kind=numbers.Integral, low=1)
    check_scalar(n_val, "n_val", kind=numbers.Integral, low=1)
    rng = np.random.default_rng(random_state)
    X_train, _ = make_server_metrics(n_train, anomaly_fraction=0.005, random_state=rng)
    X_val, y_val = make_server_metrics(n_val, anomaly_fraction=0.04, random_state=rng)
    return ServerMetricsSplit(X_train, X_val, y_val, FEATURE_NAMES)
