"""The bad-input catalogue: every malformed input a user can pass to every
public entry point, and what each gets.

Each table lists one kind of argument (a data matrix, labels, log-densities,
a parameter) and is run against every entry point that takes that kind.  Every
case must raise the stated exception with a message saying what is wrong; and
the caller's array must be unchanged afterwards.  Nothing may crash, and
nothing may return NaN silently.  The command line's own cases are in
``test_cli.py`` (``CLI_BAD_INPUTS``).

Accepted on purpose: labels as booleans, as floats 0.0/1.0 and as a single
column; lists; -inf log-densities (density 0) (these tested at the end); a
chunk with no rows in streaming fits (it adds nothing); labels of one class
in ``evaluate`` (a threshold can be evaluated on them; choosing one cannot).  Labels in
{-1, +1} are refused, because scikit-learn's ``predict`` uses -1 for an
anomaly while labels here use 1; the message says how to convert them.
"""

import numpy as np
import pytest
import scipy.sparse

import gaussext.dask
from gaussext import (
    GaussianAnomalyDetector,
    GaussianizingTransformer,
    GaussianStatistics,
    NotFittedError,
    evaluate,
    select_threshold,
)
from gaussext.compat import GaussianAnomalyDetection
from gaussext.datasets import make_demo_split, make_server_metrics
from gaussext.diagnostics import gaussianity

RNG = np.random.default_rng(11)
GOOD = RNG.normal(size=(50, 3))
GOOD_LABELS = np.r_[np.ones(5, dtype=int), np.zeros(45, dtype=int)]


def _with(value, row, column):
    X = GOOD.copy()
    X[row, column] = value
    return X


def _object_with(value, row, column):
    X = GOOD.astype(object)
    X[row, column] = value
    return X


def _fitted(covariance="diagonal"):
    return GaussianAnomalyDetector(covariance).fit(GOOD)


def _unchanged(argument):
    """A snapshot of an array argument, to prove afterwards it was not written."""
    return argument.copy() if isinstance(argument, np.ndarray) else None


def _assert_unchanged(argument, snapshot):
    if snapshot is not None:
        assert argument.dtype == snapshot.dtype
        if argument.dtype.kind in "fc":
            assert np.array_equal(argument, snapshot, equal_nan=True)
        else:
            assert argument.tolist() == snapshot.tolist()


# -- data matrices ---------------------------------------------------------

# Every entry point that takes a data matrix: (name the message uses, call).
MATRIX_ENTRY_POINTS = {
    "fit-diagonal": ("X", lambda X: GaussianAnomalyDetector("diagonal").fit(X)),
    "fit-full": ("X", lambda X: GaussianAnomalyDetector("full").fit(X)),
    "fit_predict": ("X", lambda X: GaussianAnomalyDetector().fit_predict(X)),
    "score_samples": ("X", lambda X: _fitted().score_samples(X)),
    "score_samples-full": ("X", lambda X: _fitted("full").score_samples(X)),
    "decision_function": ("X", lambda X: _fitted().decision_function(X)),
    "predict": ("X", lambda X: _fitted().predict(X)),
    "pdf": ("X", lambda X: _fitted().pdf(X)),
    "tune_threshold": ("X", lambda X: _fitted().tune_threshold(X, GOOD_LABELS)),
    "explain": ("X", lambda X: _fitted().explain(X)),
    "explain-full": ("X", lambda X: _fitted("full").explain(X)),
    "compat-fit": ("data", lambda X: GaussianAnomalyDetection(X)),
    "compat-density": ("data", lambda X: GaussianAnomalyDetection(GOOD).multivariate_gaussian(X)),
    "partial_fit": ("X", lambda X: GaussianAnomalyDetector().partial_fit(X)),
    "partial_fit-again": ("X", lambda X: _fitted().partial_fit(X)),
    "statistics-update": ("X", lambda X: GaussianStatistics("full").update(X)),
    "transformer-fit": ("X", lambda X: GaussianizingTransformer().fit(X)),
    "transformer-transform": ("X", lambda X: GaussianizingTransformer().fit(GOOD).transform(X)),
    "gaussianity": ("X", lambda X: gaussianity(X)),
    "dask-fit": ("X", lambda X: gaussext.dask.fit(X)),
}
FITTING = {"fit-diagonal", "fit-full", "fit_predict"}
SCORING = {"score_samples", "score_samples-full", "decision_function", "predict", "pdf",
           "tune_threshold", "explain", "explain-full", "compat-density", "partial_fit-again",
           "transformer-transform"}
