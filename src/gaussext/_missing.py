r"""Exact marginal densities of rows with missing (NaN) cells.

The marginal of a Gaussian over a subset o of its features is the Gaussian
with the sub-vector and sub-matrix, :math:`\mathcal N(\mu_o, \Sigma_{oo})`, so
a row with observed features o is scored by

.. math::

    \log p(x_o) = -\tfrac12 \left(k \log 2\pi + \log\det\Sigma_{oo}
                  + (x_o - \mu_o)^T \Sigma_{oo}^{-1} (x_o - \mu_o)\right),

k = |o|.  For the diagonal model this drops the missing features' terms.
For the full model each missingness pattern (the set of observed features)
is factorised once, :math:`\Sigma_{oo} = L_o L_o^T`, and reused by every row
with that pattern.  The squared distance :math:`D^2` is chi-square with k
degrees of freedom for a normal row, which is what the tail probability of
an incomplete row uses.

A row with every cell missing has k = 0: its marginal is the distribution of
an empty vector, whose density is 1: log p = 0, D^2 = 0, tail probability 1.
"""

import math

import numpy as np

from gaussext._validation import check_finite

__all__ = ["incomplete_rows", "marginal_explain", "marginal_scores", "refuse_incomplete_fit"]

_LOG_2PI = math.log(2.0 * math.pi)


def incomplete_rows(X):
    """Indices of the rows of X holding NaN; raises ValueError (naming the
    entry) when an observed cell is infinite."""
    missing = np.isnan(X)
    if np.isinf(X).any():
        check_finite(np.where(missing, 0.0, X))
    return np.flatnonzero(missing.any(axis=1))


def refuse_incomplete_fit(X):
    """Raise ValueError naming the first NaN cell of X, if any: the
    parameters are estimated from complete rows only."""
    missing = np.isnan(X)
    if missing.any():
        row, column = np.argwhere(missing)[0]
        raise ValueError(
            f"X has {int(missing.sum())} missing (NaN) cell(s), the first at row {row}, "
            f"column {column}: missing='marginalize' applies to scoring; fitting needs "
            "complete rows. Drop or impute the incomplete rows before fit."
        )


def _patterns(X):
    """[(observed mask (d,), row indices)] of X's rows grouped by which cells are present."""
    observed = ~np.isnan(X)
    patterns, inverse = np.unique(observed, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(patterns.shape[0] + 1))
    return [(patterns[i], order[bounds[i]:bounds[i + 1]]) for i in range(patterns.shape[0])]


def _spread(gaussian):
    return gaussian.covariance if gaussian.is_full else gaussian.variances


def _whitened(residual, spread, observed):
    """(z, log diag of the scale) of the residuals (rows, k) of the observed
    features: z = L_o^-1 r (full) or r / sigma_o (diagonal)."""
    from scipy import linalg  # on first use: slow to import
    if spread.ndim == 1:
        scale = np.sqrt(spread[observed])
        return residual / scale, np.log(scale)
    factor = linalg.cholesky(spread[np.ix_(observed, observed)], lower=True)
    z = linalg.solve_triangular(factor, residual.T, lower=True).T
    return z, np.log(np.diagonal(factor))


def marginal_scores(X, gaussian):
    """Marginal log-densities of the rows of X over their observed cells.

    Parameters
    ----------
    X : ndarray of shape (n_rows, d), NaN for a missing cell
    gaussian : FittedGaussian

    Returns
    -------
    log_density, squared_distance : ndarray of shape (n_rows,), float64
    n_observed : ndarray of shape (n_rows,), int64
    """
    mean, spread = gaussian.mean, _spread(gaussian)
    values = np.asarray(X, dtype=np.float64)
    log_density = np.zeros(values.shape[0])
    distance = np.zeros(values.shape[0])
    n_observed = np.zeros(values.shape[0], dtype=np.int64)
    for observed, rows in _patterns(values):
        k = int(observed.sum())
        n_observed[rows] = k
        if k == 0:
            continue  # the empty marginal: density 1
        z, log_scale = _whitened(values[np.ix_(rows, observed)] - mean[observed], spread,
                                 observed)
        distance[rows] = np.einsum("ij,ij->i", z, z)
        log_density[rows] = -0.5 * (k * _LOG_2PI + distance[rows]) - np.sum(log_scale)
    return log_density, distance, n_observed


def marginal_explain(X, gaussian):
    """Per-feature terms of -log p(x_o), 0.0 in the missing cells: shape (n_rows, d).

    The observed features' terms are those of ``explain`` for the marginal
    Gaussian: for the full model, over :math:`z = L_o^{-1}(x_o - \\mu_o)` in
    the order of the observed columns.
    """
    mean, spread = gaussian.mean, _spread(gaussian)
    values = np.asarray(X, dtype=np.float64)
    contributions = np.zeros(values.shape)
    for observed, rows in _patterns(values):
        if not observed.any():
            continue
        z, log_scale = _whitened(values[np.ix_(rows, observed)] - mean[observed], spread,
                                 observed)
        contributions[np.ix_(rows, observed)] = 0.5 * _LOG_2PI + log_scale + 0.5 * z * z
    return contributions
