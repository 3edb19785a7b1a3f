r"""Robust location and scatter by deterministic concentration steps (DetMCD).

The minimum covariance determinant (MCD) estimator fits the Gaussian to the
h of the n rows whose fitted (co)variance has the smallest determinant.  A
*concentration step* (C-step) never increases that determinant: fit the
Gaussian to a subset H of h rows, score every row by its squared Mahalanobis
distance

.. math:: d^2(x) = (x - \mu_H)^T \Sigma_H^{-1} (x - \mu_H),

and keep the h rows with the smallest distances as the next subset
(Rousseeuw and Van Driessen, 1999).  Both halves of a step are the package's
compiled kernels: the subset's statistics, then one scoring pass over all
rows, so a step runs at the speed of a plain fit and score.

Starts are deterministic, after Hubert, Rousseeuw and Verdonck (2012,
"A deterministic algorithm for robust location and scatter", DetMCD): the
columns are standardised by median and MAD, and five robust scatter
estimates of the standardised data (the correlation of tanh-transformed
values, Spearman's rank correlation, the correlation of normal scores, the
spatial-sign covariance, and the covariance of the half of the rows nearest
the coordinatewise median) each give a start.  For each, the eigenvectors
are kept and the eigenvalues replaced by squared MADs of the data projected
on them, the ceil(n / 2) rows nearest that estimate form the first subset,
and C-steps run from it; after two steps the start with the smallest
determinant goes on until its subset repeats (the steps lower the
determinant fastest at first, as in FastMCD's screening of candidates).  No
random numbers are drawn anywhere.

The raw estimate (`raw_location`, `raw_spread`) is then made consistent at
the normal distribution (multiplied by median(d^2) / chi2_d.median), and
reweighted: rows with d^2 <= chi2_d.ppf(0.975) form the `support`, whose
plain fit, its (co)variance times :func:`truncation_consistency` (the rows
kept are a truncated sample), is the final model, as scikit-learn's
``MinCovDet`` does.

Why a support of about half the rows, and not ``1 - contamination``: the
contamination is a guess made to place the threshold, and a support sized
by a guess that is too low breaks down.  Half the rows resist any
contamination below one half; the reweighting then takes back every row
consistent with that core, so the final support follows the contamination
the data actually hold.

The diagonal model runs the same steps with a diagonal covariance: the
subset minimises the product of its per-feature variances, and d^2 is the
sum of squared standardised coordinates, chi2 with d degrees of freedom
under the model.
"""

import dataclasses
import math
import warnings

import numpy as np

from gaussext import _shrinkage
from gaussext._gaussian import ConditioningWarning, diagonal_gaussian, full_gaussian
from gaussext._statistics import GaussianStatistics

__all__ = ["REWEIGHT_QUANTILE", "RobustFit", "fit", "refuse_streaming", "squared_distances",
           "support_size", "truncation_consistency"]

# Rows beyond this chi-square quantile of the consistent raw fit are left out
# of the final fit (the usual choice, also scikit-learn's MinCovDet's).
REWEIGHT_QUANTILE = 0.975
# C-steps per start at most; they stop as soon as the subset repeats, which
# takes a handful of steps in practice (the determinant decreases strictly).
MAX_STEPS = 100
# C-steps every start takes before the best one alone goes on (the steps
# decrease the determinant fastest at first: FastMCD's candidate screening).
SCREENING_STEPS = 2
# MAD of a standard normal: 1 / Phi^-1(3/4)
_MAD_TO_SIGMA = 1.0 / 0.6744897501960817  # 1 / Phi^-1(3/4)


@dataclasses.dataclass(frozen=True)
class RobustFit:
    """The outcome of :func:`fit`.

    Attributes
    ----------
    support : ndarray of bool, shape (n_samples,)
        The rows of the final (reweighted) fit.
    raw_location : ndarray of shape (n_features,)
        Mean of the best h-subset.
    raw_spread : ndarray of shape (n_features,) or (n_features, n_features)
        Its variances or covariance, times the consistency factor.
    raw_support : ndarray of bool, shape (n_samples,)
        The best h-subset itself.
    consistency : float
        The factor median(d^2) / chi2_d.median applied to the raw spread.
    reweighted_consistency : float
        The factor that makes the plain (co)variance of the `support` rows
        consistent at the normal distribution (see
        :func:`truncation_consistency`).
    """

    support: np.ndarray
    raw_location: np.ndarray
    raw_spread: np.ndarray
    raw_support: np.ndarray
    consistency: float
    reweighted_consistency: float


def refuse_streaming(robust, what):
    """Raise ValueError when a robust fit is asked of `what`, which sees its
    rows one chunk at a time: concentration steps need all rows at once."""
    if robust:
        raise ValueError(
            f"robust=True cannot be used with {what}: its concentration steps revisit "
            "every row several times, which needs all the rows in memory. Fit on an "
            "in-memory array (a robust fit on a representative sample is a good start)."
        )


