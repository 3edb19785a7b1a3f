"""The ``gaussext`` command line (also ``python -m gaussext``).

Commands: ``fit``, ``tune``, ``score``, ``detect``, ``inspect`` and ``demo``.
Exit status: 0 on success; 1 when the data, a model file or an output file
is unusable (missing file, non-numeric or empty cell, missing column, wrong
feature count, labels other than 0/1, ...); 2 when the command line itself is
wrong (unknown command or option, missing argument, invalid choice).  Either
way one line ``gaussext: error: ...`` on standard error says what and where;
never a traceback.
"""

import argparse
import sys
import warnings

import numpy as np

from gaussext import __version__
from gaussext._estimator import GaussianAnomalyDetector
from gaussext._io import DataError, _parse_float, read_table, write_records
from gaussext._threshold import select_threshold
from gaussext.datasets import make_demo_split

EXIT_DATA_ERROR = 1
EXIT_USAGE = 2

DEMO_EPILOG = """\
example:
  gaussext demo --covariance full --seed 3
  gaussext demo --plot report.png
"""
FIT_EPILOG = """\
examples:
  gaussext fit train.csv --model model.npz
  gaussext fit metrics.csv --model model.npz --covariance full --columns "Latency (ms)" "Throughput (mb/s)"
  gaussext fit train.npy --model model.npz
"""
TUNE_EPILOG = """\
example:
  gaussext tune model.npz validation.csv --label-column Anomaly
"""
SCORE_EPILOG = """\
examples:
  gaussext score model.npz new.csv --out scores.csv --explain 2
  gaussext score model.npz new.npy > scores.csv
"""
DETECT_EPILOG = """\
examples:
  gaussext detect server-operational-params.csv --label-column Anomaly
  gaussext detect metrics.csv --covariance full --plot report.png
"""
INSPECT_EPILOG = """\
example:
  gaussext inspect metrics.csv --label-column Anomaly
"""


def _format_table(header, rows):
    """Columns of numbers right-aligned, columns of text left-aligned."""
    columns = list(zip(header, *rows))
    widths = [max(len(str(cell)) for cell in column) for column in columns]
    numeric = [all(_parse_float(str(cell)) is not None for cell in column[1:])
               for column in columns]
    lines = []
    for row in (header, *rows):
        lines.append("  ".join(
            str(cell).rjust(width) if is_numeric else str(cell).ljust(width)
            for cell, width, is_numeric in zip(row, widths, numeric)).rstrip())
    return "\n".join(lines)


def _parameter_table(detector, names, digits=10):
    """The fitted parameters as text: mu and sigma^2, or mu and the covariance."""
    if not hasattr(detector, "covariance_"):
        return _format_table(("feature", "mu", "sigma^2"),
                             [(n, f"{m:.{digits}g}", f"{v:.{digits}g}")
                              for n, m, v in zip(names, detector.mean_, detector.var_)])
    return "\n".join([
        _format_table(("feature", "mu"),
                      [(n, f"{m:.{digits}g}") for n, m in zip(names, detector.mean_)]),
        "",
        "covariance:",
        _format_table(("", *names), [(n, *(f"{c:.4g}" for c in row))
                                     for n, row in zip(names, detector.covariance_)]),
    ])


def _scores_line(result):
    """precision, recall, F1 and the four counts of a ThresholdResult."""
    return (f"precision = {result.precision:.4f}   recall = {result.recall:.4f}   "
            f"F1 = {result.f1:.4f}   (tp {result.true_positives}, fp {result.false_positives}, "
            f"fn {result.false_negatives}, tn {result.true_negatives})")


