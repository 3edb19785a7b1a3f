"""Shared set-up for the benchmarks: run mode, shapes and cached data.

Two modes, chosen by the environment variable ``GAUSSEXT_BENCH``:

* unset or ``quick`` (the default, and what the README's test command runs):
  small shapes, every benchmark body executed once with timing disabled, so
  the benchmarks and their correctness checks never rot;
* ``full``: the shapes the published tables are made of.  Regenerate the
  tables with ``python bench/report.py --run`` (see bench/README.md).

Every benchmark module holds one job (diagonal scoring, full scoring,
threshold selection, fit); each parametrized case is one pytest-benchmark
group in which gaussext and its peers run on the same arrays in the same
session.  No benchmark asserts a time; each asserts that its peer computed
the same thing as gaussext, cheaply, so a table never compares unlike work.
"""

import functools
import os

import numpy as np
import pytest

MODE = os.environ.get("GAUSSEXT_BENCH", "quick")
if MODE not in ("quick", "full"):
    raise pytest.UsageError(f"GAUSSEXT_BENCH must be 'quick' or 'full', got {MODE!r}")
FULL = MODE == "full"

# Shapes of the scoring and fit benchmarks, unless a module declares its own:
# the n = 10^4 and 10^6 with d = 2, 8, 32, plus the target shapes
# (2 10^5, 32) and (5 10^4, 128), in float64 and float32.
STANDARD_QUICK_CASES = [(2_000, 2, "float64"), (2_000, 8, "float32")]
STANDARD_FULL_CASES = [
    (n, d, dtype_name)
    for n, d in [(10_000, 2), (10_000, 8), (10_000, 32), (1_000_000, 2), (1_000_000, 8),
                 (200_000, 32), (1_000_000, 32), (50_000, 128)]
    for dtype_name in ("float64", "float32")
]

# Rows used to fit the models whose scoring is measured: every scorer (ours
# and the peers) is fitted on the same training rows, so outputs agree.
TRAINING_ROWS = 20_000


@functools.lru_cache(maxsize=2)
def gaussian_data(n_samples, n_features, dtype_name, offset=0.0):
    """Correlated Gaussian rows, read-only: shape (n_samples, n_features).

    The features are mixed by a fixed random matrix so the full covariance
    is far from diagonal; the same (n, d) always gives the same values, in
    float64 or float32 (the float32 array is the rounded float64 one).
    """
    rng = np.random.default_rng(n_features)
    mixing = rng.normal(size=(n_features, n_features)) / np.sqrt(n_features)
    mixing += np.eye(n_features)
    centre = rng.uniform(-5.0, 5.0, size=n_features) + offset
    rng = np.random.default_rng([n_samples, n_features])
    X = np.empty((n_samples, n_features), dtype=dtype_name)
    # In chunks, so the float64 intermediate never doubles peak memory.
    chunk = 1 << 16
    for start in range(0, n_samples, chunk):
        stop = min(start + chunk, n_samples)
        X[start:stop] = rng.standard_normal((stop - start, n_features)) @ mixing + centre
    X.setflags(write=False)
    return X


def pytest_generate_tests(metafunc):
    """Parametrize each benchmark over (case, peer), cases outermost.

    A benchmark module declares ``JOB`` (the group title) and ``PEERS``
    (names; or ``PAIRS`` and ``PASSES``, see _peers); it may declare
    ``QUICK_CASES`` and ``FULL_CASES`` (lists of (n, d, dtype name); the
    standard shapes otherwise) and define ``runs(peer, case)`` to leave a
    peer out of cases it is too slow for.  Cases outermost keep each group's
    arrays hot in the data cache.
    """
    if "case" not in metafunc.fixturenames:
        return
    module = metafunc.module
    if FULL:
        cases = getattr(module, "FULL_CASES", STANDARD_FULL_CASES)
    else:
        cases = getattr(module, "QUICK_CASES", STANDARD_QUICK_CASES)
    runs = getattr(module, "runs", lambda peer, case: True)
    params = [(case, peer) for case in cases for peer in _peers(module) if runs(peer, case)]
    ids = [f"n{n}-d{d}-{dtype_name}-{peer}" for (n, d, dtype_name), peer in params]
    metafunc.parametrize(("case", "peer"), params, ids=ids)


def _peers(module):
    """The module's PEERS; or, for a module that times pairs of peers in
    alternating passes (``PAIRS`` of two names, ``PASSES``), each pair's two
    sides in turn, pass after pass, named ``"name #p"`` (the report takes the
    median of the passes' ratios).  The quick mode runs the first pass only,
    which is enough to keep the checks of the results."""
    if not hasattr(module, "PAIRS"):
        return module.PEERS
    passes = module.PASSES if FULL else 1
    return [f"{name} #{number}" for pair in module.PAIRS
            for number in range(1, passes + 1) for name in pair]


@pytest.fixture
def measure(benchmark, request, case, peer):
    """pytest-benchmark's fixture, filed under the case's group and peer name."""
    n, d, dtype_name = case
    benchmark.group = f"{request.module.JOB} n={n} d={d} {dtype_name}"
    benchmark.extra_info.update(job=request.module.JOB, n_samples=n, n_features=d,
                                dtype=dtype_name, peer=peer, mode=MODE)
    return benchmark


@pytest.fixture
def training_rows():
    """Rows (the first ones of X) that every scorer in a group is fitted on."""
    return TRAINING_ROWS


@pytest.fixture
def fitted_detector():
    """Factory: a GaussianAnomalyDetector fitted on `training`."""
    from gaussext import GaussianAnomalyDetector

    def fit(training, covariance, n_jobs=None):
        return GaussianAnomalyDetector(covariance, n_jobs=n_jobs).fit(training)

    return fit


@functools.lru_cache(maxsize=4)
def _one_thread_scores(n_samples, n_features, covariance):
    from gaussext import GaussianAnomalyDetector

    X = gaussian_data(n_samples, n_features, "float64")
    detector = GaussianAnomalyDetector(covariance, n_jobs=1).fit(X[:TRAINING_ROWS])
    scores = detector.score_samples(X)
    scores.setflags(write=False)
    return scores


@pytest.fixture
def reference_scores():
    """Factory: (n, d, covariance) -> the scores of gaussian_data(n, d,
    "float64") under the model fitted on its training rows, on one thread:
    what every peer of a module of alternating passes is checked against,
    computed once per shape and model rather than once per pass."""
    return _one_thread_scores


@pytest.fixture
def pair_side(peer):
    """The peer's name without its pass number ("full-float32 #3" ->
    "full-float32"; see _peers)."""
    return peer.split(" #")[0]


@pytest.fixture
def data():
    """The cached data factory, gaussian_data(n, d, dtype_name, offset=0)."""
    return gaussian_data
