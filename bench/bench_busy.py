"""A busy machine: every usable core already runs another process.

While one CPU-bound process per usable core spins (started by the fixture,
ended after the group), gaussext runs with its default threads and with
``n_jobs=1``; a thread policy that fights the other processes (spinning,
static shares that wait for a descheduled thread, BLAS threads on top) makes
the default slower than one thread.  Target: the default at most 1.3 times
the time of ``n_jobs=1``.

Peers: ``gaussext-default #p`` and ``gaussext-1-thread #p`` for full scoring
and the full fit, p = 1 .. PASSES: the two alternate, pass after pass, each
timed for ROUNDS calls, and the target reads the median over the passes of
each pass's ratio.  Timed in two windows minutes apart instead, the ratio
moved from 0.53 to 1.29 between runs of unchanged code: how the scheduler
shares two cores among three or four runnable threads changes from second to
second (one thread's calls take either about its idle time or twice it).
"""

import subprocess
import sys

import pytest

JOB = "busy machine"
PASSES = 5
ROUNDS = 10
PAIRS = [("gaussext-default", "gaussext-1-thread")]
QUICK_CASES = [(20_000, 8, "float64")]
FULL_CASES = [(1_000_000, 8, "float64"), (200_000, 32, "float64")]


# Each spinner stops by itself after this long, whatever happens to the run.
SPIN_SECONDS = 600


@pytest.fixture(scope="module")
def busy_cores():
    """One spinning process per usable core, for the module's duration."""
    from gaussext._parallel import usable_cores

    spinners = [subprocess.Popen([sys.executable, "-c",
                                  f"import time\nend = time.monotonic() + {SPIN_SECONDS}\n"
                                  "while time.monotonic() < end: pass"])
                for _ in range(usable_cores())]
    yield len(spinners)
    for spinner in spinners:
        spinner.kill()
        spinner.wait()


@pytest.mark.parametrize("work", ["score", "fit"])
def test_busy_machine(measure, data, training_rows, busy_cores, case, pair_side, work):
    from gaussext import GaussianAnomalyDetector

    measure.group = measure.group.replace(JOB, f"{JOB} {work}")
    measure.extra_info.update(job=f"{JOB} {work}", busy_processes=busy_cores)
    X = data(*case)
    n_jobs = None if pair_side == "gaussext-default" else 1
    detector = GaussianAnomalyDetector("full", n_jobs=n_jobs).fit(X[:training_rows])
    reference = GaussianAnomalyDetector("full", n_jobs=1).fit(X[:training_rows])
    if work == "score":
        result = measure.pedantic(detector.score_samples, args=(X,), rounds=ROUNDS,
                                  warmup_rounds=1)
        expected = reference.score_samples(X)
    else:
        result = measure.pedantic(lambda rows: GaussianAnomalyDetector(
            "full", n_jobs=n_jobs).fit(rows).covariance_, args=(X,), rounds=ROUNDS,
            warmup_rounds=1)
        expected = GaussianAnomalyDetector("full", n_jobs=1).fit(X).covariance_
    # the same partition whatever the thread count: the same bits
    assert (result == expected).all()