def top_features(detector, X, names, k):
    """For each row of X, its `k` features adding most to -log p(x) above
    their value at the mean, as [(name, excess), ...], largest first.

    The excess of feature j is ``explain(x)[j] - explain(mu)[j]``: half the
    squared standardised residual (diagonal) or half the squared whitened
    residual (full), so a feature's own scale does not rank it.
    """
    excess = detector.explain(X) - detector.explain(detector.mean_[None, :])
    order = np.argsort(-excess, axis=1, kind="stable")[:, :k]
    return [[(names[j], float(excess[i, j])) for j in row] for i, row in enumerate(order)]


def _describe_top(pairs):
    return "; ".join(f"{name} +{value:.3g}" for name, value in pairs)


def _flagged_rows(detector, X, names, log_density, k):
    """Indices of the rows with p(x) < epsilon and, when k > 0, their top k
    features (None otherwise): explained once, for the table and the records."""
    flagged = np.flatnonzero(log_density < detector.log_epsilon_)
    tops = top_features(detector, X[flagged], names, k) if k and flagged.size else None
    return flagged, tops


def _flagged_table(X, names, log_density, labels, flagged, tops, row_label):
    """Text table of the flagged rows, with their top features."""
    rows = []
    for position, i in enumerate(flagged):
        row = [row_label(i), *(f"{v:.4g}" for v in X[i]), f"{log_density[i]:.4g}"]
        if labels is not None:
            row.append("anomaly" if labels[i] else "normal")
        if tops is not None:
            row.append(_describe_top(tops[position]))
        rows.append(row)
    header = ["row", *names, "log p(x)"]
    if labels is not None:
        header.append("label")
    if tops is not None:
        header.append("top features (-log p above its value at the mean)")
    return _format_table(header, rows)


def run_demo(covariance="diagonal", seed=0, n_train=2000, n_val=500, method="exact", out=None,
             plot=None):
    """Fit on synthetic server metrics, tune epsilon on a labelled split, report."""
    out = out or sys.stdout
    split = make_demo_split(n_train, n_val, random_state=seed)
    names = split.feature_names
    detector = GaussianAnomalyDetector(covariance).fit(split.X_train)
    log_density = detector.score_samples(split.X_val)
    result = detector._keep_threshold(
        select_threshold(split.y_val, log_density, method=method))

    def say(text=""):
        print(text, file=out)

    say(f"gaussext {__version__} demo: synthetic server metrics (seed {seed})")
    say(f"  training rows: {split.X_train.shape[0]} (unlabelled), validation rows: "
        f"{split.X_val.shape[0]} ({int(split.y_val.sum())} labelled anomalies)")
    say(f"  model: {covariance} Gaussian, maximum-likelihood fit")
    say()
    say(_parameter_table(detector, names, digits=6))
    say()
    say(f"epsilon = {result.epsilon:.6g}   (log epsilon = {result.log_epsilon:.6g}; "
        f"{method} F1 search on the validation set)")
    say(_scores_line(result))
    flagged, _ = _flagged_rows(detector, split.X_val, names, log_density, 0)
    table = _flagged_table(split.X_val, names, log_density, split.y_val, flagged, None, int)
    say()
    say(f"flagged validation rows (p(x) < epsilon): {flagged.size}")
    say(table)
    if plot:
        _write_plot(plot, detector, split.X_val, names, split.y_val, result, say)
    return result


def _write_plot(path, detector, X, names, labels, result, say):
    try:
        from gaussext import plot
    except ImportError as exc:
        raise DataError(str(exc)) from exc
    plot.save_report(path, detector, X, labels, threshold_result=result, feature_names=names)
    say(f"wrote {path}")


# -- reading inputs ----------------------------------------------------------

def _load_model(path):
    try:
        return GaussianAnomalyDetector.load(path)
    except FileNotFoundError as exc:
        raise DataError(f"no such model file: {path}") from exc
    except IsADirectoryError as exc:
        raise DataError(f"{path} is a directory, not a model file") from exc


