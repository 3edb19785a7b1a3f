"""Hostile inputs to the API: Dask arrays of unknown chunk sizes, a NaN far
into a chunked array, a score at float64's largest, a grid of 10**12 steps."""

import numpy as np
import pytest

import gaussext.dask
from gaussext import GaussianAnomalyDetector, evaluate, select_threshold

da = pytest.importorskip("dask.array")

RNG = np.random.default_rng(8)
X = RNG.normal(size=(1000, 3))
KEEP = X[:, 0] > -1.0  # boolean indexing: Dask no longer knows the chunks' lengths


def _unknown_chunks(values):
    chunked = da.from_array(values, chunks=250)
    selected = chunked[da.from_array(KEEP, chunks=250)]
    assert np.isnan(selected.shape[0])
    return selected


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_dask_fit_on_unknown_chunk_sizes_equals_the_in_memory_fit(covariance):
    detector = gaussext.dask.fit(_unknown_chunks(X), covariance)
    expected = GaussianAnomalyDetector(covariance).fit(X[KEEP])
    np.testing.assert_allclose(detector.mean_, expected.mean_, rtol=1e-13, atol=1e-15)
    spread = "covariance_" if covariance == "full" else "var_"
    np.testing.assert_allclose(getattr(detector, spread), getattr(expected, spread), rtol=1e-13)


def test_dask_select_threshold_on_unknown_chunk_sizes_equals_the_in_memory_scan():
    detector = GaussianAnomalyDetector().fit(X)
    labels = (np.abs(X).max(axis=1) > 2.2).astype(int)
    scores = gaussext.dask.score_samples(detector, _unknown_chunks(X))
    result = gaussext.dask.select_threshold(_unknown_chunks(labels[:, None])[:, 0], scores)
    expected = select_threshold(labels[KEEP], detector.score_samples(X[KEEP]))
    assert (result.log_epsilon, result.f1) == (expected.log_epsilon, expected.f1)
    assert result.true_positives == expected.true_positives


_NAN_AT_800 = r"contains NaN or infinity: 1 non-finite value\(s\) .*the first at row 800, column 1"


def _with_nan_at_800():
    bad = X.copy()
    bad[800, 1] = np.nan
    return da.from_array(bad, chunks=250)


@pytest.mark.parametrize("call", [
    lambda data: gaussext.dask.fit(data),
    lambda data: gaussext.dask.fit(data, "full"),
    lambda data: gaussext.dask.score_samples(GaussianAnomalyDetector().fit(X), data).compute(),
    lambda data: gaussext.dask.predict(GaussianAnomalyDetector().fit(X), data).compute(),
], ids=["fit", "fit-full", "score_samples", "predict"])
def test_a_nan_is_named_by_its_row_in_the_whole_dask_array(call):
    with pytest.raises(ValueError, match=_NAN_AT_800):
        call(_with_nan_at_800())


def test_the_largest_float_score_gives_a_threshold_evaluate_accepts():
    largest = np.finfo(np.float64).max
    labels, scores = [0, 1], [-5.0, largest]
    result = select_threshold(labels, scores)
    assert result.log_epsilon == np.inf
    judged = evaluate(labels, scores, log_epsilon=result.log_epsilon)
    # p < +inf flags both points: the counts the scan reported
    assert (judged.tp, judged.fp, judged.fn, judged.tn) == (
        result.true_positives, result.false_positives, result.false_negatives,
        result.true_negatives) == (1, 1, 0, 0)
    assert judged.f1 == result.f1


def test_a_detector_tuned_to_an_infinite_threshold_saves_and_loads(tmp_path):
    detector = GaussianAnomalyDetector().fit(X)
    largest = np.finfo(np.float64).max
    detector.set_threshold(select_threshold([0, 1], [-5.0, largest]))  # log_epsilon +inf
    detector.save(tmp_path / "m.npz")
    loaded = GaussianAnomalyDetector.load(tmp_path / "m.npz")
    assert loaded.log_epsilon_ == np.inf and loaded.epsilon_ == np.inf
    assert np.all(loaded.predict(X[:5]) == -1)


@pytest.mark.parametrize("steps", [10**7 + 1, 10**12])
def test_a_grid_beyond_ten_million_steps_is_refused_before_it_is_built(steps):
    with pytest.raises(ValueError, match=rf"steps must be at most 10000000 \(the grid holds "
                                         rf"steps \+ 1 thresholds\), got {steps}; "
                                         r"method='exact'"):
        select_threshold([0, 1, 0], [-1.0, -2.0, -3.0], method="grid", steps=steps)


def test_ten_million_steps_are_still_allowed():
    result = select_threshold([0, 1, 0], [-1.0, -9.0, -3.0], method="grid", steps=10**7)
    assert result.f1 == 1.0