# Accepted on purpose: a chunk with no rows adds nothing to streaming statistics
EMPTY_CHUNK_ACCEPTED = {"partial_fit", "partial_fit-again", "statistics-update"}

# (case, value, exception, message with {name}, entry points it applies to)
BAD_MATRICES = [
    ("nan", _with(np.nan, 4, 2), ValueError,
     r"{name} contains NaN or infinity: 1 non-finite value\(s\) \(1 NaN, 0 inf\); "
     r"the first at row 4, column 2", None),
    ("inf", _with(np.inf, 7, 0), ValueError, r"\(0 NaN, 1 inf\); the first at row 7, column 0",
     None),
    ("-inf", _with(-np.inf, 0, 1), ValueError, r"\(0 NaN, 1 inf\); the first at row 0, column 1",
     None),
    ("none", None, TypeError, r"{name} must be array-like, got None", None),
    ("string", "abc", TypeError, r"{name} must hold numbers, got dtype <U3", None),
    ("strings", [["a", "b", "c"], ["d", "e", "f"]], TypeError, r"{name} must hold numbers", None),
    ("object-dict", _object_with({}, 3, 1), TypeError,
     r"{name} has dtype object and holds a non-numeric value", None),
    ("object-none", _object_with(None, 3, 1), ValueError,
     r"{name} contains NaN or infinity.*row 3, column 1", None),
    ("complex", GOOD.astype(complex), ValueError, r"Complex data not supported: {name} has dtype",
     None),
    ("datetime", np.zeros((4, 3), dtype="datetime64[s]"), TypeError,
     r"{name} must hold numbers, got dtype datetime64", None),
    ("sparse", scipy.sparse.csr_matrix(GOOD), TypeError,
     r"Sparse data was passed as {name}, but dense data is required", None),
    ("no-rows", np.empty((0, 3)), ValueError, r"0 sample\(s\) \(shape=\(0, 3\)\)|holds no rows",
     set(MATRIX_ENTRY_POINTS) - EMPTY_CHUNK_ACCEPTED),
    ("no-columns", np.empty((5, 0)), ValueError, r"0 feature\(s\) \(shape=\(5, 0\)\)", None),
    ("1-D", GOOD[:, 0], ValueError,
     r"Expected a 2-D array for {name}, got a 1-D array of shape \(50,\)\. Reshape", None),
    ("3-D", GOOD.reshape(5, 10, 3), ValueError, r"got a 3-D array of shape \(5, 10, 3\)", None),
    ("0-D", np.float64(3.0), ValueError, r"got a 0-D array", None),
    ("ragged", [[1.0, 2.0, 3.0], [3.0]], ValueError,
     r"{name} could not be read as a rectangular numeric array", None),
    ("one-row", GOOD[:1], ValueError,
     r"at least 2 to estimate a variance; got n_samples = 1", FITTING),
    ("feature-count", GOOD[:, :2], ValueError,
     r"2 features,? but .*(is expecting 3 features|has 3)", SCORING),
]


def _matrix_cases():
    for case, value, error, message, applies_to in BAD_MATRICES:
        for entry, (name, call) in MATRIX_ENTRY_POINTS.items():
            if applies_to is None or entry in applies_to:
                yield pytest.param(call, value, error, message.format(name=name),
                                   id=f"{entry}-{case}")


@pytest.mark.parametrize("call, X, error, message", list(_matrix_cases()))
def test_bad_matrix(call, X, error, message):
    snapshot = _unchanged(X)
    with pytest.raises(error, match=message):
        call(X)
    _assert_unchanged(X, snapshot)


# -- labels ------------------------------------------------------------------

