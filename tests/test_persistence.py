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
            arrays.pop(name, None)
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
    with pytest.raises(ValueError, match=r"holds \['weights.npy'\], expected"):
        GaussianAnomalyDetector.load(path)


def test_other_format_version_is_refused_with_both_versions(tmp_path):
    path = _saved(tmp_path, GaussianAnomalyDetector().fit(X))
    metadata = _metadata(path)
    metadata["format_version"] = 3
    _rewrite(path, metadata=_encoded(metadata))
    with pytest.raises(ValueError, match=r"format version 3 .*this gaussext reads versions 1, 2"):
        GaussianAnomalyDetector.load(path)


def _as_version_1(path):
    """Rewrite a saved model as gaussext 0.1 wrote it (format version 1): no
    half_life parameter, no streaming state."""
    from gaussext._persistence import STREAM_MEMBERS

    metadata = _metadata(path)
    metadata["format_version"] = 1
    metadata["gaussext_version"] = "0.1.0"
    del metadata["params"]["half_life"]
    del metadata["params"]["resumable"]
    metadata.pop("stream", None)
    _rewrite(path, metadata=_encoded(metadata), **dict.fromkeys(STREAM_MEMBERS))
    with np.load(path) as archive:  # the five members of version 1 and nothing else
        assert sorted(archive.files) == ["epsilon", "log_epsilon", "mean", "metadata", "spread"]
    return path


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_version_1_files_load_and_score_but_cannot_resume(tmp_path, covariance):
    detector = GaussianAnomalyDetector(covariance).fit(X)
    path = _as_version_1(_saved(tmp_path, detector))
    loaded = GaussianAnomalyDetector.load(path)
    assert loaded.half_life is None
    np.testing.assert_array_equal(loaded.score_samples(X_NEW), detector.score_samples(X_NEW))
    assert loaded.log_epsilon_ == detector.log_epsilon_
    with pytest.raises(ValueError, match="format version 1, which predates streaming state, "
                                         "(.|\n)*it cannot resume with partial_fit. Call fit"):
        loaded.partial_fit(X_NEW)
    loaded.set_params(resumable=True).fit(X)  # fit starts again, resumable from then on
    loaded.partial_fit(X_NEW)
    assert loaded.statistics_.n_samples == X.shape[0] + X_NEW.shape[0]


