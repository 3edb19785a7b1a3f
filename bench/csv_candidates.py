"""Candidate CSV number readers on one file, each in a fresh process.

    python bench/csv_candidates.py FILE.csv [--rounds 3]

Prints, per candidate, the median wall time of the whole child process
(interpreter start and imports included) and its peak RSS (Linux VmHWM).
Candidates: NumPy's C ``np.loadtxt`` on the whole file and in chunks of
65,536 rows, ``pandas.read_csv`` (C engine), ``pyarrow.csv.read_csv``, and
gaussext's chunked reader (``gaussext._csv.CsvSource``, the compiled parser of
plain lines).  Each reads every column as float64 (the readers that build a
table then convert it, as the command line would need).
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

CANDIDATES = {
    "numpy.loadtxt (whole file)":
        "import numpy as np; X = np.loadtxt(path, delimiter=',', skiprows=1)",
    "numpy.loadtxt (chunks of 65,536 rows)":
        "import numpy as np, itertools\n"
        "with open(path) as f:\n"
        "    next(f)\n"
        "    while True:\n"
        "        lines = list(itertools.islice(f, 65536))\n"
        "        if not lines: break\n"
        "        X = np.loadtxt(lines, delimiter=',', ndmin=2)",
    "pandas.read_csv":
        "import pandas, numpy as np; X = pandas.read_csv(path).to_numpy(np.float64)",
    "pyarrow.csv.read_csv":
        "import pyarrow.csv, numpy as np; t = pyarrow.csv.read_csv(path); "
        "X = np.column_stack([c.to_numpy() for c in t.columns])",
    "gaussext CsvSource (chunks of 8 MiB)":
        "from gaussext._csv import CsvSource\n"
        "source = CsvSource(path)\n"
        "for chunk in source.chunks(source.names): pass",
}
CHILD = """
import sys, json
path = sys.argv[1]
{code}
from gaussext._testing import peak_rss_bytes
print(json.dumps(peak_rss_bytes()))
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print("| reader | median wall time (s) | peak RSS (MiB) |")
    print("|---|---:|---:|")
    for name, code in CANDIDATES.items():
        seconds, peaks = [], []
        for _ in range(args.rounds):
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", CHILD.format(code=code), args.path],
                                  capture_output=True, text=True, check=True)
            seconds.append(time.perf_counter() - start)
            peaks.append(json.loads(done.stdout) / 2**20)
        print(f"| {name} | {statistics.median(seconds):.2f} | {max(peaks):.0f} |", flush=True)


if __name__ == "__main__":
    main()
