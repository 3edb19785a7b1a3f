"""Input validation shared by the public functions.

Everything a kernel assumes is proven here: arrays are 2-D, non-empty,
float32 or float64; labels are 0/1 with both classes present.  Finiteness is
proven here too, or (for the estimator's data, to save a pass over it) by the
kernel's own output, with :func:`check_finite` naming the offending entry when
that output is not finite.  Nothing here writes to the caller's array.
"""

import numbers
import sys

import numpy as np

__all__ = [
    "NotFittedError",
    "not_fitted_error",
    "check_is_fitted",
    "check_n_features",
    "check_array",
    "check_both_classes",
    "check_finite",
    "check_labels",
    "check_log_density",
    "check_scalar",
]


class NotFittedError(ValueError, AttributeError):
    """Raised when a method that needs a fitted model is called before `fit`.

    It subclasses both ValueError and AttributeError, as scikit-learn's
    exception of the same name does.  When scikit-learn is already imported
    in the process, the error raised is also an instance of
    ``sklearn.exceptions.NotFittedError``, so code that catches that keeps
    working; scikit-learn is never imported for it.
    """


def not_fitted_error(message):
    """A NotFittedError, also scikit-learn's when scikit-learn is loaded."""
    sklearn_exceptions = sys.modules.get("sklearn.exceptions")
    if sklearn_exceptions is None:
        return NotFittedError(message)
    return _sklearn_compatible_class(sklearn_exceptions.NotFittedError)(message)


_compatible_classes = {}


def _sklearn_compatible_class(sklearn_class):
    if sklearn_class not in _compatible_classes:
        _compatible_classes[sklearn_class] = type(
            "NotFittedError", (NotFittedError, sklearn_class), {"__module__": __name__}
        )
    return _compatible_classes[sklearn_class]


def check_is_fitted(estimator):
    """Raise NotFittedError unless `estimator` says it is fitted
    (``__sklearn_is_fitted__``, the scikit-learn protocol)."""
    if not estimator.__sklearn_is_fitted__():
        raise not_fitted_error(
            f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' with "
            "appropriate arguments before using this estimator."
        )


def check_n_features(X, expected, estimator_name):
    """Raise ValueError unless 2-D X has `expected` columns."""
    if X.shape[1] != expected:
        raise ValueError(
            f"X has {X.shape[1]} features, but {estimator_name} is expecting {expected} "
            "features as input."
        )


def _describe_first_nonfinite(values):
    """Count and locate the non-finite entries of `values` (any shape)."""
    bad = ~np.isfinite(values)
    n_nan = int(np.isnan(values).sum())
    n_bad = int(bad.sum())
    first = np.unravel_index(int(np.argmax(bad)), values.shape)
    return n_bad, n_nan, n_bad - n_nan, first


def _shown(value):
    """A number as %g, or exactly (repr) when %g would round it: a label
    1.0000000000000002 must not be reported as 1."""
    text = f"{value:g}"
    return text if float(text) == value else repr(float(value))


def _refuse_missing_values(X, name):
    """Masked arrays and pandas' nullable dtypes (pd.NA) hold missing values,
    which NumPy conversion would silently drop (a mask) or fail on (pd.NA)."""
    if isinstance(X, np.ma.MaskedArray):
        n_masked = int(np.ma.count_masked(X))
        if n_masked:
            raise ValueError(
                f"{name} is a masked array with {n_masked} masked entr"
                f"{'y' if n_masked == 1 else 'ies'}; missing values are not supported: "
                f"drop or impute them and pass {name}.filled(...) or the unmasked rows"
            )
    dtypes = getattr(X, "dtypes", None)
    if dtypes is not None and not hasattr(dtypes, "__iter__"):
        dtypes = [dtypes]  # a pandas Series: its dtypes is its one dtype
    if dtypes is None and hasattr(X, "dtype") and not isinstance(X, np.ndarray):
        dtypes = [X.dtype]
    nullable = sorted({str(dtype) for dtype in (dtypes if dtypes is not None else [])
                       if _is_pandas_na(getattr(dtype, "na_value", None))})
    if nullable and _holds_pandas_na(X):
        raise ValueError(_pandas_na_message(name, f"nullable dtype {', '.join(nullable)}"))


def _is_pandas_na(value):
    # pd.NA recognised without importing pandas
    return type(value).__name__ == "NAType"


