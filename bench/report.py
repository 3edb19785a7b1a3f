"""Turn a pytest-benchmark JSON file into bench/README.md: medians, ratios, targets.

Usage::

    python bench/report.py --run            # run the full benchmarks, then write the tables
    python bench/report.py results.json     # write the tables from an existing run

``--run`` is the one command that regenerates bench/README.md: it runs
``pytest bench`` with ``GAUSSEXT_BENCH=full`` and timing enabled, keeps the
raw figures in bench/results.json, and writes the tables from them, with the
hand-written bench/notes.md (on targets not met) after the targets.  Every
ratio is between medians measured in that same run.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REGENERATE = "python bench/report.py --run"

# (job, n, d, dtype, kind, peer, bound): what gaussext is compared with.
# "faster": peer median / gaussext median must be >= bound.
# "floor": gaussext median / floor median must be <= bound.
# "faster-than" (ours, peer): peer median / ours must be >= bound;
# "at-most" (ours, peer): ours / peer median must be <= bound.
# "paired-faster-than", "paired-at-most" (ours, peer): the same, each peer
# timed in alternating passes p, on the median over the passes of the pass
# ratios peer #p / ours #p (>= bound) or ours #p / peer #p (<= bound).
TARGETS = []
for n, d in [(1_000_000, 8), (200_000, 32)]:
    TARGETS += [
        ("diagonal scoring", n, d, "float64", "faster", "sklearn-gmm-diag", 10.0),
        ("diagonal scoring", n, d, "float64", "faster", "numpy", 5.0),
        ("diagonal scoring", n, d, "float64", "floor", "floor-sum", 1.5),
    ]
for n, d in [(1_000_000, 8), (200_000, 32), (50_000, 128)]:
    TARGETS += [
        ("full scoring", n, d, "float64", "faster", "scipy-mvn", 4.0),
        ("full scoring", n, d, "float64", "faster", "sklearn-gmm-full", 4.0),
        ("full scoring", n, d, "float64", "faster", "sklearn-mahalanobis", 1.5),
        ("full scoring", n, d, "float64", "floor", "floor-matmul", 1.5),
    ]
for d in (2, 8):
    TARGETS.append(("diagonal scoring", 10_000, d, "float64", "faster", "python-loop", 1000.0))
TARGETS += [
    ("threshold", 1_000_000, 8, "float64", "faster", "sklearn-pr-curve", 4.0),
    ("threshold", 100_000, 8, "float64", "faster", "classic-grid", 50.0),
]
for n, d in [(1_000_000, 8), (200_000, 32)]:
    TARGETS += [
        ("fit", n, d, "float64", "faster-than", ("gaussext-diagonal", "numpy-mean-var"), 3.0),
        ("fit", n, d, "float64", "faster-than", ("gaussext-full", "numpy-cov"), 1.5),
    ]
# the default threads against one thread, timed in alternating passes (bench_threads.py)
for covariance in ("diagonal", "full"):
    TARGETS.append(("threads vs one thread", 1_000_000, 8, "float64", "paired-faster-than",
                    (f"{covariance}-default", f"{covariance}-1-thread"), 1.7))
# float32 against float64: the two types of one model timed in alternating
# passes, the median over the passes of each pass's ratio (bench_dtype.py)
for covariance in ("diagonal", "full"):
    TARGETS.append(("float32 vs float64", 1_000_000, 32, "both types", "paired-faster-than",
                    (f"{covariance}-float32", f"{covariance}-float64"), 1.5))
# the serving case: one row, validation included, against SciPy's one-row logpdf
for d in (8, 32):
    for ours in ("gaussext-diagonal", "gaussext-full", "gaussext-diagonal-predict",
                 "gaussext-full-predict"):
        TARGETS.append(("one-row latency", 1, d, "float64", "faster-than", (ours, "scipy-mvn"),
                        5.0))
# streaming fits in chunks of 10,000 rows (epsilon from the row sample) within 1.2x of fit
for n, d in [(1_000_000, 8), (1_000_000, 32)]:
    for kind in ("diagonal", "full"):
        for how in ("partial-fit", "chunked-fit"):
            TARGETS.append(("streaming fit", n, d, "float64", "at-most",
                            (f"{kind}-{how}", f"{kind}-in-memory"), 1.2))
# every core busy with another process: the default threads never much slower than one
for work in ("score", "fit"):
    for n, d in [(1_000_000, 8), (200_000, 32)]:
        TARGETS.append((f"busy machine {work}", n, d, "float64", "paired-at-most",
                        ("gaussext-default", "gaussext-1-thread"), 1.3))


JOB_ORDER = ["diagonal scoring", "full scoring", "threads vs one thread", "float32 vs float64",
             "one-row latency",
             "threshold", "fit",
             "streaming fit",
             "busy machine score", "busy machine fit", "out-of-core", "dask"]
SCALE_JOBS = ("out-of-core", "dask")


def load(path):
    """Medians keyed by (job, n, d, dtype) -> {peer: seconds}; memory figures;
    the scale jobs' figures (peer, info, median) in run order; machine."""
    with open(path) as handle:
        report = json.load(handle)
    medians = defaultdict(dict)
    memory = {}
    scale = []
    for bench in report["benchmarks"]:
        info = bench["extra_info"]
        key = (info["job"], info["n_samples"], info["n_features"], info["dtype"])
        if info["job"] == "memory":
            memory[info["peer"]] = info
        elif info["job"] in SCALE_JOBS:
            scale.append((info, bench["stats"]["median"]))
        else:
            medians[key][info["peer"]] = bench["stats"]["median"]
    return medians, memory, scale, report


