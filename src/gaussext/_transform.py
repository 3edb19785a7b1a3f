"""Per-feature transforms that make skewed features look Gaussian.

The classic advice for Gaussian anomaly detection: look at each feature's
histogram and, when it is skewed, transform it (log, square root, cube root)
until it looks normal.  Here the look is a normality test (D'Agostino and
Pearson's K², ``scipy.stats.normaltest``) and the candidates are SciPy's
implementations of the usual transforms.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special, stats

from gaussext._feature_names import (check_feature_names, check_output_container,
                                     feature_names_of, feature_names_out, output_container,
                                     wrap_output)
from gaussext._params import ParamsMixin
from gaussext._typing import ArrayLike, Float64Array
from gaussext._validation import check_array, check_is_fitted, check_scalar

__all__ = ["TRANSFORMS", "MIN_SAMPLES_FOR_TEST", "GaussianizingTransformer", "choose_transform",
           "normality"]

#: Fewest samples for which the normality test is run: scipy's kurtosis test,
#: part of K², is documented as valid from 20 observations.
MIN_SAMPLES_FOR_TEST = 20


@dataclass(frozen=True)
class _Transform:
    """One candidate transform: its domain, the transform and its inverse;
    Box-Cox and Yeo-Johnson take a parameter lambda fitted per column."""

    name: str
    domain: str  # human-readable, for error messages
    parametric: bool

    def in_domain(self, x):
        """Boolean mask of the values this transform accepts."""
        if self.name in ("log", "boxcox"):
            return x > 0
        if self.name == "sqrt":
            return x >= 0
        if self.name == "log1p":
            return x > -1
        return np.isfinite(x)

    def fit_forward(self, x):
        """(lambda, transformed x): lambda fitted by maximum likelihood
        (SciPy's, which transforms x on the way), NaN for fixed transforms."""
        if self.name == "boxcox":
            y, lmbda = stats.boxcox(x)
            return float(lmbda), y
        if self.name == "yeojohnson":
            y, lmbda = stats.yeojohnson(x)
            return float(lmbda), y
        return math.nan, self.forward(x, math.nan)

    def forward(self, x, lmbda):
        if self.name == "identity":
            return np.array(x, dtype=np.float64)
        if self.name == "boxcox":
            return special.boxcox(x, lmbda)
        if self.name == "yeojohnson":
            return stats.yeojohnson(x, lmbda)
        return getattr(np, self.name)(x)

    def inverse(self, y, lmbda):
        if self.name == "identity":
            return np.array(y, dtype=np.float64)
        if self.name == "log":
            return np.exp(y)
        if self.name == "log1p":
            return np.expm1(y)
        if self.name == "sqrt":
            return np.square(y)
        if self.name == "cbrt":
            return y ** 3
        if self.name == "boxcox":
            return special.inv_boxcox(y, lmbda)
        return _inverse_yeojohnson(y, lmbda)

    def inverse_domain(self, y, lmbda):
        """Boolean mask of the values the forward transform can produce."""
        if self.name == "sqrt":
            return y >= 0
        if self.name == "boxcox" and lmbda != 0:
            return lmbda * y + 1 > 0
        if self.name == "yeojohnson":
            positive = y >= 0
            upper_ok = (lmbda * y + 1 > 0) if lmbda != 0 else True
            lower_ok = (1 - (2 - lmbda) * y > 0) if lmbda != 2 else True
            return np.where(positive, upper_ok, lower_ok) & np.isfinite(y)
        return np.isfinite(y)


def _inverse_yeojohnson(y, lmbda):
    """x from y = yeojohnson(x, lmbda), branch by branch.

    For y >= 0 (x >= 0): x = (lmbda y + 1)^(1 / lmbda) - 1, or exp(y) - 1 at
    lmbda = 0.  For y < 0 (x < 0): x = 1 - (1 - (2 - lmbda) y)^(1 / (2 - lmbda)),
    or 1 - exp(-y) at lmbda = 2.
    """
    x = np.empty_like(y, dtype=np.float64)
    positive = y >= 0
    upper, lower = y[positive], y[~positive]
    if lmbda == 0:
        x[positive] = np.expm1(upper)
    else:
        x[positive] = np.power(lmbda * upper + 1, 1 / lmbda) - 1
    if lmbda == 2:
        x[~positive] = -np.expm1(-lower)
    else:
        x[~positive] = 1 - np.power(1 - (2 - lmbda) * lower, 1 / (2 - lmbda))
    return x


TRANSFORMS = {
    t.name: t for t in (
        _Transform("identity", "any finite value", False),
        _Transform("log", "x > 0", False),
        _Transform("log1p", "x > -1", False),
        _Transform("sqrt", "x >= 0", False),
        _Transform("cbrt", "any finite value", False),
        _Transform("boxcox", "x > 0", True),
        _Transform("yeojohnson", "any finite value", True),
    )
}


def is_constant(x):
    """True when a column's spread is lost in float64 rounding of its mean
    (where scipy's moments lose all precision)."""
    spread = float(np.max(x) - np.min(x))
    return spread <= 16 * np.finfo(np.float64).eps * float(np.max(np.abs(x)))


def normality(x):
    """(K² statistic, p-value) of D'Agostino and Pearson's test on a 1-D
    float64 column with at least MIN_SAMPLES_FOR_TEST values, not constant."""
    statistic, p_value = stats.normaltest(x)
    return float(statistic), float(p_value)


def choose_transform(x, candidates=tuple(TRANSFORMS), alpha=0.01):
    """Pick the transform that makes column `x` look most normal.

    The simplest that is not rejected wins: identity when the normality test
    does not reject it at level `alpha`; else the fixed transform (log, log1p,
    sqrt, cbrt) with the smallest K² statistic when that one is not
    rejected; else the candidate with the smallest K² of all, Box-Cox and
    Yeo-Johnson (with lambda fitted by SciPy) included.  A candidate is tried
    only when every value lies in its domain, and only when its output is
    finite and not constant.

    Parameters
    ----------
    x : ndarray of shape (n_samples,), float64, finite
        At least MIN_SAMPLES_FOR_TEST values, not constant.
    candidates : sequence of str
        Names from TRANSFORMS.
    alpha : float
        Level of the normality test.

    Returns
    -------
    (name, lmbda, statistic, p_value)
        lmbda is NaN for the fixed transforms; statistic and p_value are those
        of the transformed column.
    """
    tried = {}
    for name in candidates:
        transform = TRANSFORMS[name]
        if not np.all(transform.in_domain(x)):
            continue
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            lmbda, y = transform.fit_forward(x)
        if np.all(np.isfinite(y)) and not is_constant(y):
            tried[name] = (name, lmbda, *normality(y))
    if not tried:  # only when identity was not a candidate
        raise ValueError(f"none of the transforms {list(candidates)} applies to this feature")
    if "identity" in tried and tried["identity"][3] >= alpha:
        return tried["identity"]
    fixed = [t for t in tried.values() if not TRANSFORMS[t[0]].parametric]
    if fixed:
        best_fixed = min(fixed, key=lambda t: t[2])
        if best_fixed[3] >= alpha:
            return best_fixed
    return min(tried.values(), key=lambda t: t[2])


class GaussianizingTransformer(ParamsMixin):
    """Transform each feature towards a normal distribution, chosen by a test.

    For each column, :meth:`fit` tries the transforms among `transforms` whose
    domain holds every training value -- identity, log (x > 0), log1p
    (x > -1), sqrt (x >= 0), cbrt, Box-Cox (x > 0) and Yeo-Johnson, with
    SciPy's implementations and SciPy's maximum-likelihood lambda -- and keeps
    the simplest one that D'Agostino and Pearson's normality test
    (``scipy.stats.normaltest``) does not reject at level `alpha`, or the one
    with the smallest K² statistic when all are rejected (see
    :func:`choose_transform`).  A column with fewer than 20 rows, or
    constant, keeps the identity (the test is not valid there).

    Put it before :class:`GaussianAnomalyDetector` in a scikit-learn
    ``Pipeline`` so the Gaussian model sees features that are closer to
    Gaussian.

    Parameters
    ----------
    transforms : sequence of str or None, default=None
        Candidate names; None means all seven.  "identity" is always tried.
    alpha : float in (0, 1), default=0.01
        Level of the normality test.

    Attributes
    ----------
    transforms_ : list of str, length n_features
        The transform chosen for each feature.
    lambdas_ : ndarray of shape (n_features,)
        Box-Cox / Yeo-Johnson parameter, NaN for the fixed transforms.
    statistics_, p_values_ : ndarray of shape (n_features,)
        The normality test's K² and p-value on each transformed training
        column; NaN where the test was not run (fewer than 20 rows or a
        constant column).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,), object
        The column names of a DataFrame given to :meth:`fit` (all strings);
        absent otherwise.  :meth:`transform` warns when names appear or
        vanish and raises when they differ, as scikit-learn does.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussext import GaussianizingTransformer
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([rng.normal(size=500), rng.lognormal(size=500)])
    >>> GaussianizingTransformer().fit(X).transforms_
    ['identity', 'log']
    """

    def __init__(self, transforms: Sequence[str] | None = None, *, alpha: float = 0.01) -> None:
        self.transforms = transforms
        self.alpha = alpha

    def __sklearn_tags__(self):
        # Only scikit-learn calls this, so scikit-learn is importable here.
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(estimator_type=None, target_tags=TargetTags(required=False),
                    transformer_tags=TransformerTags(),
                    input_tags=InputTags(allow_nan=False, two_d_array=True))

    def __sklearn_is_fitted__(self):
        return hasattr(self, "transforms_")

    def _candidates(self):
        check_scalar(self.alpha, "alpha", kind=numbers.Real, low=0.0, high=1.0,
                     low_inclusive=False, high_inclusive=False)
        if self.transforms is None:
            return tuple(TRANSFORMS)
        if isinstance(self.transforms, str):
            raise TypeError(f"transforms must be a sequence of names, got the string "
                            f"{self.transforms!r}; write [{self.transforms!r}]")
        names = list(self.transforms)
        unknown = [name for name in names if name not in TRANSFORMS]
        if unknown:
            raise ValueError(f"unknown transform(s) {unknown}; choose among {list(TRANSFORMS)}")
        return ("identity", *(name for name in names if name != "identity"))

    def fit(self, X: ArrayLike, y: object = None) -> GaussianizingTransformer:
        """Choose and fit one transform per feature.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite numbers.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        candidates = self._candidates()
        names = feature_names_of(X)
        X = check_array(X)
        n_samples, n_features = X.shape
        chosen = []
        for j in range(n_features):
            column = np.asarray(X[:, j], dtype=np.float64)
            if n_samples < MIN_SAMPLES_FOR_TEST or is_constant(column):
                chosen.append(("identity", math.nan, math.nan, math.nan))
            else:
                chosen.append(choose_transform(column, candidates, self.alpha))
        self.transforms_ = [c[0] for c in chosen]
        self.lambdas_ = np.array([c[1] for c in chosen])
        self.statistics_ = np.array([c[2] for c in chosen])
        self.p_values_ = np.array([c[3] for c in chosen])
        self.n_features_in_ = n_features
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self

    def _check_fitted(self):
        check_is_fitted(self)

    def _check(self, X):
        self._check_fitted()
        check_feature_names(X, getattr(self, "feature_names_in_", None), type(self).__name__,
                            stacklevel=4)
        X = check_array(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return X

    def _apply(self, X, inverse):
        X = self._check(X)
        out = np.empty(X.shape, dtype=np.float64)
        for j, (name, lmbda) in enumerate(zip(self.transforms_, self.lambdas_)):
            transform = TRANSFORMS[name]
            column = np.asarray(X[:, j], dtype=np.float64)
            valid = (transform.inverse_domain(column, lmbda) if inverse
                     else transform.in_domain(column))
            if not np.all(valid):
                row = int(np.argmin(valid))
                what = "the inverse of the" if inverse else "the"
                raise ValueError(
                    f"feature {j}, row {row}: value {float(column[row])!r} is outside the "
                    f"domain of {what} {name!r} transform chosen at fit time"
                    + ("" if inverse else f" ({transform.domain})")
                )
            with np.errstate(over="ignore"):
                values = (transform.inverse(column, lmbda) if inverse
                          else transform.forward(column, lmbda))
            if not np.all(np.isfinite(values)):
                row = int(np.argmin(np.isfinite(values)))
                raise ValueError(
                    f"feature {j}, row {row}: the {name!r} transform"
                    f"{' inverse' if inverse else ''} of {float(column[row])!r} overflows float64"
                )
            out[:, j] = values
        return out

    def transform(self, X: ArrayLike) -> Any:
        """Apply each feature's transform; values outside its domain raise.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_features), float64
            A new array; X is not modified.  A pandas DataFrame instead
            (columns ``get_feature_names_out()``, the index of `X`) after
            ``set_output(transform="pandas")``, or under scikit-learn's
            ``set_config(transform_output="pandas")``.

        Raises
        ------
        ValueError
            When a value lies outside the domain of its feature's transform
            (e.g. x <= 0 for log or Box-Cox, x < 0 for sqrt, x <= -1 for
            log1p), naming the feature and the row, or when the result
            overflows.
        """
        # scikit-learn's clone copies _sklearn_output_config, so the choice
        # survives GridSearchCV; the name and layout are scikit-learn's.
        chosen = getattr(self, "_sklearn_output_config", {}).get("transform")
        return wrap_output(self._apply(X, inverse=False), X, output_container(chosen),
                           self.get_feature_names_out)

    def fit_transform(self, X: ArrayLike, y: object = None) -> Any:
        """fit(X), then transform(X)."""
        return self.fit(X).transform(X)

    def get_feature_names_out(self, input_features: Sequence[str] | None = None
                              ) -> npt.NDArray[np.object_]:
        """Names of the transformed features: the input names, one for one.

        Parameters
        ----------
        input_features : array-like of str, optional
            Defaults to ``feature_names_in_`` when :meth:`fit` saw a
            DataFrame, else ``x0, x1, ...``; when given it must have
            ``n_features_in_`` names, equal to ``feature_names_in_`` if set.

        Returns
        -------
        ndarray of object, shape (``n_features_in_``,)
        """
        self._check_fitted()
        return feature_names_out(self, input_features)

    def set_output(self, *, transform: str | None = None) -> GaussianizingTransformer:
        """Choose what :meth:`transform` and :meth:`fit_transform` return.

        Parameters
        ----------
        transform : {"default", "pandas"} or None
            "default": an ndarray; "pandas": a DataFrame whose columns are
            :meth:`get_feature_names_out`; None: leave the choice unchanged.
            Without a choice, scikit-learn's global ``transform_output``
            applies.  ``Pipeline.set_output`` calls this.

        Returns
        -------
        self
        """
        if transform is not None:
            self._sklearn_output_config = {"transform": check_output_container(transform)}
        return self

    def inverse_transform(self, X: ArrayLike) -> Float64Array:
        """Undo :meth:`transform`: x from its transformed value.

        Raises
        ------
        ValueError
            For a value the forward transform cannot produce (e.g. a negative
            value for sqrt).
        """
        return self._apply(X, inverse=True)
