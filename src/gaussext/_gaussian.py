r"""The Gaussian's linear algebra: factor, rank, conditioning, scoring.

A fitted Gaussian is a :class:`FittedGaussian`, an immutable value: the
estimator publishes a new one in a single assignment, so a thread scoring
while another fits always reads one consistent model.

The full model is judged and factored on the **correlation** matrix
:math:`R = D^{-1/2} \Sigma D^{-1/2}` (:math:`D = \operatorname{diag}\Sigma`),
not on :math:`\Sigma`: rank and conditioning then do not depend on the units
of the features (bytes beside fractions), and they are those of the matrix
the scoring kernel works with.  With :math:`R = L_R L_R^T`,

.. math::

    \Sigma = L L^T,\quad L = D^{1/2} L_R,\qquad
    z = L^{-1}(x - \mu) = L_R^{-1} s,\quad s = D^{-1/2}(x - \mu),\qquad
    \log p(x) = -\tfrac12\left(d \log 2\pi + \log\det\Sigma + |z|^2\right),

so the whitening matrix the kernel applies to standardised residuals is
:math:`W = L_R^{-1}`, and :math:`\log\det\Sigma = \sum_j \log\Sigma_{jj} +
2\sum_j \log (L_R)_{jj}`.  R's eigenvalues give the numerical rank and the
condition number (Cholesky alone is not trusted: an exactly singular matrix
can still factor because of rounding); for a singular R its eigenvectors
give the linear relations between features that make it so.
"""

import math
import warnings
from dataclasses import dataclass

import numpy as np

from gaussext import _kernels
from gaussext._parallel import n_threads_for
from gaussext._validation import check_finite

__all__ = [
    "CONDITION_WARNING",
    "ConditioningWarning",
    "FittedGaussian",
    "describe_features",
    "diagonal_gaussian",
    "full_gaussian",
]

LOG_2PI = math.log(2.0 * math.pi)
# Above this condition number of the correlation matrix a fit warns: the
# scores' rounding errors grow like condition * eps, here beyond 1e-6 relative.
CONDITION_WARNING = 1e10
# Variances further apart than this make a ridge (reg_covar) swamp the small ones.
_SCALE_SPREAD_HINT = 1e6
# The kernels' specialisations by input dtype, looked up once: a fused
# function's own dispatch costs microseconds a call, as much as scoring a row.
_DIAGONAL_KERNEL = {np.dtype(np.float64): _kernels.diagonal_log_density["double"],
                    np.dtype(np.float32): _kernels.diagonal_log_density["float"]}
_FULL_KERNEL = {np.dtype(np.float64): _kernels.full_log_density["double"],
                np.dtype(np.float32): _kernels.full_log_density["float"]}


class ConditioningWarning(UserWarning):
    """A full-covariance fit whose estimate is unreliable: ill-conditioned, or
    from fewer than 10 samples per feature."""


def describe_features(indices, names=None):
    """'0, 2 ('cpu')' style list of feature indices (at most 10 shown)."""
    shown = [f"{i} ({names[i]!r})" if names is not None else str(i) for i in indices[:10]]
    more = f" and {len(indices) - 10} more" if len(indices) > 10 else ""
    return ", ".join(shown) + more


def check_variances(variances, names=None, *, remedies):
    """Raise ValueError naming features whose variance is not a positive
    finite number; `remedies` completes "Drop them, or set ..."."""
    overflow = np.flatnonzero(~np.isfinite(variances))
    if overflow.size:
        raise ValueError(
            f"The variance of feature(s) {describe_features(overflow, names)} "
            "overflows float64; rescale those features."
        )
    constant = np.flatnonzero(variances <= 0)
    if constant.size:
        raise ValueError(
            f"Feature(s) {describe_features(constant, names)} have zero variance in the "
            f"training data, so their Gaussian density is undefined. Drop them, or set "
            f"{remedies}."
        )