def format_time(seconds):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def evaluate_target(medians, target):
    """(description, measured ratio text, bound text, met) for one target."""
    job, n, d, dtype_name, kind, peer, bound = target
    where = f"n={n:,} d={d}"
    group = medians.get((job, n, d, dtype_name), {})
    if kind in ("paired-faster-than", "paired-at-most"):
        ours, peer = peer
        if kind == "paired-at-most":
            ours, peer = peer, ours  # the ratio ours / peer, bounded above
        passes = sorted({name.split(" #")[1] for name in group if " #" in name})
        ratios = [group[f"{peer} #{number}"] / group[f"{ours} #{number}"] for number in passes
                  if f"{peer} #{number}" in group and f"{ours} #{number}" in group]
        ratio = statistics.median(ratios) if ratios else None
        if kind == "paired-at-most":
            met, bound_text = ratio is not None and ratio <= bound, f"≤ {bound}×"
        else:
            met, bound_text = ratio is not None and ratio >= bound, f"≥ {bound}×"
        return (f"{job} {where} {dtype_name}: {peer} / {ours}, median of {len(ratios)} "
                "alternating passes", ratio, bound_text, met)
    if kind in ("faster-than", "at-most"):
        ours, peer = peer
    else:
        ours = "gaussext"
    mine, theirs = group.get(ours), group.get(peer)
    if mine is None or theirs is None:
        return f"{job} {where}: {ours} vs {peer}", None, "", False
    if kind in ("floor", "at-most"):
        ratio = mine / theirs
        return (f"{job} {where} {dtype_name}: {ours} / {peer}", ratio, f"≤ {bound}×",
                ratio <= bound)
    ratio = theirs / mine
    return (f"{job} {where} {dtype_name}: {peer} / {ours}", ratio, f"≥ {bound}×",
            ratio >= bound)


def target_table(medians, memory):
    lines = ["| target | measured | bound | met |", "|---|---:|---:|:---:|"]
    for target in TARGETS:
        description, ratio, bound, met = evaluate_target(medians, target)
        measured = "not measured" if ratio is None else f"{ratio:.2f}×"
        lines.append(f"| {description} | {measured} | {bound} | {'yes' if met else '**no**'} |")
    for peer, info in sorted(memory.items()):
        if not peer.startswith("gaussext"):
            continue
        increase = info["increase_bytes"] / 2**20
        limit = info["output_bytes"] / 2**20 + 16
        met = increase <= limit
        lines.append(f"| memory n={info['n_samples']:,} d={info['n_features']}: {peer} peak RSS "
                     f"increase | {increase:.1f} MiB | ≤ {limit:.1f} MiB | "
                     f"{'yes' if met else '**no**'} |")
    return lines


