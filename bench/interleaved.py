"""Threads against one thread, the two measured in alternation.

pytest-benchmark times each peer's rounds back to back, so on a shared
machine whose speed drifts over seconds (other tenants of the host, a
background process) two peers can be timed under different conditions, and a
ratio near its bound lands on either side of it from one run to the next.
Here each round calls the default-thread scorer, then the one-thread scorer,
so both see the same conditions; the medians of each and their ratio are
printed.  With ``--busy`` one spinning process per usable core runs
throughout (as in ``bench_busy.py``).

    python bench/interleaved.py [--busy] [--rounds 60]

This is a diagnostic beside the tables of ``bench/README.md``, not one of
them: the targets are judged there.
"""

import argparse
import subprocess
import sys
import time

import numpy as np

CASES = [("diagonal", 1_000_000, 8), ("full", 1_000_000, 8), ("full", 200_000, 32)]
TRAINING_ROWS = 20_000
SPIN = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass"


def alternate(scorers, X, rounds):
    """Median seconds of each scorer, called in turn once per round."""
    times = {name: [] for name in scorers}
    for _ in range(rounds):
        for name, score in scorers.items():
            start = time.perf_counter()
            score(X)
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(values)) for name, values in times.items()}


def main():
    from gaussext import GaussianAnomalyDetector
    from gaussext._parallel import usable_cores

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", action="store_true",
                        help="one spinning process per usable core throughout")
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN.format(seconds=600)])
                for _ in range(usable_cores() if args.busy else 0)]
    try:
        rng = np.random.default_rng(0)
        for covariance, n_samples, n_features in CASES:
            X = rng.normal(size=(n_samples, n_features))
            scorers = {
                label: GaussianAnomalyDetector(covariance, n_jobs=n_jobs)
                .fit(X[:TRAINING_ROWS]).score_samples
                for label, n_jobs in (("default", None), ("1-thread", 1))
            }
            medians = alternate(scorers, X, args.rounds)
            print(f"{covariance} scoring n={n_samples:,} d={n_features}"
                  f"{' (every core busy)' if args.busy else ''}: "
                  f"default {medians['default'] * 1e3:.2f} ms, "
                  f"1 thread {medians['1-thread'] * 1e3:.2f} ms, "
                  f"1 thread / default {medians['1-thread'] / medians['default']:.2f}")
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


if __name__ == "__main__":
    main()
