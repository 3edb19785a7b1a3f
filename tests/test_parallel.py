"""The thread policy (gaussext._parallel) inside other people's processes:
n_jobs clipping, one thread meaning one thread, fork, concurrent scoring and
concurrent fitting."""

import json
import os
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from gaussext import GaussianAnomalyDetector, _kernels, _parallel

COVARIANCES = ["diagonal", "full"]
LINUX = sys.platform.startswith("linux")


def _data(n_samples, n_features, seed=0):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(n_features, n_features)) * 0.3 + np.eye(n_features)
    return rng.normal(size=(n_samples, n_features)) @ mixing + 5.0


def _affinity_cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


# -- n_jobs ------------------------------------------------------------------

BIG_WORK = 10**9


def test_usable_cores_is_within_the_affinity_mask():
    assert 1 <= _parallel.usable_cores() <= _affinity_cores()


@pytest.mark.parametrize("n_jobs", [None, -1, 1, 2, 3, 100_000, 2**31 - 1, 10**30, -2, -(10**6)])
def test_n_jobs_is_clipped_to_the_usable_cores(n_jobs):
    cores = _parallel.usable_cores()
    n_threads = _parallel.n_threads_for(n_jobs, BIG_WORK)
    if not _kernels.openmp_enabled():
        assert n_threads == 1
        return
    if n_jobs is None or n_jobs == -1:
        expected = cores
    elif n_jobs < 0:
        expected = max(1, cores + 1 + n_jobs)
    else:
        expected = min(n_jobs, cores)
    assert n_threads == expected


@pytest.mark.parametrize("n_jobs", [None, 2, 100_000])
def test_small_work_runs_on_the_calling_thread(n_jobs):
    assert _parallel.n_threads_for(n_jobs, 1) == 1
    assert _parallel.n_threads_for(n_jobs, _parallel.MIN_PARALLEL_WORK - 1) == 1


@pytest.mark.parametrize("n_jobs, error, message", [
    (0, ValueError, "n_jobs must be a non-zero integer or None, got 0"),
    (1.5, TypeError, "n_jobs must be None or an integer, got 1.5 of type float"),
    (True, TypeError, "n_jobs must be None or an integer, got True of type bool"),
    ("2", TypeError, "n_jobs must be None or an integer, got '2' of type str"),
])
def test_bad_n_jobs_is_named(n_jobs, error, message):
    with pytest.raises(error, match=message):
        _parallel.check_n_jobs(n_jobs)
    with pytest.raises(error, match=message):
        GaussianAnomalyDetector(n_jobs=n_jobs).fit(np.ones((3, 2)) + np.eye(3, 2))


@pytest.mark.parametrize("covariance", COVARIANCES)
@pytest.mark.parametrize("n_jobs", [100_000, 2**31 - 1, -(2**31)])
def test_huge_n_jobs_fits_and_scores_as_one_thread_does(covariance, n_jobs):
    """n_jobs=100_000 used to crash the interpreter and 2**31 - 1 to allocate
    144 GiB of scratch: it is clipped before anything is allocated."""
    X = _data(200_000, 8)
    huge = GaussianAnomalyDetector(covariance, n_jobs=n_jobs).fit(X)
    one = GaussianAnomalyDetector(covariance, n_jobs=1).fit(X)
    assert np.array_equal(huge.mean_, one.mean_)
    assert np.array_equal(huge.score_samples(X), one.score_samples(X))


def test_cgroup_quota_is_read_as_whole_cores():
    assert _parallel._quota_cores("150000", "100000") == 2
    assert _parallel._quota_cores("100000", "100000") == 1
    assert _parallel._quota_cores("50000", "100000") == 1
    assert _parallel._quota_cores("-1", "100000") is None
    assert _parallel._quota_cores("max", "100000") is None


# -- n_jobs=1 is one thread, BLAS included -------------------------------------