def _model_features(detector, table, label_column, columns=None):
    """(X, names) of `table` laid out as `detector` was fitted: the given
    `columns`, else the model's own columns by name, else every numeric one."""
    fitted = getattr(detector, "feature_names_in_", None)
    if fitted is not None and table.has_header and columns is None:
        missing = [name for name in fitted if name not in table.names]
        if missing:
            raise DataError(f"{table.path} lacks column(s) {missing} that the model was "
                            f"fitted on (it was fitted on {list(fitted)})")
        return table.features(list(fitted))
    X, names = table.features(columns, exclude=(label_column,))
    if X.shape[1] != detector.n_features_in_:
        raise DataError(f"{table.path} has {X.shape[1]} numeric feature column(s) ({names}), "
                        f"but the model was fitted on {detector.n_features_in_}")
    if fitted is not None:
        names = list(fitted)
    return X, names


class _NamedColumns:
    """X with column names, read by the estimator as a DataFrame's: its
    `feature_names_in_` and its error messages then name the CSV columns."""

    def __init__(self, X, names):
        self.values, self.columns = X, list(names)

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)


def _fit(args, table, X, names):
    """A detector fitted on X as the options say, knowing CSV column names."""
    detector = GaussianAnomalyDetector(args.covariance, contamination=args.contamination,
                                       reg_covar=args.reg_covar,
                                       variance_floor=args.variance_floor)
    return detector.fit(_NamedColumns(X, names) if table.has_header else X)


# -- commands ----------------------------------------------------------------

def cmd_fit(args, say):
    table = read_table(args.data)
    X, names = table.features(args.columns, exclude=(args.label_column,))
    detector = _fit(args, table, X, names)
    detector.save(args.model)
    say(f"fitted a {args.covariance} Gaussian on {X.shape[0]} rows x {X.shape[1]} features "
        f"of {args.data}")
    say(_parameter_table(detector, names))
    say(f"epsilon = {detector.epsilon_:.10g} (log epsilon = {detector.log_epsilon_:.10g}; "
        f"contamination {args.contamination}: until 'gaussext tune' sets it from labels)")
    say(f"wrote {args.model}")


def _tune(detector, X, labels, column, method):
    """tune_threshold, with the label column named in its errors, scoring X
    once: returns (ThresholdResult, log p(X))."""
    log_density = detector.score_samples(X)
    try:
        result = select_threshold(labels, log_density, method=method)
    except ValueError as exc:
        raise DataError(f"labels {column!r}: {exc}") from exc
    return detector._keep_threshold(result), log_density


def cmd_tune(args, say):
    detector = _load_model(args.model)
    table = read_table(args.data)
    labels = table.labels(args.label_column)
    X, _ = _model_features(detector, table, args.label_column, args.columns)
    result, _ = _tune(detector, X, labels, args.label_column, args.method)
    target = args.out or args.model
    detector.save(target)
    say(f"epsilon = {result.epsilon:.10g}   (log epsilon = {result.log_epsilon:.10g}; "
        f"{args.method} F1 search on {X.shape[0]} labelled rows of {args.data})")
    say(_scores_line(result))
    say(f"wrote {target}")


def _record_fields(k):
    return ["row", "log_density", "decision", "anomaly"] + (["top_features"] if k else [])


def _score_records(detector, log_density, flagged, tops, k):
    """One record per row; top features (when k > 0) for the flagged ones."""
    top_of = dict(zip(flagged.tolist(), tops)) if tops is not None else {}
    for i in range(log_density.shape[0]):
        record = {"row": i, "log_density": float(log_density[i]),
                  "decision": float(log_density[i] - detector.log_epsilon_),
                  "anomaly": int(log_density[i] < detector.log_epsilon_)}
        if k:
            record["top_features"] = _describe_top(top_of[i]) if i in top_of else ""
        yield record