@dataclass(frozen=True, eq=False)
class FittedGaussian:
    """A fitted normal distribution and what scoring derives from it.

    Arrays are float64 and read-only.  `covariance` is None for the diagonal
    model; `whitening` (:math:`L_R^{-1}`, lower triangular, row-major) and
    `cholesky_factor` (L) are None there too.
    """

    mean: np.ndarray  # (d,)
    variances: np.ndarray  # (d,): var_, or the covariance's diagonal
    covariance: np.ndarray | None  # (d, d)
    cholesky_factor: np.ndarray | None  # (d, d) lower
    whitening: np.ndarray | None  # (d, d) lower, float64
    whitening_float32: np.ndarray | None  # the same in float32, for float32 input
    rank: int | None
    condition_number: float | None
    inv_std: np.ndarray  # (d,) 1 / sqrt(variances)
    log_det: float
    log_norm: float  # -(d log 2 pi + log_det) / 2

    def __post_init__(self):
        # built once per fitted model, so that scoring one row does not
        # acquire the parameters again on every call (see _kernels.FewRowScorer)
        object.__setattr__(self, "few_rows", _kernels.FewRowScorer(
            self.mean, self.inv_std, self.log_norm, self.whitening, self.whitening_float32))

    @property
    def n_features(self):
        return self.mean.shape[0]

    @property
    def is_full(self):
        return self.covariance is not None

    def log_density(self, X, n_jobs=None):
        """log p(x) of validated X (2-D float32/float64 of n_features columns);
        float64 of shape (n_samples,).

        A NaN or inf in a row always makes that row's score non-finite, so
        the kernels' count of non-finite scores (taken while they are in
        cache) proves X finite without a pass of its own; only otherwise is X
        searched, to name the offending entry or to confirm that a -inf score
        is a genuine density underflow.
        """
        n_samples, n_features = X.shape
        log_density = np.empty(n_samples)
        if not self.is_full:
            n_threads = n_threads_for(n_jobs, n_samples * n_features)
            n_nonfinite = _DIAGONAL_KERNEL[X.dtype](
                X, self.mean, self.inv_std, self.log_norm, log_density, n_threads)
        else:
            n_threads = n_threads_for(n_jobs, n_samples * n_features * (n_features + 3) // 2)
            n_nonfinite = self._full_log_density(X, log_density, n_threads)
        if n_nonfinite:
            check_finite(X)
            if self.is_full:
                self._rescore_far_rows(X, log_density, n_threads)
        return log_density

    def _full_log_density(self, X, log_density, n_threads):
        """Fill log_density from the full kernel, whose product runs in X's float type."""
        whitening = self.whitening_float32 if X.dtype == np.float32 else self.whitening
        workspace = np.empty(_kernels.full_workspace_shape(n_threads, X.shape[1], X.shape[0]),
                             X.dtype)
        return _FULL_KERNEL[X.dtype](X, self.mean, self.inv_std, whitening, self.log_norm,
                                     log_density, workspace, n_threads)

    def _rescore_far_rows(self, X, log_density, n_threads):
        """Rescore the finite rows whose full-model score came out non-finite.

        The kernel's product overflows for a point far enough out: a float32
        row's standardised residual can overflow float32, and any row's can
        overflow float64, where W s then meets inf * 0 or inf - inf and gives
        NaN.  float32 rows are first rescored by the float64 kernel (so they
        score as float64 input does); rows still not finite are rescored on
        exactly rescaled residuals (:meth:`scaled_whitened_residuals`), so
        -inf only ever means a density below float64's range and no score is
        NaN.
        """
        rows = np.flatnonzero(~np.isfinite(log_density))
        if X.dtype == np.float32:
            rescored = np.empty(rows.size)
            self._full_log_density(X[rows].astype(np.float64), rescored, n_threads)
            log_density[rows] = rescored
            rows = rows[~np.isfinite(rescored)]
        if rows.size:
            whitened, exponent = self.scaled_whitened_residuals(X[rows])
            # |z|^2 = 4^e |z / 2^e|^2: a sum of non-negative terms, inf at worst
            with np.errstate(over="ignore"):
                squared_norm = np.ldexp(np.einsum("ij,ij->i", whitened, whitened),
                                        2 * exponent[:, 0])
            log_density[rows] = self.log_norm - 0.5 * squared_norm

    def scaled_whitened_residuals(self, X):
        """(z / 2^e, e) for finite rows X: the whitened residual of each row
        (the standardised one for the diagonal model) scaled by a power of two
        per row, which is exact, so that it is finite however far out the row
        is; e has shape (n_samples, 1)."""
        values = np.asarray(X, dtype=np.float64)
        magnitude = np.maximum(np.max(np.abs(values), axis=1), np.max(np.abs(self.mean)))
        exponent = np.maximum(np.frexp(magnitude)[1], 0)[:, None]
        residual = np.ldexp(values, -exponent) - np.ldexp(self.mean, -exponent)
        standardised = residual * self.inv_std
        if self.is_full:
            return standardised @ self.whitening.T, exponent
        return standardised, exponent

    def contributions(self, X):
        """-log p(x) of finite rows X split per feature (see the estimator's
        ``explain``); float64 of shape X.shape."""
        standardised, exponent = self.scaled_whitened_residuals(X)
        if self.is_full:
            log_scale = np.log(np.diagonal(self.cholesky_factor))
        else:
            log_scale = 0.5 * np.log(self.variances)
        # a contribution beyond float64's range comes out +inf, never NaN
        with np.errstate(over="ignore"):
            half_square = 0.5 * np.ldexp(standardised, exponent) ** 2
        return 0.5 * LOG_2PI + log_scale + half_square


def _read_only(array):
    array = np.array(array, dtype=np.float64)  # a copy the caller cannot reach
    array.setflags(write=False)
    return array


def diagonal_gaussian(mean, variances, names=None, *, remedies):
    """The per-feature Gaussian; raises ValueError for a variance no density has."""
    check_variances(variances, names, remedies=remedies)
    variances = _read_only(variances)
    log_det = float(np.sum(np.log(variances)))
    return FittedGaussian(
        mean=_read_only(mean), variances=variances, covariance=None, cholesky_factor=None,
        whitening=None, whitening_float32=None, rank=None, condition_number=None,
        inv_std=_read_only(1.0 / np.sqrt(variances)), log_det=log_det,
        log_norm=-0.5 * (variances.shape[0] * LOG_2PI + log_det),
    )


def full_gaussian(mean, covariance, names=None, *, remedies, warn_stacklevel=2):
    """The multivariate Gaussian, factored on its correlation matrix.

    Raises ValueError for a covariance that defines no density (a variance
    that is not positive, or a correlation matrix of numerical rank below
    d, whose message names the dependent features and one relation); warns
    with ConditioningWarning when it is ill-conditioned.
    """
    covariance = np.asarray(covariance, dtype=np.float64)
    variances = np.diagonal(covariance).copy()
    check_variances(variances, names, remedies=remedies)
    std = np.sqrt(variances)
    correlation = covariance / std[:, None] / std[None, :]
    correlation = 0.5 * (correlation + correlation.T)
    n_features = covariance.shape[0]
    # Eigenvalues only: the eigenvectors' back-transformation is a BLAS-3
    # product that wakes the BLAS thread pool (n_jobs=1 is one thread); they
    # are computed below only to explain a failure.
    eigenvalues = np.linalg.eigvalsh(correlation)
    tolerance = eigenvalues[-1] * n_features * np.finfo(np.float64).eps
    rank = int(np.sum(eigenvalues > tolerance))
    smallest = max(eigenvalues[0], 0.0)
    condition = float(eigenvalues[-1] / smallest) if smallest > 0 else math.inf
    factor, inverse_factor, info = _kernels.cholesky_lower(np.ascontiguousarray(correlation))
    if info != 0 or rank < n_features:
        # v' Sigma v = 0 with v = D^-1/2 u for u in R's null space
        eigenvalues, eigenvectors = np.linalg.eigh(correlation)
        null_space = eigenvectors[:, eigenvalues <= tolerance]
        if null_space.shape[1] == 0:
            null_space = eigenvectors[:, :1]
        raise ValueError(
            f"The covariance matrix is not positive definite (numerical rank {rank} of "
            f"{n_features}, condition number {condition:.3g} after scaling each feature "
            f"to unit variance): {_describe_dependency(null_space, std, names)}. "
            "Drop linearly dependent features, use many more samples than features, or "
            f"set {remedies}{_scale_hint(variances)}."
        )
    if condition > CONDITION_WARNING:
        warnings.warn(
            f"The covariance matrix is ill-conditioned (condition number {condition:.3g} "
            "after scaling each feature to unit variance): log-densities may lose up to "
            f"{int(np.log10(condition))} of their 16 significant digits. Consider dropping "
            f"nearly dependent features, or {remedies}{_scale_hint(variances)}.",
            ConditioningWarning, stacklevel=warn_stacklevel + 1,
        )
    log_det = float(np.sum(np.log(variances)) + 2.0 * np.sum(np.log(np.diagonal(factor))))
    whitening = _read_only(inverse_factor)
    whitening_float32 = whitening.astype(np.float32)
    whitening_float32.setflags(write=False)
    return FittedGaussian(
        mean=_read_only(mean), variances=_read_only(variances),
        covariance=_read_only(covariance), cholesky_factor=_read_only(factor * std[:, None]),
        whitening=whitening, whitening_float32=whitening_float32, rank=rank,
        condition_number=condition, inv_std=_read_only(1.0 / std), log_det=log_det,
        log_norm=-0.5 * (n_features * LOG_2PI + log_det),
    )


def _scale_hint(variances):
    """Advice when the features' scales are far apart: a ridge added as it is
    would swamp the small ones."""
    if variances.max() > _SCALE_SPREAD_HINT * variances.min():
        return (" (reg_covar is added to every variance as it is: with variances from "
                f"{variances.min():.3g} to {variances.max():.3g}, scale the features to "
                "comparable variances first)")
    return ""


def _describe_dependency(null_space, std, names):
    """Name the features in the linear dependencies the columns u of
    `null_space` (of the correlation matrix) describe, with one written out.

    u' R u = 0 means v' x is constant on the training data for v = u / std:
    the features named are those with weight in any u (judged scale-free),
    and the relation is written in the features' own units.
    """
    weight = np.sum(null_space**2, axis=1)
    involved = np.flatnonzero(weight > 1e-8 * weight.max())
    scale_free = null_space[:, 0]
    relation = scale_free / std
    solved_for = int(np.argmax(np.abs(scale_free)))
    right_side = "".join(
        f" {'-' if coefficient < 0 else '+'} {abs(coefficient):.4g} * feature {j}"
        for j in np.flatnonzero(np.abs(scale_free) > 1e-8 * np.abs(scale_free).max())
        if j != solved_for
        for coefficient in [-relation[j] / relation[solved_for]]
    )
    return (
        f"feature(s) {describe_features(involved, names)} are (nearly) linearly "
        f"dependent on the training data, e.g. feature {solved_for} = a constant"
        f"{right_side}"
    )
