"""Thread policy: the one place where gaussext decides how many threads run.

Every compiled kernel takes its thread count from :func:`n_threads_for`, which
combines four things:

- **n_jobs**, the user's request, validated by :func:`check_n_jobs`: None
  means every core this process may use, -1 the same, -k all but k - 1,
  k > 0 at most k; never more than the usable cores, never fewer than one.
- **Usable cores**: the CPUs this process may run on (its affinity mask),
  capped by a cgroup CPU quota where one is set (containers), as
  :func:`usable_cores` reads them.  ``os.cpu_count()`` would count the host's
  cores and oversubscribe a container.
- **The size of the work**: below a few hundred microseconds of work a team
  of threads costs more than it saves, so small calls (one-row scoring in a
  web service, above all) run on the calling thread without ever entering an
  OpenMP region.
- **fork**: GNU OpenMP keeps no state across ``fork``: a child forked after
  the parent ran an OpenMP team (ours or any other library's sharing the
  runtime) hangs in its first parallel region.  A forked child therefore runs
  every kernel serially; use the ``spawn`` or ``forkserver`` start method for
  worker processes that should use threads.

**Waiting threads.**  Between two parallel regions, and at the end of one,
GNU OpenMP's threads spin before they sleep: 300000 turns by default, about a
millisecond.  On a machine whose every core is busy with other processes that
spinning spends the threads' fair share of the CPU on nothing, and the next
region then waits for them to be scheduled again.  Measured with
``bench/bench_busy.py`` (full model, 10^6 x 8): the default threads' median
was 17-25 ms over ten runs with GNU OpenMP's spin count, 11-18 ms over eight
with 10000 turns; on an idle machine no call got slower.  So, unless
the user set ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT``, the compiled modules
are loaded with ``GOMP_SPINCOUNT`` at 10000 (:func:`openmp_loading_settings`),
which the runtime reads once, when it loads; the environment is restored at
once, so neither child processes nor libraries loaded later see it.  Wheels
carry their own copy of the runtime, so this is all it sets; a build against
the system's runtime sets it for that runtime when gaussext loads it first.

BLAS is never called inside the kernels' threads (their products are the
package's own, in ``_simd.h``), so no thread count of any BLAS is ever read or
changed here: ``n_jobs=1`` is one thread, and the host application's BLAS
settings are left as they are.
"""

import contextlib
import math
import numbers
import os

__all__ = ["check_n_jobs", "n_threads_for", "openmp_loading_settings", "usable_cores"]

# Turns a GNU OpenMP thread spins waiting for work before it sleeps (see above).
OPENMP_SPIN_COUNT = "10000"
_OPENMP_WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")

# Work units (one unit: one multiply-add on one element) below which a call
# runs on the calling thread, and the fewest units worth giving each thread.
# Starting and joining a team costs some tens of microseconds; 2**17 units
# take roughly that long on one core.
MIN_PARALLEL_WORK = 2**18
MIN_WORK_PER_THREAD = 2**17

_in_forked_child = False
_cgroup_cores = None  # read once per process: a quota does not change under us


def _after_fork_in_child():
    global _in_forked_child, _cgroup_cores
    _in_forked_child = True
    _cgroup_cores = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@contextlib.contextmanager
def openmp_loading_settings():
    """While the compiled modules load: GOMP_SPINCOUNT at OPENMP_SPIN_COUNT in
    the environment, unless the user set it or OMP_WAIT_POLICY; the
    environment is as before afterwards."""
    if any(name in os.environ for name in _OPENMP_WAIT_VARIABLES):
        yield
        return
    os.environ["GOMP_SPINCOUNT"] = OPENMP_SPIN_COUNT
    try:
        yield
    finally:
        os.environ.pop("GOMP_SPINCOUNT", None)


def check_n_jobs(n_jobs):
    """Validate `n_jobs`: None or a non-zero integer; return it unchanged."""
    if n_jobs is None:
        return None
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral):
        raise TypeError(
            f"n_jobs must be None or an integer, got {n_jobs!r} of type {type(n_jobs).__name__}"
        )
    if n_jobs == 0:
        raise ValueError("n_jobs must be a non-zero integer or None, got 0")
    return n_jobs


def _read_number_file(path):
    try:
        with open(path) as f:
            return f.read().split()
    except (OSError, ValueError):
        return None


def _cgroup_quota_cores():
    """Cores' worth of CPU time the cgroup quota allows (rounded up), or None."""
    # cgroup v2: "<quota> <period>" or "max <period>" in the group's cpu.max
    groups = _read_number_file("/proc/self/cgroup") or []
    for line in groups:
        if line.startswith("0::"):
            fields = _read_number_file(f"/sys/fs/cgroup{line[3:].rstrip('/')}/cpu.max")
            if fields is None:
                fields = _read_number_file("/sys/fs/cgroup/cpu.max")
            if fields and fields[0] != "max":
                return _quota_cores(fields[0], fields[1])
    # cgroup v1: cfs_quota_us is -1 when no quota is set
    quota = _read_number_file("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
    period = _read_number_file("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
    if quota and period:
        return _quota_cores(quota[0], period[0])
    return None


def _quota_cores(quota, period):
    try:
        quota, period = int(quota), int(period)
    except ValueError:
        return None
    if quota <= 0 or period <= 0:
        return None
    return max(1, math.ceil(quota / period))


def usable_cores():
    """Cores this process may use: its CPU affinity, capped by a cgroup quota."""
    global _cgroup_cores
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:  # macOS, Windows: no affinity mask to read
        cores = os.cpu_count() or 1
    if _cgroup_cores is None:
        _cgroup_cores = _cgroup_quota_cores() or 0
    if _cgroup_cores:
        cores = min(cores, _cgroup_cores)
    return max(1, cores)


def n_threads_for(n_jobs, work):
    """Threads to run a kernel on: `n_jobs` (validated) resolved against the
    usable cores, for `work` units (about one multiply-add per element).

    Returns 1, and the kernel then enters no OpenMP region, when the build
    has no OpenMP, in a forked child, or when the work is too small.
    """
    from gaussext import _kernels  # loaded by then (gaussext/__init__.py)

    check_n_jobs(n_jobs)
    if work < MIN_PARALLEL_WORK or _in_forked_child or not _kernels.openmp_enabled():
        return 1
    cores = usable_cores()
    if n_jobs is None:
        requested = cores
    elif n_jobs < 0:
        requested = cores + 1 + n_jobs
    else:
        requested = n_jobs
    return int(max(1, min(requested, cores, work // MIN_WORK_PER_THREAD)))
