"""Fit, tune and score ``.npy`` files larger than memory, block by block."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

from gaussext import _threshold
from gaussext._blocks import NpyFile, default_block_rows, progress_bar
from gaussext._files import atomic_path, refuse_overwriting_inputs
from gaussext._threshold import ThresholdResult
from gaussext._typing import Float64Array, Path
from gaussext._validation import check_finite, check_is_fitted, check_scalar

if TYPE_CHECKING:  # the estimator is only named in annotations here
    from gaussext._estimator import GaussianAnomalyDetector

__all__ = ["fit_file", "score_file", "tune_file"]


def _open_data(path, block_rows, name):
    """The 2-D .npy file at `path` and its block size, validated."""
    data = NpyFile(path, name=name)
    if len(data.shape) != 2:
        raise ValueError(f"{name} {str(data.path)!r} holds an array of shape {data.shape}; "
                         "a 2-D array (rows x features) is required")
    if data.n_rows == 0 or data.shape[1] == 0:
        raise ValueError(f"{name} {str(data.path)!r} is empty (shape {data.shape})")
    if block_rows is None:
        block_rows = default_block_rows(data.shape[1], data.dtype.itemsize)
    check_scalar(block_rows, "block_rows", kind=numbers.Integral, low=1)
    return data, int(block_rows)


def _scored_blocks(detector, data, block_rows, bar, name):
    """Yield (start, log-densities) of each block; a bad row is named by its
    place in the file, not in its block."""
    for start, rows in data.blocks(block_rows, bar):
        try:
            yield start, detector.score_samples(rows)
        except ValueError as exc:
            try:
                check_finite(rows, name=f"{name} {str(data.path)!r}", row_offset=start)
            except ValueError as located:
                raise located from exc
            raise ValueError(f"in rows {start} to {start + rows.shape[0] - 1} of {name} "
                             f"{str(data.path)!r}: {exc}") from exc


def fit_file(detector: GaussianAnomalyDetector, path: Path, *, block_rows: int | None = None,
             progress: bool | None = None) -> GaussianAnomalyDetector:
    """Fit `detector` on the rows of a ``.npy`` file, one block of rows at a time.

    Equivalent to ``detector.fit(np.load(path))`` (parameters within about
    1e-15 relative), with memory bounded by about two blocks and the row
    sample whatever the file's size.  Epsilon is the `contamination` quantile
    over every row of the file, from the bounded row sample the statistics
    keep (exact for files of at most its capacity of rows, 131072 for up to
    30 features; beyond, within about ``sqrt(q (1 - q) / capacity)`` in the
    flagged share, see :class:`~gaussext.GaussianStatistics`); use
    :func:`tune_file` for a threshold chosen on labelled data.  The model
    saved afterwards can continue with ``partial_fit``.

    Parameters
    ----------
    detector : GaussianAnomalyDetector
        Its parameters (covariance, ddof, ...) are used; it is fitted in place.
    path : str or path-like
        A C-ordered 2-D ``.npy`` file (float32 and float64 are read as they are).
    block_rows : int, optional
        Rows per block; by default about 16 MiB of the file.
    progress : bool or None, default=None
        A tqdm progress bar on stderr: None shows it when stderr is a terminal.

    Returns
    -------
    detector
    """
    data, block_rows = _open_data(path, block_rows, "X file")
    with progress_bar(data.n_rows, progress, "fit") as bar:
        return detector.fit(rows for _, rows in data.blocks(block_rows, bar))


def score_file(detector: GaussianAnomalyDetector, in_path: Path, out_path: Path, *,
               block_rows: int | None = None, progress: bool | None = None) -> Float64Array:
    """Write ``detector.score_samples`` of every row of a ``.npy`` file to another.

    The output, created with :func:`numpy.lib.format.open_memmap`, is a 1-D
    float64 ``.npy`` of log p(x), one per input row (8 bytes a row on disk),
    written block by block, so memory holds about one block of input and
    one of scores whatever the file's size.

    Parameters
    ----------
    detector : fitted GaussianAnomalyDetector
    in_path : str or path-like
        A C-ordered 2-D ``.npy`` file with the detector's number of features.
    out_path : str or path-like
        Where the scores go: replaced once every row is scored (a failure
        leaves it as it was); must not be the same file as `in_path`.
    block_rows : int, optional
        Rows per block; by default about 16 MiB of input.
    progress : bool or None, default=None
        A tqdm progress bar on stderr: None shows it when stderr is a terminal.

    Returns
    -------
    numpy.memmap of shape (n_rows,), float64
        The scores, opened read-only.
    """
    check_is_fitted(detector)
    data, block_rows = _open_data(in_path, block_rows, "input file")
    if data.shape[1] != detector.n_features_in_:
        raise ValueError(f"input file {str(data.path)!r} has {data.shape[1]} features, but the "
                         f"detector is expecting {detector.n_features_in_}")
    refuse_overwriting_inputs(out_path, [data.path], what="scores")
    # written beside out_path and moved over it only when every row is scored:
    # a failure leaves out_path as it was, never a full-length file of zeros
    with atomic_path(out_path) as temporary:
        header = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.float64,
                                           shape=(data.n_rows,))
        offset = header.offset
        del header  # unmapped: blocks are written through the file, never held mapped
        with (open(temporary, "r+b") as output,
              progress_bar(data.n_rows, progress, "score") as bar):
            for start, scores in _scored_blocks(detector, data, block_rows, bar, "input file"):
                output.seek(offset + start * 8)
                output.write(scores.tobytes())
    return np.load(out_path, mmap_mode="r")


def tune_file(detector: GaussianAnomalyDetector, X_path: Path, y_path: Path, *,
              block_rows: int | None = None, progress: bool | None = None) -> ThresholdResult:
    """Choose epsilon by the exact F1 scan on a labelled ``.npy`` validation set.

    The result equals ``detector.tune_threshold(np.load(X_path),
    np.load(y_path))`` bit for bit in epsilon, F1, precision, recall and the
    counts, with memory of O(block + number of anomalies): a first pass
    gathers the anomalies' scores; a second counts the normal points between
    consecutive anomaly scores (see :func:`gaussext.dask.select_threshold`,
    which does the same over a cluster).  The rows are therefore scored twice.
    The curves of the result hold one candidate per distinct anomalous score.

    Parameters
    ----------
    detector : fitted GaussianAnomalyDetector
        Its epsilon is updated, as :meth:`~GaussianAnomalyDetector.tune_threshold` does.
    X_path : str or path-like
        A C-ordered 2-D ``.npy`` file of validation rows.
    y_path : str or path-like
        A ``.npy`` file of as many 0/1 labels (1 = anomaly), shape (n,) or (n, 1).
    block_rows, progress
        As in :func:`score_file`.

    Returns
    -------
    ThresholdResult
    """
    check_is_fitted(detector)
    data, block_rows = _open_data(X_path, block_rows, "X file")
    labels = NpyFile(y_path, name="y file")
    if labels.n_rows != data.n_rows:
        raise ValueError(f"y file has {labels.n_rows} labels but X file has {data.n_rows} rows; "
                         "they must have the same length")

    def labelled_scores(bar):
        for start, scores in _scored_blocks(detector, data, block_rows, bar, "X file"):
            yield labels.rows(start, start + scores.shape[0]), scores

    with progress_bar(2 * data.n_rows, progress, "tune") as bar:
        distinct, multiplicity = _threshold.distinct_anomalous_scores(
            [_threshold.anomalous_scores(y, scores) for y, scores in labelled_scores(bar)],
            name="y file")
        counts = None
        for y, scores in labelled_scores(bar):
            part = _threshold.count_normals_by_interval(y, scores, distinct)
            counts = part if counts is None else _threshold.merge_interval_counts(counts, part)
    return detector.set_threshold(
        _threshold.threshold_from_interval_counts(distinct, multiplicity, *counts))
