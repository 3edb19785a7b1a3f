"""The estimator: GaussianAnomalyDetector."""

from __future__ import annotations

import collections
import contextlib
import math
import numbers
import warnings

import numpy as np

from gaussext import _blocks, _kernels, _persistence, _shrinkage
from gaussext._feature_names import check_feature_names, feature_names_of as _feature_names
from gaussext._params import ParamsMixin
from gaussext._typing import ArrayLike, Chunks, Float64Array, Path, SignArray
from gaussext._statistics import GaussianStatistics
from gaussext._threshold import ThresholdResult, density_from_log, select_threshold
from gaussext._validation import check_array, check_finite, check_fitted, check_scalar

__all__ = ["ConditioningWarning", "GaussianAnomalyDetector"]

_LOG_2PI = math.log(2.0 * math.pi)
_COVARIANCE_KINDS = ("diagonal", "full")
_SHRINKAGE_METHODS = ("ledoit-wolf", "oas")
# Above this condition number of the covariance a fit warns: the scores'
# rounding errors grow like condition * eps, here beyond 1e-6 relative.
CONDITION_WARNING = 1e10
# The classic rule of thumb for the full model: at least 10 samples a feature.
SAMPLES_PER_FEATURE = 10


class ConditioningWarning(UserWarning):
    """A full-covariance fit whose estimate is unreliable: ill-conditioned, or
    from fewer than 10 samples per feature."""


def _resolve_n_threads(n_jobs):
    """Number of OpenMP threads for `n_jobs` (None = all cores, -1 = all,
    -k = all but k - 1), clipped to what the build can use."""
    if not _kernels.openmp_enabled():
        return 1
    n_cores = _kernels.max_threads()
    if n_jobs is None:
        return n_cores
    if n_jobs < 0:
        return max(1, n_cores + 1 + n_jobs)
    return n_jobs


_threadpool_controller = None


def _single_threaded_blas(active):
    """Context holding BLAS to one thread while the kernels' own OpenMP threads
    call it, so that cores are never oversubscribed (a no-op when inactive)."""
    global _threadpool_controller
    if not active:
        return contextlib.nullcontext()
    if _threadpool_controller is None:
        from threadpoolctl import ThreadpoolController

        _threadpool_controller = ThreadpoolController()
    return _threadpool_controller.limit(limits=1, user_api="blas")


def _quantile(values, q):
    """The q-quantile of `values` with linear interpolation (NumPy's default
    method), by one partial sort: O(n), several times cheaper than np.quantile."""
    position = q * (values.shape[0] - 1)
    lower = int(math.floor(position))
    upper = min(lower + 1, values.shape[0] - 1)
    partitioned = np.partition(values, upper)
    high = float(partitioned[upper])
    # everything left of `upper` is <= high; the largest of it is order statistic `lower`
    low = float(partitioned[:upper].max()) if upper > lower else high
    fraction = position - lower
    if fraction == 0.0 or low == high:  # also keeps -inf from becoming NaN
        return low
    return low + (high - low) * fraction


def _mean_and_spread(statistics, ddof):
    """Mean and variances (d,) or covariance (d, d) of `statistics`."""
    if statistics.kind == "diagonal":
        return statistics.mean, statistics.variance(ddof)
    return statistics.mean, statistics.covariance(ddof)


def _rescaled_mean_and_spread(X, covariance, ddof, n_jobs):
    """Mean and variances (d,) or covariance (d, d) of finite X, for data
    whose sums of squared deviations overflow float64 (deviations beyond
    about 1e154, as with variances near 1e300).

    They are measured on a copy scaled per feature by a power of two, which
    is exact, and scaled back, so the result only overflows when the variance
    itself does.
    """
    largest = np.maximum(np.max(X, axis=0), -np.min(X, axis=0)).astype(np.float64)
    # scale large features down to magnitudes below 1; small ones stay as they are
    scale = np.ldexp(1.0, -np.maximum(np.frexp(largest)[1], 0))
    scaled_mean, scaled_spread = _mean_and_spread(
        GaussianStatistics(covariance).update(X * scale, n_jobs=n_jobs), ddof)
    # one factor at a time: scale**2 itself can underflow to 0
    with np.errstate(over="ignore"):
        if covariance == "diagonal":
            return scaled_mean / scale, scaled_spread / scale / scale
        return scaled_mean / scale, scaled_spread / scale[:, None] / scale[None, :]