def group_tables(medians):
    lines = []
    # jobs without a place in JOB_ORDER (a new bench file) come last, by name
    jobs = sorted({key[0] for key in medians},
                  key=lambda job: (JOB_ORDER.index(job) if job in JOB_ORDER else len(JOB_ORDER),
                                   job))
    for job in jobs:
        lines += ["", f"### {job}", ""]
        for key in sorted(k for k in medians if k[0] == job):
            _, n, d, dtype_name = key
            group = medians[key]
            reference = next((group[peer] for peer in ("gaussext", "gaussext-diagonal",
                                                       "gaussext-default",
                                                       "gaussext-default #1")
                              if peer in group), None)
            lines += [f"**n = {n:,}, d = {d}, {dtype_name}**", "",
                      "| peer | median | ratio to gaussext |", "|---|---:|---:|"]
            for peer, median in sorted(group.items(), key=lambda item: item[1]):
                ratio = "" if reference is None else f"{median / reference:.2f}×"
                lines.append(f"| {peer} | {format_time(median)} | {ratio} |")
            lines.append("")
    return lines


def memory_table(memory):
    lines = ["| scorer | peak RSS increase | output | increase − output |", "|---|---:|---:|---:|"]
    for peer, info in sorted(memory.items()):
        increase, output = info["increase_bytes"] / 2**20, info["output_bytes"] / 2**20
        lines.append(f"| {peer} (n={info['n_samples']:,}, d={info['n_features']}) | "
                     f"{increase:.1f} MiB | {output:.1f} MiB | {increase - output:.1f} MiB |")
    return lines


def scale_table(scale):
    """Throughput of the out-of-core and Dask jobs: fit + score, rows per second."""
    lines = ["| job | peer | n × d | fit + score | rows/s | peak RSS |",
             "|---|---|---|---:|---:|---:|"]
    for info, median in scale:
        if info["job"] == "out-of-core":  # timed inside its child process
            seconds = info["fit_seconds"] + info["score_seconds"]
            rss = f"{info['peak_rss_bytes'] / 2**20:.0f} MiB"
        else:
            seconds, rss = median, ""
        lines.append(f"| {info['job']} | {info['peer']} | {info['n_samples']:,} × "
                     f"{info['n_features']} {info['dtype']} | {format_time(seconds)} | "
                     f"{info['n_samples'] / seconds:,.0f} | {rss} |")
    return lines


def machine_description(report):
    machine = report["machine_info"]
    cpu = machine.get("cpu", {})
    brand = cpu.get("brand_raw") or machine.get("processor") or "unknown CPU"
    cores = cpu.get("count") or os.cpu_count()
    return (f"{brand}, {cores} logical cores, {machine['system']} {machine['release']}, "
            f"Python {machine['python_version']}; results written {report['datetime']} "
            "(at the end of the run)")


def environment_description(environment):
    """Load and thread pools during the run: what the figures were measured under."""
    before, after = environment["loadavg_before"], environment["loadavg_after"]
    pools = "; ".join(
        f"{pool['internal_api']} {pool.get('version')} ({pool['user_api']}, "
        f"{pool.get('threading_layer', 'n/a')} threading, {pool['num_threads']} threads, "
        f"{Path(pool['filepath']).name})" for pool in environment["threadpool_info"])
    return (f"Load average (1, 5, 15 min) {before[0]:.2f}, {before[1]:.2f}, {before[2]:.2f} "
            f"before the run and {after[0]:.2f}, {after[1]:.2f}, {after[2]:.2f} after it; "
            f"{environment['usable_cores']} usable cores. Thread pools (threadpoolctl): "
            f"{pools}.")


