"""Threads: scoring from many Python threads, the GIL released in the kernels,
and results that do not depend on how often or on how many threads they run."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from gaussext import GaussianAnomalyDetector

COVARIANCES = ["diagonal", "full"]


def _data(n_samples, n_features, seed=0):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(n_features, n_features)) * 0.3 + np.eye(n_features)
    return rng.normal(size=(n_samples, n_features)) @ mixing + 5.0


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_eight_python_threads_score_one_model_as_serial_scoring_does(covariance):
    """One fitted model scored from 8 Python threads at once, each on its own
    slice and on the whole array, gives exactly the serial results."""
    X = _data(40_000, 6)
    detector = GaussianAnomalyDetector(covariance, n_jobs=2).fit(X[:5_000])
    slices = [X[k::8] for k in range(8)]
    serial = [detector.score_samples(part) for part in slices] + [detector.score_samples(X)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(detector.score_samples, slices + [X]))
    for expected, actual in zip(serial, concurrent):
        assert np.array_equal(expected, actual)


def _count_until(event, ticks):
    while not event.is_set():
        ticks.append(None)


def _ticks_per_second():
    """How fast one Python thread appends to a list, running alone for 50 ms."""
    ticks, stop = [], threading.Event()
    timer = threading.Timer(0.05, stop.set)
    start = time.perf_counter()
    timer.start()
    _count_until(stop, ticks)
    return len(ticks) / (time.perf_counter() - start)


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_kernels_release_the_gil(covariance):
    """While the main thread scores a large array on one OpenMP thread, a
    pure-Python thread on the other core keeps counting for most of the call.
    Were the GIL held through the kernel, the counter could only run in the
    call's short Python parts, one switch interval (5 ms) at a time."""
    X = _data(3_000_000, 8)
    detector = GaussianAnomalyDetector(covariance, n_jobs=1).fit(X[:5_000])
    rate = _ticks_per_second()
    done, ticks = threading.Event(), []
    counter = threading.Thread(target=_count_until, args=(done, ticks))
    counter.start()
    start = time.perf_counter()
    detector.score_samples(X)
    elapsed = time.perf_counter() - start
    done.set()
    counter.join()
    assert elapsed > 0.02  # long enough for the comparison to mean something
    # a quarter of what running alone would give: far above 5 ms worth
    assert len(ticks) > 0.25 * rate * elapsed


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_repeated_scoring_is_bitwise_identical_across_runs_and_threads(covariance):
    """The same input scored 100 times, on 1 and on 2 threads, gives the
    same bits every time."""
    X = _data(30_000, 7, seed=1)
    detectors = [GaussianAnomalyDetector(covariance, n_jobs=n_jobs).fit(X) for n_jobs in (1, 2)]
    reference = detectors[0].score_samples(X)
    for detector in detectors:
        for _ in range(100):
            assert np.array_equal(detector.score_samples(X), reference)