def support_size(n_samples, n_features):
    """h = ceil((n + d + 1) / 2), the subset size of the highest breakdown point.

    The raw fit resists any contamination below (n - h) / n, about one half;
    the reweighting step then takes back every row the data show to be
    consistent with the core, so the final support adapts to the actual
    contamination rather than to a guess of it.
    """
    return min(n_samples, math.ceil(0.5 * (n_samples + n_features + 1)))


def _robust_scale(values):
    """(median, MAD * 1.4826) of each column; where the MAD is 0 (over half
    the values tie), the interquartile range / 1.349, then the standard
    deviation, then 1."""
    from scipy import special  # on first use: slow to import
    # one feature a contiguous row: partitions then stream through memory
    columns = np.ascontiguousarray(values.T)
    centre = np.median(columns, axis=1)
    scale = _MAD_TO_SIGMA * np.median(np.abs(columns - centre[:, None]), axis=1)
    if np.all(scale > 0):
        return centre, scale
    low, high = np.percentile(columns, [25.0, 75.0], axis=1)
    fallback = (high - low) / (2.0 * special.ndtri(0.75))
    fallback = np.where(fallback > 0, fallback, np.std(columns, axis=1))
    scale = np.where(scale > 0, scale, np.where(fallback > 0, fallback, 1.0))
    return centre, scale


def _correlation(values):
    """Correlation matrix of the columns; a constant column gets unit variance
    and no correlation, so a tied feature cannot make a start singular."""
    centred = values - values.mean(axis=0)
    scatter = centred.T @ centred
    scale = np.sqrt(np.diagonal(scatter))
    scale = np.where(scale > 0, scale, 1.0)
    return scatter / scale[:, None] / scale[None, :]


