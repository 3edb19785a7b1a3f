r"""Shrinkage of a covariance matrix towards a multiple of the identity.

.. math:: \Sigma_s = (1 - s)\,S + s\,\mu I, \qquad \mu = \operatorname{tr}(S) / p,

with the intensity s from a closed form: Ledoit and Wolf (2004), or the
oracle approximating shrinkage (OAS) of Chen, Wiesel, Eldar and Hero (2010),
both computed from the maximum-likelihood covariance S (p x p) of n samples.
A shrunk covariance is positive definite whenever s > 0, however few the
samples or however collinear the features.
"""

import numpy as np

__all__ = ["ledoit_wolf_intensity", "oas_intensity", "shrink"]


def ledoit_wolf_intensity(covariance, n_samples, sum_fourth_powers):
    """Ledoit-Wolf shrinkage intensity in [0, 1].

    Parameters
    ----------
    covariance : ndarray of shape (p, p)
        Maximum-likelihood covariance S.
    n_samples : int
    sum_fourth_powers : float
        sum_i |x_i - mean|^4, the fourth moments of the centred rows.
    """
    n_features = covariance.shape[0]
    trace = float(np.trace(covariance))
    mu = trace / n_features
    squared_norm = float(np.sum(covariance * covariance))  # |S|_F^2
    # beta: the estimated variance of S's entries; delta: |S - mu I|_F^2 / p
    beta = (sum_fourth_powers / n_samples - squared_norm) / (n_features * n_samples)
    delta = (squared_norm - 2.0 * mu * trace + n_features * mu * mu) / n_features
    beta = min(beta, delta)
    return 0.0 if beta <= 0.0 else beta / delta


def oas_intensity(covariance, n_samples):
    """Oracle approximating shrinkage intensity in [0, 1].

    Parameters
    ----------
    covariance : ndarray of shape (p, p)
        Maximum-likelihood covariance S.
    n_samples : int
    """
    n_features = covariance.shape[0]
    alpha = float(np.mean(covariance * covariance))
    mu = float(np.trace(covariance)) / n_features
    numerator = alpha + mu * mu
    denominator = (n_samples + 1) * (alpha - mu * mu / n_features)
    return 1.0 if denominator == 0.0 else min(numerator / denominator, 1.0)


def shrink(covariance, intensity):
    """(1 - intensity) covariance + intensity (trace / p) I, as a new array."""
    if intensity == 0.0:
        # no arithmetic at all: an overflowed entry must not spread to the others
        return covariance.copy()
    n_features = covariance.shape[0]
    shrunk = (1.0 - intensity) * covariance
    shrunk[np.diag_indices(n_features)] += intensity * np.trace(covariance) / n_features
    return shrunk
