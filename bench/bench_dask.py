"""Dask: fit and score one array through gaussext.dask, on 1 and 2 local workers,
against the in-memory path.

The array is generated on the workers (``dask.array`` random numbers in
chunks of 2^18 rows) and persisted before timing; the in-memory peers use the
same values, computed into one NumPy array.  Peers, each timing
``fit`` followed by the sum of ``score_samples`` (so that only a number, not
the scores, comes back to the client):

* ``in-memory`` — ``GaussianAnomalyDetector().fit(X)`` on all cores;
* ``in-memory-1-thread`` — the same with ``n_jobs=1``;
* ``dask-1-worker``, ``dask-2-workers`` — ``gaussext.dask.fit`` and
  ``gaussext.dask.score_samples`` on a ``distributed.LocalCluster`` of 1 or 2
  single-threaded worker processes (``n_jobs=1`` in each, so the two
  workers use the machine's 2 cores without oversubscribing them);
* ``dask-dataframe-2-workers`` — the same on 2 workers, given the same values
  as a persisted Dask DataFrame of named columns (one partition per chunk):
  what the DataFrame path adds (counting the partitions' rows at each call,
  the conversion of each partition, the scores as a Series).

Cluster start-up and the data's generation are not timed.  Every peer's sum
of scores must agree.
"""

import dask
import dask.array as da
import dask.dataframe as dd
import pytest
from distributed import Client, LocalCluster

import gaussext
import gaussext.dask as gdask

JOB = "dask"
PEERS = ["in-memory", "in-memory-1-thread", "dask-1-worker", "dask-2-workers",
         "dask-dataframe-2-workers"]
QUICK_CASES = [(100_000, 8, "float64")]
FULL_CASES = [(10_000_000, 8, "float64")]
CHUNK_ROWS = 1 << 18


def generated(n_samples, n_features):
    """The same lazily generated array each time: (n_samples, n_features) float64."""
    rng = da.random.default_rng(42)
    return rng.normal(loc=5.0, size=(n_samples, n_features),
                      chunks=(CHUNK_ROWS, n_features))


@pytest.fixture(scope="module")
def expected_sum():
    """Sum of in-memory scores per case, to check every peer against."""
    return {}


def test_dask(measure, case, peer, expected_sum):
    n_samples, n_features, _ = case
    if peer.startswith("in-memory"):
        with dask.config.set(scheduler="threads"):
            X = generated(n_samples, n_features).compute()
        n_jobs = 1 if peer.endswith("1-thread") else None

        def fit_and_score():
            detector = gaussext.GaussianAnomalyDetector(n_jobs=n_jobs).fit(X)
            return float(detector.score_samples(X).sum())

        total = measure.pedantic(fit_and_score, rounds=3, iterations=1)
    else:
        n_workers = 1 if peer == "dask-1-worker" else 2
        with LocalCluster(processes=True, n_workers=n_workers, threads_per_worker=1,
                          host="127.0.0.1", dashboard_address=None) as cluster, \
                Client(cluster):
            X = generated(n_samples, n_features)
            if peer.startswith("dask-dataframe"):
                X = dd.from_dask_array(X, columns=[f"x{j}" for j in range(n_features)])
            X = X.persist()

            def fit_and_score():
                detector = gdask.fit(X, n_jobs=1)
                return float(gdask.score_samples(detector, X).sum().compute())

            total = measure.pedantic(fit_and_score, rounds=3, iterations=1)
    reference = expected_sum.setdefault(case, total)
    assert total == pytest.approx(reference, rel=1e-9)