class GaussianAnomalyDetector(ParamsMixin):
    r"""Anomaly detection with a Gaussian density model.

    Fits a normal distribution to (mostly) normal data and flags a point x as
    an anomaly when its density p(x) is below a threshold epsilon:

    - ``covariance="diagonal"``: one normal per feature,
      :math:`p(x) = \prod_j \mathcal{N}(x_j; \mu_j, \sigma_j^2)`;
    - ``covariance="full"``: one multivariate normal,
      :math:`p(x) = \mathcal{N}(x; \mu, \Sigma)`, which captures correlated
      features.

    All computation is in log space: ``score_samples`` returns log p(x), which
    stays finite where the product of hundreds of per-feature densities
    underflows to 0.0.  Parameters are maximum-likelihood estimates (variance
    and covariance divide by n_samples) unless `ddof` says otherwise.

    Epsilon comes from `contamination` at fit time (the quantile of the
    training log-densities, as scikit-learn's EllipticEnvelope does), or from
    labelled data with :meth:`tune_threshold`, which maximises F1 exactly.

    Parameters
    ----------
    covariance : {"diagonal", "full"}, default="diagonal"
        Per-feature or multivariate model.
    contamination : float in (0, 0.5], default=0.1
        Fraction of training points taken as anomalies when epsilon is set
        from the training data.
    ddof : int, default=0
        Delta degrees of freedom: variances divide by n_samples - ddof
        (0: maximum likelihood, 1: unbiased).
    reg_covar : float >= 0, default=0.0
        A ridge added to every variance (diagonal) or to the covariance's
        diagonal (full): it makes constant or linearly dependent features
        usable.
    variance_floor : float >= 0, default=0.0
        Diagonal model only: estimated variances below it are raised to it,
        :math:`\sigma_j^2 = \max(\hat\sigma_j^2, \text{floor}) + \text{reg\_covar}`.
        Unlike `reg_covar` it leaves every variance above the floor exactly
        as estimated; it is the remedy for constant or near-constant
        features (a status flag, a quantised sensor) in an otherwise exact
        fit.
    shrinkage : {"ledoit-wolf", "oas"}, float in [0, 1] or None, default=None
        Full model only: shrink the covariance towards a multiple of the
        identity, :math:`(1 - s)\,\Sigma + s\,(\operatorname{tr}\Sigma / p) I`,
        with s from the Ledoit-Wolf or the OAS closed form (computed on the
        maximum-likelihood covariance, as scikit-learn's ``LedoitWolf`` and
        ``OAS`` do) or given.  Any s > 0 makes the covariance positive
        definite, also with fewer samples than features.
    n_jobs : int or None, default=None
        Threads for fitting and scoring.  None or -1: all cores; -k: all but k - 1.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
    var_ : ndarray of shape (n_features,)
        Per-feature variances (diagonal model only).
    covariance_ : ndarray of shape (n_features, n_features)
        Covariance matrix (full model only).
    cholesky_factor_ : ndarray of shape (n_features, n_features)
        Lower-triangular L with ``covariance_ = L @ L.T`` (full model only).
    shrinkage_ : float
        The shrinkage intensity applied, 0.0 without shrinkage (full model only).
    rank_ : int
        Numerical rank of the covariance (full model only).
    condition_number_ : float
        Ratio of the covariance's largest to smallest eigenvalue (full model
        only); a fit warns with :class:`ConditioningWarning` above 1e10.
    log_det_ : float
        log det of the covariance (product of the variances when diagonal).
    epsilon_ : float
        Density threshold: anomaly iff p(x) < ``epsilon_``.  ``exp(log_epsilon_)``;
        may underflow to 0.0 (or overflow to inf) while `log_epsilon_` stays exact.
    log_epsilon_ : float
        The threshold in log-density units; all decisions use it.
    offset_ : float
        Equal to `log_epsilon_`: ``decision_function = score_samples - offset_``,
        scikit-learn's convention for outlier detectors.
    threshold_ : ThresholdResult or None
        The result of the last :meth:`tune_threshold`, None when epsilon came
        from `contamination`.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Only when fitted on a DataFrame with string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussext import GaussianAnomalyDetector
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(1000, 3))
    >>> det = GaussianAnomalyDetector(covariance="full").fit(X)
    >>> det.predict([[0.0, 0.0, 0.0], [6.0, -6.0, 6.0]]).tolist()
    [1, -1]
    """

    def __init__(self, covariance: str = "diagonal", *, contamination: float = 0.1,
                 ddof: int = 0, reg_covar: float = 0.0, variance_floor: float = 0.0,
                 shrinkage: str | float | None = None, n_jobs: int | None = None) -> None:
        self.covariance = covariance
        self.contamination = contamination
        self.ddof = ddof
        self.reg_covar = reg_covar
        self.variance_floor = variance_floor
        self.shrinkage = shrinkage
        self.n_jobs = n_jobs

    # -- scikit-learn estimator protocol (get_params, set_params: ParamsMixin)

    def __sklearn_tags__(self):
        # Only scikit-learn calls this, so scikit-learn is importable here.
        from sklearn.utils import InputTags, Tags, TargetTags

        return Tags(
            estimator_type="outlier_detector",
            target_tags=TargetTags(required=False),
            input_tags=InputTags(allow_nan=False, two_d_array=True),
        )

    def __sklearn_is_fitted__(self):
        return hasattr(self, "log_epsilon_")

    # -- fitting ---------------------------------------------------------

    def _validate_params(self):
        if self.covariance not in _COVARIANCE_KINDS:
            raise ValueError(
                f"covariance must be one of {_COVARIANCE_KINDS}, got {self.covariance!r}"
            )
        check_scalar(self.contamination, "contamination", low=0.0, high=0.5,
                     low_inclusive=False)
        check_scalar(self.ddof, "ddof", kind=numbers.Integral, low=0)
        check_scalar(self.reg_covar, "reg_covar", low=0.0)
        check_scalar(self.variance_floor, "variance_floor", low=0.0)
        if self.variance_floor > 0 and self.covariance != "diagonal":
            raise ValueError(
                "variance_floor applies to covariance='diagonal' only; for the full model "
                "use reg_covar or shrinkage"
            )
        if self.shrinkage is not None:
            if self.covariance != "full":
                raise ValueError(
                    "shrinkage applies to covariance='full' only; for the diagonal model "
                    "use variance_floor or reg_covar"
                )
            if isinstance(self.shrinkage, str):
                if self.shrinkage not in _SHRINKAGE_METHODS:
                    raise ValueError(
                        f"shrinkage must be one of {_SHRINKAGE_METHODS}, a float in [0, 1] "
                        f"or None, got {self.shrinkage!r}"
                    )
            else:
                check_scalar(self.shrinkage, "shrinkage", low=0.0, high=1.0)
        if self.n_jobs is not None:
            check_scalar(self.n_jobs, "n_jobs", kind=numbers.Integral)
            if self.n_jobs == 0:
                raise ValueError("n_jobs must be a non-zero integer or None, got 0")

    def fit(self, X: ArrayLike | Chunks, y: object = None) -> GaussianAnomalyDetector:
        """Estimate the Gaussian's parameters from X, and epsilon from `contamination`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or chunks of rows
            Training data, mostly normal points.  float32 and float64 are
            used as they are; other numeric dtypes are converted to float64.
            Data larger than memory can be given as a memory-mapped array
            (``np.load(path, mmap_mode="r")``), read in blocks of about 16 MiB,
            or as an iterator (e.g. a generator) or a list of 2-D chunks with
            the same number of columns.  Chunked input gives the parameters of
            the concatenated rows (within about 1e-15 relative), and epsilon
            from `contamination` over the last rows only (see
            :meth:`partial_fit`); ``shrinkage="ledoit-wolf"`` needs the whole
            data and is refused for chunks.
        y : None
            Ignored; present for scikit-learn's API.  Use
            :meth:`tune_threshold` to choose epsilon from labels.

        Returns
        -------
        self

        Notes
        -----
        The statistics behind the parameters are kept in `statistics_`, so
        :meth:`partial_fit` can continue from them.

        Raises
        ------
        ValueError
            For malformed X, fewer than 2 rows, a feature with zero variance
            (unless `variance_floor` or `reg_covar` > 0), a variance beyond
            float64's range and, for the full model, a covariance that is not
            positive definite (the message names the dependent features).
        """
        self._validate_params()
        if _blocks.is_chunk_stream(X):
            return self._fit_chunks(_blocks.iter_chunks(X))
        feature_names = _feature_names(X)
        # Finiteness is proven by the statistics themselves: a NaN or inf
        # anywhere in X makes its feature's mean or variance non-finite.
        X = check_array(X, ensure_finite=False)
        statistics = GaussianStatistics(self.covariance).update(X, n_jobs=self.n_jobs)
        return self._fit_statistics(statistics, [X], rows=X, feature_names=feature_names)

    def _forget_fit(self, feature_names, n_features):
        """Drop the fitted attributes of an earlier fit; record the input's shape."""
        for name in ("mean_", "var_", "covariance_", "cholesky_factor_", "shrinkage_",
                     "rank_", "condition_number_", "feature_names_in_"):
            self.__dict__.pop(name, None)
        if feature_names is not None:
            self.feature_names_in_ = feature_names
        self.n_features_in_ = n_features

    def _too_few_rows(self, statistics):
        """Why `statistics` hold too few rows to estimate this model, or None."""
        n_samples, n_features = statistics.n_samples, statistics.n_features
        if n_samples < 2 or n_samples <= self.ddof:
            return (f"{type(self).__name__} needs more samples than ddof={self.ddof} and at "
                    f"least 2 to estimate a variance; got n_samples = {n_samples}")
        if (self.covariance == "full" and n_samples <= n_features and self.reg_covar == 0
                and not self.shrinkage):
            return (f"The covariance of {n_samples} samples in {n_features} dimensions is "
                    "singular (its rank is at most n_samples - 1). Use many more samples "
                    "than features, use covariance='diagonal', set reg_covar > 0, or set "
                    "shrinkage='ledoit-wolf'.")
        return None

    def _set_parameters(self, statistics, X=None):
        """Set the Gaussian from `statistics`.  X, the rows themselves when they
        are in memory, is read only for Ledoit-Wolf shrinkage and to measure
        again, exactly rescaled, sums of squares that overflowed."""
        n_samples, n_features = statistics.n_samples, statistics.n_features
        reason = self._too_few_rows(statistics)
        if reason is not None:
            raise ValueError(reason)
        divisor = n_samples - self.ddof
        mean, spread = _mean_and_spread(statistics, self.ddof)
        if X is not None and not (np.isfinite(spread).all() and np.isfinite(mean).all()):
            # finite rows (the statistics proved it) whose squares overflowed
            mean, spread = _rescaled_mean_and_spread(X, self.covariance, self.ddof,
                                                     self.n_jobs)
        if not (np.isfinite(spread).all() and np.isfinite(mean).all()):
            # named before any arithmetic (shrinkage) spreads the overflow
            variances = spread if spread.ndim == 1 else np.diagonal(spread)
            variances = np.where(np.isfinite(mean), variances, np.inf)
            if X is None:
                raise ValueError(
                    "The sum of squared deviations of feature(s) "
                    f"{self._describe_features(np.flatnonzero(~np.isfinite(variances)))} "
                    "overflows float64 in this chunked fit; rescale those features (an "
                    "in-memory fit rescales them itself, exactly)."
                )
            self._check_variances(variances)
            raise ValueError(
                "The covariance overflows float64 although no variance does; rescale the "
                "features."
            )
        if self.covariance == "diagonal":
            self._set_gaussian(mean, np.maximum(spread, self.variance_floor) + self.reg_covar)
            return
        # shrinkage is the remedy for few samples: no warning when it is on
        if n_samples < SAMPLES_PER_FEATURE * n_features and not self.shrinkage:
            warnings.warn(
                f"{n_samples} samples for {n_features} features: a covariance matrix "
                f"estimated from fewer than {SAMPLES_PER_FEATURE} samples per feature "
                "is unreliable. Use more samples, covariance='diagonal', or shrinkage.",
                ConditioningWarning, stacklevel=3,
            )
        mle_covariance = spread if divisor == n_samples else spread * (divisor / n_samples)
        self.shrinkage_ = self._shrinkage_intensity(n_samples, mean, mle_covariance, X)
        covariance = _shrinkage.shrink(spread, self.shrinkage_)
        covariance[np.diag_indices(n_features)] += self.reg_covar
        self._set_gaussian(mean, covariance)

    def _refuse_data_dependent_shrinkage(self, what):
        if self.shrinkage == "ledoit-wolf":
            raise ValueError(
                f"shrinkage='ledoit-wolf' cannot be used with {what}: its intensity needs "
                "the fourth moments of all rows, which the mergeable statistics do not "
                "keep. Use shrinkage='oas' (computed from the covariance alone), a float "
                "in [0, 1], or fit on an in-memory array."
            )

    def _fit_chunks(self, chunks):
        """fit over an iterable of 2-D chunks; epsilon from the last rows."""
        self._refuse_data_dependent_shrinkage("chunked input")
        statistics = GaussianStatistics(self.covariance)
        # the last rows seen (about one block), for the contamination quantile
        recent, n_recent, n_chunks = collections.deque(), 0, 0
        for index, chunk in enumerate(chunks):
            n_chunks += 1
            try:
                chunk = check_array(chunk, name="X", min_samples=0, ensure_finite=False)
                statistics.update(chunk, n_jobs=self.n_jobs)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"chunk {index} of X: {exc}") from exc
            if chunk.shape[0]:
                recent.append(chunk)
                n_recent += chunk.shape[0]
                while n_recent - recent[0].shape[0] >= self._threshold_rows(chunk):
                    n_recent -= recent.popleft().shape[0]
        if statistics.n_samples == 0:
            raise ValueError(
                f"X holds no rows: fit was given {n_chunks} chunk(s) and all were empty"
            )
        return self._fit_statistics(statistics, list(recent), self._threshold_rows(recent[-1]))

    @staticmethod
    def _threshold_rows(chunk):
        """How many of the last rows of a chunked fit give epsilon."""
        return _blocks.default_block_rows(chunk.shape[1], block_bytes=_blocks.THRESHOLD_BYTES)

    def _fit_statistics(self, statistics, threshold_chunks, n_threshold_rows=None, *,
                        rows=None, feature_names=None):
        """Fit from merged statistics (of at least one row), with epsilon the
        `contamination` quantile of the log-densities of the last
        `n_threshold_rows` (all by default) of `threshold_chunks` (validated
        2-D arrays).  `rows`: all the training rows when they are in memory,
        as _set_parameters takes them."""
        self._forget_fit(feature_names, statistics.n_features)
        self.statistics_ = statistics
        self._set_parameters(statistics, rows)
        # scored chunk by chunk: no copy of the rows themselves
        log_density = np.concatenate([self._log_density(chunk) for chunk in threshold_chunks])
        if n_threshold_rows is not None:
            log_density = log_density[-n_threshold_rows:]
        self._set_threshold(_quantile(log_density, self.contamination))
        self.threshold_ = None
        return self

    def partial_fit(self, X: ArrayLike, y: object = None) -> GaussianAnomalyDetector:
        """Add a chunk of training rows to the model's statistics and refit.

        The count, mean and centred second moments of all rows seen so far
        (by :meth:`fit` and earlier calls) are kept in `statistics_` and
        merged with the chunk's by the pairwise update of Chan, Golub and
        LeVeque, so after any split of the data into chunks (one row each
        included) the parameters equal those of :meth:`fit` on the
        concatenation within about 1e-15 relative.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            The chunk; any number of rows, the same features every time.
        y : None
            Ignored.

        Returns
        -------
        self

        Notes
        -----
        - Parameters are set as soon as the rows define a Gaussian (at
          least 2 rows and more than `ddof`, and more rows than features for
          the full model without `reg_covar` or `shrinkage`); until then the
          rows are only accumulated and the model stays unfitted.
        - Epsilon: a threshold chosen by :meth:`tune_threshold` is kept
          (re-tune once the model has moved).  Otherwise epsilon is the
          `contamination` quantile of this chunk's log-densities under the
          updated model, an estimate of the training quantile that is only
          as good as the chunk is large and representative; with labelled
          data, prefer :meth:`tune_threshold`.
        - ``shrinkage="ledoit-wolf"`` raises ValueError: its intensity needs
          fourth moments the statistics do not keep; ``"oas"`` and a fixed
          intensity work.
        - Statistics that define no density (a constant feature, a singular
          covariance) raise ValueError and leave the model unfitted; the rows
          stay in `statistics_`, so later chunks can make it estimable.
        - Changing `covariance` between calls raises ValueError; call
          :meth:`fit` to start again.  A model read by :meth:`load` has no
          statistics and raises ValueError (pickle keeps them).
        """
        self._validate_params()
        self._refuse_data_dependent_shrinkage("partial_fit")
        X = check_array(X, min_samples=0, ensure_finite=False)
        statistics = getattr(self, "statistics_", None)
        if statistics is None and hasattr(self, "log_epsilon_"):
            raise ValueError(
                "This model has parameters but not the statistics partial_fit continues "
                "from (GaussianAnomalyDetector.load does not keep them): call fit to "
                "start again, or keep the fitted detector by pickle"
            )
        if statistics is None:
            statistics = GaussianStatistics(self.covariance)
        elif statistics.kind != self.covariance:
            raise ValueError(
                f"covariance is {self.covariance!r} but the statistics accumulated so far "
                f"are {statistics.kind!r}; call fit to start a new model"
            )
        self._check_n_features(X, statistics.n_features)
        # in place: a chunk that fails validation leaves the statistics as they were
        self.statistics_ = statistics.update(X, n_jobs=self.n_jobs)
        if self._too_few_rows(statistics) is not None:
            return self
        tuned = getattr(self, "threshold_", None) is not None
        self._forget_fit(getattr(self, "feature_names_in_", None), statistics.n_features)
        try:
            self._set_parameters(statistics)
        except ValueError:
            # no half-set model: unfitted until a later chunk makes it estimable
            for name in ("log_epsilon_", "offset_", "epsilon_", "threshold_"):
                self.__dict__.pop(name, None)
            raise
        if not tuned:
            if X.shape[0]:
                self._set_threshold(_quantile(self._log_density(X), self.contamination))
            elif not hasattr(self, "log_epsilon_"):  # an empty chunk: keep an epsilon
                self._set_threshold(-np.inf)
            self.threshold_ = None
        return self

    def _set_gaussian(self, mean, spread):
        """Set mean_ and var_ (1-D `spread`) or covariance_ (2-D), and what
        scoring derives from them; raises for a spread no density has."""
        variances = spread if spread.ndim == 1 else np.diagonal(spread)
        self._check_variances(variances)
        self._inv_std = 1.0 / np.sqrt(variances)
        if spread.ndim == 1:
            self.mean_, self.var_ = mean, spread
            self.log_det_ = float(np.sum(np.log(spread)))
        else:
            self.mean_, self.covariance_ = mean, spread
            self.cholesky_factor_, inverse_factor = self._cholesky(spread)
            # L^-1 diag(sigma), applied to standardised residuals (see _kernels)
            self._whitening = inverse_factor * np.sqrt(variances)
            self.log_det_ = float(2.0 * np.sum(np.log(np.diagonal(self.cholesky_factor_))))
        self._log_norm = -0.5 * (mean.shape[0] * _LOG_2PI + self.log_det_)

    def _shrinkage_intensity(self, n_samples, mean, mle_covariance, X=None):
        """The shrinkage intensity to apply: 0.0 without shrinkage.  X, the
        rows, is only read (and must be given) for Ledoit-Wolf."""
        if self.shrinkage is None:
            return 0.0
        # Both closed forms are scale-invariant: computing them on S / (tr S / p)
        # keeps the squares of entries near 1e200 from overflowing.
        scale = float(np.mean(np.diagonal(mle_covariance)))
        if not (np.isfinite(scale) and scale > 0):
            scale = 1.0
        normalised = mle_covariance / scale
        if self.shrinkage == "oas":
            return _shrinkage.oas_intensity(normalised, n_samples)
        if self.shrinkage == "ledoit-wolf":
            # |x_i - mean|^2 / scale of every row from the diagonal kernel with
            # variances `scale`: log p = -|x - mean|^2 / (2 scale), no n x d temporary
            half_squared_norms = np.empty(X.shape[0])
            _kernels.diagonal_log_density(X, mean, np.full(X.shape[1], 1.0 / np.sqrt(scale)),
                                          0.0, half_squared_norms,
                                          _resolve_n_threads(self.n_jobs))
            sum_fourth_powers = 4.0 * float(np.dot(half_squared_norms, half_squared_norms))
            return _shrinkage.ledoit_wolf_intensity(normalised, X.shape[0], sum_fourth_powers)
        return float(self.shrinkage)

    def _describe_features(self, indices):
        names = getattr(self, "feature_names_in_", None)
        shown = [
            f"{i} ({names[i]!r})" if names is not None else str(i) for i in indices[:10]
        ]
        more = f" and {len(indices) - 10} more" if len(indices) > 10 else ""
        return ", ".join(shown) + more

    def _check_variances(self, var):
        overflow = np.flatnonzero(~np.isfinite(var))
        if overflow.size:
            raise ValueError(
                f"The variance of feature(s) {self._describe_features(overflow)} "
                "overflows float64; rescale those features."
            )
        constant = np.flatnonzero(var <= 0)
        if constant.size:
            raise ValueError(
                f"Feature(s) {self._describe_features(constant)} have zero variance in the "
                "training data, so their Gaussian density is undefined. Drop them, or set "
                + ("variance_floor > 0 or " if self.covariance == "diagonal" else "")
                + "reg_covar > 0."
            )

    def _cholesky(self, covariance):
        """(L, L^-1) of the covariance; sets rank_ and condition_number_.

        Cholesky alone is not trusted: an exactly singular covariance can still
        factor because of rounding.  The numerical rank decides, with NumPy's
        matrix_rank tolerance.
        """
        factor, inverse_factor, info = _kernels.cholesky_lower(np.ascontiguousarray(covariance))
        eigenvalues = np.linalg.eigvalsh(covariance)
        tolerance = eigenvalues.max() * covariance.shape[0] * np.finfo(np.float64).eps
        rank = int(np.sum(eigenvalues > tolerance))
        smallest = max(eigenvalues.min(), 0.0)
        condition = float(eigenvalues.max() / smallest) if smallest > 0 else np.inf
        self.rank_, self.condition_number_ = rank, condition
        if info == 0 and rank == covariance.shape[0]:
            if condition > CONDITION_WARNING:
                warnings.warn(
                    f"The covariance matrix is ill-conditioned (condition number "
                    f"{condition:.3g}): log-densities may lose up to "
                    f"{int(np.log10(condition))} of their 16 significant digits. Consider "
                    "dropping nearly dependent features, reg_covar > 0 or shrinkage.",
                    ConditioningWarning, stacklevel=3,
                )
            return factor, inverse_factor
        raise ValueError(
            f"The covariance matrix is not positive definite (numerical rank {rank} of "
            f"{covariance.shape[0]}, condition number {condition:.3g}): "
            f"{self._describe_dependency(covariance, tolerance)}. "
            "Drop linearly dependent features, use many more samples than features, "
            "or set reg_covar > 0 or shrinkage='ledoit-wolf'."
        )

    def _describe_dependency(self, covariance, tolerance):
        """Name the features in a linear dependency, with one relation.

        v' Sigma v = Var(v' x) = 0 means v' x is constant on the training
        data: each eigenvector of a (numerically) zero eigenvalue is such a
        relation.  The features named are those with weight in any of them.
        """
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        null_space = eigenvectors[:, eigenvalues <= tolerance]
        if null_space.shape[1] == 0:
            null_space = eigenvectors[:, :1]
        weight = np.sum(null_space**2, axis=1)
        involved = np.flatnonzero(weight > 1e-8 * weight.max())
        relation = null_space[:, 0]
        solved_for = int(np.argmax(np.abs(relation)))
        right_side = "".join(
            f" {'-' if coefficient < 0 else '+'} {abs(coefficient):.4g} * feature {j}"
            for j in np.flatnonzero(np.abs(relation) > 1e-8 * np.abs(relation).max())
            if j != solved_for
            for coefficient in [-relation[j] / relation[solved_for]]
        )
        return (
            f"feature(s) {self._describe_features(involved)} are (nearly) linearly "
            f"dependent on the training data, e.g. feature {solved_for} = a constant"
            f"{right_side}"
        )

    def _set_threshold(self, log_epsilon, epsilon=None):
        self.log_epsilon_ = log_epsilon
        self.offset_ = log_epsilon
        if epsilon is None:
            epsilon = float(density_from_log(log_epsilon))
        self.epsilon_ = epsilon

    # -- scoring ---------------------------------------------------------

    def _check_fitted(self):
        check_fitted(self, "log_epsilon_")

    def _validate_for_scoring(self, X):
        self._check_fitted()
        check_feature_names(self, X, stacklevel=3)
        # Finiteness is checked on the scores instead (see _log_density).
        X = check_array(X, ensure_finite=False)
        self._check_n_features(X, self.n_features_in_)
        return X

    def _check_n_features(self, X, expected):
        if expected is not None and X.shape[1] != expected:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{expected} features as input."
            )

    def _log_density(self, X):
        """log p(x) of shape-checked X; float64 of shape (n_samples,).

        A NaN or inf in a row always makes that row's score non-finite, so
        the kernels' count of non-finite scores (taken while they are in
        cache) proves X finite without a pass of its own; only otherwise is X
        searched, to name the offending entry or to confirm that a -inf score
        is a genuine density underflow.
        """
        n_threads = _resolve_n_threads(self.n_jobs)
        log_density = np.empty(X.shape[0])
        if not hasattr(self, "cholesky_factor_"):  # the model fitted, not the parameter
            n_nonfinite = _kernels.diagonal_log_density(
                X, self.mean_, self._inv_std, self._log_norm, log_density, n_threads)
        else:
            n_nonfinite = self._full_log_density(X, log_density, n_threads)
        if n_nonfinite:
            check_finite(X)
            if hasattr(self, "cholesky_factor_") and X.dtype == np.float32:
                self._rescore_in_float64(X, log_density, n_threads)
        return log_density

    def _full_log_density(self, X, log_density, n_threads):
        """Fill log_density from the full kernel, whose product runs in X's float type."""
        workspace = np.empty(_kernels.full_workspace_shape(n_threads, X.shape[1]), X.dtype)
        with _single_threaded_blas(n_threads > 1):
            return _kernels.full_log_density(
                X, self.mean_, self._inv_std, self._whitening.astype(X.dtype, copy=False),
                self._log_norm, log_density, workspace, n_threads)

    def _rescore_in_float64(self, X, log_density, n_threads):
        """Rescore in float64 the finite float32 rows whose single-precision
        product overflowed, so that -inf only ever means a density below
        float64's range, as it does for float64 input."""
        rows = np.flatnonzero(~np.isfinite(log_density))
        rescored = np.empty(rows.size)
        self._full_log_density(X[rows].astype(np.float64), rescored, n_threads)
        log_density[rows] = rescored

    def score_samples(self, X: ArrayLike) -> Float64Array:
        """Log-density log p(x) of each sample under the fitted Gaussian.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,), float64
            Summed in float64 whatever the input's float type.  For float32
            input the full model whitens the centred rows in float32, which
            moves a score by a few parts in 1e7 (at most about
            (n_features + 2) * 2**-24 of each whitened coordinate's terms) and
            scores 1.7 to 1.9 times as fast; pass float64 data for float64
            throughout.
        """
        return self._log_density(self._validate_for_scoring(X))

    def decision_function(self, X: ArrayLike) -> Float64Array:
        """log p(x) - log epsilon: negative for anomalies.

        Returns
        -------
        ndarray of shape (n_samples,), float64
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X: ArrayLike) -> SignArray:
        """+1 for a normal point, -1 for an anomaly (p(x) < epsilon).

        Returns
        -------
        ndarray of shape (n_samples,), int64
        """
        return np.where(self.decision_function(X) < 0, -1, 1)

    def fit_predict(self, X: ArrayLike, y: object = None) -> SignArray:
        """Fit on X, then predict X: +1 normal, -1 anomaly."""
        return self.fit(X).predict(X)

    def pdf(self, X: ArrayLike) -> Float64Array:
        """Density p(x) = exp(log p(x)); 0.0 where log p(x) < -745 (underflow) and
        inf where log p(x) > 709.78 (a density beyond float64's range).

        Returns
        -------
        ndarray of shape (n_samples,), float64
        """
        return density_from_log(self.score_samples(X))

    def explain(self, X: ArrayLike) -> Float64Array:
        r"""Each sample's -log p(x) split into one contribution per feature.

        Diagonal model: feature j's own term,
        :math:`c_j = \tfrac12 \log(2\pi\sigma_j^2) + (x_j - \mu_j)^2 / (2\sigma_j^2)`.

        Full model: over the whitened residual :math:`z = L^{-1}(x - \mu)`,
        with L the lower Cholesky factor of the covariance (`cholesky_factor_`),
        :math:`c_j = \tfrac12 z_j^2 + \log L_{jj} + \tfrac12 \log 2\pi`.
        :math:`z_j` is what feature j adds that features 0..j-1 (earlier
        columns) do not predict, scaled by its conditional standard
        deviation :math:`L_{jj}`; so this attribution depends on the column
        order: feature 0 is judged alone, the last given all the others.
        With a diagonal covariance both formulas agree.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_features), float64
            Row i sums to ``-score_samples(X)[i]`` up to rounding (computed
            in float64 for either input type, so for float32 input to the
            full model up to the error of its float32 whitening, see
            :meth:`score_samples`); a large entry names a feature that made
            the point unlikely.
        """
        X = self._validate_for_scoring(X)
        check_finite(X)
        values = np.asarray(X, dtype=np.float64)
        # Each row is scaled by a power of two (exact) so that x - mu and the
        # whitening stay finite for points arbitrarily far out; a contribution
        # beyond float64's range then comes out +inf, never NaN.
        magnitude = np.maximum(np.max(np.abs(values), axis=1), np.max(np.abs(self.mean_)))
        exponent = np.maximum(np.frexp(magnitude)[1], 0)[:, None]
        residual = np.ldexp(values, -exponent) - np.ldexp(self.mean_, -exponent)
        full = hasattr(self, "cholesky_factor_")  # the model fitted, not the parameter
        if full:
            standardised = (residual * self._inv_std) @ self._whitening.T
            log_scale = np.log(np.diagonal(self.cholesky_factor_))
        else:
            standardised = residual * self._inv_std
            log_scale = 0.5 * np.log(self.var_)
        with np.errstate(over="ignore"):
            half_square = 0.5 * np.ldexp(standardised, exponent) ** 2
        return 0.5 * _LOG_2PI + log_scale + half_square

    def save(self, path: Path) -> None:
        """Write the fitted model to `path`, an ``.npz`` file in a safe format.

        The file holds float64 arrays and JSON metadata (package version,
        model kind, parameters, feature names, epsilon), and is read back by
        :meth:`load` without pickle.  `threshold_` (the curves of the last
        tuning) is not saved; the threshold itself is.  Pickling the detector
        also works, but unpickling runs code from the file: never unpickle a
        file you do not trust.
        """
        _persistence.save(self, path)

    @classmethod
    def load(cls, path: Path) -> GaussianAnomalyDetector:
        """Read a model written by :meth:`save`; its scores equal the saved
        model's bit for bit.

        Raises
        ------
        FileNotFoundError
            When `path` does not exist.
        ValueError
            When the file is truncated, tampered with, of another format
            version, or holds parameters no Gaussian has; no code in the file
            is ever executed.
        """
        return _persistence.load(cls, path)

    def tune_threshold(self, X_val: ArrayLike, y_val: ArrayLike, *, method: str = "exact",
                       steps: int = 1000) -> ThresholdResult:
        """Choose epsilon on labelled data by maximising F1, and keep it.

        Parameters
        ----------
        X_val : array-like of shape (n_samples, n_features)
        y_val : array-like of shape (n_samples,)
            1 for an anomaly, 0 for a normal point; both classes present.
        method, steps
            As in :func:`gaussext.select_threshold`.

        Returns
        -------
        ThresholdResult
            Also stored as `threshold_`; `epsilon_`, `log_epsilon_` and
            `offset_` are updated.
        """
        return self._keep_threshold(
            select_threshold(y_val, self.score_samples(X_val), method=method, steps=steps))

    def _keep_threshold(self, result):
        """Adopt a tuned ThresholdResult's epsilon; return the result."""
        self._set_threshold(result.log_epsilon, result.epsilon)
        self.threshold_ = result
        return result