def _pandas_na_message(name, where):
    return (
        f"{name} holds pd.NA ({where}); missing values are not supported: drop or impute "
        f"them, then convert with {name}.to_numpy(dtype=float) (to_numpy(dtype=float, "
        "na_value=np.nan) gives NaN, which is refused too)"
    )


def _holds_pandas_na(X):
    try:
        return bool(X.isna().to_numpy().any())
    except (AttributeError, TypeError, ValueError):
        return True  # cannot tell: refuse with the advice rather than guess


def _to_numeric(X, name):
    """np.asarray with a float dtype NumPy's rules allow, or a clear error."""
    # the common case first, at the cost of three comparisons: a plain native
    # float32 or float64 ndarray (not a subclass such as a masked array) is
    # used as it is
    if type(X) is np.ndarray and X.dtype.char in "fd" and X.dtype.isnative:
        return X
    if X is None:
        raise TypeError(f"{name} must be array-like, got None")
    if hasattr(X, "tocsr") or hasattr(X, "toarray"):
        raise TypeError(
            f"Sparse data was passed as {name}, but dense data is required; "
            f"convert it with {name}.toarray()"
        )
    _refuse_missing_values(X, name)
    if isinstance(X, np.ma.MaskedArray):
        X = X.data  # no entry masked
    try:
        array = np.asarray(X)
    except ValueError as exc:  # ragged nested sequences
        raise ValueError(
            f"{name} could not be read as a rectangular numeric array: {exc}"
        ) from exc
    kind = array.dtype.kind
    if kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {array.dtype}")
    if kind == "O":
        try:
            return array.astype(np.float64)
        except (TypeError, ValueError) as exc:
            if "NAType" in str(exc):
                raise ValueError(_pandas_na_message(name, "in an object array")) from exc
            raise TypeError(
                f"{name} has dtype object and holds a non-numeric value: {exc}"
            ) from exc
    if kind in "USMmV":
        raise TypeError(
            f"{name} must hold numbers, got dtype {array.dtype}; "
            "convert it to a numeric array first"
        )
    if array.dtype in (np.float32, np.float64):
        return array
    if array.dtype.char in "fd":  # the other byte order: the kernels read native floats
        return array.astype(array.dtype.newbyteorder("="))
    # bool, integers (squares of uint8 / int16 data would overflow in their own
    # type), float16 and long double are all computed on in float64
    return array.astype(np.float64)


def check_array(X, *, name="X", min_samples=1, ensure_finite=True):
    """Validate a 2-D data matrix and return it as float32 or float64.

    float32 and float64 arrays are returned as they are (no copy, any memory
    layout, read-only allowed); every other numeric dtype is converted to
    float64.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    name : str
        How the argument is called in error messages.
    min_samples : int
        Fewest rows accepted.
    ensure_finite : bool
        Check for NaN and infinity here.  Callers whose kernel output proves
        finiteness anyway (a non-finite entry always yields a non-finite
        result) pass False and call :func:`check_finite` only when the
        output is not finite, saving a pass over X.

    Returns
    -------
    ndarray of shape (n_samples, n_features), dtype float32 or float64

    Raises
    ------
    TypeError
        For None, sparse matrices, strings and non-numeric objects.
    ValueError
        For complex values, a shape that is not 2-D, too few rows, no columns,
        and NaN or infinite entries (the message gives how many and the first).
    """
    array = _to_numeric(X, name)
    if array.ndim != 2:
        if array.ndim == 1:
            hint = (
                f". Reshape your data with {name}.reshape(-1, 1) if it holds a single "
                f"feature or {name}.reshape(1, -1) if it holds a single sample"
            )
        else:
            hint = ""
        raise ValueError(
            f"Expected a 2-D array for {name}, got a {array.ndim}-D array of shape "
            f"{array.shape}{hint}"
        )
    n_samples, n_features = array.shape
    if n_samples < min_samples:
        raise ValueError(
            f"Found array with {n_samples} sample(s) (shape={array.shape}) while a "
            f"minimum of {min_samples} is required."
        )
    if n_features == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={array.shape}) while a minimum of "
            "1 is required."
        )
    if ensure_finite:
        check_finite(array, name=name)
    return array


