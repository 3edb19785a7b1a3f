"""Feature names and output containers, as scikit-learn's protocols define them.

A DataFrame's string column names become an estimator's ``feature_names_in_``
at ``fit``; later calls are checked against them the way scikit-learn checks
its own estimators (a warning when names appear or vanish, an error when they
differ); a transformer's ``get_feature_names_out`` and ``set_output`` let a
``Pipeline`` carry the names to the next step.  scikit-learn is never imported
here: its global output setting is read only when scikit-learn is already
loaded, because a user who has not imported it cannot have changed it.
"""

import sys
import warnings

import numpy as np

__all__ = ["OUTPUT_CONTAINERS", "check_feature_names", "check_output_container",
           "feature_names_of", "feature_names_out", "output_container", "wrap_output"]

#: What ``set_output(transform=...)`` accepts; None leaves the setting as it is.
OUTPUT_CONTAINERS = ("default", "pandas")


def feature_names_of(X):
    """Column names of a DataFrame-like `X` when they are all strings, else None.

    Returns
    -------
    ndarray of object, shape (n_features,), or None
        Mixed or non-string names count as no names (scikit-learn's rule).
    """
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = np.asarray(columns, dtype=object)
    if names.ndim != 1 or not all(isinstance(name, str) for name in names):
        return None
    return names


def check_feature_names(X, fitted_names, estimator_name, *, stacklevel=2):
    """Compare the names of `X` with `fitted_names` (``feature_names_in_``).

    Warns (``UserWarning``) when `X` has names and the estimator was fitted
    without, or the reverse; raises ``ValueError`` when both have names and
    they differ, in content or in order.  These are scikit-learn's rules and
    messages, so a pipeline behaves the same whichever estimator it holds.
    `stacklevel` counts from the caller, as if it called ``warnings.warn``.
    """
    if fitted_names is None and type(X) is np.ndarray:  # the common case: nothing to compare
        return
    names = feature_names_of(X)
    if names is None and fitted_names is None:
        return
    if names is not None and fitted_names is None:
        warnings.warn(f"X has feature names, but {estimator_name} was fitted without feature "
                      "names", UserWarning, stacklevel=stacklevel + 1)
    elif names is None:
        warnings.warn(f"X does not have valid feature names, but {estimator_name} was fitted "
                      "with feature names", UserWarning, stacklevel=stacklevel + 1)
    elif len(names) != len(fitted_names) or np.any(names != fitted_names):
        raise ValueError(
            "The feature names should match those that were passed during fit: "
            f"expected {list(fitted_names)}, got {list(names)}"
        )


def feature_names_out(estimator, input_features):
    """Output names of a one-column-in, one-column-out transformer.

    Parameters
    ----------
    estimator : fitted estimator with ``n_features_in_``
    input_features : array-like of str or None
        None means ``feature_names_in_`` when fitted with names, else
        ``x0, x1, ...``; given names must have ``n_features_in_`` entries and
        equal ``feature_names_in_`` when that exists.

    Returns
    -------
    ndarray of object, shape (n_features_in_,)
    """
    n_features = estimator.n_features_in_
    fitted_names = getattr(estimator, "feature_names_in_", None)
    if input_features is None:
        if fitted_names is not None:
            return np.asarray(fitted_names, dtype=object)
        return np.asarray([f"x{j}" for j in range(n_features)], dtype=object)
    names = np.asarray(input_features, dtype=object)
    if names.ndim != 1 or len(names) != n_features:
        raise ValueError(f"input_features should have length equal to number of features "
                         f"({n_features}), got {names.size}")
    if fitted_names is not None and np.any(names != fitted_names):
        raise ValueError(f"input_features is not equal to feature_names_in_: expected "
                         f"{list(fitted_names)}, got {list(names)}")
    return names


def check_output_container(transform):
    """`transform` of ``set_output(transform=...)`` when valid, else ValueError."""
    if transform not in OUTPUT_CONTAINERS:
        raise ValueError(f"set_output's transform must be one of {list(OUTPUT_CONTAINERS)} "
                         f"or None, got {transform!r}")
    return transform


def output_container(chosen):
    """The container a transform returns: the estimator's own ``set_output``
    choice `chosen`, else scikit-learn's global ``transform_output`` setting
    when scikit-learn is loaded, else "default" (an ndarray)."""
    if chosen is not None:
        return chosen
    sklearn = sys.modules.get("sklearn")
    if sklearn is None:
        return "default"
    chosen = sklearn.get_config().get("transform_output", "default")
    if chosen not in OUTPUT_CONTAINERS:
        raise ValueError(f"scikit-learn's transform_output is {chosen!r}; "
                         f"gaussext's transformers support {list(OUTPUT_CONTAINERS)}")
    return chosen


def wrap_output(values, X, container, names_out):
    """`values` (an ndarray) in `container`: itself for "default"; for
    "pandas" a DataFrame with columns ``names_out()`` and the index of `X`
    when `X` is a DataFrame."""
    if container == "default":
        return values
    import pandas as pd

    index = X.index if isinstance(X, pd.DataFrame) else None
    return pd.DataFrame(values, columns=names_out(), index=index)