LABEL_ENTRY_POINTS = {
    "select_threshold": lambda y: select_threshold(y, GOOD[:, 0]),
    "select_threshold-grid": lambda y: select_threshold(y, GOOD[:, 0], method="grid"),
    "tune_threshold": lambda y: _fitted().tune_threshold(GOOD, y),
    "compat-select_threshold":
        lambda y: GaussianAnomalyDetection.select_threshold(y, np.exp(GOOD[:, 0])),
    "evaluate": lambda y: evaluate(y, GOOD[:, 0], epsilon=0.5),
    "dask-select_threshold": lambda y: gaussext.dask.select_threshold(y, GOOD[:, 0]),
}
# Accepted on purpose: evaluating a threshold needs no anomaly (or no normal point)
SINGLE_CLASS_ACCEPTED = {"evaluate"}

BAD_LABELS = [
    ("none", None, TypeError, r"must be array-like( of 0/1 labels)?, got None"),
    ("too-few", GOOD_LABELS[:-1], ValueError, r"has 49 labels but there are 50 samples"),
    ("too-many", np.r_[GOOD_LABELS, 0], ValueError, r"has 51 labels but there are 50 samples"),
    ("two", np.r_[GOOD_LABELS[:-1], 2], ValueError,
     r"must hold only 0 \(normal\) and 1 \(anomaly\); found 2"),
    ("minus-plus-one", np.where(GOOD_LABELS == 1, -1, 1), ValueError,
     r"found -1\. For -1/\+1 labels pass \(y == -1\)"),
    ("fraction", np.r_[GOOD_LABELS[:-1], 0.5], ValueError, r"found 0\.5"),
    ("all-normal", np.zeros(50), ValueError, r"single class: every label is 0 \(normal\)"),
    ("all-anomalies", np.ones(50), ValueError, r"single class: every label is 1 \(anomaly\)"),
    ("nan", np.r_[GOOD_LABELS[:-1], np.nan], ValueError,
     r"1 NaN or infinite label\(s\); the first at index 49"),
    ("strings", np.array(["0", "1"] * 25), TypeError, r"must hold numbers, got dtype <U1"),
    ("two-columns", np.zeros((50, 2)), ValueError, r"must be 1-D \(or a single column\)"),
    ("complex", GOOD_LABELS.astype(complex), ValueError, r"Complex data not supported"),
]


def _label_cases():
    for case, y, error, message in BAD_LABELS:
        for entry in sorted(LABEL_ENTRY_POINTS):
            if not (case.startswith("all-") and entry in SINGLE_CLASS_ACCEPTED):
                yield pytest.param(entry, y, error, message, id=f"{entry}-{case}")


@pytest.mark.parametrize("entry, y, error, message", list(_label_cases()))
def test_bad_labels(entry, y, error, message):
    snapshot = _unchanged(y)
    with pytest.raises(error, match=message):
        LABEL_ENTRY_POINTS[entry](y)
    _assert_unchanged(y, snapshot)


# -- log-densities and probabilities ---------------------------------------------

BAD_SCORES = [
    ("nan", [-1.0, np.nan, -3.0, -4.0], ValueError, r"1 NaN or \+inf value\(s\); the first at index 1"),
    ("plus-inf", [np.inf, -2.0, -3.0, -4.0], ValueError, r"NaN or \+inf value\(s\); the first at index 0"),
    ("empty", [], ValueError, r"has 4 labels but there are 0 samples|is empty"),
    ("2-D", [[-1.0, 2.0], [3.0, 4.0]], ValueError, r"must be 1-D"),
    ("strings", ["a", "b", "c", "d"], TypeError, r"must hold numbers"),
    ("none", None, TypeError, r"must be array-like, got None"),
]


SCORE_ENTRY_POINTS = {
    "select_threshold": lambda s: select_threshold([0, 1, 0, 1], s),
    "select_threshold-grid": lambda s: select_threshold([0, 1, 0, 1], s, method="grid"),
    "evaluate": lambda s: evaluate([0, 1, 0, 1], s, epsilon=0.5),
    "dask-select_threshold": lambda s: gaussext.dask.select_threshold([0, 1, 0, 1], s),
}


@pytest.mark.parametrize("scores, error, message", [
    pytest.param(s, error, message, id=case) for case, s, error, message in BAD_SCORES])
@pytest.mark.parametrize("entry", sorted(SCORE_ENTRY_POINTS))
def test_bad_log_density(entry, scores, error, message):
    with pytest.raises(error, match=message):
        SCORE_ENTRY_POINTS[entry](scores)


