"""The estimator: GaussianAnomalyDetector, a thin API over the Gaussian's
linear algebra (`_gaussian`), the thread policy (`_parallel`), the mergeable
statistics (`_statistics`), the threshold scans (`_threshold`) and the input
checks (`_validation`)."""

from __future__ import annotations

import collections
import math
import numbers
import threading
import time
import warnings
from typing import NamedTuple

import numpy as np

from gaussext import _blocks, _calibration, _missing, _persistence, _robust, _shrinkage
from gaussext._feature_names import check_feature_names, feature_names_of
from gaussext._gaussian import (
    ConditioningWarning,
    FittedGaussian,
    check_variances,
    describe_features,
    diagonal_gaussian,
    full_gaussian,
)
from gaussext._params import ParamsMixin
from gaussext._typing import ArrayLike, Chunks, Float64Array, Path, SignArray
from gaussext._parallel import check_n_jobs
from gaussext._sample import sample_quantile
from gaussext._statistics import (
    GaussianStatistics,
    check_half_life,
    exact_mean_and_spread,
    mean_and_spread,
)
from gaussext._threshold import (
    ThresholdResult,
    contamination_quantile,
    density_from_log,
    select_threshold,
)
from gaussext._validation import (
    check_array,
    check_finite,
    check_is_fitted,
    check_n_features,
    check_scalar,
    not_fitted_error,
)

__all__ = ["ConditioningWarning", "GaussianAnomalyDetector", "check_params_for_statistics"]

_COVARIANCE_KINDS = ("diagonal", "full")
_SHRINKAGE_METHODS = ("ledoit-wolf", "oas")
_MISSING_POLICIES = ("error", "marginalize")
# predict's labels as int64 arrays: np.where then need not convert Python ints
# on every call, which costs more than scoring a row
_ANOMALY, _NORMAL = np.array(-1, dtype=np.int64), np.array(1, dtype=np.int64)
# The classic rule of thumb for the full model: at least 10 samples a feature.
SAMPLES_PER_FEATURE = 10


class _Fitted(NamedTuple):
    """Everything a fitted detector scores and decides with: replaced
    whole, never changed in place."""

    gaussian: FittedGaussian
    log_epsilon: float
    epsilon: float
    threshold: ThresholdResult | None
    feature_names: np.ndarray | None
    shrinkage: float | None  # the intensity applied (full model), None when diagonal
    robust: _robust.RobustFit | None = None  # robust fits only
    calibration: _calibration.Calibration | None = None  # after calibrate
    # partial_fit's epsilon, computed when first read (scoring the row sample
    # after every one-row chunk would cost O(sample) a row): log_epsilon and
    # epsilon are placeholders while it is set
    pending_epsilon: _PendingEpsilon | None = None

    @property
    def kind(self):
        return "full" if self.gaussian.is_full else "diagonal"