def test_a_version_1_file_with_a_half_life_parameter_is_refused(tmp_path):
    path = _as_version_1(_saved(tmp_path, GaussianAnomalyDetector().fit(X)))
    metadata = _metadata(path)
    metadata["params"]["half_life"] = None
    _rewrite(path, metadata=_encoded(metadata))
    with pytest.raises(ValueError, match="parameters are"):
        GaussianAnomalyDetector.load(path)


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
@pytest.mark.parametrize("half_life", [None, 150.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_load_then_partial_fit_equals_fit_on_every_row(tmp_path, covariance, half_life, dtype):
    """A model saved, loaded and continued equals one fit on all rows: parameters
    within 1e-12, epsilon the in-memory one (every row is in the sample)."""
    rows = X.astype(dtype)
    first = GaussianAnomalyDetector(covariance, half_life=half_life,
                                    resumable=True).fit(rows[:250])
    resumed = GaussianAnomalyDetector.load(_saved(tmp_path, first))
    assert resumed.half_life == half_life
    for chunk in np.array_split(rows[250:], 4):
        resumed.partial_fit(chunk)
    reference = GaussianAnomalyDetector(covariance, half_life=half_life).fit(rows)
    np.testing.assert_allclose(resumed.mean_, reference.mean_, rtol=1e-12)
    spread = "var_" if covariance == "diagonal" else "covariance_"
    np.testing.assert_allclose(getattr(resumed, spread), getattr(reference, spread),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(resumed.log_epsilon_, reference.log_epsilon_, rtol=1e-12)
    assert resumed.statistics_.n_samples == X.shape[0]
    # saved again after resuming: the same state once more
    again = GaussianAnomalyDetector.load(_saved(tmp_path, resumed, "again.npz"))
    assert again.log_epsilon_ == resumed.log_epsilon_
    np.testing.assert_array_equal(again.statistics_.sample.view()[1],
                                  resumed.statistics_.sample.view()[1])


def test_a_sample_beyond_its_capacity_survives_a_round_trip(tmp_path, monkeypatch):
    """Once rows were discarded, the file keeps the discarded priority: the
    resumed sample equals the one kept without saving."""
    detector = GaussianAnomalyDetector()
    detector.fit(iter(np.array_split(X, 3)))
    small = detector.statistics_
    from gaussext import GaussianStatistics

    statistics = GaussianStatistics("diagonal", sample=64, half_life=None)
    for chunk in np.array_split(X, 5):
        statistics.update(chunk)
    detector = GaussianAnomalyDetector().fit_statistics(statistics)
    loaded = GaussianAnomalyDetector.load(_saved(tmp_path, detector))
    rows, index, threshold = loaded.statistics_.sample.view()
    expected = statistics.sample.view()
    assert rows.shape == (64, 4) and threshold == expected[2] > -np.inf
    np.testing.assert_array_equal(index, expected[1])
    loaded.partial_fit(X_NEW)
    statistics.update(X_NEW)
    np.testing.assert_array_equal(loaded.statistics_.sample.view()[1],
                                  statistics.sample.view()[1])
    assert small.sample is not None


@pytest.mark.parametrize(
    "tamper, message",
    [
        (lambda meta, arrays: meta.update(model="full"), "model kind 'full', parameter covariance"),
        (lambda meta, arrays: meta.update(n_features_in=3), "n_features_in = 3 is not the integer 4"),
        (lambda meta, arrays: meta.update(n_features_in="4"), "n_features_in = '4' is not the integer"),
        (lambda meta, arrays: meta["params"].update(covariance="banana"), "covariance='banana'"),
        (lambda meta, arrays: meta["params"].update(bogus=1), r"parameters are \['bogus'"),
        (lambda meta, arrays: meta.update(feature_names=["a"]), "feature names"),
        (lambda meta, arrays: arrays.update(mean=np.full(4, np.nan)), "NaN or infinity"),
        (lambda meta, arrays: arrays.update(spread=-np.ones(4)), "zero variance"),
        (lambda meta, arrays: arrays.update(spread=np.ones(5)), r"spread has shape \(5,\), expected"),
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
    with pytest.raises(ValueError, match=r"metadata has dtype object and shape \(1,\), expected uint8"):
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


def test_a_model_from_parts_merged_apart_round_trips(tmp_path):
    """Without forgetting, parts need not be consecutive: rows 0-199 and
    1000-1199 merged keep row numbers beyond first_row + n_samples, and the
    file still loads and resumes."""
    from gaussext import GaussianStatistics

    early = GaussianStatistics("full", sample=True).update(X[:200])
    late = GaussianStatistics("full", sample=True).update(X[200:], first_row=1000)
    detector = GaussianAnomalyDetector("full").fit_statistics(early.merge(late))
    loaded = GaussianAnomalyDetector.load(_saved(tmp_path, detector))
    assert loaded.log_epsilon_ == detector.log_epsilon_
    assert loaded.statistics_.sample.view()[1].max() == 1199


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_an_in_memory_fit_without_resumable_keeps_no_sample(tmp_path, covariance):
    """Its file stays small and says it cannot resume; partial_fit on the model
    itself continues the statistics exactly, warning that epsilon then covers
    only the rows that follow."""
    plain = GaussianAnomalyDetector(covariance).fit(X)
    resumable = GaussianAnomalyDetector(covariance, resumable=True).fit(X)
    assert plain.statistics_.sample is None and len(resumable.statistics_.sample) == X.shape[0]
    assert plain.log_epsilon_ == resumable.log_epsilon_
    small, large = _saved(tmp_path, plain, "plain.npz"), _saved(tmp_path, resumable, "r.npz")
    assert small.stat().st_size < large.stat().st_size
    with pytest.raises(ValueError, match="resumable=True"):
        GaussianAnomalyDetector.load(small).partial_fit(X_NEW)
    with pytest.warns(UserWarning, match="resumable=True"):
        plain.partial_fit(X_NEW)
    resumable.partial_fit(X_NEW)
    np.testing.assert_allclose(plain.mean_, resumable.mean_, rtol=1e-12)
    assert plain.statistics_.n_samples == resumable.statistics_.n_samples
    # epsilon: over the new rows only, against every row for the resumable model
    expected = np.quantile(plain.score_samples(X_NEW), plain.contamination)
    assert plain.log_epsilon_ == pytest.approx(expected, rel=1e-12)
    everything = np.quantile(resumable.score_samples(np.vstack([X, X_NEW])), 0.1)
    assert resumable.log_epsilon_ == pytest.approx(everything, rel=1e-12)