ONE_THREAD_SCRIPT = textwrap.dedent("""
    import json, os, sys, threading, time
    import numpy as np
    from gaussext import GaussianAnomalyDetector

    def thread_cpu_seconds():
        # {thread id: user + system CPU seconds} of every thread of this process
        ticks = os.sysconf("SC_CLK_TCK")
        seconds = {}
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:  # the thread ended meanwhile
                continue
            seconds[int(tid)] = (int(fields[11]) + int(fields[12])) / ticks
        return seconds

    # correlated without a matrix product: no BLAS thread is woken before the
    # measurement (an idle BLAS pool spins for a while after each product)
    X = np.random.default_rng(0).normal(size=(1_000_000, 32))
    X[:, 1:] += 0.3 * X[:, :1]
    detector = GaussianAnomalyDetector(sys.argv[1], n_jobs=1)
    # A BLAS library starts its thread pool when it is loaded, and the pool
    # spins for a moment before it sleeps: wait until the other threads are
    # idle (their CPU time stands still over a quarter second), at most 10 s.
    me = threading.get_native_id()
    others = lambda: sum(t for tid, t in thread_cpu_seconds().items() if tid != me)
    for _ in range(40):
        idle_from = others()
        time.sleep(0.25)
        if others() == idle_from:
            break
    before = thread_cpu_seconds()
    # work until the calling thread has at least 0.5 s of CPU time (clock
    # ticks are 10 ms): however fast the kernels, the shares are then measured
    while thread_cpu_seconds()[me] - before[me] < 0.5:
        detector.fit(X)
        detector.score_samples(X)
    after = thread_cpu_seconds()
    gained = {tid: after[tid] - before.get(tid, 0.0) for tid in after}
    own = gained.pop(me)
    print(json.dumps({"own": own, "others": sum(gained.values())}))
""")


@pytest.mark.skipif(not LINUX, reason="per-thread CPU times are read from Linux's /proc")
@pytest.mark.parametrize("covariance", COVARIANCES)
def test_n_jobs_one_runs_on_the_calling_thread_only(tmp_path, covariance):
    """Fitting and scoring 10^6 x 32 with n_jobs=1, in a fresh process (no
    other test's threads): the calling thread does the work, and all the
    process's other threads (OpenMP's, BLAS's) together gain less than 5% of
    its CPU time.  Before, BLAS ran the full model's products on every core."""
    script = tmp_path / "one_thread.py"
    script.write_text(ONE_THREAD_SCRIPT)
    completed = subprocess.run([sys.executable, str(script), covariance], capture_output=True,
                               text=True, timeout=600, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    seconds = json.loads(completed.stdout)
    assert seconds["own"] >= 0.5  # the script worked until it could measure the shares
    assert seconds["others"] < 0.05 * seconds["own"]


# -- waiting threads -------------------------------------------------------------

WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def test_openmp_loading_settings_set_the_spin_count_only_while_loading(monkeypatch):
    for name in WAIT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    before = dict(os.environ)
    with _parallel.openmp_loading_settings():
        assert os.environ["GOMP_SPINCOUNT"] == _parallel.OPENMP_SPIN_COUNT
    assert dict(os.environ) == before


@pytest.mark.parametrize("name, value", [("OMP_WAIT_POLICY", "active"), ("GOMP_SPINCOUNT", "5")])
def test_openmp_loading_settings_leave_the_users_wait_settings_alone(monkeypatch, name, value):
    for other in WAIT_VARIABLES:
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv(name, value)
    before = dict(os.environ)
    with _parallel.openmp_loading_settings():
        assert dict(os.environ) == before
    assert dict(os.environ) == before


def _gnu_openmp_loaded():
    return any(info["internal_api"] == "openmp" and "libgomp" in info["filepath"]
               for info in threadpool_info())


WAIT_SCRIPT = textwrap.dedent("""
    import os, subprocess, sys
    import gaussext
    child = subprocess.run([sys.executable, "-c",
                            "import os; print(os.environ.get('GOMP_SPINCOUNT'))"],
                           capture_output=True, text=True, check=True)
    print(os.environ.get("GOMP_SPINCOUNT"), child.stdout.strip())
""")


@pytest.mark.skipif(not _gnu_openmp_loaded(), reason="GNU OpenMP's own spin count")
def test_the_openmp_runtime_loads_with_the_spin_count_and_nothing_else_sees_it(tmp_path):
    """In a fresh process, GNU OpenMP (which prints its settings as it loads
    when OMP_DISPLAY_ENV asks) loads with gaussext's spin count, while the
    process's environment, and so a child's, stays without it."""
    script = tmp_path / "wait.py"
    script.write_text(WAIT_SCRIPT)
    env = {name: value for name, value in os.environ.items() if name not in WAIT_VARIABLES}
    completed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                               timeout=120, cwd=tmp_path, env={**env, "OMP_DISPLAY_ENV": "VERBOSE"})
    assert completed.returncode == 0, completed.stderr
    assert f"GOMP_SPINCOUNT = '{_parallel.OPENMP_SPIN_COUNT}'" in completed.stderr
    assert completed.stdout.split() == ["None", "None"]


