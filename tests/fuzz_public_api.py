"""Coverage-guided fuzz target (atheris) over the entry points that reach the kernels.

CI runs it deterministically on the debug build (bounds checks on): the
committed corpus, then a fixed number of inputs from a fixed seed::

    pip install '.[fuzz]'
    python tests/fuzz_public_api.py NEW_DIR tests/fuzz_corpus -seed=20261129 -runs=120000

Open-ended fuzzing (random seed, bounded time) is a developer's command; see
``tests/fuzz_corpus/README.md`` for what to do with what it finds.

Each input is decoded into one call — fit, partial_fit over chunks, score,
predict, decision_function, explain, tune_threshold or select_threshold — with a chosen dtype, memory layout,
shape, parameters and values (NaN, infinities, subnormals and extremes
included).  Allowed outcomes: a result, or a ValueError / TypeError /
NotFittedError.  Everything else fails the run: another exception (a NumPy
RuntimeWarning included), a NaN in a result, a result of the wrong shape, or the caller's array changed.  The
gaussext Python modules are instrumented, so the fuzzer is guided by which
validation branches an input reaches; the compiled kernels are not (that
would need a clang/libFuzzer build), they are checked by their outputs and,
on the debug build, by Cython's bounds checks.

The file is not collected by pytest (its name does not start with ``test_``).
"""

import sys
import warnings

import atheris
import numpy as np

with atheris.instrument_imports(include=["gaussext"]):
    import gaussext
    from gaussext import GaussianAnomalyDetector, NotFittedError, select_threshold

EXPECTED_ERRORS = (ValueError, TypeError, NotFittedError)
DTYPES = [np.float64, np.float32, np.int16, np.uint8, np.int64, np.float16, bool]
SPECIAL = [0.0, -0.0, 1.0, np.nan, np.inf, -np.inf, 5e-324, 1e-300, 1e300, 1.7e308, 1e9]


def _array(data, n_rows, n_columns, dtype):
    """An (n_rows, n_columns) array in a layout the fuzzer picks."""
    size = n_rows * n_columns
    mode = data.ConsumeIntInRange(0, 3)
    if mode == 0:
        values = data.ConsumeFloatList(size)
    elif mode == 1:
        values = [data.PickValueInList(SPECIAL) * data.ConsumeIntInRange(-3, 3)
                  for _ in range(size)]
    else:  # ordinary data, which reaches the kernels' full computation
        values = data.ConsumeFloatListInRange(size, -1e3, 1e3)
    values += [0.0] * (size - len(values))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        array = np.asarray(values, dtype=np.float64).reshape(n_rows, n_columns)
        array = array.astype(dtype)
    layout = data.ConsumeIntInRange(0, 3)
    if layout == 1:
        array = np.asfortranarray(array)
    elif layout == 2:
        array = np.repeat(array, 2, axis=0)[::2]  # a strided view
    elif layout == 3:
        array.setflags(write=False)
    return array


def _parameters(data):
    """Valid parameters mostly, so that most inputs reach the kernels."""
    valid = data.ConsumeIntInRange(0, 7) != 0

    def pick(good, bad):
        return data.PickValueInList(good if valid else good + bad)

    covariance = pick(["diagonal", "full"], ["spherical"])
    parameters = {
        "covariance": covariance,
        "contamination": pick([0.1, 0.5, 1e-9], [0.0, -1.0, np.nan]),
        "ddof": pick([0, 1], [-1, 3, 0.5]),
        "reg_covar": pick([0.0, 1e-6, 1.0], [-1.0, np.inf]),
        "n_jobs": pick([1, 2, None], [0]),
    }
    if covariance == "full":
        parameters["shrinkage"] = pick([None, "ledoit-wolf", "oas", 0.5], [2.0, "lw"])
    else:
        parameters["variance_floor"] = pick([0.0, 1e-3], [-1.0])
    return parameters


def _check_result(result, n_rows):
    array = np.asarray(result)
    if array.shape != (n_rows,):
        raise AssertionError(f"result of shape {array.shape}, expected ({n_rows},)")
    if np.isnan(array).any():
        raise AssertionError("a NaN in a result")


def one_input(raw):
    data = atheris.FuzzedDataProvider(raw)
    dtype = data.PickValueInList(DTYPES)
    n_rows, n_columns = data.ConsumeIntInRange(0, 40), data.ConsumeIntInRange(0, 12)
    X = _array(data, n_rows, n_columns, dtype)
    snapshot = X.copy()
    action = data.ConsumeIntInRange(0, 7)
    with warnings.catch_warnings():
        # as in the test suite: a NumPy RuntimeWarning (overflow, invalid
        # value) inside the package is a failure, not noise
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", gaussext.ConditioningWarning)
        try:
            if action == 7:
                # streaming: the same rows in fuzzer-chosen chunks
                detector = GaussianAnomalyDetector(**_parameters(data))
                start = 0
                while start < n_rows:
                    stop = start + data.ConsumeIntInRange(1, max(1, n_rows))
                    detector.partial_fit(X[start:stop])
                    start = stop
                if hasattr(detector, "mean_"):
                    _check_result(detector.score_samples(X), n_rows)
                return
            if action == 5:
                labels = np.asarray(data.ConsumeIntListInRange(n_rows, 0, 1))
                result = select_threshold(labels, X[:, 0] if n_columns else X)
                if np.isnan(result.f1) or not 0.0 <= result.f1 <= 1.0:
                    raise AssertionError(f"F1 of {result.f1}")
                return
            detector = GaussianAnomalyDetector(**_parameters(data)).fit(X)
            points = X if data.ConsumeBool() else _array(
                data, data.ConsumeIntInRange(0, 20), n_columns, dtype)
            if action == 0:
                _check_result(detector.score_samples(points), points.shape[0])
            elif action == 1:
                prediction = detector.predict(points)
                if not np.isin(prediction, (-1, 1)).all():
                    raise AssertionError("predict returned something other than +1/-1")
            elif action == 2:
                _check_result(detector.decision_function(points), points.shape[0])
            elif action == 6:
                contributions = detector.explain(points)
                if contributions.shape != points.shape or np.isnan(contributions).any():
                    raise AssertionError("explain returned a NaN or a wrong shape")
            elif action == 3:
                labels = np.asarray(data.ConsumeIntListInRange(points.shape[0], 0, 1))
                detector.tune_threshold(points, labels)
            else:
                _check_result(detector.fit_predict(X), n_rows)
        except EXPECTED_ERRORS:
            pass
    if not np.array_equal(X, snapshot, equal_nan=X.dtype.kind == "f"):
        raise AssertionError("the caller's array was changed")


def main():
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
