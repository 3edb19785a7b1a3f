"""The ``gaussext`` command line (also ``python -m gaussext``)."""

import argparse
import sys

import numpy as np

from gaussext import __version__
from gaussext._estimator import GaussianAnomalyDetector
from gaussext.datasets import make_demo_split

DEMO_EPILOG = """\
example:
  gaussext demo --covariance full --seed 3
"""


def _format_table(header, rows):
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = []
    for row in (header, *rows):
        lines.append("  ".join(str(cell).rjust(width) for cell, width in zip(row, widths)))
    return "\n".join(lines)


def run_demo(covariance="diagonal", seed=0, n_train=2000, n_val=500, method="exact", out=None):
    """Fit on synthetic server metrics, tune epsilon on a labelled split, report."""
    out = out or sys.stdout
    split = make_demo_split(n_train, n_val, random_state=seed)
    names = split.feature_names
    detector = GaussianAnomalyDetector(covariance).fit(split.X_train)
    result = detector.tune_threshold(split.X_val, split.y_val, method=method)

    def say(text=""):
        print(text, file=out)

    say(f"gaussext {__version__} demo: synthetic server metrics (seed {seed})")
    say(f"  training rows: {split.X_train.shape[0]} (unlabelled), validation rows: "
        f"{split.X_val.shape[0]} ({int(split.y_val.sum())} labelled anomalies)")
    say(f"  model: {covariance} Gaussian, maximum-likelihood fit")
    say()
    if covariance == "diagonal":
        say(_format_table(("feature", "mu", "sigma^2"),
                          [(n, f"{m:.6g}", f"{v:.6g}")
                           for n, m, v in zip(names, detector.mean_, detector.var_)]))
    else:
        say(_format_table(("feature", "mu"),
                          [(n, f"{m:.6g}") for n, m in zip(names, detector.mean_)]))
        say()
        say("covariance:")
        say(_format_table(("", *names),
                          [(n, *(f"{c:.4g}" for c in row))
                           for n, row in zip(names, detector.covariance_)]))
    say()
    say(f"epsilon = {result.epsilon:.6g}   (log epsilon = {result.log_epsilon:.6g}; "
        f"{method} F1 search on the validation set)")
    say(f"precision = {result.precision:.4f}   recall = {result.recall:.4f}   "
        f"F1 = {result.f1:.4f}   (tp {result.true_positives}, fp {result.false_positives}, "
        f"fn {result.false_negatives})")
    log_density = detector.score_samples(split.X_val)
    flagged = np.flatnonzero(log_density < detector.log_epsilon_)
    say()
    say(f"flagged validation rows (p(x) < epsilon): {flagged.size}")
    rows = [
        (int(i), *(f"{v:.4g}" for v in split.X_val[i]), f"{log_density[i]:.4g}",
         "anomaly" if split.y_val[i] else "normal")
        for i in flagged
    ]
    say(_format_table(("row", *names, "log p(x)", "label"), rows))
    return result


def build_parser():
    parser = argparse.ArgumentParser(
        prog="gaussext",
        description="Gaussian anomaly detection, exact and in log space.",
    )
    parser.add_argument("--version", action="version", version=f"gaussext {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    demo = commands.add_parser(
        "demo",
        help="fit, tune and report on generated server metrics",
        description="Fit a Gaussian model on synthetic server metrics (no file needed), "
                    "choose epsilon on a labelled validation split by maximising F1, "
                    "and print the parameters, the scores and the flagged rows.",
        epilog=DEMO_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--covariance", choices=("diagonal", "full"), default="diagonal",
                      help="per-feature or multivariate model (default: diagonal)")
    demo.add_argument("--method", choices=("exact", "grid"), default="exact",
                      help="threshold search (default: exact)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument("--n-train", type=int, default=2000, help="training rows (default: 2000)")
    demo.add_argument("--n-val", type=int, default=500, help="validation rows (default: 500)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        if args.n_train < 2 or args.n_val < 2:
            print("gaussext demo: error: --n-train and --n-val must be at least 2",
                  file=sys.stderr)
            return 2
        try:
            run_demo(args.covariance, args.seed, args.n_train, args.n_val, args.method)
        except ValueError as exc:
            print(f"gaussext demo: error: {exc}", file=sys.stderr)
            return 1
    return 0
