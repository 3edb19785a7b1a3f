"""Saving and loading a fitted detector in a safe format.

One ``.npz`` file, read with ``allow_pickle=False``: float64 arrays for the
parameters and the threshold, and a JSON document (stored as bytes) for
everything else.  Loading never executes code from the file; it checks the
format, its version, every shape and value, and refits nothing: the
Cholesky factor is recomputed from the stored covariance, which gives the
same bits, so a round trip reproduces the scores exactly.
"""

import json
import zipfile

import numpy as np

__all__ = ["FORMAT", "FORMAT_VERSION", "load", "save"]

FORMAT = "gaussext-model"
FORMAT_VERSION = 1


def save(detector, path):
    """Write a fitted detector to `path` (a ``.npz`` file)."""
    from gaussext import __version__

    detector._check_fitted()
    covariance = detector.covariance_ if hasattr(detector, "cholesky_factor_") else None
    names = getattr(detector, "feature_names_in_", None)
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "gaussext_version": __version__,
        "model": "full" if covariance is not None else "diagonal",
        "params": detector.get_params(),
        "n_features_in": int(detector.n_features_in_),
        "feature_names": None if names is None else [str(name) for name in names],
        "shrinkage": getattr(detector, "shrinkage_", None),
    }
    arrays = {
        "metadata": np.frombuffer(json.dumps(metadata).encode("utf-8"), dtype=np.uint8),
        "mean": detector.mean_,
        "spread": covariance if covariance is not None else detector.var_,
        "log_epsilon": np.float64(detector.log_epsilon_),
        "epsilon": np.float64(detector.epsilon_),
    }
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _model_error(path, problem):
    return ValueError(f"{path} is not a valid gaussext model file: {problem}")


def _read(path):
    """(metadata dict, arrays dict) from the file, or ValueError."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        # object arrays (which would need pickle) raise ValueError here
        raise _model_error(path, f"it cannot be read as an .npz archive ({exc})") from exc
    expected = {"metadata", "mean", "spread", "log_epsilon", "epsilon"}
    if set(arrays) != expected:
        raise _model_error(path, f"it holds {sorted(arrays)}, expected {sorted(expected)}")
    try:
        metadata = json.loads(arrays.pop("metadata").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _model_error(path, f"its metadata is not JSON ({exc})") from exc
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise _model_error(path, "its metadata does not name the gaussext model format")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise _model_error(
            path,
            f"format version {metadata.get('format_version')!r} (written by gaussext "
            f"{metadata.get('gaussext_version')!r}); this gaussext reads version "
            f"{FORMAT_VERSION}",
        )
    return metadata, arrays


def load(cls, path):
    """A fitted `cls` from a file written by :func:`save`."""
    metadata, arrays = _read(path)
    try:
        detector = cls(**metadata["params"])
        detector._validate_params()
        model, n_features = metadata["model"], metadata["n_features_in"]
        names = metadata["feature_names"]
    except (KeyError, TypeError, ValueError) as exc:
        raise _model_error(path, f"its metadata is inconsistent ({exc!r})") from exc
    if model != detector.covariance or not isinstance(n_features, int) or n_features < 1:
        raise _model_error(path, "its model kind or feature count is inconsistent")
    shape = (n_features,) if model == "diagonal" else (n_features, n_features)
    mean, spread = arrays["mean"], arrays["spread"]
    log_epsilon, epsilon = arrays["log_epsilon"], arrays["epsilon"]
    for name, array, expected_shape in [("mean", mean, (n_features,)), ("spread", spread, shape),
                                        ("log_epsilon", log_epsilon, ()),
                                        ("epsilon", epsilon, ())]:
        if array.dtype != np.float64 or array.shape != expected_shape:
            raise _model_error(path, f"{name} has dtype {array.dtype} and shape "
                                     f"{array.shape}, expected float64 {expected_shape}")
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(spread))):
        raise _model_error(path, "its mean or (co)variance holds NaN or infinity")
    if np.isnan(log_epsilon) or log_epsilon == np.inf:
        raise _model_error(path, f"its threshold log_epsilon = {float(log_epsilon)} is not "
                                 "a number below +inf")
    if model == "full" and not np.array_equal(spread, spread.T):
        raise _model_error(path, "its covariance matrix is not symmetric")
    if names is not None and (not isinstance(names, list) or len(names) != n_features
                              or not all(isinstance(name, str) for name in names)):
        raise _model_error(path, "its feature names do not match its feature count")
    try:
        detector._set_gaussian(np.array(mean), np.array(spread))
    except ValueError as exc:
        raise _model_error(path, str(exc)) from exc
    detector.n_features_in_ = n_features
    if names is not None:
        detector.feature_names_in_ = np.asarray(names, dtype=object)
    if model == "full":
        detector.shrinkage_ = float(metadata.get("shrinkage") or 0.0)
    detector._set_threshold(float(log_epsilon), float(epsilon))
    detector.threshold_ = None
    return detector