def _start_scatters(Z):
    """The five DetMCD scatter estimates of the standardised data Z (n, d)."""
    from scipy import special, stats  # on first use: slow to import
    n_samples = Z.shape[0]
    ranks = stats.rankdata(np.ascontiguousarray(Z.T), axis=1).T
    norms = np.sqrt(np.einsum("ij,ij->i", Z, Z))
    signs = Z / np.where(norms > 0, norms, 1.0)[:, None]
    nearest = Z[np.argpartition(norms, (n_samples + 1) // 2 - 1)[:(n_samples + 1) // 2]]
    return [
        _correlation(np.tanh(Z)),
        _correlation(ranks),
        _correlation(special.ndtri((ranks - 1.0 / 3.0) / (n_samples + 1.0 / 3.0))),
        signs.T @ signs / n_samples,
        np.cov(nearest, rowvar=False, bias=True).reshape(Z.shape[1], Z.shape[1]),
    ]


def _start_subset(Z, scatter, size):
    """The `size` rows of Z nearest the robust estimate shaped by `scatter`:
    its eigenvectors, with MADs of the projections as scales and the
    coordinatewise median of the projections as centre (DetMCD, step 2)."""
    _, eigenvectors = np.linalg.eigh(scatter)
    projected = Z @ eigenvectors
    centre, scale = _robust_scale(projected)
    distances = np.sum(((projected - centre) / scale) ** 2, axis=1)
    return np.sort(np.argpartition(distances, size - 1)[:size])


def squared_distances(X, gaussian, n_jobs):
    """Squared Mahalanobis distances of the rows of X to a FittedGaussian,
    shape (n_samples,), float64: log p(x) = log_norm - D^2 / 2, so the
    kernels' scores give D^2 = 2 (log_norm - log p(x))."""
    return np.maximum(2.0 * (gaussian.log_norm - gaussian.log_density(X, n_jobs)), 0.0)


def _subset_fit(X, rows, kind, regularise, n_jobs, describe):
    """The FittedGaussian of X[rows] (maximum likelihood, regularised);
    raises ValueError, naming features, when it defines no density."""
    statistics = GaussianStatistics(kind).update(X[rows], n_jobs=n_jobs)
    spread = statistics.variance(0) if kind == "diagonal" else statistics.covariance(0)
    spread = regularise(spread, rows.shape[0])
    if kind == "diagonal":
        return diagonal_gaussian(statistics.mean, spread, describe[0], remedies=describe[1])
    return full_gaussian(statistics.mean, spread, describe[0], remedies=describe[1])


def _concentrate(X, rows, size, kind, regularise, n_jobs, describe, max_steps=MAX_STEPS):
    """At most `max_steps` C-steps from the subset `rows`, stopping when it
    repeats: (log det, rows, FittedGaussian, d^2)."""
    gaussian = _subset_fit(X, rows, kind, regularise, n_jobs, describe)
    for _ in range(max_steps):
        distances = squared_distances(X, gaussian, n_jobs)
        following = np.sort(np.argpartition(distances, size - 1)[:size])
        if np.array_equal(following, rows):
            break
        rows = following
        gaussian = _subset_fit(X, rows, kind, regularise, n_jobs, describe)
    else:
        distances = squared_distances(X, gaussian, n_jobs)
    return gaussian.log_det, rows, gaussian, distances


def fit(X, kind, *, reg_covar=0.0, variance_floor=0.0, shrinkage=None, n_jobs=None,
        names=None, remedies=""):
    """Deterministic MCD of the rows of finite X (n, d): see the module docstring.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64
        Validated, finite, with n_samples > n_features + 1 (checked by the caller).
    kind : {"diagonal", "full"}
    reg_covar, variance_floor, shrinkage
        The model's regularisation, applied to every subset's
        maximum-likelihood spread so that C-steps see what the model will
        (Ledoit-Wolf shrinkage is approximated by OAS during the steps).
    n_jobs : int or None
        For the kernels, as the estimator's `n_jobs`.
    names, remedies
        Feature names and the remedies to suggest, for the message when the
        kept rows define no density.

    Returns
    -------
    RobustFit

    Raises
    ------
    ValueError
        When the best subset's (co)variance is singular (more than h rows on
        a hyperplane, or sharing a feature's value); the message names the
        features, as a plain fit's does.
    """
    from scipy import stats  # on first use: slow to import
    n_samples, n_features = X.shape
    size = support_size(n_samples, n_features)
    regularise = _regulariser(kind, reg_covar, variance_floor, shrinkage)
    describe = (names, remedies)
    values = np.asarray(X, dtype=np.float64)
    centre, scale = _robust_scale(values)
    Z = (values - centre) / scale
    best, singular, seen = None, None, []
    # subsets' conditioning is not the model's: the final fit warns if it must
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConditioningWarning)
        for scatter in _start_scatters(Z):
            rows = _start_subset(Z, scatter, (n_samples + 1) // 2)
            try:
                # the first step takes the h nearest to the half-sample's fit
                gaussian = _subset_fit(X, rows, kind, regularise, n_jobs, describe)
                distances = squared_distances(X, gaussian, n_jobs)
                rows = np.sort(np.argpartition(distances, size - 1)[:size])
                if any(np.array_equal(rows, other) for other in seen):
                    continue  # the same subset concentrates to the same optimum
                seen.append(rows)
                candidate = _concentrate(X, rows, size, kind, regularise, n_jobs, describe,
                                         max_steps=SCREENING_STEPS)
            except ValueError as exc:
                singular = exc
                continue
            if best is None or candidate[0] < best[0]:
                best = candidate
        try:
            if best is None:
                raise singular
            # only the most promising start is concentrated to the end
            _, rows, gaussian, distances = _concentrate(X, best[1], size, kind, regularise,
                                                        n_jobs, describe)
        except ValueError as exc:
            raise ValueError(
                f"robust fit: the {size} rows kept by the minimum covariance determinant "
                f"search define no density: {exc}") from None
    # consistency at the normal: median d^2 is chi2_d's median for normal data
    consistency = float(np.median(distances) / stats.chi2.ppf(0.5, n_features))
    raw_support = np.zeros(n_samples, dtype=bool)
    raw_support[rows] = True
    support = distances / consistency <= stats.chi2.ppf(REWEIGHT_QUANTILE, n_features)
    spread = gaussian.variances if kind == "diagonal" else gaussian.covariance
    return RobustFit(support=support, raw_location=np.array(gaussian.mean),
                     raw_spread=spread * consistency, raw_support=raw_support,
                     consistency=consistency,
                     reweighted_consistency=truncation_consistency(n_features))


def truncation_consistency(n_features, quantile=REWEIGHT_QUANTILE):
    r"""The factor making the (co)variance of normal rows kept by
    :math:`d^2 \le q = \chi^2_{d}`.ppf(`quantile`) consistent:

    .. math:: c = \frac{\text{quantile}}{F_{\chi^2_{d+2}}(q)},

    since each coordinate's truncated second moment is
    :math:`E[z_j^2 \mid d^2 \le q] = F_{\chi^2_{d+2}}(q) / F_{\chi^2_d}(q)`
    (Croux and Haesbroeck, 1999); the same holds for the diagonal model.
    """
    from scipy import stats  # on first use: slow to import
    cutoff = stats.chi2.ppf(quantile, n_features)
    return float(quantile / stats.chi2.cdf(cutoff, n_features + 2))


def _regulariser(kind, reg_covar, variance_floor, shrinkage):
    """(spread, n_rows) -> spread with the model's regularisation, as the final
    fit applies it; data-dependent shrinkage ("ledoit-wolf", "oas") is the OAS
    closed form here, computed from the subset's covariance alone."""
    if kind == "diagonal":
        return lambda spread, n_rows: np.maximum(spread, variance_floor) + reg_covar

    def regularise(covariance, n_rows):
        intensity = 0.0
        if isinstance(shrinkage, str):
            # scale-free: computed on the covariance over its mean variance
            scale = float(np.mean(np.diagonal(covariance)))
            if scale > 0:
                intensity = _shrinkage.oas_intensity(covariance / scale, n_rows)
        elif shrinkage is not None:
            intensity = float(shrinkage)
        covariance = _shrinkage.shrink(covariance, intensity)
        covariance[np.diag_indices(covariance.shape[0])] += reg_covar
        return covariance

    return regularise
