"""What the command line prints and writes: tables, flagged rows, score records.

Pure formatting over a fitted detector and its scores; the command handlers
in :mod:`gaussext._cli` read the inputs, call these, and write the results.
"""

import numpy as np

from gaussext._io import _parse_float

__all__ = [
    "FlaggedRows", "chunk_scores", "flagged_table", "format_table", "parameter_table",
    "record_fields", "say_flagged", "score_records", "scores_line", "top_features",
]


def format_table(header, rows):
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


def parameter_table(detector, names, digits=10):
    """The fitted parameters as text: mu and sigma^2, or mu and the covariance."""
    if not hasattr(detector, "covariance_"):
        return format_table(("feature", "mu", "sigma^2"),
                             [(n, f"{m:.{digits}g}", f"{v:.{digits}g}")
                              for n, m, v in zip(names, detector.mean_, detector.var_)])
    return "\n".join([
        format_table(("feature", "mu"),
                      [(n, f"{m:.{digits}g}") for n, m in zip(names, detector.mean_)]),
        "",
        "covariance:",
        format_table(("", *names), [(n, *(f"{c:.4g}" for c in row))
                                     for n, row in zip(names, detector.covariance_)]),
    ])


def scores_line(result):
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


def describe_top(pairs):
    return "; ".join(f"{name} +{value:.3g}" for name, value in pairs)


def flagged_rows(detector, X, names, log_density, k):
    """Indices of the rows with p(x) < epsilon and, when k > 0, their top k
    features (None otherwise): explained once, for the table and the records."""
    flagged = np.flatnonzero(log_density < detector.log_epsilon_)
    tops = top_features(detector, X[flagged], names, k) if k and flagged.size else None
    return flagged, tops


def shown_row(label, x, log_density, is_anomaly, top):
    """One row of the flagged table (`is_anomaly`, `top`: None when not shown)."""
    row = [label, *(f"{v:.4g}" for v in x), f"{log_density:.4g}"]
    if is_anomaly is not None:
        row.append("anomaly" if is_anomaly else "normal")
    if top is not None:
        row.append(describe_top(top))
    return row


def shown_table(names, rows, with_labels, with_tops):
    """Text table of flagged rows made by shown_row."""
    header = ["row", *names, "log p(x)"]
    if with_labels:
        header.append("label")
    if with_tops:
        header.append("top features (-log p above its value at the mean)")
    return format_table(header, rows)


def flagged_table(X, names, log_density, labels, flagged, tops, row_label):
    """Text table of the flagged rows, with their top features."""
    rows = [shown_row(row_label(i), X[i], log_density[i],
                       None if labels is None else labels[i],
                       None if tops is None else tops[position])
            for position, i in enumerate(flagged)]
    return shown_table(names, rows, labels is not None, tops is not None)


def record_fields(k, calibrated=False):
    return (["row", "log_density", "decision", "anomaly"] + (["p_value"] if calibrated else [])
            + (["top_features"] if k else []))


class FlaggedRows:
    """Rows met so far, the flagged ones among them, and the first `show`
    flagged rows as table rows."""

    def __init__(self, show):
        self.show, self.n_rows, self.count, self.rows = show, 0, 0, []

    def add(self, detector, chunk, scores, names, k, labels=None):
        """Count the chunk's flagged rows and keep those still to show; returns
        {row in chunk: top features} of its flagged rows (empty when k = 0)."""
        hits, tops = flagged_rows(detector, chunk.X, names, scores, k)
        top_of = dict(zip(hits.tolist(), tops)) if tops is not None else {}
        for i in hits[:max(0, self.show - len(self.rows))]:
            self.rows.append(shown_row(
                chunk.row_label(i), chunk.X[i], scores[i],
                None if labels is None else labels[chunk.start + i], top_of.get(i)))
        self.n_rows += chunk.X.shape[0]
        self.count += hits.size
        return top_of


def chunk_scores(detector, chunk, log_density):
    """The chunk's scores: computed, or read from every row's `log_density`."""
    if log_density is None:
        return detector.score_samples(chunk.X)
    return log_density[chunk.start:chunk.start + chunk.X.shape[0]]


def score_records(detector, rows, names, k, flagged, log_density=None, labels=None, *,
                   with_p_values=False):
    """One record per row of `rows` (scored here unless `log_density` holds
    every row's score), its conformal p-value (`with_p_values`, for a
    calibrated model), top features (k > 0) for the flagged ones, which
    `flagged` counts and shows."""
    for chunk in rows:
        scores = chunk_scores(detector, chunk, log_density)
        top_of = flagged.add(detector, chunk, scores, names, k, labels)
        p_values = detector.p_values(chunk.X) if with_p_values else None
        for i in range(chunk.X.shape[0]):
            record = {"row": chunk.start + i, "log_density": float(scores[i]),
                      "decision": float(scores[i] - detector.log_epsilon_),
                      "anomaly": int(scores[i] < detector.log_epsilon_)}
            if p_values is not None:
                record["p_value"] = float(p_values[i])
            if k:
                record["top_features"] = describe_top(top_of[i]) if i in top_of else ""
            yield record


def say_flagged(say, flagged, names, with_labels, with_tops):
    """The table of the first --show flagged rows, and how many more there are."""
    if not flagged.rows:
        return
    say(shown_table(names, flagged.rows, with_labels, with_tops))
    if flagged.count > len(flagged.rows):
        say(f"(the first {len(flagged.rows)} of {flagged.count} flagged rows; --show N shows "
            "more, --out FILE keeps every row's score)")