def check_finite(array, *, name="X", row_offset=0):
    """Raise ValueError naming how many entries of `array` are NaN or
    infinite and where the first is; return None when all are finite.

    `row_offset` is added to the row named: the place of `array`'s first row
    in a larger whole (a block of a file, a chunk of a Dask array)."""
    # Happy path without an n x d temporary: a finite sum proves every entry
    # finite.  Only when the sum is not finite (a NaN/inf, or an overflow of
    # large finite values) is the element-wise check paid for.
    with np.errstate(over="ignore", invalid="ignore"):
        total = array.sum(dtype=np.float64)
    if np.isfinite(total):
        return
    n_bad, n_nan, n_inf, (row, column) = _describe_first_nonfinite(array)
    if n_bad:
        raise ValueError(
            f"Input {name} contains NaN or infinity: {n_bad} non-finite value(s) "
            f"({n_nan} NaN, {n_inf} inf); the first at row {row + row_offset}, column {column}"
        )


def check_labels(y, n_samples, *, name="y", both_classes=True):
    """Validate binary anomaly labels and return them as uint8 (1 = anomaly).

    Accepted: an array-like of shape (n_samples,) or (n_samples, 1) holding
    only 0 and 1 (integers, floats or booleans), with both values present
    (unless `both_classes` is False: evaluating needs no anomaly, and a part
    of a larger labelled set may hold one class).
    {-1, +1} labels are refused rather than guessed at, because scikit-learn's
    predict uses -1 for an anomaly while this package's labels use 1.
    """
    if y is None:
        raise TypeError(f"{name} must be array-like of 0/1 labels, got None")
    labels = _to_numeric(y, name)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (or a single column), got shape {labels.shape}"
        )
    if labels.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {labels.shape[0]} labels but there are {n_samples} samples; "
            "they must have the same length"
        )
    if not np.all(np.isfinite(labels)):
        n_bad, _, _, (index,) = _describe_first_nonfinite(labels)
        raise ValueError(
            f"{name} contains {n_bad} NaN or infinite label(s); the first at index {index}"
        )
    is_one = labels == 1
    is_binary = is_one | (labels == 0)
    if not np.all(is_binary):
        bad = np.unique(labels[~is_binary])[:5]
        raise ValueError(
            f"{name} must hold only 0 (normal) and 1 (anomaly); found "
            f"{', '.join(_shown(v.item()) for v in bad)}"
            + (". For -1/+1 labels pass (y == -1)" if np.all(np.isin(labels, (-1, 1))) else "")
        )
    if both_classes:
        n_anomalies = int(is_one.sum())
        check_both_classes(n_anomalies, n_samples - n_anomalies, name=name)
    return is_one.view(np.uint8)


def check_both_classes(n_anomalies, n_normal, *, name="y"):
    """Raise ValueError when labels hold one class only (counts of each given)."""
    if n_anomalies == 0 or n_normal == 0:
        present = "1 (anomaly)" if n_anomalies else "0 (normal)"
        raise ValueError(
            f"{name} holds a single class: every label is {present}; choosing a "
            "threshold needs both normal and anomalous examples"
        )


def check_log_density(log_density, *, name="log_density"):
    """Validate a 1-D vector of log-densities and return it as float64.

    -inf (density 0) is a valid score; NaN and +inf are not.
    """
    scores = _to_numeric(log_density, name)
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {scores.shape}")
    if scores.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    invalid = np.isnan(scores) | (scores == np.inf)
    if invalid.any():
        raise ValueError(
            f"{name} contains {int(invalid.sum())} NaN or +inf value(s); the first at "
            f"index {int(np.argmax(invalid))}"
        )
    return scores.astype(np.float64, copy=False)


def check_scalar(value, name, *, kind=numbers.Real, low=None, high=None,
                 low_inclusive=True, high_inclusive=True):
    """Check a scalar parameter's type and range, naming it when it is wrong."""
    if isinstance(value, bool) or not isinstance(value, kind):
        expected = "an integer" if kind is numbers.Integral else "a real number"
        raise TypeError(f"{name} must be {expected}, got {value!r} of type {type(value).__name__}")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        bound = ">=" if low_inclusive else ">"
        raise ValueError(f"{name} must be {bound} {low}, got {value!r}")
    if high is not None and (value > high or (value == high and not high_inclusive)):
        bound = "<=" if high_inclusive else "<"
        raise ValueError(f"{name} must be {bound} {high}, got {value!r}")
    return value
