"""Start-up: `import gaussext` and `gaussext --help` beside `import numpy`.

Each peer is a fresh Python process (``python -c "import numpy"``,
``python -c "import gaussext"``, ``python -m gaussext --help``), timed by this
process around the whole child: interpreter start included, as a user waits
for it.  Full mode runs each 15 times (medians in the table); quick mode once.
The targets (issue 16): ``import gaussext`` <= 2x and ``gaussext --help`` <=
2.5x ``import numpy``.  Each run also checks that importing gaussext loaded
neither scipy.stats nor scipy.linalg.

Print the table of a run saved with ``--benchmark-json=FILE`` by
``python bench/bench_startup.py FILE``.
"""

import json
import os
import statistics
import subprocess
import sys
import time

JOB = "start-up"
PEERS = ["import numpy", "import gaussext", "gaussext --help"]
QUICK_CASES = [(0, 0, "-")]
FULL_CASES = QUICK_CASES
ROUNDS = 15 if os.environ.get("GAUSSEXT_BENCH") == "full" else 1

COMMANDS = {
    "import numpy": ["-c", "import numpy"],
    "import gaussext": ["-c", "import sys, gaussext; "
                              "assert 'scipy.stats' not in sys.modules, 'scipy.stats loaded'; "
                              "assert 'scipy.linalg' not in sys.modules, 'scipy.linalg loaded'"],
    "gaussext --help": ["-m", "gaussext", "--help"],
}


def run_child(peer, cwd):
    start = time.perf_counter()
    subprocess.run([sys.executable, *COMMANDS[peer]], check=True, capture_output=True, cwd=cwd)
    return time.perf_counter() - start


def test_startup(measure, peer, tmp_path):
    seconds = [run_child(peer, tmp_path) for _ in range(ROUNDS)]
    measure.pedantic(run_child, args=(peer, tmp_path), rounds=1, iterations=1)
    measure.extra_info.update(median_seconds=statistics.median(seconds),
                              min_seconds=min(seconds), max_seconds=max(seconds),
                              rounds=ROUNDS)


def table(results):
    runs = {bench["extra_info"]["peer"]: bench["extra_info"] for bench in results["benchmarks"]
            if bench["extra_info"].get("job") == JOB}
    numpy_seconds = runs["import numpy"]["median_seconds"]
    lines = ["| command (fresh process) | median (s) | range (s) | / import numpy | target |",
             "|---|---:|---:|---:|---:|"]
    targets = {"import numpy": "", "import gaussext": "<= 2x", "gaussext --help": "<= 2.5x"}
    for peer in PEERS:
        info = runs[peer]
        lines.append(f"| `{peer}` | {info['median_seconds']:.3f} | {info['min_seconds']:.3f}"
                     f"-{info['max_seconds']:.3f} | "
                     f"{info['median_seconds'] / numpy_seconds:.2f}x | {targets[peer]} |")
    return "\n".join(lines)


if __name__ == "__main__":
    with open(sys.argv[1]) as handle:
        print(table(json.load(handle)))