def cmd_score(args, say):
    detector = _load_model(args.model)
    table = read_table(args.data)
    X, names = _model_features(detector, table, args.label_column, args.columns)
    log_density = detector.score_samples(X)
    k = min(args.explain, X.shape[1])
    flagged, tops = _flagged_rows(detector, X, names, log_density, k)
    records = _score_records(detector, log_density, flagged, tops, k)
    if args.out is None:
        write_records(sys.stdout, _record_fields(k), records, format="csv")
        return
    write_records(args.out, _record_fields(k), records)
    text = _flagged_table(X, names, log_density, None, flagged, tops, table.row_label)
    say(f"scored {X.shape[0]} rows of {args.data}: {flagged.size} flagged "
        f"(p(x) < epsilon = {detector.epsilon_:.6g})")
    if flagged.size:
        say(text)
    say(f"wrote {args.out}")


def cmd_detect(args, say):
    table = read_table(args.data)
    labels = table.labels(args.label_column) if args.label_column else None
    X, names = table.features(args.columns, exclude=(args.label_column,))
    detector = _fit(args, table, X, names)
    say(f"{args.data}: {X.shape[0]} rows, features {', '.join(names)}"
        + (f"; labels {args.label_column!r} ({int(labels.sum())} anomalies)"
           if labels is not None else ""))
    say(f"model: {args.covariance} Gaussian, maximum-likelihood fit")
    say()
    say(_parameter_table(detector, names))
    say()
    result = None
    if labels is not None:
        result, log_density = _tune(detector, X, labels, args.label_column, args.method)
        say(f"epsilon = {result.epsilon:.10g}   (log epsilon = {result.log_epsilon:.10g}; "
            f"{args.method} F1 search on the labelled rows)")
        say(_scores_line(result))
    else:
        say(f"epsilon = {detector.epsilon_:.10g}   (log epsilon = {detector.log_epsilon_:.10g}; "
            f"the {args.contamination} quantile of the training scores: no labels given)")
        log_density = detector.score_samples(X)
    k = min(args.explain, X.shape[1])
    flagged, tops = _flagged_rows(detector, X, names, log_density, k)
    text = _flagged_table(X, names, log_density, labels, flagged, tops, table.row_label)
    say()
    say(f"flagged rows (p(x) < epsilon): {flagged.size}")
    if flagged.size:
        say(text)
    if args.model:
        detector.save(args.model)
        say(f"wrote {args.model}")
    if args.out:
        write_records(args.out, _record_fields(k),
                      _score_records(detector, log_density, flagged, tops, k))
        say(f"wrote {args.out}")
    if args.plot:
        _write_plot(args.plot, detector, X, names, labels, result, say)


def cmd_inspect(args, say):
    from gaussext.diagnostics import gaussianity

    table = read_table(args.data)
    X, names = table.features(args.columns, exclude=(args.label_column,))
    report = gaussianity(X, names, alpha=args.alpha)
    say(f"{args.data}: {X.shape[0]} rows; normality test: D'Agostino-Pearson K^2 "
        f"(scipy.stats.normaltest), transform chosen at level {args.alpha}")
    rows = [(name, f"{skew:.3f}", f"{kurt:.3f}", f"{p:.3g}", suggested, note)
            for name, skew, kurt, p, suggested, note in report.rows()]
    say(_format_table(("feature", "skewness", "excess kurtosis", "normality p", "suggested",
                       "note"), rows))


def cmd_demo(args, say):
    if args.n_train < 2 or args.n_val < 2:
        raise _UsageError("--n-train and --n-val must be at least 2")
    run_demo(args.covariance, args.seed, args.n_train, args.n_val, args.method, plot=args.plot)


# -- the parser ----------------------------------------------------------------

class _UsageError(Exception):
    """A command line that parses but asks for something impossible."""


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line and exit status 2."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"gaussext: error: {message} (see '{self.prog} --help')\n")