# -- fork ------------------------------------------------------------------------

FORK_SCRIPT = textwrap.dedent("""
    import multiprocessing, sys
    import numpy as np
    from gaussext import GaussianAnomalyDetector

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400_000, 16)) @ (np.eye(16) + 0.2) + 3.0
    detectors = [GaussianAnomalyDetector(kind).fit(X) for kind in ("diagonal", "full")]
    # threaded work in the parent first: the case that hung
    expected = [[d.score_samples(part) for part in np.array_split(X, 4)] for d in detectors]

    def score(index):
        kind, part = divmod(index, 4)
        return detectors[kind].score_samples(np.array_split(X, 4)[part])

    if __name__ == "__main__":
        with multiprocessing.get_context("fork").Pool(2) as pool:
            results = pool.map_async(score, range(8)).get(timeout=120)
        for index, scores in enumerate(results):
            assert np.array_equal(scores, expected[index // 4][index % 4]), index
        print("forked children scored", len(results), "parts")
""")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="this platform has no fork")
def test_children_forked_after_threaded_work_score_without_hanging(tmp_path):
    script = tmp_path / "fork_after_threads.py"
    script.write_text(FORK_SCRIPT)
    completed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                               timeout=300, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "forked children scored 8 parts" in completed.stdout


# -- many Python threads ------------------------------------------------------------

def _blas_threads():
    return [(info["filepath"], info["num_threads"]) for info in threadpool_info()
            if info["user_api"] == "blas"]


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_many_python_threads_get_serial_bits_and_leave_blas_as_it_was(covariance):
    """Eight Python threads scoring one model get exactly the serial results,
    and the process's BLAS thread counts are what they were before."""
    X = _data(60_000, 12)
    detector = GaussianAnomalyDetector(covariance).fit(X[:10_000])
    parts = [X[k::8] for k in range(8)] * 4
    serial = [detector.score_samples(part) for part in parts]
    blas_before = _blas_threads()
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(detector.score_samples, parts))
    assert _blas_threads() == blas_before
    for expected, actual in zip(serial, concurrent):
        assert np.array_equal(expected, actual)


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_fit_while_other_threads_score_gives_one_consistent_model_per_call(covariance):
    """One detector refitted in turn on two data sets while four threads
    score it: every score array is exactly one of the two models' scores and
    every decision uses that same model's threshold (no NaN, no mixture, no
    error).  A fixed number of calls, not a duration."""
    first, second = _data(20_000, 6, seed=1), _data(20_000, 6, seed=2) * 3.0
    points = _data(2_000, 6, seed=3)
    references = []
    for data in (first, second):
        reference = GaussianAnomalyDetector(covariance).fit(data)
        references.append((reference.score_samples(points), reference.decision_function(points)))
    detector = GaussianAnomalyDetector(covariance).fit(first)
    done = threading.Event()

    def refit():
        for k in range(60):
            detector.fit(second if k % 2 == 0 else first)
        done.set()

    def score():
        seen = []
        while not done.is_set():
            seen.append((detector.score_samples(points), detector.decision_function(points)))
        return seen

    fitter = threading.Thread(target=refit)
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(score) for _ in range(4)]
        fitter.start()
        fitter.join()
        results = [result for future in futures for result in future.result()]
    assert results
    for scores, decisions in results:
        assert any(np.array_equal(scores, expected) for expected, _ in references)
        assert any(np.array_equal(decisions, expected) for _, expected in references)
