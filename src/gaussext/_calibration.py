r"""Scores that mean a probability: chi-square tails and conformal p-values.

Tail probability.  Under a fitted Gaussian with d features the squared
Mahalanobis distance :math:`D^2 = (x - \mu)^T \Sigma^{-1} (x - \mu)` of a
normal point is chi-square with d degrees of freedom (for the diagonal
model, :math:`D^2 = \sum_j (x_j - \mu_j)^2 / \sigma_j^2`), so

.. math:: P(\text{a normal point lies at least this far out}) = Q(d/2, D^2/2),

Q the regularised upper incomplete gamma function.  It is read off the
log-density, :math:`D^2 = 2(\log Z - \log p(x))` with :math:`\log Z` the
log normalising constant, and is uniform on (0, 1) on data drawn from the
fitted model.  It is only as right as the Gaussian: on heavy-tailed data
it flags more than its nominal rate.

Conformal p-values (split conformal, Vovk et al.; Lei et al. 2018).  With
the log-densities :math:`s_1, \dots, s_n` of n held-out normal rows,

.. math:: p(x) = \frac{1 + \#\{i : s_i \le \log p(x)\}}{n + 1},

and for data exchangeable with the calibration rows
:math:`P(p(x) \le \alpha) \le \alpha` whatever their distribution.  The rows
with :math:`p(x) \le \alpha` are exactly those whose log-density is below
:func:`conformal_log_threshold`.
"""

import math
from typing import NamedTuple

import numpy as np

from gaussext._validation import check_scalar

__all__ = ["Calibration", "check_calibration", "check_false_alarm_rate", "chi2_log_sf",
           "conformal_log_threshold", "conformal_p_values",
           "squared_distances_from_log_density"]

class Calibration(NamedTuple):
    """A calibrate()'s state: the model's whole calibration, as saved."""

    scores: np.ndarray  # (n,) sorted calibration log-densities, read-only
    false_alarm_rate: float  # alpha


# Below this survival function gammaincc loses its relative accuracy to
# underflow (it returns 0 near 1e-308); the continued fraction takes over.
_SMALL_TAIL = 1e-280


def squared_distances_from_log_density(log_density, log_norm):
    """D^2 = 2 (log_norm - log p(x)), clipped at 0 against rounding; float64.

    Rows whose density underflowed (log p = -inf) get D^2 = +inf.
    """
    distances = 2.0 * (log_norm - np.asarray(log_density, dtype=np.float64))
    return np.maximum(distances, 0.0)


def _log_upper_gamma_continued_fraction(a, z):
    r"""log Q(a, z) for z > a + 1 by the continued fraction

    .. math:: Q(a, z) = \frac{e^{-z} z^a}{\Gamma(a)}
              \cfrac{1}{z + 1 - a - \cfrac{1 \cdot (1 - a)}{z + 3 - a - \cdots}},

    evaluated by the modified Lentz method; every factor is kept in logs, so
    the result is exact where Q itself underflows float64.
    """
    from scipy import special  # on first use: slow to import
    tiny = 1e-300
    b = z + 1.0 - a
    c = np.full_like(z, 1.0 / tiny)
    d = 1.0 / b
    fraction = d.copy()
    for i in range(1, 1000):
        an = -i * (i - a)
        b = b + 2.0
        d = an * d + b
        d = np.where(np.abs(d) < tiny, tiny, d)
        c = b + an / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        d = 1.0 / d
        delta = d * c
        fraction *= delta
        if np.all(np.abs(delta - 1.0) < 1e-16):
            break
    return -z + a * np.log(z) - special.gammaln(a) + np.log(fraction)


def chi2_log_sf(x, dof):
    """log P(chi2_dof >= x), exact also where the probability underflows float64.

    Parameters
    ----------
    x : array_like of float
        Squared distances, >= 0 (+inf gives -inf).
    dof : int or array_like of int
        Degrees of freedom, >= 1; broadcast against x.

    Returns
    -------
    ndarray of float64
    """
    from scipy import special  # on first use: slow to import
    x, dof = np.broadcast_arrays(np.asarray(x, dtype=np.float64),
                                 np.asarray(dof, dtype=np.float64))
    a, z = 0.5 * dof, 0.5 * x
    upper = special.gammaincc(a, z)
    with np.errstate(divide="ignore"):
        # near 1, log1p of the small lower tail keeps the relative accuracy
        result = np.where(upper > 0.5, np.log1p(-special.gammainc(a, z)), np.log(upper))
    far = np.isfinite(z) & (z > a + 1.0) & ~(result > math.log(_SMALL_TAIL))
    if np.any(far):
        result[far] = _log_upper_gamma_continued_fraction(a[far], z[far])
    return result


def conformal_log_threshold(sorted_scores, false_alarm_rate):
    """The log-density below which exactly the rows with p <= alpha lie.

    p(x) <= alpha  <=>  #{s_i <= log p(x)} <= m = floor(alpha (n + 1)) - 1
    <=>  log p(x) < s_(m+1), the (m + 1)-th smallest calibration score.
    With m < 0 (alpha < 1 / (n + 1)) no row can have p <= alpha: -inf.
    """
    n = sorted_scores.shape[0]
    m = math.floor(false_alarm_rate * (n + 1)) - 1
    return -np.inf if m < 0 else float(sorted_scores[min(m, n - 1)])


def conformal_p_values(sorted_scores, log_density):
    """(1 + #{s_i <= log p(x)}) / (n + 1) for each log-density; float64."""
    counts = np.searchsorted(sorted_scores, log_density, side="right")
    return (1.0 + counts) / (sorted_scores.shape[0] + 1.0)


def check_false_alarm_rate(false_alarm_rate):
    """Validate alpha in (0, 1); returns it as a float."""
    check_scalar(false_alarm_rate, "false_alarm_rate", low=0.0, high=1.0,
                 low_inclusive=False, high_inclusive=False)
    return float(false_alarm_rate)


def check_calibration(scores, false_alarm_rate):
    """A Calibration from stored fields (both None: None); ValueError when
    they are not a sorted non-empty float64 vector below +inf and an alpha
    in (0, 1), or only one is given."""
    if scores is None and false_alarm_rate is None:
        return None
    if scores is None or false_alarm_rate is None:
        raise ValueError("calibration_scores and false_alarm_rate go together: got only one")
    scores = np.array(scores)
    if (scores.dtype != np.float64 or scores.ndim != 1 or scores.shape[0] < 1
            or np.isnan(scores).any() or scores.max() == np.inf
            or np.any(np.diff(scores) < 0)):
        raise ValueError("calibration_scores must be a sorted, non-empty float64 vector of "
                         "log-densities below +inf")
    if isinstance(false_alarm_rate, bool) or not isinstance(false_alarm_rate, (int, float)):
        raise TypeError(f"false_alarm_rate must be a real number, got {false_alarm_rate!r}")
    alpha = check_false_alarm_rate(false_alarm_rate)
    scores.setflags(write=False)
    return Calibration(scores, alpha)
