"""Threads: scoring from many Python threads, the GIL released in the kernels,
and results that do not depend on how often or on how many threads they run."""

import sys
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


def _tick_while_allowed(done, ticks):
    """Append to `ticks` whenever this thread holds the GIL, and give it up
    at once each time (time.sleep(0) releases it)."""
    while not done.is_set():
        ticks.append(None)
        time.sleep(0)


@pytest.mark.parametrize("kernel", ["diagonal", "full", "statistics"])
def test_kernels_release_the_gil(kernel):
    """With the interpreter's switch interval set to 1000 s, the main thread
    never hands the GIL over on its own: another thread can run only while
    the main thread is in a section that releases it.  So a ticking thread
    gains ticks during a kernel call if, and only if, the kernel releases
    the GIL: a count, not a timing.  The call is repeated (at most 20 times)
    until a tick lands, which a GIL-holding kernel never allows."""
    X = _data(300_000, 8)
    detector = GaussianAnomalyDetector("full" if kernel == "full" else "diagonal",
                                       n_jobs=1).fit(X[:5_000])
    gaussian = detector._fitted.gaussian
    if kernel == "statistics":
        from gaussext import GaussianStatistics

        def call():
            GaussianStatistics("full").update(X, n_jobs=1)
    else:
        def call():
            gaussian.log_density(X, n_jobs=1)
    done, ticks = threading.Event(), []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        ticker = threading.Thread(target=_tick_while_allowed, args=(done, ticks))
        ticker.start()
        gained = 0
        for _ in range(20):
            before = len(ticks)  # the ticker cannot run between here and the kernel
            call()
            gained = len(ticks) - before
            if gained:
                break
    finally:
        done.set()
        sys.setswitchinterval(interval)
        ticker.join()
    assert gained > 0


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
