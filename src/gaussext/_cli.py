"""The ``gaussext`` command line (also ``python -m gaussext``).

Commands: ``fit``, ``tune``, ``score``, ``detect``, ``inspect`` and ``demo``.
Exit status: 0 on success; 1 when the data, a model file or an output file
is unusable (missing file, non-numeric or empty cell, missing column, wrong
feature count, labels other than 0/1, ...); 2 when the command line itself is
wrong (unknown command or option, missing argument, invalid choice, an
output path that is one of the inputs or another output).  Either way one
line ``gaussext: error: ...`` on standard error says what and where; never a
traceback.  Outputs are written atomically (complete or not at all); when the
reader of standard output goes away (``| head``) printing stops quietly and
the command still writes the files it was asked for, with status 0.
"""

import argparse
import os
import sys
import warnings

import numpy as np

from gaussext import __version__
from gaussext._arrow import is_arrow_path
from gaussext._chunked import Rows, fit_rows, progress, score_rows
from gaussext._estimator import GaussianAnomalyDetector
from gaussext._files import atomic_path, refuse_overwriting_inputs
from gaussext import _report
from gaussext._io import DataError, read_table, write_records
from gaussext._sources import open_source, select_features
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
CALIBRATE_EPILOG = """\
example:
  gaussext calibrate model.npz held-out-normal.csv --false-alarm-rate 0.01
After it, 'gaussext score' flags exactly the rows whose conformal p-value is
<= the rate and writes each row's p_value.
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


def run_demo(covariance="diagonal", seed=0, n_train=2000, n_val=500, method="exact", out=None,
             plot=None):
    """Fit on synthetic server metrics, tune epsilon on a labelled split, report."""
    out = out or sys.stdout
    plot_module = _plot_module(plot)
    split = make_demo_split(n_train, n_val, random_state=seed)
    names = split.feature_names
    detector = GaussianAnomalyDetector(covariance).fit(split.X_train)
    log_density = detector.score_samples(split.X_val)
    result = detector.set_threshold(
        select_threshold(split.y_val, log_density, method=method))

    def say(text=""):
        print(text, file=out)

    say(f"gaussext {__version__} demo: synthetic server metrics (seed {seed})")
    say(f"  training rows: {split.X_train.shape[0]} (unlabelled), validation rows: "
        f"{split.X_val.shape[0]} ({int(split.y_val.sum())} labelled anomalies)")
    say(f"  model: {covariance} Gaussian, maximum-likelihood fit")
    say()
    say(_report.parameter_table(detector, names, digits=6))
    say()
    say(f"epsilon = {result.epsilon:.6g}   (log epsilon = {result.log_epsilon:.6g}; "
        f"{method} F1 search on the validation set)")
    say(_report.scores_line(result))
    flagged, _ = _report.flagged_rows(detector, split.X_val, names, log_density, 0)
    table = _report.flagged_table(split.X_val, names, log_density, split.y_val, flagged, None,
                                  int)
    say()
    say(f"flagged validation rows (p(x) < epsilon): {flagged.size}")
    say(table)
    if plot:
        _write_plot(plot_module, plot, detector, split.X_val, names, split.y_val, result, say)
    return result


def _plot_module(path):
    """gaussext.plot when `path` asks for a figure (None otherwise): imported
    before any work, so that a missing matplotlib stops the command at once."""
    if not path:
        return None
    try:
        from gaussext import plot
    except ImportError as exc:
        raise DataError(str(exc)) from exc
    return plot


def _write_plot(plot, path, detector, X, names, labels, result, say):
    with atomic_path(path) as temporary:
        plot.save_report(temporary, detector, X, labels, threshold_result=result,
                         feature_names=names)
    say(f"wrote {path}")


def _refuse_destroying_inputs(outputs, inputs):
    """Usage error unless every output (what, path) is a file of its own:
    not an input (compared by file identity, links followed) and not
    another output of the same command."""
    written = [(what, path) for what, path in outputs if path]
    for what, path in written:
        try:
            refuse_overwriting_inputs(path, inputs, what=what)
        except ValueError as exc:
            raise _UsageError(str(exc)) from exc
    for index, (what, path) in enumerate(written):
        for other_what, other in written[index + 1:]:
            if os.path.realpath(path) == os.path.realpath(other):
                raise _UsageError(f"the {what} and the {other_what} would both be written to "
                                  f"{path}; give them different paths")


# -- reading inputs ----------------------------------------------------------

def _load_model(path):
    try:
        return GaussianAnomalyDetector.load(path)
    except FileNotFoundError as exc:
        raise DataError(f"no such model file: {path}") from exc
    except IsADirectoryError as exc:
        raise DataError(f"{path} is a directory, not a model file") from exc


def _model_features(detector, source, label_column, columns=None):
    """(columns to read, names to show, chosen_for_user) of `source` laid out
    as `detector` was fitted: the given `columns`, else the model's own
    columns by name, else every numeric one."""
    fitted = getattr(detector, "feature_names_in_", None)
    if fitted is not None and source.has_header and columns is None:
        missing = [name for name in fitted if name not in source.names]
        if missing:
            raise DataError(f"{source.path} lacks column(s) {missing} that the model was "
                            f"fitted on (it was fitted on {list(fitted)})")
        return list(fitted), list(fitted), False
    features, chosen_for_user = select_features(source, columns, exclude=(label_column,))
    if len(features) != detector.n_features_in_:
        raise DataError(f"{source.path} has {len(features)} numeric feature column(s) "
                        f"({features}), but the model was fitted on {detector.n_features_in_}")
    names = list(fitted) if fitted is not None else features
    return features, names, chosen_for_user


class _NamedColumns:
    """X with column names, read by the estimator as a DataFrame's: its
    `feature_names_in_` and its error messages then name the CSV columns."""

    def __init__(self, X, names):
        self.values, self.columns = X, list(names)

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)


def _detector(args):
    return GaussianAnomalyDetector(args.covariance, contamination=args.contamination,
                                   reg_covar=args.reg_covar, variance_floor=args.variance_floor,
                                   robust=args.robust, missing=args.missing)


def _fit(detector, source, rows, scores=True):
    """fit_rows, knowing CSV column names: returns every row's training score,
    computed once by the fit (for epsilon), so detect need not score again.

    A robust fit needs every row at once (its concentration steps revisit
    subsets of them): its rows are gathered in memory."""
    wrap = (lambda X: _NamedColumns(X, rows.features)) if source.has_header else (lambda X: X)
    if detector.robust:
        return detector.fit_score_samples(wrap(rows.features_array()))
    return fit_rows(detector, rows, wrap, scores=scores)


def _fit_description(args, detector, n_rows):
    if not args.robust:
        return "maximum-likelihood fit"
    return (f"robust fit (minimum covariance determinant: {int(detector.support_.sum())} of "
            f"{n_rows} rows kept)")


# -- commands ----------------------------------------------------------------

def cmd_fit(args, say):
    _refuse_destroying_inputs([("model", args.model)], [args.data])
    source = open_source(args.data)
    features, chosen = select_features(source, args.columns, exclude=(args.label_column,))
    with progress("fit") as bar:
        detector = _detector(args)
        # one pass: a robust fit gathers the rows itself, any other needs no second pass
        rows = Rows(source, features, chosen_for_user=chosen, bar=bar, retain=False)
        _fit(detector, source, rows, scores=False)
    detector.save(args.model)
    n_rows = detector.statistics_.n_samples if not args.robust else detector.support_.shape[0]
    say(f"fitted a {args.covariance} Gaussian"
        + (f" robustly (on {int(detector.support_.sum())} rows kept)" if args.robust else "")
        + f" on {n_rows} rows x {len(features)} features of {args.data}")
    say(_report.parameter_table(detector, features))
    say(f"epsilon = {detector.epsilon_:.10g} (log epsilon = {detector.log_epsilon_:.10g}; "
        f"contamination {args.contamination}: until 'gaussext tune' sets it from labels)")
    say(f"wrote {args.model}")


def _tune(detector, labels, log_density, column, method):
    """select_threshold with the label column named in its errors; the
    detector keeps the result."""
    try:
        result = select_threshold(labels, log_density, method=method)
    except ValueError as exc:
        raise DataError(f"labels {column!r}: {exc}") from exc
    return detector.set_threshold(result)


def cmd_tune(args, say):
    # the model itself is replaced by its tuned self unless --out says where
    _refuse_destroying_inputs([("tuned model", args.out or args.model)], [args.data])
    detector = _load_model(args.model)
    source = open_source(args.data)
    features, _, chosen = _model_features(detector, source, args.label_column, args.columns)
    with progress("tune") as bar:
        rows = Rows(source, features, args.label_column, chosen_for_user=chosen, bar=bar)
        log_density = score_rows(detector, rows)
        result = _tune(detector, rows.labels(), log_density, args.label_column, args.method)
    target = args.out or args.model
    detector.save(target)
    say(f"epsilon = {result.epsilon:.10g}   (log epsilon = {result.log_epsilon:.10g}; "
        f"{args.method} F1 search on {log_density.shape[0]} labelled rows of {args.data})")
    say(_report.scores_line(result))
    say(f"wrote {target}")


def _write_out(path, fieldnames, records):
    """Records to a .csv or .json file, or (gaussext[arrow]) .parquet or .feather."""
    if is_arrow_path(path):
        from gaussext import _arrow

        with atomic_path(path) as temporary:  # as every other output: whole or not at all
            return _arrow.write_records(temporary, fieldnames, records)
    return write_records(path, fieldnames, records)


def cmd_score(args, say):
    _refuse_destroying_inputs([("scores", args.out)], [args.model, args.data])
    detector = _load_model(args.model)
    # a model that marginalizes missing cells reads empty cells as NaN
    source = open_source(args.data, missing_ok=detector.missing == "marginalize")
    features, names, chosen = _model_features(detector, source, args.label_column, args.columns)
    k = min(args.explain, len(features))
    flagged = _report.FlaggedRows(args.show)
    calibrated = hasattr(detector, "calibration_scores_")
    fields = _report.record_fields(k, calibrated)
    with progress("score") as bar:
        rows = Rows(source, features, chosen_for_user=chosen, bar=bar)
        records = _report.score_records(detector, rows, names, k, flagged,
                                        with_p_values=calibrated)
        if args.out is None:
            write_records(sys.stdout, fields, records, format="csv")
            return
        _write_out(args.out, fields, records)
    say(f"scored {flagged.n_rows} rows of {args.data}: {flagged.count} flagged "
        f"(p(x) < epsilon = {detector.epsilon_:.6g})")
    _report.say_flagged(say, flagged, names, False, k > 0)
    say(f"wrote {args.out}")


def cmd_calibrate(args, say):
    _refuse_destroying_inputs([("calibrated model", args.out or args.model)], [args.data])
    detector = _load_model(args.model)
    source = open_source(args.data, missing_ok=detector.missing == "marginalize")
    features, _, chosen = _model_features(detector, source, args.label_column, args.columns)
    X = Rows(source, features, chosen_for_user=chosen).features_array()
    detector.calibrate(X, false_alarm_rate=args.false_alarm_rate)
    target = args.out or args.model
    detector.save(target)
    say(f"calibrated on {X.shape[0]} held-out rows of {args.data}: rows with conformal "
        f"p-value <= {args.false_alarm_rate} are flagged (log epsilon = "
        f"{detector.log_epsilon_:.10g})")
    if args.false_alarm_rate * (X.shape[0] + 1) < 1:
        say(f"no row can be flagged: a false-alarm rate of {args.false_alarm_rate} needs at "
            f"least {int(np.ceil(1 / args.false_alarm_rate)) - 1} calibration rows")
    say(f"wrote {target}")


def cmd_detect(args, say):
    _refuse_destroying_inputs([("model", args.model), ("scores", args.out),
                               ("figure", args.plot)], [args.data])
    plot = _plot_module(args.plot)
    source = open_source(args.data)
    features, chosen = select_features(source, args.columns, exclude=(args.label_column,))
    with progress("detect") as bar:
        rows = Rows(source, features, args.label_column, chosen_for_user=chosen, bar=bar)
        detector = _detector(args)
        log_density = _fit(detector, source, rows)
        labels = rows.labels() if args.label_column else None
        say(f"{args.data}: {log_density.shape[0]} rows, features {', '.join(features)}"
            + (f"; labels {args.label_column!r} ({int(labels.sum())} anomalies)"
               if labels is not None else ""))
        say(f"model: {args.covariance} Gaussian, "
            f"{_fit_description(args, detector, log_density.shape[0])}")
        say()
        say(_report.parameter_table(detector, features))
        say()
        result = None
        if labels is not None:
            result = _tune(detector, labels, log_density, args.label_column, args.method)
            say(f"epsilon = {result.epsilon:.10g}   (log epsilon = {result.log_epsilon:.10g}; "
                f"{args.method} F1 search on the labelled rows)")
            say(_report.scores_line(result))
        else:
            say(f"epsilon = {detector.epsilon_:.10g}   (log epsilon = "
                f"{detector.log_epsilon_:.10g}; the {args.contamination} quantile of the "
                "training scores: no labels given)")
        k = min(args.explain, len(features))
        flagged = _report.FlaggedRows(args.show)
        records = _report.score_records(detector, rows, features, k, flagged, log_density, labels)
        if args.out:
            _write_out(args.out, _report.record_fields(k), records)
        else:  # only the rows to show: read until they are found
            for chunk in rows:
                if len(flagged.rows) >= flagged.show:
                    break
                flagged.add(detector, chunk, _report.chunk_scores(detector, chunk, log_density),
                            features, k, labels)
            flagged.count = int(np.count_nonzero(log_density < detector.log_epsilon_))
    say()
    say(f"flagged rows (p(x) < epsilon): {flagged.count}")
    _report.say_flagged(say, flagged, features, labels is not None, k > 0)
    if args.model:
        detector.save(args.model)
        say(f"wrote {args.model}")
    if args.out:
        say(f"wrote {args.out}")
    if args.plot:
        _write_plot(plot, args.plot, detector, rows.features_array(), features, labels, result,
                    say)


def cmd_inspect(args, say):
    from gaussext.diagnostics import gaussianity

    table = read_table(args.data)
    X, names = table.features(args.columns, exclude=(args.label_column,))
    report = gaussianity(X, names, alpha=args.alpha)
    say(f"{args.data}: {X.shape[0]} rows; normality test: D'Agostino-Pearson K^2 "
        f"(scipy.stats.normaltest), transform chosen at level {args.alpha}")
    rows = [(name, f"{skew:.3f}", f"{kurt:.3f}", f"{p:.3g}", suggested, note)
            for name, skew, kurt, p, suggested, note in report.rows()]
    say(_report.format_table(("feature", "skewness", "excess kurtosis", "normality p", "suggested",
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
    parser.add_argument("--missing", choices=("error", "marginalize"), default="error",
                        help="scoring rows with empty cells: refuse them, or score them by the "
                             "marginal density of their other cells (default: error); the "
                             "training rows must be complete")
    parser.add_argument("--robust", action="store_true",
                        help="fit on the rows a minimum covariance determinant search keeps: "
                             "for training data that may hold anomalies")


def _add_show_option(parser):
    parser.add_argument("--show", type=_positive_int, default=20, metavar="N",
                        help="flagged rows printed (default: 20); --out keeps them all")


def _add_excluded_label_option(parser):
    parser.add_argument("--label-column", metavar="NAME",
                        help="a label column to leave out of the features")


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
                    "header row, .npy, .npz, or with gaussext[arrow] .parquet and .feather; "
                    "CSV and Arrow files are read in chunks, in bounded memory. Exit status: "
                    "1 for unusable data or files, 2 for command-line errors.",
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
    _add_excluded_label_option(fit)

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
                         "p(x) < epsilon) of every row of DATA, and its conformal p_value when "
                         "the model was calibrated ('gaussext calibrate'): to --out (.csv or "
                         ".json) with a report of the flagged rows, or as CSV to standard output.",
                         SCORE_EPILOG, cmd_score)
    score.add_argument("model", metavar="MODEL")
    score.add_argument("data", metavar="DATA")
    score.add_argument("--out", metavar="FILE", help="output file, .csv or .json")
    score.add_argument("--explain", type=_positive_int, default=0, metavar="K",
                       help="name the K features adding most to -log p(x) of flagged rows")
    _add_show_option(score)
    _add_column_option(score)
    _add_excluded_label_option(score)

    calibrate = _add_command(commands, "calibrate", "set a false-alarm rate on held-out rows",
                             "Calibrate MODEL on held-out normal rows of DATA (split conformal): "
                             "afterwards rows with conformal p-value <= the rate are flagged, and "
                             "on data like the calibration rows at most that fraction of normal "
                             "rows is.", CALIBRATE_EPILOG, cmd_calibrate)
    calibrate.add_argument("model", metavar="MODEL")
    calibrate.add_argument("data", metavar="DATA")
    calibrate.add_argument("--false-alarm-rate", type=_number_in(0, 1, False, False),
                           default=0.01, metavar="ALPHA",
                           help="the rate of normal rows allowed to be flagged (default: 0.01)")
    calibrate.add_argument("--out", metavar="MODEL", help="write the calibrated model here instead")
    _add_column_option(calibrate)
    _add_excluded_label_option(calibrate)

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
    _add_show_option(detect)
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
    reader_gone = []

    def say(text=""):
        # once the reader of a pipe has gone (`| head -1`), the report is no
        # longer printed but the work, and the files it writes, go on
        if not reader_gone:
            try:
                print(text)
            except BrokenPipeError:
                reader_gone.append(_silence_stdout())

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
            sys.stdout.flush()
    except BrokenPipeError:  # scores written to a closed pipe: as Unix tools, quietly
        _silence_stdout()
        return 0
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


def _silence_stdout():
    """Point standard output at the null device, so that nothing (not even
    the interpreter's last flush at exit) writes to a closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (a test's capture)
        pass


def _one_line(message):
    return " ".join(str(message).split())
