"""Command line end to end: `gaussext fit` on CSV and Parquet files, beside
the readers of pandas and pyarrow on the same files.

Every peer runs in a fresh Python process, timed by this process around the
whole child (interpreter start, imports, reading, and for gaussext the fit,
its second pass for epsilon, and saving the model); the child reports its
own peak resident set size (Linux VmHWM).  Peers:

* ``gaussext fit csv`` / ``gaussext fit parquet`` -- the command as a user
  types it (``python -m gaussext fit FILE --model m.npz``);
* ``pandas.read_csv`` -- ``pandas.read_csv(FILE)`` (C engine, the default);
* ``pyarrow.csv`` -- ``pyarrow.csv.read_csv(FILE)`` (multithreaded);
* ``pyarrow.parquet`` -- ``pyarrow.parquet.read_table(FILE)``.

The readers only read: the table compares gaussext's whole command with
reading alone.  The data: n rows of 8 float64 features (shortest round-trip
text, about 150 bytes a row; Parquet in row groups of 2^17 rows), written
once per session by pyarrow into a temporary folder, then read from the page
cache.  Quick mode: 20,000 rows.  Full mode: 10^6 and 4 10^6 rows.  Each
gaussext run checks that the model it saved has the data's mean (in float64,
after the run, outside the timing).

Print the tables of a run saved with ``--benchmark-json=FILE`` by
``python bench/bench_cli.py FILE``.
"""

import json
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

JOB = "command line end to end"
PEERS = ["gaussext fit csv", "pandas.read_csv", "pyarrow.csv", "gaussext fit parquet",
         "pyarrow.parquet"]
QUICK_CASES = [(20_000, 8, "float64")]
FULL_CASES = [(1_000_000, 8, "float64"), (4_000_000, 8, "float64")]
ROW_GROUP_ROWS = 1 << 17

READERS = {
    "pandas.read_csv": "import pandas; pandas.read_csv(path)",
    "pyarrow.csv": "import pyarrow.csv; pyarrow.csv.read_csv(path)",
    "pyarrow.parquet": "import pyarrow.parquet; pyarrow.parquet.read_table(path)",
}
CHILD = textwrap.dedent("""
    import json, sys
    peer, path, model = sys.argv[1:4]
    if peer.startswith("gaussext"):
        from gaussext._cli import main
        status = main(["fit", path, "--model", model])
        if status:
            sys.exit(status)
    else:
        exec(READER)
    from gaussext._testing import peak_rss_bytes
    print(json.dumps({"peak_rss_bytes": peak_rss_bytes()}), file=sys.stderr)
""")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A temporary folder for the module's files, emptied at the end."""
    path = tmp_path_factory.mktemp("cli")
    yield path
    for written in path.iterdir():
        written.unlink()


def _rows(data, n_samples, n_features):
    """The benchmark's rows, block by block: block b is the standard rows
    shifted by b * ROW_GROUP_ROWS (so no two blocks are alike)."""
    for start in range(0, n_samples, ROW_GROUP_ROWS):
        yield data(min(ROW_GROUP_ROWS, n_samples - start), n_features, "float64",
                   offset=float(start))


@pytest.fixture
def files(folder, data):
    """(csv path, parquet path) of n x 8 rows, written once per module."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.csv
    import pyarrow.parquet

    def make(n_samples, n_features):
        csv_path = folder / f"X-{n_samples}.csv"
        parquet_path = folder / f"X-{n_samples}.parquet"
        if csv_path.exists():
            return csv_path, parquet_path
        csv_writer = parquet_writer = None
        for X in _rows(data, n_samples, n_features):
            table = pa.table({f"x{j}": X[:, j] for j in range(n_features)})
            if csv_writer is None:
                csv_writer = pyarrow.csv.CSVWriter(str(csv_path), table.schema)
                parquet_writer = pyarrow.parquet.ParquetWriter(str(parquet_path), table.schema)
            csv_writer.write_table(table)
            parquet_writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        csv_writer.close()
        parquet_writer.close()
        return csv_path, parquet_path

    return make


def run_child(peer, path, model):
    """Wall seconds of the whole child process, and its peak RSS."""
    code = CHILD.replace("exec(READER)", READERS.get(peer, "pass"))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, peer, str(path), str(model)],
                          capture_output=True, text=True, cwd=path.parent)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stderr.strip().splitlines()[-1])
    figures["wall_seconds"] = seconds
    return figures


def test_cli_end_to_end(measure, case, peer, files, data):
    n_samples, n_features, _ = case
    csv_path, parquet_path = files(n_samples, n_features)
    path = parquet_path if "parquet" in peer else csv_path
    model = path.with_name(f"model-{peer.replace(' ', '-')}.npz")
    figures = measure.pedantic(run_child, args=(peer, path, model), rounds=1, iterations=1)
    measure.extra_info.update(figures)
    if peer.startswith("gaussext"):
        from gaussext import GaussianAnomalyDetector

        fitted = GaussianAnomalyDetector.load(model)
        model.unlink()
        assert fitted.n_features_in_ == n_features
        X = np.concatenate(list(_rows(data, n_samples, n_features)))
        np.testing.assert_allclose(fitted.mean_, X.mean(axis=0), rtol=1e-12)


def tables(results):
    """Markdown: one table per row count, wall time and peak RSS per peer."""
    rows = {}
    for bench in results["benchmarks"]:
        info = bench["extra_info"]
        if info.get("job") != JOB:
            continue
        rows.setdefault(info["n_samples"], []).append(
            (info["peer"], info["wall_seconds"], info["peak_rss_bytes"] / 2**20))
    text = []
    for n_samples, peers in sorted(rows.items()):
        reference = dict((p, (s, m)) for p, s, m in peers).get("pandas.read_csv")
        text += [f"n = {n_samples:,} rows x 8 features", "",
                 "| peer | wall time (s) | peak RSS (MiB) | time / pandas | RSS / pandas |",
                 "|---|---:|---:|---:|---:|"]
        for peer, seconds, mib in peers:
            ratios = (f"{seconds / reference[0]:.2f}x | {mib / reference[1]:.2f}x"
                      if reference else "- | -")
            text.append(f"| {peer} | {seconds:.2f} | {mib:.0f} | {ratios} |")
        text.append("")
    return "\n".join(text)


if __name__ == "__main__":
    with open(sys.argv[1]) as handle:
        print(tables(json.load(handle)))