@pytest.mark.parametrize("threshold, error, message", [
    ({"epsilon": np.nan}, ValueError, r"epsilon must be finite, got nan"),
    ({"epsilon": np.inf}, ValueError, r"epsilon must be finite, got inf"),
    ({"epsilon": -0.1}, ValueError, r"epsilon must be >= 0\.0, got -0\.1"),
    ({"epsilon": "0.1"}, TypeError, r"epsilon must be a real number, got '0\.1'"),
    ({"epsilon": None}, TypeError, r"give exactly one of epsilon .* and log_epsilon"),
    ({"epsilon": 0.1, "log_epsilon": -2.0}, TypeError, r"give exactly one of epsilon"),
    ({"log_epsilon": np.nan}, ValueError, r"log_epsilon must be a number below \+inf, got nan"),
    ({"log_epsilon": np.inf}, ValueError, r"log_epsilon must be a number below \+inf, got inf"),
], ids=["nan", "inf", "negative", "string", "none", "both", "log-nan", "log-inf"])
def test_bad_epsilon(threshold, error, message):
    with pytest.raises(error, match=message):
        evaluate([0, 1, 0, 1], [-1.0, -2.0, -3.0, -4.0], **threshold)


def test_negative_probabilities_refused_by_the_classic_interface():
    with pytest.raises(ValueError, match="probabilities must be non-negative densities"):
        GaussianAnomalyDetection.select_threshold([0, 1, 0], [0.5, -0.1, 0.2])


# -- parameters ----------------------------------------------------------------

BAD_ESTIMATOR_PARAMETERS = [
    ({"covariance": "spherical"}, ValueError,
     r"covariance must be one of \('diagonal', 'full'\), got 'spherical'"),
    ({"covariance": None}, ValueError, r"covariance must be one of"),
    ({"contamination": 0.0}, ValueError, r"contamination must be > 0\.0"),
    ({"contamination": 0.7}, ValueError, r"contamination must be <= 0\.5"),
    ({"contamination": "auto"}, TypeError, r"contamination must be a real number"),
    ({"contamination": np.nan}, ValueError, r"contamination must be finite"),
    ({"ddof": -1}, ValueError, r"ddof must be >= 0"),
    ({"ddof": 0.5}, TypeError, r"ddof must be an integer"),
    ({"ddof": True}, TypeError, r"ddof must be an integer, got True of type bool"),
    ({"ddof": 50}, ValueError, r"more samples than ddof=50"),
    ({"reg_covar": -1e-3}, ValueError, r"reg_covar must be >= 0\.0"),
    ({"reg_covar": np.inf}, ValueError, r"reg_covar must be finite"),
    ({"variance_floor": -1.0}, ValueError, r"variance_floor must be >= 0\.0"),
    ({"variance_floor": np.nan}, ValueError, r"variance_floor must be finite"),
    ({"variance_floor": "1e-3"}, TypeError, r"variance_floor must be a real number"),
    ({"covariance": "full", "variance_floor": 1e-3}, ValueError,
     r"variance_floor applies to covariance='diagonal' only; for the full model use "
     r"reg_covar or shrinkage"),
    ({"shrinkage": 0.5}, ValueError, r"shrinkage applies to covariance='full' only"),
    ({"covariance": "full", "shrinkage": "lw"}, ValueError,
     r"shrinkage must be one of \('ledoit-wolf', 'oas'\), a float in \[0, 1\] or None"),
    ({"covariance": "full", "shrinkage": 1.5}, ValueError, r"shrinkage must be <= 1\.0"),
    ({"covariance": "full", "shrinkage": np.nan}, ValueError, r"shrinkage must be finite"),
    ({"n_jobs": 0}, ValueError, r"n_jobs must be a non-zero integer or None, got 0"),
    ({"n_jobs": 1.5}, TypeError, r"n_jobs must be None or an integer, got 1.5 of type float"),
    ({"n_jobs": True}, TypeError, r"n_jobs must be None or an integer, got True of type bool"),
]


@pytest.mark.parametrize("params, error, message", BAD_ESTIMATOR_PARAMETERS,
                         ids=[repr(p) for p, _, _ in BAD_ESTIMATOR_PARAMETERS])