def render(path):
    medians, memory, scale, report = load(path)
    versions = report.get("versions", {})
    lines = [
        "# Benchmarks",
        "",
        "Medians of pytest-benchmark runs in one session: gaussext and its peers on the",
        "same arrays, one table per job and shape.  A ratio above 1 means the peer took",
        "longer than gaussext.  Regenerate everything on this page with",
        "",
        "```",
        REGENERATE,
        "```",
        "",
        "(it needs the test extra: `pip install '.[test]'`).  The README's test command runs",
        "the same benchmarks in a quick mode — small shapes, each body once, no timing — so",
        "they never rot.  No test asserts a time; the targets live in the table below.",
        "",
        f"Machine: {machine_description(report)}.",
    ]
    if versions:
        lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) + ".")
    environment = report.get("environment")
    if environment:
        lines += ["", environment_description(environment)]
    lines += ["", "## Targets", ""] + target_table(medians, memory)
    lines += ["", "## Memory", "", "Scoring one array in a fresh process; its peak resident set "
              "size (Linux `VmHWM`) before and after the call."] + [""] + memory_table(memory)
    if scale:
        lines += ["", "## Scale: out-of-core files and Dask", ""] + scale_table(scale)
    notes = BENCH / "notes.md"
    if notes.is_file():
        lines += ["", notes.read_text().rstrip()]
    lines += ["", "## All groups"] + group_tables(medians)
    return "\n".join(lines).rstrip() + "\n"


def run_benchmarks(json_path):
    """Run the full benchmarks with the pytest next to this interpreter.

    The console script is used rather than ``python -m pytest``, which would
    put the checkout's root (and its unbuilt source package) on sys.path.
    """
    pytest = Path(sys.executable).with_name("pytest")
    command = [str(pytest) if pytest.exists() else shutil.which("pytest"), "bench",
               "--benchmark-enable", f"--benchmark-json={json_path}",
               "--benchmark-min-rounds=5", "-p", "no:cacheprovider", "-q"]
    environment = dict(os.environ, GAUSSEXT_BENCH="full")
    subprocess.run(command, check=True, cwd=BENCH.parent, env=environment)


def package_versions():
    import numpy
    import scipy
    import sklearn

    import gaussext

    return {"gaussext": gaussext.__version__, "numpy": numpy.__version__,
            "scipy": scipy.__version__, "scikit-learn": sklearn.__version__,
            "python": platform.python_version()}


def thread_environment(loadavg_before, loadavg_after):
    """Load averages around the run, usable cores and the BLAS/OpenMP pools."""
    import numpy  # noqa: F401  (loads the BLAS threadpoolctl reports)
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_info

    import gaussext  # noqa: F401  (loads the OpenMP runtime of the kernels)
    from gaussext._parallel import usable_cores

    return {"loadavg_before": list(loadavg_before), "loadavg_after": list(loadavg_after),
            "usable_cores": usable_cores(), "threadpool_info": threadpool_info()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", default=str(BENCH / "results.json"),
                        help="pytest-benchmark JSON file (default: bench/results.json)")
    parser.add_argument("--run", action="store_true",
                        help="run the full benchmarks first, writing the JSON file")
    parser.add_argument("--out", default=str(BENCH / "README.md"), help="markdown file to write")
    args = parser.parse_args(argv)
    if args.run:
        loadavg_before = os.getloadavg()
        run_benchmarks(args.results)
        loadavg_after = os.getloadavg()
        with open(args.results) as handle:
            report = json.load(handle)
        report["versions"] = package_versions()
        report["environment"] = thread_environment(loadavg_before, loadavg_after)
        for bench in report["benchmarks"]:
            # every round's time: megabytes, and the summary statistics suffice
            bench["stats"].pop("data", None)
        with open(args.results, "w") as handle:
            json.dump(report, handle, indent=1)
    Path(args.out).write_text(render(args.results))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