def _positive_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _number_in(low, high, low_inclusive, high_inclusive):
    """An argparse type: a float in the interval, else a usage error."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        inside = ((value > low or (low_inclusive and value == low))
                  and (value < high or (high_inclusive and value == high)))
        if not inside:
            raise argparse.ArgumentTypeError(
                f"must be in {'[' if low_inclusive else '('}{low}, {high}"
                f"{']' if high_inclusive else ')'}, got {text}")
        return value
    return parse


def _add_model_options(parser):
    parser.add_argument("--covariance", choices=("diagonal", "full"), default="diagonal",
                        help="per-feature or multivariate model (default: diagonal)")
    parser.add_argument("--columns", nargs="+", metavar="NAME",
                        help="feature columns to use (default: every numeric column but the "
                             "label column); index numbers for .npy/.npz data")
    parser.add_argument("--contamination", type=_number_in(0, 0.5, False, True), default=0.1,
                        help="fraction of training rows below epsilon when no labels choose "
                             "it (default: 0.1)")
    parser.add_argument("--reg-covar", type=_number_in(0, float("inf"), True, False),
                        default=0.0,
                        help="added to every variance: makes constant or dependent features "
                             "usable (default: 0)")
    parser.add_argument("--variance-floor", type=_number_in(0, float("inf"), True, False),
                        default=0.0,
                        help="diagonal model: variances below it are raised to it, the others "
                             "kept as estimated (default: 0)")


def _add_column_option(parser):
    parser.add_argument("--columns", nargs="+", metavar="NAME",
                        help="the feature columns, in the model's order (default: the columns "
                             "the model was fitted on, by name; for a model fitted on .npy "
                             "data every numeric column)")


def _add_command(commands, name, help_text, description, epilog, handler):
    parser = commands.add_parser(name, help=help_text, description=description, epilog=epilog,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(handler=handler)
    return parser


def build_parser():
    parser = _Parser(
        prog="gaussext",
        description="Gaussian anomaly detection, exact and in log space. Data: CSV with a "
                    "header row, .npy or .npz. Exit status: 1 for unusable data or files, 2 "
                    "for command-line errors.",
    )
    parser.add_argument("--version", action="version", version=f"gaussext {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    fit = _add_command(commands, "fit", "fit a model and save it",
                       "Fit a Gaussian to DATA and save it to MODEL (a safe .npz file); "
                       "epsilon comes from --contamination until 'tune' chooses it.",
                       FIT_EPILOG, cmd_fit)
    fit.add_argument("data", metavar="DATA")
    fit.add_argument("--model", required=True, metavar="MODEL", help="model file to write (.npz)")
    _add_model_options(fit)
    fit.add_argument("--label-column", metavar="NAME",
                     help="a label column to leave out of the features")

    tune = _add_command(commands, "tune", "choose epsilon on labelled data",
                        "Choose epsilon by maximising F1 on labelled VALDATA and store it in "
                        "MODEL (or --out).", TUNE_EPILOG, cmd_tune)
    tune.add_argument("model", metavar="MODEL")
    tune.add_argument("data", metavar="VALDATA")
    tune.add_argument("--label-column", required=True, metavar="NAME",
                      help="column of 0/1 labels, 1 = anomaly (for .npz: a 1-D array's name)")
    tune.add_argument("--method", choices=("exact", "grid"), default="exact",
                      help="exact scan or the classic 1000-step grid (default: exact)")
    tune.add_argument("--out", metavar="MODEL", help="write the tuned model here instead")
    _add_column_option(tune)

    score = _add_command(commands, "score", "score rows with a saved model",
                         "Write log p(x), log p(x) - log epsilon and the anomaly flag (1 when "
                         "p(x) < epsilon) of every row of DATA: to --out (.csv or .json) with a "
                         "report of the flagged rows, or as CSV to standard output.",
                         SCORE_EPILOG, cmd_score)
    score.add_argument("model", metavar="MODEL")
    score.add_argument("data", metavar="DATA")
    score.add_argument("--out", metavar="FILE", help="output file, .csv or .json")
    score.add_argument("--explain", type=_positive_int, default=0, metavar="K",
                       help="name the K features adding most to -log p(x) of flagged rows")
    _add_column_option(score)
    score.add_argument("--label-column", metavar="NAME",
                       help="a label column to leave out of the features")

    detect = _add_command(commands, "detect", "fit, tune and report in one step",
                          "Fit a Gaussian to DATA, choose epsilon by F1 when labels are given "
                          "(else by --contamination), and report the flagged rows with the "
                          "features that made them unlikely.", DETECT_EPILOG, cmd_detect)
    detect.add_argument("data", metavar="DATA")
    _add_model_options(detect)
    detect.add_argument("--label-column", metavar="NAME",
                        help="column of 0/1 labels (1 = anomaly) to choose epsilon by F1")
    detect.add_argument("--method", choices=("exact", "grid"), default="exact",
                        help="exact scan or the classic 1000-step grid (default: exact)")
    detect.add_argument("--explain", type=_positive_int, default=3, metavar="K",
                        help="top features shown per flagged row (default: 3; 0: none)")
    detect.add_argument("--model", metavar="MODEL", help="also save the model (.npz)")
    detect.add_argument("--out", metavar="FILE", help="also write per-row scores (.csv/.json)")
    detect.add_argument("--plot", metavar="PNG", help="write a report figure (needs matplotlib)")

    inspect = _add_command(commands, "inspect", "how Gaussian each feature looks",
                           "Print each feature's skewness, excess kurtosis, normality-test "
                           "p-value and a suggested transform.", INSPECT_EPILOG, cmd_inspect)
    inspect.add_argument("data", metavar="DATA")
    inspect.add_argument("--columns", nargs="+", metavar="NAME", help="columns to inspect")
    inspect.add_argument("--label-column", metavar="NAME", help="a column to leave out")
    inspect.add_argument("--alpha", type=_number_in(0, 1, False, False), default=0.01,
                         help="level of the normality test (default: 0.01)")

    demo = _add_command(commands, "demo", "fit, tune and report on generated server metrics",
                        "Fit a Gaussian model on synthetic server metrics (no file needed), "
                        "choose epsilon on a labelled validation split by maximising F1, "
                        "and print the parameters, the scores and the flagged rows.",
                        DEMO_EPILOG, cmd_demo)
    demo.add_argument("--covariance", choices=("diagonal", "full"), default="diagonal",
                      help="per-feature or multivariate model (default: diagonal)")
    demo.add_argument("--method", choices=("exact", "grid"), default="exact",
                      help="threshold search (default: exact)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument("--n-train", type=int, default=2000, help="training rows (default: 2000)")
    demo.add_argument("--n-val", type=int, default=500, help="validation rows (default: 500)")
    demo.add_argument("--plot", metavar="PNG", help="write a report figure (needs matplotlib)")
    return parser


def main(argv=None):
    """Run one command; returns the exit status (0, 1 data error, 2 usage error)."""
    args = build_parser().parse_args(argv)

    def say(text=""):
        print(text)

    caught = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # Columns are matched by name before any scoring (_model_features),
            # then handed over as arrays: scikit-learn's "names vanished"
            # warning would tell a command-line user nothing.
            warnings.filterwarnings("ignore", category=UserWarning,
                                    message="X does not have valid feature names")
            args.handler(args, say)
    except _UsageError as exc:
        print(f"gaussext: error: {exc} (see 'gaussext {args.command} --help')", file=sys.stderr)
        return EXIT_USAGE
    except (DataError, ValueError, TypeError) as exc:
        # library validation errors are written for users: one line each
        print(f"gaussext: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_DATA_ERROR
    except OSError as exc:  # writing a model, scores or a figure
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"gaussext: error: cannot write {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_DATA_ERROR
    finally:
        for warning in caught:
            print(f"gaussext: warning: {_one_line(warning.message)}", file=sys.stderr)
    return 0


def _one_line(message):
    return " ".join(str(message).split())