def test_bad_estimator_parameter(params, error, message):
    detector = GaussianAnomalyDetector(**params)  # constructing never raises (scikit-learn)
    with pytest.raises(error, match=message):
        detector.fit(GOOD)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"method": "bisect"}, ValueError, r"method must be 'exact' or 'grid', got 'bisect'"),
    ({"method": "grid", "steps": 0}, ValueError, r"steps must be >= 1"),
    ({"method": "grid", "steps": 2.5}, TypeError, r"steps must be an integer"),
    ({"method": "grid", "steps": None}, TypeError, r"steps must be an integer"),
])
@pytest.mark.parametrize("entry", ["select_threshold", "tune_threshold"])
def test_bad_threshold_parameter(entry, kwargs, error, message):
    with pytest.raises(error, match=message):
        if entry == "select_threshold":
            select_threshold(GOOD_LABELS, GOOD[:, 0], **kwargs)
        else:
            _fitted().tune_threshold(GOOD, GOOD_LABELS, **kwargs)


def test_unknown_parameter_name():
    with pytest.raises(ValueError, match=r"Invalid parameter 'sigma' for estimator "
                                         r"GaussianAnomalyDetector\. Valid parameters are"):
        GaussianAnomalyDetector().set_params(sigma=1)


@pytest.mark.parametrize("call, error, message", [
    (lambda: make_server_metrics(10, anomaly_fraction=1.0), ValueError,
     r"anomaly_fraction must be < 1\.0, got 1\.0"),
    (lambda: make_server_metrics(0), ValueError, r"n_samples must be >= 1, got 0"),
    (lambda: make_server_metrics(2.5), TypeError, r"n_samples must be an integer, got 2\.5"),
    (lambda: make_demo_split(0, 10), ValueError, r"n_train must be >= 1, got 0"),
    (lambda: make_demo_split(10, -1), ValueError, r"n_val must be >= 1, got -1"),
])
def test_bad_generator_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


# -- order of calls --------------------------------------------------------------

NEEDS_FIT = {
    "score_samples": lambda det: det.score_samples(GOOD),
    "decision_function": lambda det: det.decision_function(GOOD),
    "predict": lambda det: det.predict(GOOD),
    "pdf": lambda det: det.pdf(GOOD),
    "tune_threshold": lambda det: det.tune_threshold(GOOD, GOOD_LABELS),
    "save": lambda det: det.save("never-written.npz"),
    "explain": lambda det: det.explain(GOOD),
    "dask-score_samples": lambda det: gaussext.dask.score_samples(det, GOOD),
    "dask-predict": lambda det: gaussext.dask.predict(det, GOOD),
    "score_file": lambda det: gaussext.score_file(det, "in.npy", "never-written.npz"),
}


@pytest.mark.parametrize("entry", sorted(NEEDS_FIT))
def test_before_fit(entry, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotFittedError, match=r"This GaussianAnomalyDetector instance is not "
                                             r"fitted yet\. Call 'fit'"):
        NEEDS_FIT[entry](GaussianAnomalyDetector())
    assert not (tmp_path / "never-written.npz").exists()


# -- accepted on purpose -----------------------------------------------------------

@pytest.mark.parametrize("labels", [
    GOOD_LABELS.astype(bool), GOOD_LABELS.astype(float), GOOD_LABELS.reshape(-1, 1),
    GOOD_LABELS.tolist(), GOOD_LABELS.astype(np.uint8),
], ids=["bool", "float", "column", "list", "uint8"])
def test_label_forms_accepted(labels):
    expected = select_threshold(GOOD_LABELS, GOOD[:, 0])
    result = select_threshold(labels, GOOD[:, 0])
    assert (result.log_epsilon, result.f1, result.true_positives, result.false_positives) == (
        expected.log_epsilon, expected.f1, expected.true_positives, expected.false_positives)


def test_minus_infinity_is_a_density_of_zero():
    scores = np.array([-np.inf, -1.0, -2.0, -np.inf, -0.5])
    result = select_threshold([1, 0, 0, 1, 0], scores)
    assert result.f1 == 1.0 and result.true_positives == 2
