"""save / load: exact round trips, and a clear ValueError (never code
execution) for files that are truncated, tampered with or of another version."""

import json
import pathlib

import numpy as np
import pytest

from gaussext import GaussianAnomalyDetector

RNG = np.random.default_rng(21)
X = RNG.normal(size=(400, 4)) @ (np.eye(4) + 0.3) + 10.0
X_NEW = RNG.normal(size=(100, 4)) * 2 + 10.0


def _saved(tmp_path, detector, name="model.npz"):
    path = tmp_path / name
    detector.save(path)
    return path


def _rewrite(path, **changes):
    """Rewrite a saved model with some arrays replaced (or removed with None)."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    for name, value in changes.items():
        if value is None:
            arrays.pop(name)
        else:
            arrays[name] = value
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _metadata(path):
    with np.load(path, allow_pickle=False) as archive:
        return json.loads(archive["metadata"].tobytes().decode())


def _encoded(metadata):
    return np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)


@pytest.mark.parametrize(
    "params",
    [{"covariance": "diagonal"}, {"covariance": "full"},
     {"covariance": "full", "shrinkage": "ledoit-wolf", "reg_covar": 1e-3, "n_jobs": 1},
     {"covariance": "diagonal", "ddof": 1, "contamination": 0.05, "variance_floor": 0.5}],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_round_trip_reproduces_scores_exactly(tmp_path, params, dtype):
    detector = GaussianAnomalyDetector(**params).fit(X.astype(dtype))
    loaded = GaussianAnomalyDetector.load(_saved(tmp_path, detector))
    # the thread count is the running machine's, never the file's
    assert loaded.get_params() == {**detector.get_params(), "n_jobs": None}
    assert np.array_equal(loaded.score_samples(X_NEW), detector.score_samples(X_NEW))
    assert np.array_equal(loaded.predict(X_NEW), detector.predict(X_NEW))
    assert loaded.log_epsilon_ == detector.log_epsilon_
    assert loaded.epsilon_ == detector.epsilon_
    assert loaded.threshold_ is None


def test_round_trip_keeps_a_tuned_threshold_and_feature_names(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=["latency", "throughput", "cpu", "memory"])
    detector = GaussianAnomalyDetector("full").fit(frame)
    labels = (RNG.random(len(X_NEW)) < 0.1).astype(int)
    labels[:2] = [0, 1]
    detector.tune_threshold(pd.DataFrame(X_NEW, columns=frame.columns), labels)
    loaded = GaussianAnomalyDetector.load(_saved(tmp_path, detector))
    assert list(loaded.feature_names_in_) == list(frame.columns)
    assert loaded.log_epsilon_ == detector.log_epsilon_
    new = pd.DataFrame(X_NEW, columns=frame.columns)
    assert np.array_equal(loaded.decision_function(new), detector.decision_function(new))


def test_saving_an_unfitted_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not fitted yet"):
        GaussianAnomalyDetector().save(tmp_path / "model.npz")


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        GaussianAnomalyDetector.load(tmp_path / "absent.npz")


@pytest.mark.parametrize("keep", [0.0, 0.3, 0.9])
def test_truncated_file_is_refused(tmp_path, keep):
    path = _saved(tmp_path, GaussianAnomalyDetector("full").fit(X))
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ValueError, match="is not a valid gaussext model file"):
        GaussianAnomalyDetector.load(path)


def test_file_that_is_not_a_model_is_refused(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, weights=np.ones(3))
    with pytest.raises(ValueError, match=r"holds \['weights'\], expected"):
        GaussianAnomalyDetector.load(path)


def test_other_format_version_is_refused_with_both_versions(tmp_path):
    path = _saved(tmp_path, GaussianAnomalyDetector().fit(X))
    metadata = _metadata(path)
    metadata["format_version"] = 2
    _rewrite(path, metadata=_encoded(metadata))
    with pytest.raises(ValueError, match=r"format version 2 .*this gaussext reads version 1"):
        GaussianAnomalyDetector.load(path)


@pytest.mark.parametrize(
    "tamper, message",
    [
        (lambda meta, arrays: meta.update(model="full"), "model kind or feature count"),
        (lambda meta, arrays: meta.update(n_features_in=3), r"shape \(4,\), expected float64 \(3,\)"),
        (lambda meta, arrays: meta.update(n_features_in="4"), "model kind or feature count"),
        (lambda meta, arrays: meta["params"].update(covariance="banana"), "inconsistent"),
        (lambda meta, arrays: meta["params"].update(bogus=1), "inconsistent"),
        (lambda meta, arrays: meta.update(feature_names=["a"]), "feature names"),
        (lambda meta, arrays: arrays.update(mean=np.full(4, np.nan)), "NaN or infinity"),
        (lambda meta, arrays: arrays.update(spread=-np.ones(4)), "zero variance"),
        (lambda meta, arrays: arrays.update(spread=np.ones(5)), "spread has dtype"),
        (lambda meta, arrays: arrays.update(mean=np.ones(4, dtype=np.float32)), "mean has dtype"),
        (lambda meta, arrays: arrays.update(log_epsilon=np.float64(np.nan)), "log_epsilon"),
        (lambda meta, arrays: arrays.update(log_epsilon=None), "expected"),
    ],
)
def test_tampered_diagonal_model_is_refused(tmp_path, tamper, message):
    path = _saved(tmp_path, GaussianAnomalyDetector().fit(X))
    metadata = _metadata(path)
    arrays = {}
    tamper(metadata, arrays)
    _rewrite(path, metadata=_encoded(metadata), **arrays)
    with pytest.raises(ValueError, match=message):
        GaussianAnomalyDetector.load(path)


@pytest.mark.parametrize(
    "spread, message",
    [
        (np.triu(np.ones((4, 4))) + np.eye(4), "not symmetric"),
        (np.ones((4, 4)), "not positive definite"),
        (-np.eye(4), "zero variance"),
    ],
)
def test_tampered_full_model_is_refused(tmp_path, spread, message):
    path = _saved(tmp_path, GaussianAnomalyDetector("full").fit(X))
    _rewrite(path, spread=spread)
    with pytest.raises(ValueError, match=message):
        GaussianAnomalyDetector.load(path)


class _TouchOnUnpickle:
    """An object whose unpickling creates a file: what a malicious model would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_a_pickled_payload_is_never_executed(tmp_path):
    """An array of objects in place of the metadata would run code if it were
    unpickled; load refuses it and the code does not run."""
    path = _saved(tmp_path, GaussianAnomalyDetector().fit(X))
    marker = tmp_path / "executed"
    payload = np.empty(1, dtype=object)
    payload[0] = _TouchOnUnpickle(marker)
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["metadata"] = payload
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)  # saving pickles the object array
    with pytest.raises(ValueError, match="cannot be read as an .npz archive"):
        GaussianAnomalyDetector.load(path)
    assert not marker.exists()


@pytest.mark.parametrize("stored_n_jobs", [10**6, -(10**6), 2**31 - 1])
def test_a_thread_count_in_a_model_file_is_never_used(tmp_path, stored_n_jobs):
    """A file that carries a thread count (as version 0.1 wrote them, or
    edited to 10**6) loads with n_jobs=None: threads are decided by the
    machine that scores, clipped to its usable cores.  Saving writes none."""
    path = _saved(tmp_path, GaussianAnomalyDetector("full", n_jobs=2).fit(X))
    assert "n_jobs" not in _metadata(path)["params"]
    metadata = _metadata(path)
    metadata["params"]["n_jobs"] = stored_n_jobs
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["metadata"] = _encoded(metadata)
    np.savez(path, **arrays)
    loaded = GaussianAnomalyDetector.load(path)
    assert loaded.n_jobs is None
    reference = GaussianAnomalyDetector("full", n_jobs=1).fit(X)
    assert np.array_equal(loaded.score_samples(X_NEW), reference.score_samples(X_NEW))
