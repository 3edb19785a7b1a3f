"""gaussext: Gaussian anomaly detection, exact and in log space.

Fit a normal distribution (per feature, or multivariate) to mostly-normal
data, score new points by their log-density, and flag a point as an anomaly
when p(x) < epsilon, with epsilon chosen on labelled data by an exact F1 scan.

Public names
------------
GaussianAnomalyDetector
    The estimator (scikit-learn outlier-detector API).
select_threshold, ThresholdResult
    Epsilon by F1 on labelled scores.
GaussianStatistics
    Mergeable count, mean and centred co-moment (streaming and distributed fits).
fit_file, score_file, tune_file
    Fit, score and tune ``.npy`` files larger than memory, block by block.
NotFittedError
    Raised when a model is used before ``fit``.
evaluate, Evaluation
    Counts, precision, recall and F-scores of a threshold on labelled data.
GaussianizingTransformer
    Per-feature transforms towards a normal distribution, chosen by a
    normality test.

Modules: ``gaussext.datasets`` (synthetic server metrics), ``gaussext.oracle``
(plain-Python reference formulas), ``gaussext.compat`` (drop-in for the
classic course/notebook class), ``gaussext.diagnostics`` (Gaussianity of
each feature), ``gaussext.plot`` (figures; needs the ``gaussext[plot]`` extra),
``gaussext.dask`` (Dask arrays; needs the ``gaussext[dask]`` extra),
``gaussext.scorers`` (scorers for scikit-learn's ``GridSearchCV`` on
labelled data).
"""

from gaussext._blas_loader import preload_blas_tables
from gaussext._parallel import openmp_loading_settings

# The kernels need BLAS function pointers, not the whole of scipy.linalg.
preload_blas_tables()

try:
    # the OpenMP runtime reads its settings when it loads, with the kernels
    with openmp_loading_settings():
        from gaussext import _kernels  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on how it was run
    raise ImportError(
        "gaussext's compiled kernels could not be imported. If you are running from "
        "the source checkout, install the package first (pip install .) and run the "
        "tests with plain `pytest`, which tests the installed package."
    ) from exc

from gaussext._estimator import GaussianAnomalyDetector
from gaussext._gaussian import ConditioningWarning
from gaussext._evaluate import Evaluation, evaluate
from gaussext._outofcore import fit_file, score_file, tune_file
from gaussext._statistics import GaussianStatistics
from gaussext._threshold import ThresholdResult, select_threshold
from gaussext._validation import NotFittedError

# Names whose modules are slow to import (scipy.stats, matplotlib, dask):
# loaded on first use, so that `import gaussext` and the command line start fast.
_LAZY_NAMES = {"GaussianizingTransformer": "gaussext._transform"}
_LAZY_MODULES = ("compat", "dask", "datasets", "diagnostics", "oracle", "plot")


def __getattr__(name):
    import importlib

    if name in _LAZY_NAMES:
        value = getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    elif name in _LAZY_MODULES:
        value = importlib.import_module(f"gaussext.{name}")
    else:
        raise AttributeError(f"module 'gaussext' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY_NAMES) | set(_LAZY_MODULES))


__version__ = "0.1.0"

__all__ = [
    "ConditioningWarning",
    "Evaluation",
    "GaussianAnomalyDetector",
    "GaussianStatistics",
    "GaussianizingTransformer",
    "NotFittedError",
    "ThresholdResult",
    "fit_file",
    "score_file",
    "select_threshold",
    "tune_file",
    "evaluate",
    "__version__",
]
