"""Drop-in replacement for the classic homemade ``GaussianAnomalyDetection`` class.

Code written against the course/notebook class keeps working unchanged::

    from gaussext.compat import GaussianAnomalyDetection

    gaussian_anomaly = GaussianAnomalyDetection(data)
    gaussian_anomaly.mu_param, gaussian_anomaly.sigma_squared
    probs = gaussian_anomaly.multivariate_gaussian(data)          # shape (m, 1)
    (epsilon, f1, precision_history, recall_history, f1_history) = \\
        gaussian_anomaly.select_threshold(labels, probs)

The computations run on gaussext's kernels: the density is computed in log
space and exponentiated only at the end, and the threshold search is the
classic 1000-step grid (use :func:`gaussext.select_threshold` for the exact
search).  Two deliberate differences: malformed input raises a clear error
instead of producing NaN, and a grid epsilon that finds no anomaly gets
F1 = 0 in the history instead of NaN.
"""

import numpy as np

from gaussext import _kernels
from gaussext._statistics import GaussianStatistics
from gaussext._threshold import density_from_log, grid_search
from gaussext._validation import check_array, check_labels, check_log_density

__all__ = ["GaussianAnomalyDetection"]


class GaussianAnomalyDetection:
    """Per-feature Gaussian anomaly detection with the classic interface.

    Parameters
    ----------
    data : array-like of shape (m, n)
        Training data.

    Attributes
    ----------
    data : the training data, as given
    mu_param : ndarray of shape (n,)
    sigma_squared : ndarray of shape (n,)
        Maximum-likelihood variances (divide by m).
    """

    def __init__(self, data):
        self.data = data
        (self.mu_param, self.sigma_squared) = GaussianAnomalyDetection.estimate_gaussian(data)

    @staticmethod
    def estimate_gaussian(data):
        """Per-feature mean and maximum-likelihood variance: (mu, sigma_squared)."""
        statistics = GaussianStatistics("diagonal").update(
            check_array(data, name="data", min_samples=1), n_jobs=1)
        return statistics.mean, statistics.variance(ddof=0)

    def multivariate_gaussian(self, data):
        """Product of the per-feature normal densities, shape (m, 1)."""
        X = check_array(data, name="data")
        mu = np.ascontiguousarray(self.mu_param, dtype=np.float64).ravel()
        sigma_squared = np.ascontiguousarray(self.sigma_squared, dtype=np.float64).ravel()
        if mu.shape[0] != X.shape[1] or sigma_squared.shape[0] != X.shape[1]:
            raise ValueError(
                f"data has {X.shape[1]} features but mu_param has {mu.shape[0]} and "
                f"sigma_squared {sigma_squared.shape[0]}"
            )
        if not np.all(np.isfinite(sigma_squared) & (sigma_squared > 0)):
            bad = np.flatnonzero(~(np.isfinite(sigma_squared) & (sigma_squared > 0)))
            raise ValueError(
                f"sigma_squared must be positive and finite; feature(s) {bad.tolist()} are not "
                "(a constant feature has zero variance)"
            )
        log_norm = -0.5 * float(np.sum(np.log(2.0 * np.pi * sigma_squared)))
        log_density = np.empty(X.shape[0])
        _kernels.diagonal_log_density(X, mu, 1.0 / np.sqrt(sigma_squared), log_norm,
                                      log_density, 1)
        return density_from_log(log_density).reshape(-1, 1)

    @staticmethod
    def select_threshold(labels, probabilities):
        """The classic 1000-step grid search for the F1-best epsilon.

        Returns
        -------
        (epsilon, f1, precision_history, recall_history, f1_history)
            The histories are lists, one entry per grid epsilon that flagged
            at least one point.
        """
        probabilities = check_log_density(probabilities, name="probabilities")
        if np.any(probabilities < 0):
            raise ValueError("probabilities must be non-negative densities")
        labels = check_labels(labels, probabilities.shape[0], name="labels")
        result = grid_search(labels, probabilities, 1000)
        return (
            result.epsilon,
            result.f1,
            result.precision_curve.tolist(),
            result.recall_curve.tolist(),
            result.f1_curve.tolist(),
        )