class _PendingEpsilon:
    """The `contamination` quantile of a row sample's scores under a model,
    computed on demand, from the sample as it was when the model was fitted.

    Nothing is copied when the model is published: later partial_fits may
    change the sample in place.  So the sample's version (see RowSample) is
    recorded, and a computation counts only if the version was that one
    before and after it; otherwise __call__ returns None and the caller
    resolves the newer model instead."""

    def __init__(self, sample, contamination, n_jobs):
        self.sample, self.version = sample, sample.version
        self.contamination, self.n_jobs = contamination, n_jobs
        self._lock = threading.Lock()  # threads reading epsilon at once compute it once
        self._log_epsilon = None

    def __call__(self, gaussian, accept_current=False):
        """log epsilon, or None when the sample has changed since (or changes
        during) the computation.  `accept_current`: take the sample as it is
        now, when no change is under way (nothing newer will be published)."""
        with self._lock:
            if self._log_epsilon is None:
                version = self.sample.version
                if version % 2 or (version != self.version and not accept_current):
                    return None
                # a copy: its storage and size are read as they are now
                log_epsilon = self.sample.copy().quantile(
                    lambda X: gaussian.log_density(X, self.n_jobs), self.contamination)
                if self.sample.version != version:
                    return None
                self._log_epsilon = log_epsilon
            return self._log_epsilon

    def __getstate__(self):
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()


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
    robust : bool, default=False
        Fit on the rows a deterministic minimum covariance determinant
        estimate keeps (see ``gaussext._robust``): concentration steps from
        deterministic starts on half the rows plus (d + 1) / 2, a consistency
        correction, then the plain fit (with `ddof`, `reg_covar`,
        `variance_floor`, `shrinkage`) of the rows within the 0.975
        chi-square quantile of that estimate, made consistent at the normal.
        Use it when the training rows are unlabelled and may hold anomalies;
        epsilon from `contamination` is still the quantile over all training
        rows.  Needs the rows in memory: chunked input, :meth:`partial_fit`,
        files and Dask are refused.
    missing : {"error", "marginalize"}, default="error"
        What scoring does with a NaN cell: raise ValueError, or score the row
        by the exact marginal density of its observed features (see
        ``gaussext._missing``; complete rows still go through the compiled
        kernels).  :meth:`explain` and :meth:`tail_probability` (with the
        number of observed features as degrees of freedom) follow.  A row
        with every cell missing gets log p = 0 (the density of an empty
        vector), tail probability 1.  Fitting always needs complete rows.
    half_life : float or None, default=None
        Forgetting, in rows: None weighs every training row alike; h > 0
        weighs row i of the n seen by :math:`w_i = 2^{-(n-1-i)/h}` (the last
        row 1, a row h rows older 1/2), in the mean, the (co)variance and
        epsilon (see Notes).  :meth:`fit` starts again; :meth:`partial_fit`
        and :meth:`save` / :meth:`load` carry the weights on.  Not with
        ``robust=True`` or ``shrinkage="ledoit-wolf"``.
    resumable : bool, default=False
        Whether :meth:`fit` on an in-memory array also keeps the bounded row
        sample (at most 32 MiB, see :class:`GaussianStatistics`) from which
        a later :meth:`partial_fit`, also after :meth:`save` and
        :meth:`load`, takes epsilon over every row seen.  Keeping it copies
        up to 2^17 rows, which can cost as much as the fit itself and
        grows a model file from kilobytes to megabytes, so an in-memory fit
        keeps it only when asked; :meth:`partial_fit` and fits on chunks,
        files or Dask always keep it (their epsilon comes from it).  A model
        fitted in memory without it refuses :meth:`partial_fit`, with this
        remedy in the message.
    n_jobs : int or None, default=None
        Threads for fitting and scoring.  None or -1: every core this process
        may use (its CPU affinity, capped by a cgroup quota); -k: all but
        k - 1; k: at most k, never more than the usable cores.  Small calls,
        and every call in a process forked from one that imported gaussext,
        run on the calling thread.  ``n_jobs=1`` is one thread: no BLAS
        thread pool is used.  Not saved in model files.

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
        Numerical rank of the correlation matrix (the covariance with every
        feature scaled to unit variance), so it does not depend on the
        features' units (full model only).
    condition_number_ : float
        Ratio of the correlation matrix's largest to smallest eigenvalue
        (full model only); a fit warns with :class:`ConditioningWarning`
        above 1e10.
    log_det_ : float
        log det of the covariance (sum of the log variances when diagonal).
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

    Notes
    -----
    Streaming (:meth:`partial_fit`, :meth:`fit` on chunks, ``fit_file``)
    keeps the statistics in `statistics_` with a bounded row sample (see
    :class:`GaussianStatistics`), from which epsilon is the `contamination`
    quantile over every row seen: exact up to the sample's capacity k
    (131072 rows for up to 30 features), and beyond it within a standard
    deviation of about :math:`\sqrt{q(1-q)/k}` in the flagged share.

    With `half_life` h the statistics are exponentially weighted: with
    :math:`V_1 = \sum_i w_i` and :math:`V_2 = \sum_i w_i^2`,

    .. math::

        \mu = \frac{1}{V_1} \sum_i w_i x_i, \qquad
        \Sigma = \frac{\sum_i w_i (x_i - \mu)(x_i - \mu)^T}
                      {V_1 - \text{ddof}\; V_2 / V_1}

    (reliability weights: ``ddof=1`` is unbiased), merged by the weighted
    update of Chan, Golub and LeVeque after decaying the earlier part by
    :math:`2^{-n_B/h}`, so :meth:`fit` on X equals :meth:`partial_fit` over
    its rows in order; epsilon is the weighted quantile of a weighted row
    sample.

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
                 shrinkage: str | float | None = None, robust: bool = False,
                 missing: str = "error", half_life: float | None = None,
                 resumable: bool = False, n_jobs: int | None = None) -> None:
        self.covariance = covariance
        self.contamination = contamination
        self.ddof = ddof
        self.reg_covar = reg_covar
        self.variance_floor = variance_floor
        self.shrinkage = shrinkage
        self.robust = robust
        self.missing = missing
        self.half_life = half_life
        self.resumable = resumable
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
        return "_fitted" in self.__dict__

    # -- the fitted model: one immutable snapshot, published in one assignment

    def _snapshot(self, with_epsilon=True):
        """The fitted state, read once per call: everything a call computes
        comes from this one object, whatever another thread fits meanwhile.
        with_epsilon=False: for calls that use the Gaussian only, which need
        not compute an epsilon partial_fit left pending (scoring its sample)."""
        fitted = self.__dict__.get("_fitted")
        if fitted is None:
            check_is_fitted(self)
        if with_epsilon and fitted.pending_epsilon is not None:
            fitted = self._resolve_epsilon(fitted)
        return fitted

    def _resolve_epsilon(self, fitted):
        """`fitted` with its pending epsilon computed, published unless a
        newer model was published meanwhile.  When the sample has moved on
        (a partial_fit since), the newest model is resolved instead: a call
        uses one model and its own threshold, never a mixture."""
        while True:
            log_epsilon = fitted.pending_epsilon(fitted.gaussian)
            if log_epsilon is not None:
                break
            newest = self.__dict__.get("_fitted")
            if newest is None:
                check_is_fitted(self)
            if newest is fitted:
                # the sample changed without a newer model: a partial_fit is
                # under way (wait for it), or the statistics were changed by hand
                time.sleep(0)
                log_epsilon = fitted.pending_epsilon(fitted.gaussian, accept_current=True)
                if log_epsilon is not None:
                    break
                continue
            fitted = newest
            if fitted.pending_epsilon is None:
                return fitted
        resolved = fitted._replace(log_epsilon=log_epsilon,
                                   epsilon=float(density_from_log(log_epsilon)),
                                   pending_epsilon=None)
        if self.__dict__.get("_fitted") is fitted:
            self._fitted = resolved
        return resolved

    def _publish(self, fitted):
        self._fitted = fitted  # a single attribute store: atomic for readers

    def _attribute(self, name, value):
        if value is None:
            raise AttributeError(
                f"{type(self).__name__} fitted with covariance={self._snapshot().kind!r} "
                f"has no attribute {name!r}")
        return value

    mean_ = property(lambda self: self._snapshot().gaussian.mean,
                     doc="Mean of the training rows, shape (n_features,).")
    var_ = property(lambda self: self._attribute(
        "var_", None if self._snapshot().gaussian.is_full else self._snapshot().gaussian.variances),
        doc="Per-feature variances, shape (n_features,) (diagonal model only).")
    covariance_ = property(lambda self: self._attribute(
        "covariance_", self._snapshot().gaussian.covariance),
        doc="Covariance matrix, shape (n_features, n_features) (full model only).")
    cholesky_factor_ = property(lambda self: self._attribute(
        "cholesky_factor_", self._snapshot().gaussian.cholesky_factor),
        doc="Lower-triangular L with ``covariance_ = L @ L.T`` (full model only).")
    rank_ = property(lambda self: self._attribute("rank_", self._snapshot().gaussian.rank),
                     doc="Numerical rank of the correlation matrix (full model only).")
    condition_number_ = property(lambda self: self._attribute(
        "condition_number_", self._snapshot().gaussian.condition_number),
        doc="Condition number of the correlation matrix (full model only).")
    shrinkage_ = property(lambda self: self._attribute("shrinkage_", self._snapshot().shrinkage),
                          doc="Shrinkage intensity applied (full model only).")
    log_det_ = property(lambda self: self._snapshot().gaussian.log_det,
                        doc="log det of the covariance (sum of log variances when diagonal).")
    log_epsilon_ = property(lambda self: self._snapshot().log_epsilon,
                            doc="The threshold in log-density units.")
    offset_ = property(lambda self: self._snapshot().log_epsilon,
                       doc="Equal to ``log_epsilon_`` (scikit-learn's outlier-detector convention).")
    epsilon_ = property(lambda self: self._snapshot().epsilon,
                        doc="Density threshold ``exp(log_epsilon_)``.")
    threshold_ = property(lambda self: self._snapshot().threshold,
                          doc="The ThresholdResult of the last tuning, or None.")
    n_features_in_ = property(lambda self: self._snapshot().gaussian.n_features,
                              doc="Number of features seen during fit.")
    feature_names_in_ = property(lambda self: self._attribute(
        "feature_names_in_", self._snapshot().feature_names),
        doc="Column names seen during fit (only when fitted on named columns).")

    def _robust_attribute(self, name, read):
        found = self._snapshot().robust
        if found is None or read(found) is None:
            raise AttributeError(f"{type(self).__name__} has {name!r} only after a fit with "
                                 "robust=True" + (" and covariance='full'" if name ==
                                                  "raw_covariance_" else "")
                                 + (" and covariance='diagonal'" if name == "raw_var_" else ""))
        return read(found)

    def _calibration_attribute(self, name, read):
        calibration = self._snapshot().calibration
        if calibration is None:
            raise AttributeError(f"{type(self).__name__} has {name!r} only after calibrate")
        return read(calibration)

    support_ = property(lambda self: self._robust_attribute("support_", lambda r: r.support),
                        doc="Training rows of the final robust fit (robust fits only).")
    raw_location_ = property(lambda self: self._robust_attribute(
        "raw_location_", lambda r: r.raw_location),
        doc="Mean of the best half-sample subset (robust fits only).")
    raw_covariance_ = property(lambda self: self._robust_attribute(
        "raw_covariance_", lambda r: r.raw_spread if r.raw_spread.ndim == 2 else None),
        doc="Consistent covariance of that subset (robust full fits only).")
    raw_var_ = property(lambda self: self._robust_attribute(
        "raw_var_", lambda r: r.raw_spread if r.raw_spread.ndim == 1 else None),
        doc="Consistent variances of that subset (robust diagonal fits only).")
    calibration_scores_ = property(lambda self: self._calibration_attribute(
        "calibration_scores_", lambda c: c.scores),
        doc="Sorted log-densities of the calibration rows (after calibrate).")
    false_alarm_rate_ = property(lambda self: self._calibration_attribute(
        "false_alarm_rate_", lambda c: c.false_alarm_rate),
        doc="The alpha given to calibrate (after calibrate).")

    def __setstate__(self, state):
        # A pickle from version 0.1 holds the public attributes themselves,
        # not the snapshot: rebuild it from them.
        if "_fitted" not in state and "log_epsilon_" in state:
            spread = state.get("covariance_", state.get("var_"))
            rebuilt = type(self).from_parameters(
                state["mean_"], spread, log_epsilon=state["log_epsilon_"],
                feature_names=state.get("feature_names_in_"),
                shrinkage_intensity=state.get("shrinkage_"), threshold=state.get("threshold_"),
                **{name: state[name] for name in self._get_param_names() if name in state})
            state = {name: value for name, value in state.items()
                     if not (name.endswith("_") or name.startswith("_"))
                     or name == "statistics_"}
            state["_fitted"] = rebuilt._fitted
        self.__dict__.update(state)

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
        if not isinstance(self.robust, (bool, np.bool_)):
            raise TypeError(f"robust must be True or False, got {self.robust!r}")
        if not (isinstance(self.missing, str) and self.missing in _MISSING_POLICIES):
            raise ValueError(
                f"missing must be one of {_MISSING_POLICIES}, got {self.missing!r}"
            )
        check_half_life(self.half_life)
        if not isinstance(self.resumable, (bool, np.bool_)):
            raise TypeError(f"resumable must be True or False, got {self.resumable!r}")
        if self.half_life is not None and self.robust:
            raise ValueError("half_life cannot be combined with robust=True: the robust fit "
                             "weighs every training row alike")
        if self.half_life is not None and self.shrinkage == "ledoit-wolf":
            raise ValueError("half_life cannot be combined with shrinkage='ledoit-wolf' (its "
                             "intensity needs every row's fourth moments); use 'oas' or a "
                             "float")
        check_n_jobs(self.n_jobs)

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
            the concatenated rows (within about 1e-15 relative), in one pass,
            and epsilon from `contamination` over every row through the row
            sample (see :meth:`partial_fit`); ``shrinkage="ledoit-wolf"``
            needs the whole data and is refused for chunks.
        y : None
            Ignored; present for scikit-learn's API.  Use
            :meth:`tune_threshold` to choose epsilon from labels.

        Returns
        -------
        self

        Notes
        -----
        The statistics behind the parameters, and their row sample, are kept
        in `statistics_`, so :meth:`partial_fit` (also after :meth:`save` and
        :meth:`load`) can continue from them.  `fit` always starts again,
        forgetting any earlier rows.  The fitted model is
        published whole when the fit is complete: a thread scoring meanwhile
        uses the previous model, and a fit that raises leaves it in place.

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
            _robust.refuse_streaming(self.robust, "chunked input")
            return self._fit_chunks(_blocks.iter_chunks(X))
        self._fit_in_memory(X, scores_wanted=False)
        return self

    def fit_score_samples(self, X: ArrayLike, y: object = None) -> Float64Array:
        """Fit on X and return the training rows' log-densities, scored once
        (the scores `contamination`'s epsilon is taken from).

        Equal to ``fit(X).score_samples(X)`` for an in-memory X, at the cost
        of one scoring pass instead of two.

        Returns
        -------
        ndarray of shape (n_samples,), float64
        """
        self._validate_params()
        return self._fit_in_memory(X)

    def _fit_in_memory(self, X, scores_wanted=True):
        """Fit on an in-memory X; return the training log-densities."""
        names = feature_names_of(X)
        # Finiteness is proven by the statistics themselves: a NaN or inf
        # anywhere in X makes its feature's mean or variance non-finite.
        X = check_array(X, ensure_finite=False)
        if self.missing == "marginalize":
            _missing.refuse_incomplete_fit(X)
        if self.robust:
            return self._fit_robust(X, names)
        statistics = GaussianStatistics(self.covariance, half_life=self.half_life,
                                        sample=self.resumable).update(X, n_jobs=self.n_jobs)
        return self._fit_from(statistics, [X], rows=X, feature_names=names,
                              scores_wanted=scores_wanted)

    def _fit_robust(self, X, names):
        """The plain fit of the rows `_robust.fit` keeps, epsilon over all rows."""
        check_finite(X)
        n_samples, n_features = X.shape
        if n_samples < n_features + 2:
            raise ValueError(
                f"robust=True needs more than n_features + 1 = {n_features + 1} rows (a "
                f"subset of half of them must define a Gaussian); got n_samples = {n_samples}"
            )
        found = _robust.fit(X, self.covariance, reg_covar=self.reg_covar,
                            variance_floor=self.variance_floor, shrinkage=self.shrinkage,
                            n_jobs=self.n_jobs, names=names, remedies=self._remedies())
        rows = X[found.support]
        statistics = GaussianStatistics(self.covariance).update(rows, n_jobs=self.n_jobs)
        return self._fit_from(statistics, [X], rows=rows, feature_names=names, robust=found)

    def _too_few_rows(self, statistics):
        """Why `statistics` hold too few rows to estimate this model, or None."""
        n_samples, n_features = statistics.n_samples, statistics.n_features
        if n_samples < 2 or n_samples <= self.ddof:
            return (f"{type(self).__name__} needs more samples than ddof={self.ddof} and at "
                    f"least 2 to estimate a variance; got n_samples = {n_samples}")
        if statistics.half_life is not None and not statistics.divisor(self.ddof) > 0:
            return (f"{type(self).__name__} needs an effective number of rows above "
                    f"ddof={self.ddof}; with half_life={statistics.half_life} the "
                    f"{n_samples} rows count as {statistics.effective_n_samples:.6g}")
        if (self.covariance == "full" and n_samples <= n_features and self.reg_covar == 0
                and not self.shrinkage):
            return (f"The covariance of {n_samples} samples in {n_features} dimensions is "
                    "singular (its rank is at most n_samples - 1). Use many more samples "
                    "than features, use covariance='diagonal', set reg_covar > 0, or set "
                    "shrinkage='ledoit-wolf'.")
        return None

    def _remedies(self):
        if self.covariance == "diagonal":
            return "variance_floor > 0 or reg_covar > 0"
        return "reg_covar > 0 or shrinkage='ledoit-wolf'"

    def _gaussian_from(self, statistics, feature_names, X=None, spread_factor=1.0):
        """(FittedGaussian, shrinkage intensity) from `statistics`, their
        (co)variance times `spread_factor` (a robust fit's consistency
        factor) before any regularisation.  X, the rows themselves when they
        are in memory, is read only for Ledoit-Wolf shrinkage and to measure
        again, exactly rescaled, sums of squares that overflowed."""
        n_samples, n_features = statistics.n_samples, statistics.n_features
        reason = self._too_few_rows(statistics)
        if reason is not None:
            raise ValueError(reason)
        divisor = statistics.divisor(self.ddof)
        mean, spread = mean_and_spread(statistics, self.ddof)
        if statistics.half_life is not None:
            X = None  # the rows' exact rescaled measure below is unweighted
        if X is not None and not (np.isfinite(spread).all() and np.isfinite(mean).all()):
            # finite rows (the statistics proved it) whose squares overflowed
            mean, spread = exact_mean_and_spread(X, self.covariance, self.ddof,
                                                     self.n_jobs)
        if not (np.isfinite(spread).all() and np.isfinite(mean).all()):
            # named before any arithmetic (shrinkage) spreads the overflow
            variances = spread if spread.ndim == 1 else np.diagonal(spread)
            variances = np.where(np.isfinite(mean), variances, np.inf)
            if X is None:
                raise ValueError(
                    "The sum of squared deviations of feature(s) "
                    f"{describe_features(np.flatnonzero(~np.isfinite(variances)), feature_names)} "
                    "overflows float64 in this chunked fit; rescale those features (an "
                    "in-memory fit rescales them itself, exactly)."
                )
            check_variances(variances, feature_names, remedies=self._remedies())
            raise ValueError(
                "The covariance overflows float64 although no variance does; rescale the "
                "features."
            )
        if spread_factor != 1.0:
            spread = spread * spread_factor
        if self.covariance == "diagonal":
            variances = np.maximum(spread, self.variance_floor) + self.reg_covar
            return diagonal_gaussian(mean, variances, feature_names,
                                     remedies=self._remedies()), None
        total = statistics.divisor(0)
        mle_covariance = spread if divisor == total else spread * (divisor / total)
        # OAS's closed form counts rows: with forgetting, the effective ones
        shrinkage = self._shrinkage_intensity(
            n_samples if statistics.half_life is None else statistics.effective_n_samples,
            mean, mle_covariance, X)
        covariance = _shrinkage.shrink(spread, shrinkage)
        covariance[np.diag_indices(n_features)] += self.reg_covar
        gaussian = full_gaussian(mean, covariance, feature_names, remedies=self._remedies(),
                                 warn_stacklevel=4)
        # shrinkage is the remedy for few samples: no warning when it is on;
        # and none before a fit that fails, whose error says what to do
        if n_samples < SAMPLES_PER_FEATURE * n_features and not self.shrinkage:
            warnings.warn(
                f"{n_samples} samples for {n_features} features: a covariance matrix "
                f"estimated from fewer than {SAMPLES_PER_FEATURE} samples per feature "
                "is unreliable. Use more samples, covariance='diagonal', or shrinkage.",
                ConditioningWarning, stacklevel=4,
            )
        return gaussian, shrinkage

    def _refuse_data_dependent_shrinkage(self, what):
        if self.shrinkage == "ledoit-wolf":
            raise ValueError(
                f"shrinkage='ledoit-wolf' cannot be used with {what}: its intensity needs "
                "the fourth moments of all rows, which the mergeable statistics do not "
                "keep. Use shrinkage='oas' (computed from the covariance alone), a float "
                "in [0, 1], or fit on an in-memory array."
            )

    def _fit_chunks(self, chunks):
        """fit over an iterable of 2-D chunks, in one pass; epsilon from the
        row sample the statistics keep of every row."""
        self._refuse_data_dependent_shrinkage("chunked input")
        statistics = GaussianStatistics(self.covariance, half_life=self.half_life, sample=True)
        names, n_chunks = None, 0
        for index, chunk in enumerate(chunks):
            n_chunks += 1
            if index == 0:  # a DataFrame's column names, as an in-memory fit keeps them
                names = feature_names_of(chunk)
            try:
                chunk = check_array(chunk, name="X", min_samples=0, ensure_finite=False)
                statistics.update(chunk, n_jobs=self.n_jobs)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"chunk {index} of X: {exc}") from exc
        if statistics.n_samples == 0:
            raise ValueError(
                f"X holds no rows: fit was given {n_chunks} chunk(s) and all were empty"
            )
        self._fit_from(statistics, None, feature_names=names)
        return self

    def fit_statistics(self, statistics: GaussianStatistics,
                       X_threshold: ArrayLike | None = None, *,
                       feature_names: ArrayLike | None = None) -> GaussianAnomalyDetector:
        """Fit from merged statistics; epsilon is the `contamination` quantile
        over their row sample, or over the rows `X_threshold`.

        The entry point for fits whose rows are not in one place (Dask, files):
        `statistics` (a :class:`GaussianStatistics` of this detector's
        `covariance` kind and `half_life`) summarise every training row.
        Built with ``sample=True`` (each part's first chunk numbered by its
        `first_row`, the parts merged), they carry a row sample of every row,
        and epsilon comes from it as in a chunked :meth:`fit`: equal to one
        pass over the same rows, whatever the partitioning.  Otherwise
        `X_threshold`, an array of some training rows, gives the quantile.

        Parameters
        ----------
        statistics : GaussianStatistics
        X_threshold : array-like of shape (n_rows, n_features) or None
            Required when `statistics` keep no sample; when given it is
            used instead of the sample.
        feature_names : array-like of str of shape (n_features,) or None
            The columns' names (a Dask DataFrame's columns): set as
            `feature_names_in_` and named in the fit's errors, as a fit on a
            pandas DataFrame with these columns sets and names them.

        Returns
        -------
        self

        Notes
        -----
        The statistics are kept as `statistics_` (the detector's own copy),
        so :meth:`partial_fit` and :meth:`save` continue from them.
        """
        check_params_for_statistics(self, "fit_statistics")
        if not isinstance(statistics, GaussianStatistics) or statistics.kind != self.covariance:
            raise TypeError(
                f"statistics must be GaussianStatistics of kind {self.covariance!r}, got "
                f"{statistics!r}")
        if statistics.half_life != (None if self.half_life is None else float(self.half_life)):
            raise ValueError(
                f"the statistics have half_life={statistics.half_life} but the detector "
                f"half_life={self.half_life}; build them with the detector's half_life")
        if statistics.n_samples == 0:
            raise ValueError("the statistics hold no rows")
        if feature_names is not None:
            feature_names = np.asarray(feature_names, dtype=object)
            if feature_names.shape != (statistics.n_features,) or not all(
                    isinstance(name, str) for name in feature_names):
                raise ValueError(
                    f"feature_names must be {statistics.n_features} strings, one per feature "
                    f"of the statistics; got {feature_names!r}")
        statistics = statistics.copy()
        if X_threshold is None:
            if statistics.sample is None:
                raise ValueError(
                    "fit_statistics needs X_threshold, rows to take epsilon from, when the "
                    "statistics keep no row sample (build them with sample=True)")
            self._fit_from(statistics, None, feature_names=feature_names)
            return self
        X_threshold = check_array(X_threshold, name="X_threshold", ensure_finite=False)
        check_n_features(X_threshold, statistics.n_features, type(self).__name__)
        self._fit_from(statistics, [X_threshold], feature_names=feature_names)
        return self

    def _fit_from(self, statistics, threshold_chunks, *, rows=None, feature_names=None,
                  robust=None, scores_wanted=True):
        """Fit from merged statistics (of at least one row), with epsilon the
        `contamination` quantile of the log-densities of `threshold_chunks`
        (validated 2-D arrays: all the training rows of an in-memory fit, in
        order, or rows given for the threshold), or when None of the
        statistics' row sample.  With forgetting the quantile of an
        in-memory fit's rows weighs row i of n by 2^{-(n-1-i)/h}.  `rows`:
        all the training rows when they are in memory, as _gaussian_from
        takes them.  Publishes the model only when all of it is computed (a
        failed fit leaves the previous model in place); returns the
        threshold rows' log-densities (None from a sample).  `robust`: the
        RobustFit whose support `statistics` summarise.  scores_wanted=False:
        the caller discards the returned scores, which are then reordered in
        place by the quantile's partial sort instead of copied."""
        gaussian, shrinkage = self._gaussian_from(
            statistics, feature_names, rows,
            1.0 if robust is None else robust.reweighted_consistency)
        if threshold_chunks is None:
            log_density = None
            log_epsilon = statistics.sample.quantile(
                lambda X: gaussian.log_density(X, self.n_jobs), self.contamination)
        else:
            # scored chunk by chunk: no copy of the rows themselves
            scored = [gaussian.log_density(chunk, self.n_jobs) for chunk in threshold_chunks]
            log_density = scored[0] if len(scored) == 1 else np.concatenate(scored)
            if self.half_life is None or rows is None:
                log_epsilon = contamination_quantile(log_density, self.contamination,
                                                     overwrite=not scores_wanted)
            else:  # an in-memory fit with forgetting: every row, weighted
                index = np.arange(log_density.shape[0], dtype=np.int64)
                log_epsilon = sample_quantile(log_density, index, -np.inf,
                                              float(self.half_life), self.contamination)
        self.statistics_ = statistics
        self._publish(_Fitted(gaussian, log_epsilon, float(density_from_log(log_epsilon)),
                              None, feature_names, shrinkage, robust))
        return log_density

    def set_contamination_threshold(self, log_density: ArrayLike) -> GaussianAnomalyDetector:
        """Set epsilon to the `contamination` quantile of `log_density`.

        A fit on chunks takes epsilon from its row sample (exact up to its
        capacity, see :class:`GaussianStatistics`); scoring every training
        row in a second pass and passing the scores here gives the exact
        quantile of an in-memory fit on the same rows (whose parameters
        agree within about 1e-15 relative) at any size.

        Parameters
        ----------
        log_density : array-like of shape (n_samples,)
            log p(x) of the training rows, from :meth:`score_samples`.

        Returns
        -------
        self
        """
        fitted = self._snapshot()
        log_density = np.asarray(log_density, dtype=np.float64)
        if log_density.ndim != 1 or log_density.shape[0] == 0:
            raise ValueError("log_density must be a non-empty 1-D array of scores, got shape "
                             f"{log_density.shape}")
        log_epsilon = contamination_quantile(log_density, self.contamination)
        self._publish(fitted._replace(log_epsilon=log_epsilon,
                                      epsilon=float(density_from_log(log_epsilon)),
                                      threshold=None))
        return self

    def partial_fit(self, X: ArrayLike, y: object = None) -> GaussianAnomalyDetector:
        """Add a chunk of training rows to the model's statistics and refit.

        The count, mean and centred second moments of all rows seen so far
        (by :meth:`fit` and earlier calls) are kept in `statistics_` and
        merged with the chunk's by the pairwise update of Chan, Golub and
        LeVeque, so after any split of the data into chunks (one row each
        included) the parameters equal those of :meth:`fit` on the
        concatenation within about 1e-15 relative.  With `half_life` the
        statistics are exponentially weighted (see the class's Notes), and
        :meth:`fit` on X equals partial_fit over X's rows in order.

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
          `contamination` quantile of every row seen so far, estimated from
          the bounded row sample the statistics keep (``statistics_.sample``,
          see :class:`GaussianStatistics`) scored under the updated model:
          exact while at most its capacity of rows (131072 for up to 30
          features) were seen, and then within about
          ``sqrt(q (1 - q) / capacity)`` of the share q.  It is computed when
          first read (by a scoring call or an attribute), not after every
          chunk.
        - ``shrinkage="ledoit-wolf"`` raises ValueError: its intensity needs
          fourth moments the statistics do not keep; ``"oas"`` and a fixed
          intensity work.
        - Statistics that define no density (a constant feature, a singular
          covariance) raise ValueError and leave the model unfitted; the rows
          stay in `statistics_`, so later chunks can make it estimable.
        - Changing `covariance` or `half_life` between calls raises
          ValueError; call :meth:`fit` to start again.  A model read by
          :meth:`load` continues from the statistics the file stores; files
          of format version 1, models built by :meth:`from_parameters` and
          robust fits have none and raise ValueError.
        """
        self._validate_params()
        _robust.refuse_streaming(self.robust, "partial_fit")
        self._refuse_data_dependent_shrinkage("partial_fit")
        X = check_array(X, min_samples=0, ensure_finite=False)
        if self.missing == "marginalize":
            _missing.refuse_incomplete_fit(X)
        statistics = getattr(self, "statistics_", None)
        previous = self.__dict__.get("_fitted")
        if statistics is None and previous is not None:
            raise ValueError(
                "This model has parameters but not the statistics partial_fit continues "
                "from (a model built by from_parameters, a robust fit, or one loaded from "
                "a file without them: one of format version 1, which predates streaming "
                "state, or one save wrote for an in-memory fit without resumable=True): "
                "it cannot resume with partial_fit. Call fit on the training rows to start "
                "again (and save again to write a resumable file)")
        half_life = None if self.half_life is None else float(self.half_life)
        if statistics is None:
            statistics = GaussianStatistics(self.covariance, half_life=half_life, sample=True)
        elif statistics.kind != self.covariance:
            raise ValueError(
                f"covariance is {self.covariance!r} but the statistics accumulated so far "
                f"are {statistics.kind!r}; call fit to start a new model"
            )
        elif statistics.half_life != half_life:
            raise ValueError(
                f"half_life is {self.half_life!r} but the statistics accumulated so far "
                f"have half_life={statistics.half_life!r}; call fit to start a new model")
        elif not statistics.keeps_sample:
            warnings.warn(
                "This model's statistics keep no row sample of the rows it was fitted on (an "
                "in-memory fit keeps one only with resumable=True), so epsilon from "
                "contamination covers the rows given to partial_fit from now on, not the "
                "fit's; fit with GaussianAnomalyDetector(..., resumable=True) for epsilon "
                "over every row", UserWarning, stacklevel=2)
            statistics.start_sample()
        if statistics.n_features is not None:
            check_n_features(X, statistics.n_features, type(self).__name__)
        # in place: a chunk that fails validation leaves the statistics as they were
        self.statistics_ = statistics.update(X, n_jobs=self.n_jobs)
        if self._too_few_rows(statistics) is not None:
            return self
        names = previous.feature_names if previous is not None else None
        try:
            gaussian, shrinkage = self._gaussian_from(statistics, names)
        except ValueError:
            # no stale model: unfitted until a later chunk makes it estimable
            self.__dict__.pop("_fitted", None)
            raise
        threshold = previous.threshold if previous is not None else None
        pending = None
        if threshold is not None:  # a tuned threshold is kept
            log_epsilon, epsilon = previous.log_epsilon, previous.epsilon
        elif statistics.sample is None:  # no row sampled yet: the epsilon stays
            log_epsilon, epsilon = ((previous.log_epsilon, previous.epsilon)
                                    if previous is not None else (-np.inf, 0.0))
        else:  # every row seen, through the sample: computed when first needed
            log_epsilon, epsilon = -np.inf, 0.0
            pending = _PendingEpsilon(statistics.sample, self.contamination, self.n_jobs)
        self._publish(_Fitted(gaussian, log_epsilon, epsilon, threshold, names, shrinkage,
                              pending_epsilon=pending))
        return self

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
            # |x_i - mean|^2 / scale of every row from the diagonal model with
            # variances `scale`: log p = -|x - mean|^2 / (2 scale) + const
            unit = diagonal_gaussian(mean, np.full(X.shape[1], scale), remedies="")
            half_squared_norms = unit.log_norm - unit.log_density(X, self.n_jobs)
            sum_fourth_powers = 4.0 * float(np.dot(half_squared_norms, half_squared_norms))
            return _shrinkage.ledoit_wolf_intensity(normalised, X.shape[0], sum_fourth_powers)
        return float(self.shrinkage)

    @classmethod
    def from_parameters(cls, mean: ArrayLike, spread: ArrayLike, *, log_epsilon: float,
                        epsilon: float | None = None, feature_names: object = None,
                        shrinkage_intensity: float | None = None,
                        threshold: ThresholdResult | None = None,
                        calibration_scores: ArrayLike | None = None,
                        false_alarm_rate: float | None = None,
                        **params: object) -> GaussianAnomalyDetector:
        """A fitted detector from stored parameters, as :meth:`load` reads them.

        Parameters
        ----------
        mean : array-like of shape (n_features,)
        spread : array-like of shape (n_features,) or (n_features, n_features)
            The variances (``covariance="diagonal"`` in `params`) or the
            covariance matrix (``covariance="full"``), as fitted: any
            regularisation already applied.
        log_epsilon : float
            The threshold, in log-density units; not NaN (+inf flags every
            point, as select_threshold returns it above float64's largest score).
        epsilon : float or None
            The same threshold in density units, when it was chosen in them
            (the grid search); None takes ``exp(log_epsilon)``.
        feature_names : sequence of str or None
        shrinkage_intensity : float or None
            The shrinkage intensity that was applied (full model), recorded
            as `shrinkage_`.
        threshold : ThresholdResult or None
            Recorded as `threshold_`.
        calibration_scores, false_alarm_rate : ndarray of shape (n,), float or None
            A :meth:`calibrate`'s sorted calibration log-densities and alpha,
            both or neither.
        **params
            The estimator's parameters.

        Raises
        ------
        ValueError
            For parameters no Gaussian has, or that do not fit together.
        """
        detector = cls(**params)
        detector._validate_params()
        mean = np.asarray(mean, dtype=np.float64)
        spread = np.asarray(spread, dtype=np.float64)
        n_features = mean.shape[0] if mean.ndim == 1 else 0
        expected = (n_features,) if detector.covariance == "diagonal" else (n_features,) * 2
        if mean.ndim != 1 or n_features == 0 or spread.shape != expected:
            raise ValueError(
                f"a {detector.covariance} model needs a mean of shape (d,) and a spread of "
                f"shape {'(d,)' if detector.covariance == 'diagonal' else '(d, d)'}; got "
                f"{mean.shape} and {spread.shape}")
        if not (np.isfinite(mean).all() and np.isfinite(spread).all()):
            raise ValueError("the mean or the (co)variance holds NaN or infinity")
        log_epsilon = float(log_epsilon)
        if np.isnan(log_epsilon):  # +inf flags every point: select_threshold's top
            raise ValueError(f"log_epsilon must be a number, got {log_epsilon}")
        if epsilon is None:
            epsilon = float(density_from_log(log_epsilon))
        elif not (epsilon >= 0 and math.isclose(
                float(density_from_log(log_epsilon)), epsilon, rel_tol=1e-9, abs_tol=1e-300)):
            raise ValueError(
                f"epsilon = {epsilon!r} is not exp(log_epsilon) = exp({log_epsilon!r})")
        names = None
        if feature_names is not None:
            names = np.asarray(list(feature_names), dtype=object)
            if names.shape != (n_features,) or not all(isinstance(n, str) for n in names):
                raise ValueError(f"feature_names must be {n_features} strings")
        if detector.covariance == "diagonal":
            gaussian = diagonal_gaussian(mean, spread, names, remedies=detector._remedies())
            shrinkage = None
        else:
            if not np.array_equal(spread, spread.T):
                raise ValueError("the covariance matrix is not symmetric")
            gaussian = full_gaussian(mean, spread, names, remedies=detector._remedies())
            shrinkage = float(shrinkage_intensity or 0.0)
        calibration = _calibration.check_calibration(calibration_scores, false_alarm_rate)
        detector._publish(_Fitted(gaussian, log_epsilon, float(epsilon), threshold, names,
                                  shrinkage, None, calibration))
        return detector

    # -- scoring ---------------------------------------------------------

    def _validated(self, X, stacklevel=3, fitted=None):
        """(snapshot, X validated against it) for a scoring call; warnings are
        attributed `stacklevel` frames up (the public method's caller).
        `fitted`: the snapshot the call already read (else read here)."""
        if fitted is None:
            fitted = self._snapshot()
        check_feature_names(X, fitted.feature_names, type(self).__name__, stacklevel=stacklevel)
        # Finiteness is checked on the scores instead (see FittedGaussian.log_density).
        X = check_array(X, ensure_finite=False)
        check_n_features(X, fitted.gaussian.n_features, type(self).__name__)
        return fitted, X

    def score_samples(self, X: ArrayLike) -> Float64Array:
        """Log-density log p(x) of each sample under the fitted Gaussian.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,), float64
            Summed in float64 whatever the input's float type.  For float32
            input the full model whitens the centred, standardised rows in
            float32, which moves a score by a few parts in 1e7 (at most about
            (n_features + 2) * 2**-24 of each whitened coordinate's terms);
            pass float64 data for float64 throughout.
        """
        return self._scored(X, with_epsilon=False)[1]

    def _scored(self, X, with_epsilon=True):
        """(snapshot, log p(x) of X under it) for a public scoring call."""
        fitted = self._snapshot(with_epsilon)
        if fitted.feature_names is None:
            # a few rows of a plain float array: one compiled call (what it
            # does not take, the general path below validates)
            log_density = fitted.gaussian.few_rows.log_density(X)
            if log_density is not None:
                return fitted, log_density
        fitted, X = self._validated(X, stacklevel=4, fitted=fitted)
        return fitted, self._log_density(fitted, X)

    def _log_density(self, fitted, X):
        return _log_density(fitted, X, self.missing, self.n_jobs)

    def decision_function(self, X: ArrayLike) -> Float64Array:
        """log p(x) - log epsilon: negative for anomalies.

        Returns
        -------
        ndarray of shape (n_samples,), float64
            +inf for every finite score when epsilon is 0 (``log_epsilon_ =
            -inf``, a threshold that flags nothing), and 0.0 for a score of
            -inf then: a density of 0 is not below an epsilon of 0.
        """
        fitted, log_density = self._scored(X)
        return _decision(log_density, fitted.log_epsilon)

    def predict(self, X: ArrayLike) -> SignArray:
        """+1 for a normal point, -1 for an anomaly (p(x) < epsilon).

        Returns
        -------
        ndarray of shape (n_samples,), int64
        """
        fitted = self._snapshot()
        if fitted.feature_names is None:  # as in score_samples
            labels = fitted.gaussian.few_rows.predict(X, fitted.log_epsilon)
            if labels is not None:
                return labels
        fitted, X = self._validated(X, fitted=fitted)
        return _labels(self._log_density(fitted, X), fitted.log_epsilon)

    def fit_predict(self, X: ArrayLike, y: object = None) -> SignArray:
        """Fit on X, then predict X: +1 normal, -1 anomaly (X scored once)."""
        if _blocks.is_chunk_stream(X):
            raise TypeError("fit_predict needs X in memory; use fit, then predict each chunk")
        log_density = self.fit_score_samples(X)
        return _labels(log_density, self._snapshot().log_epsilon)

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

        With ``missing="marginalize"`` a row with NaN cells gets 0.0 there
        and, in its observed cells, the terms of its marginal Gaussian (for
        the full model over the observed columns, in their order).
        """
        fitted, X = self._validated(X)
        if self.missing == "marginalize":
            rows = _missing.incomplete_rows(X)
            if rows.size:
                complete = np.ones(X.shape[0], dtype=bool)
                complete[rows] = False
                contributions = np.empty(X.shape)
                contributions[complete] = fitted.gaussian.contributions(X[complete])
                contributions[rows] = _missing.marginal_explain(X[rows], fitted.gaussian)
                return contributions
        check_finite(X)
        return fitted.gaussian.contributions(X)

    def tail_probability(self, X: ArrayLike) -> Float64Array:
        r"""Probability that a point drawn from the fitted Gaussian lies at
        least as far out as each row: :math:`P(\chi^2_d \ge D^2(x))`.

        :math:`D^2` is the squared Mahalanobis distance to the mean (the
        sum of squared standardised coordinates for the diagonal model) and
        d the number of features (of observed features, for a row with
        missing cells under ``missing="marginalize"``).  Uniform on (0, 1)
        for rows drawn from the fitted model; only as calibrated as the data
        are Gaussian: on heavy-tailed data more than a fraction alpha of
        normal rows have a tail probability <= alpha (use :meth:`calibrate`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to judge; NaN cells only with ``missing="marginalize"``.

        Returns
        -------
        ndarray of shape (n_samples,), float64
            0.0 where the probability underflows (beyond about D^2 = 1400);
            :meth:`log_tail_probability` stays exact there.
        """
        return np.exp(self.log_tail_probability(X))

    def log_tail_probability(self, X: ArrayLike) -> Float64Array:
        r"""log of :meth:`tail_probability`, exact far into the tail.

        Computed as :math:`\log Q(d/2, D^2/2)` (Q the regularised upper
        incomplete gamma function), by a continued fraction in logs where Q
        itself underflows; -inf only where the density does.

        Returns
        -------
        ndarray of shape (n_samples,), float64
        """
        fitted, X = self._validated(X)
        gaussian = fitted.gaussian
        distances = _calibration.squared_distances_from_log_density(
            self._log_density(fitted, X), gaussian.log_norm)
        dof = np.full(X.shape[0], gaussian.n_features)
        if self.missing == "marginalize":
            rows = _missing.incomplete_rows(X)
            _, distances[rows], dof[rows] = _missing.marginal_scores(X[rows], gaussian)
        log_tail = np.zeros(X.shape[0])
        observed = dof > 0  # nothing observed: probability 1
        log_tail[observed] = _calibration.chi2_log_sf(distances[observed], dof[observed])
        return log_tail

    def calibrate(self, X_cal: ArrayLike, *,
                  false_alarm_rate: float = 0.01) -> GaussianAnomalyDetector:
        r"""Split-conformal calibration on held-out normal rows; sets epsilon.

        Keeps the sorted log-densities :math:`s_1 \le \dots \le s_n` of
        `X_cal` (rows not used by :meth:`fit`), so that :meth:`p_values` gives

        .. math:: p(x) = \frac{1 + \#\{i : s_i \le \log p(x)\}}{n + 1},

        and sets epsilon so that :meth:`predict` flags exactly the rows with
        :math:`p(x) \le \alpha`.  For new normal rows exchangeable with the
        calibration rows the false-alarm rate is then at most alpha, whatever
        their distribution (heavy tails included), and above
        :math:`\alpha - 1/(n + 1)`.  With :math:`\alpha < 1/(n + 1)` no row
        can be flagged: use more calibration rows.  A later
        :meth:`tune_threshold` moves epsilon again (the p-values stay).

        Parameters
        ----------
        X_cal : array-like of shape (n_calibration, n_features)
            Normal rows held out from fitting.
        false_alarm_rate : float in (0, 1), default=0.01
            alpha.

        Returns
        -------
        self
        """
        alpha = _calibration.check_false_alarm_rate(false_alarm_rate)
        fitted, X_cal = self._validated(X_cal)
        scores = np.sort(self._log_density(fitted, X_cal))
        log_epsilon = _calibration.conformal_log_threshold(scores, alpha)
        scores.setflags(write=False)
        self._publish(fitted._replace(
            log_epsilon=log_epsilon, epsilon=float(density_from_log(log_epsilon)),
            threshold=None, calibration=_calibration.Calibration(scores, alpha)))
        return self

    def p_values(self, X: ArrayLike) -> Float64Array:
        """Conformal p-value of each row (see :meth:`calibrate`): small for anomalies.

        Returns
        -------
        ndarray of shape (n_samples,), float64
            In [1 / (n_cal + 1), 1].

        Raises
        ------
        NotFittedError
            Before :meth:`calibrate`.
        """
        fitted, X = self._validated(X)
        if fitted.calibration is None:
            raise not_fitted_error(
                f"This {type(self).__name__} is not calibrated: call 'calibrate' with "
                "held-out normal rows before 'p_values'."
            )
        return _calibration.conformal_p_values(fitted.calibration.scores,
                                               self._log_density(fitted, X))

    def save(self, path: Path) -> None:
        """Write the fitted model to `path`, an ``.npz`` file in a safe format.

        The file holds float64 arrays and JSON metadata (package version,
        model kind, parameters, feature names, epsilon), and is read back by
        :meth:`load` without pickle.  It also holds the streaming state (the
        statistics, their row sample and, with `half_life`, the weights), so
        ``load(path).partial_fit(more)`` continues the fit as if it had never
        stopped (robust fits and models built by :meth:`from_parameters` have
        none).  `threshold_` (the curves of the last
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

        Notes
        -----
        Files of format version 1 (gaussext 0.1) load and score as they did;
        they hold no streaming state, so :meth:`partial_fit` on the loaded
        model raises ValueError (call :meth:`fit`).
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
        fitted, X_val = self._validated(X_val)
        result = select_threshold(y_val, self._log_density(fitted, X_val),
                                  method=method, steps=steps)
        self._publish(fitted._replace(log_epsilon=result.log_epsilon, epsilon=result.epsilon,
                                      threshold=result))
        return result

    def set_threshold(self, result: ThresholdResult) -> ThresholdResult:
        """Adopt the epsilon of a :class:`ThresholdResult` (from
        :func:`select_threshold` on this model's scores, or a distributed or
        file-based tuning) and keep the result as `threshold_`.

        Returns
        -------
        ThresholdResult
            `result`, unchanged.
        """
        if not isinstance(result, ThresholdResult):
            raise TypeError(
                f"set_threshold takes a ThresholdResult, got {type(result).__name__}")
        fitted = self._snapshot()
        self._publish(fitted._replace(log_epsilon=result.log_epsilon, epsilon=result.epsilon,
                                      threshold=result))
        return result


def check_params_for_statistics(detector, what):
    """Validate `detector`'s parameters for a fit from mergeable statistics
    (`what` names the caller in the message): Ledoit-Wolf shrinkage and
    robust fits are refused, since they need every row."""
    detector._validate_params()
    _robust.refuse_streaming(detector.robust, what)
    detector._refuse_data_dependent_shrinkage(what)


def _log_density(fitted, X, missing, n_jobs):
    """log p(x) of validated X under the snapshot `fitted`: the kernels'
    scores, and with missing="marginalize" the marginal densities of rows
    with NaN."""
    if missing == "marginalize":
        rows = _missing.incomplete_rows(X)
        if rows.size:
            complete = np.ones(X.shape[0], dtype=bool)
            complete[rows] = False
            log_density = np.empty(X.shape[0])
            log_density[complete] = fitted.gaussian.log_density(X[complete], n_jobs)
            log_density[rows] = _missing.marginal_scores(X[rows], fitted.gaussian)[0]
            return log_density
    return fitted.gaussian.log_density(X, n_jobs)


class ModelSnapshot:
    """A fitted detector's model as it was when the snapshot was taken, for
    scoring blocks of rows elsewhere (Dask tasks, other processes: it pickles
    without the detector).  A later fit of the detector does not change it.

    It scores arrays the caller has already validated, as
    :func:`gaussext._validation.check_array` returns them, with the
    detector's number of features; feature names are the caller's to check
    (on the client, once, as ``score_samples`` checks them).

    Parameters
    ----------
    detector : fitted GaussianAnomalyDetector
    """

    def __init__(self, detector: GaussianAnomalyDetector) -> None:
        self._fitted = detector._snapshot()
        self._missing, self._n_jobs = detector.missing, detector.n_jobs

    @property
    def feature_names(self) -> np.ndarray | None:
        """The names the model was fitted on (``feature_names_in_``), or None."""
        return self._fitted.feature_names

    def score_samples(self, X: Float64Array) -> Float64Array:
        """log p(x) of each row, as ``detector.score_samples`` computes it."""
        return _log_density(self._fitted, X, self._missing, self._n_jobs)

    def predict(self, X: Float64Array) -> SignArray:
        """+1 normal, -1 anomaly, as ``detector.predict``."""
        return _labels(self.score_samples(X), self._fitted.log_epsilon)


def _labels(log_density, log_epsilon):
    """-1 where p(x) < epsilon (an anomaly), +1 elsewhere; int64."""
    return np.where(log_density < log_epsilon, _ANOMALY, _NORMAL)


def _decision(log_density, log_epsilon):
    """log p(x) - log epsilon, never NaN."""
    if log_epsilon == -np.inf:  # -inf - -inf would be NaN
        return np.where(log_density == -np.inf, 0.0, np.inf)
    return log_density - log_epsilon
