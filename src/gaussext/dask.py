"""Fit, score and tune on Dask arrays and DataFrames: data beyond one machine's memory.

Needs the optional extra ``gaussext[dask]`` (``dask[array]``,
``dask[dataframe]`` and ``distributed``); arrays alone need only
``dask[array]``, and ``dask.dataframe`` is never imported here (a DataFrame is
recognised only when its module is already loaded).  Every function builds a
Dask graph and runs it on the current scheduler: a ``distributed.Client`` when
one is active (a ``LocalCluster`` on one machine, or
``Client("tcp://scheduler:8786")`` for a cluster), Dask's threaded scheduler
otherwise (the kernels release the GIL, so threads use every core: give the
detector ``n_jobs=1`` when a worker runs several tasks at once, so that each
task does not start a thread per core).

Rows are numbered from 0 over the whole collection, and every error about a
row (a NaN, an infinity) names that global number.  For this, and so that
each chunk's task knows the global index of its first row, the functions need
each chunk's (partition's) row count.  A dask array usually knows them; one
after boolean indexing (``X[X[:, 0] > 0]``, chunks of size NaN) does not, nor
does a DataFrame: they are then counted first (``compute_chunk_sizes``,
``map_partitions(len)``), which evaluates X's graph once more.  That is free
for a persisted X and costs one extra read otherwise: persist X first when it
is costly to compute and is used more than once.

What crosses the network:

- :func:`fit`: one :class:`~gaussext.GaussianStatistics` per chunk of rows,
  O(d) numbers (diagonal) or O(d^2) (full) and a bounded row sample (at
  most 32 MiB, see :class:`~gaussext.GaussianStatistics`), merged pairwise
  in a tree; epsilon is taken from the merged sample;
- :func:`score_samples`, :func:`predict`: the fitted model to each task
  (O(d^2)), scores back only when computed;
- :func:`select_threshold`: the anomalies' scores (few) to the client and
  back to every partition, then O(#anomalies) counts from every partition.
"""

try:
    import dask
    import dask.array as da
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "gaussext.dask needs the optional dependencies dask[array] and distributed; "
        "install them with: pip install 'gaussext[dask]'"
    ) from exc

import math
import re
import sys
from typing import NamedTuple

import numpy as np

from gaussext import _threshold
from gaussext._estimator import (
    GaussianAnomalyDetector,
    ModelSnapshot,
    check_params_for_statistics,
)
from gaussext._feature_names import check_feature_names, feature_names_of
from gaussext._statistics import GaussianStatistics
from gaussext._validation import check_array, check_finite, check_is_fitted, check_n_features

__all__ = ["fit", "predict", "score_samples", "select_threshold", "tune_threshold"]


# -- input: dask arrays and DataFrames as chunks of rows with known lengths --


def _dask_dataframe():
    """The dask.dataframe module when it is loaded (a DataFrame can only
    exist then), else None: array users never import it."""
    return sys.modules.get("dask.dataframe")


def _is_frame(X):
    dd = _dask_dataframe()
    return dd is not None and isinstance(X, dd.DataFrame)


def _is_series(X):
    dd = _dask_dataframe()
    return dd is not None and isinstance(X, dd.Series)


class _Rows(NamedTuple):
    """Validated input of known chunk lengths.

    Attributes
    ----------
    blocks : list of Delayed
        One per chunk of rows (a 2-D ndarray for an array, a pandas
        DataFrame for a DataFrame), in order.
    starts : list of int
        The global index of each chunk's first row.
    lengths : tuple of int
        Each chunk's number of rows.
    n_features : int
    feature_names : ndarray of str or None
        A DataFrame's column names when they are all strings (as the
        in-memory estimator keeps a pandas frame's), else None.
    array : dask.array.Array or None
        The input as a dask array (None for a DataFrame).
    frame : dask.dataframe.DataFrame or None
        The input when it is a DataFrame.
    """

    blocks: list
    starts: list
    lengths: tuple
    n_features: int
    feature_names: object
    array: object
    frame: object

    @property
    def n_samples(self):
        return sum(self.lengths)


def _check_numeric_columns(frame, name):
    """Refuse a DataFrame column of another kind than bool, integer or float
    (strings, categories, dates, objects, complex), naming it."""
    import pandas as pd

    for column, dtype in frame.dtypes.items():
        numeric = pd.api.types.is_bool_dtype(dtype) or (
            pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype))
        if not numeric:
            raise TypeError(
                f"{name} column {column!r} has dtype {dtype}; gaussext needs numeric "
                "columns (bool, integer or float): encode or drop it (e.g. "
                f"{name}.drop(columns=[{column!r}])) or convert it with "
                f"{name}.astype({{{column!r}: float}})"
            )


def _as_row_chunks(X, name="X"):
    """X as a 2-D numeric dask array with all columns in one chunk.

    In-memory input gets the estimator's own validation; a dask array's
    dtype and shape are checked with the same messages, its values (NaN,
    infinity) by the kernels when the chunks are computed.
    """
    if _is_series(X):
        raise ValueError(f"Expected a 2-D array for {name}, got a dask Series (1-D); "
                         f"pass a DataFrame, e.g. {name}.to_frame()")
    if not isinstance(X, da.Array):
        X = da.from_array(check_array(X, name=name, ensure_finite=False))
    kind = X.dtype.kind
    if kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {X.dtype}")
    if kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got dtype {X.dtype}; "
                        "convert it to a numeric array first")
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D array for {name}, got a {X.ndim}-D array of "
                         f"shape {X.shape}")
    if X.shape[1] == 0:
        raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a minimum "
                         "of 1 is required.")
    if X.numblocks[1] != 1:
        # the kernels need whole rows: gather each row's columns into one chunk
        X = X.rechunk({1: -1})
    return X


def _with_known_rows(X):
    """Dask array X with every chunk's row count known.  Boolean indexing
    (``X[X[:, 0] > 0]``) leaves them unknown (NaN); they are computed here,
    which evaluates X's graph up to its chunks' lengths once."""
    if any(math.isnan(rows) for rows in X.chunks[0]):
        X = X.compute_chunk_sizes()
    return X


def _starts(lengths):
    """The global index of each chunk's first row."""
    return np.cumsum((0, *lengths[:-1])).astype(int).tolist()


def _rows(X, name="X", estimator=None):
    """X (dask array or DataFrame, or in-memory array-like) as _Rows.

    With a fitted `estimator`, X's number of columns is checked against its
    ``n_features_in_`` before any chunk length is counted."""
    if _is_frame(X):
        _check_numeric_columns(X, name)
        n_features = len(X.columns)
        if n_features == 0:
            raise ValueError(f"Found a DataFrame with 0 columns as {name}, while a minimum "
                             "of 1 is required.")
        if estimator is not None:
            check_n_features(np.empty((0, n_features)), estimator.n_features_in_,
                             type(estimator).__name__)
        lengths = tuple(int(rows) for rows in X.map_partitions(len).compute())
        return _Rows(list(X.to_delayed()), _starts(lengths), lengths, n_features,
                     feature_names_of(X), None, X)
    array = _as_row_chunks(X, name)
    if estimator is not None:
        check_n_features(array, estimator.n_features_in_, type(estimator).__name__)
    array = _with_known_rows(array)
    lengths = tuple(int(rows) for rows in array.chunks[0])
    return _Rows(list(array.to_delayed().ravel()), _starts(lengths), lengths,
                 array.shape[1], None, array, None)


def _numeric_block(block, start, name="X"):
    """A chunk (ndarray, or a DataFrame's partition) as the float32/float64
    array the kernels take, validated as the in-memory estimator validates X;
    a missing value (pd.NA) of a partition is reported at its global row
    (`start`: the chunk's first row in the whole input)."""
    try:
        return check_array(block, name=name, min_samples=0, ensure_finite=False)
    except ValueError as exc:
        missing = block.isna().to_numpy() if hasattr(block, "isna") else None
        if missing is None or not missing.any():
            raise
        row, column = np.unravel_index(int(np.argmax(missing)), missing.shape)
        raise ValueError(f"{exc} (the first at row {int(start) + int(row)}, column "
                         f"{block.columns[column]!r})") from exc


def _located(call, rows, start, name="X"):
    """call(rows); a NaN or infinity in the chunk `rows` is reported at its
    row in the whole input (start + its row in the chunk), not in the chunk."""
    try:
        return call(rows)
    except ValueError as exc:
        try:
            check_finite(rows, name=name, row_offset=int(start))
        except ValueError as located:
            raise located from exc
        raise


# -- fit ---------------------------------------------------------------------


def _chunk_statistics(block, kind, n_features, half_life, n_jobs, start):
    """The statistics of one chunk of rows, whose first row is row `start` of
    the whole input, with their row sample drawn by global row number (so the
    merged sample is the one a single pass over X keeps)."""
    rows = _numeric_block(block, start)
    statistics = GaussianStatistics(kind, n_features, half_life=half_life, sample=True)
    if rows.shape[0] == 0:
        return statistics  # the identity of merge
    return _located(
        lambda chunk: statistics.update(chunk, first_row=start, n_jobs=n_jobs), rows, start)


def _merge(left, right):
    return left.merge(right)


def _tree_reduce(parts, merge):
    """One delayed result merging delayed `parts` in order, pairwise in a
    balanced tree of depth log2(len(parts))."""
    merge = dask.delayed(merge)
    while len(parts) > 1:
        paired = [merge(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
        parts = paired + ([parts[-1]] if len(parts) % 2 else [])
    return parts[0]


def fit(X, covariance="diagonal", **params):
    """Fit a GaussianAnomalyDetector on a Dask array or DataFrame, chunk by chunk.

    Each chunk of rows yields its :class:`~gaussext.GaussianStatistics` with
    the same compiled kernel as an in-memory fit; they are merged pairwise in
    a tree (Chan, Golub and LeVeque), so the parameters equal those of
    ``GaussianAnomalyDetector(covariance, **params).fit(X.compute())`` within
    about 1e-15 relative.

    Parameters
    ----------
    X : dask array, dask DataFrame or array-like of shape (n_samples, n_features)
        Chunked along rows; column chunks are joined (rechunked) first.
        Chunks of unknown size (after boolean indexing) and empty chunks or
        partitions are accepted; unknown sizes are counted first (one extra
        evaluation of X's graph, see the module's notes).  A DataFrame's
        columns must be numeric (bool, integer, float, pandas' nullable
        types without missing values); its string column names become
        ``feature_names_in_`` as in an in-memory fit on a pandas DataFrame.
    covariance : {"diagonal", "full"}, default="diagonal"
        The model, as in :class:`~gaussext.GaussianAnomalyDetector`.
    **params
        Other parameters of :class:`~gaussext.GaussianAnomalyDetector`.
        ``shrinkage="ledoit-wolf"`` and ``robust=True`` are refused (they
        need all the rows at once).

    Returns
    -------
    GaussianAnomalyDetector
        Fitted.  Epsilon is the `contamination` quantile of the training
        rows' log-densities, taken over the merged row sample of every chunk
        (see :class:`~gaussext.GaussianStatistics`): the epsilon a chunked
        in-memory fit of the same rows gets, whatever the partitioning.  The
        detector keeps the merged statistics, so it can go on with
        ``partial_fit`` or be saved and resumed.  Choose epsilon on labelled
        data with :func:`tune_threshold` for an exact F1 optimum.

    Raises
    ------
    ValueError
        For the in-memory fit's reasons; a NaN or infinity is reported at its
        row over the whole of X, counting from 0.
    TypeError
        For a non-numeric array or DataFrame column (named).
    """
    detector = GaussianAnomalyDetector(covariance, **params)
    # before any work on the cluster
    check_params_for_statistics(detector, "gaussext.dask.fit")
    rows = _rows(X)
    if rows.n_samples == 0:
        raise ValueError("X holds no rows: at least 2 are needed to fit")
    chunk_statistics = dask.delayed(_chunk_statistics, pure=True)
    # Each chunk's task knows the global index of its first row (`start`): a
    # NaN is reported at its global row, and the row sample kept with the
    # statistics is drawn by global row.
    half_life = None if detector.half_life is None else float(detector.half_life)
    parts = [chunk_statistics(block, covariance, rows.n_features, half_life, detector.n_jobs,
                              start)
             for block, start in zip(rows.blocks, rows.starts)]
    # merged in row order (forgetting needs it), epsilon from the merged sample
    statistics = dask.compute(_tree_reduce(parts, _merge))[0]
    return detector.fit_statistics(statistics, feature_names=rows.feature_names)


# -- scoring -----------------------------------------------------------------


_OUTPUTS = {"score_samples": np.float64, "predict": np.int64}


def _score_array_block(block, method, dtype, block_info=None):
    """map_blocks' task: `method` on one chunk of a dask array (known chunks)."""
    start = block_info[0]["array-location"][0][0]
    rows = _numeric_block(block, start)
    if rows.shape[0] == 0:
        return np.empty(0, dtype=dtype)
    return _located(method, rows, start)


def _score_partition(partition, method, dtype, starts, partition_info=None):
    """map_partitions' task: `method` on one partition of a DataFrame, as a
    pandas Series with the partition's index."""
    import pandas as pd

    start = starts[partition_info["number"]]
    rows = _numeric_block(partition, start)
    if rows.shape[0] == 0:
        values = np.empty(0, dtype=dtype)
    else:
        values = _located(method, rows, start)
    return pd.Series(values, index=partition.index, dtype=dtype)


def _scored(detector, X, what, stacklevel):
    """The lazy output of `what` ("score_samples" or "predict") on X: a dask
    array for an array, a dask Series for a DataFrame.  Feature names are
    checked here, on the client, as the in-memory estimator checks them."""
    check_is_fitted(detector)
    model = ModelSnapshot(detector)
    check_feature_names(X, model.feature_names, type(detector).__name__,
                        stacklevel=stacklevel + 1)
    rows = _rows(X, estimator=detector)
    dtype = _OUTPUTS[what]
    method = getattr(model, what)
    if rows.frame is not None:
        import pandas as pd

        return rows.frame.map_partitions(
            _score_partition, method, dtype, dask.delayed(tuple(rows.starts), pure=True),
            meta=pd.Series(np.empty(0, dtype=dtype), index=rows.frame._meta.index),
            enforce_metadata=False)
    return rows.array.map_blocks(_score_array_block, method, dtype, drop_axis=1,
                                 dtype=dtype, meta=np.empty(0, dtype=dtype))


def score_samples(detector, X):
    """log p(x) of each row of a Dask array or DataFrame, lazily.

    Parameters
    ----------
    detector : fitted GaussianAnomalyDetector
        Its model at this call is the one scored (a later fit does not
        change the returned collection).
    X : dask array, dask DataFrame or array-like of shape (n_samples, n_features)
        Chunks of unknown size and empty chunks are accepted (unknown sizes
        are counted first, see the module's notes).  Feature names are
        checked as ``detector.score_samples`` checks them: a ``UserWarning``
        for an array on a model fitted on named columns or the reverse, a
        ``ValueError`` for columns other than, or ordered unlike,
        ``feature_names_in_``.

    Returns
    -------
    dask.array.Array of shape (n_samples,) or dask.dataframe.Series, float64
        For an array, a dask array chunked like X's rows.  For a DataFrame, a
        dask Series with X's index and partitions, so that it lines up with X
        (``X.assign(score=scores)``, ``X[scores < t]``) as a bare array of
        unknown chunk sizes would not.  Its values (``.to_numpy()``) equal,
        bit for bit, ``detector.score_samples`` on the same rows.

    Raises
    ------
    ValueError
        When computed, for a NaN or infinity, named by its global row.
    """
    return _scored(detector, X, "score_samples", stacklevel=2)


def predict(detector, X):
    """+1 (normal) or -1 (anomaly) for each row of a Dask array or DataFrame, lazily.

    Parameters
    ----------
    detector : fitted GaussianAnomalyDetector
    X : dask array, dask DataFrame or array-like of shape (n_samples, n_features)
        As in :func:`score_samples`.

    Returns
    -------
    dask.array.Array of shape (n_samples,) or dask.dataframe.Series, int64
        A dask array for an array, a dask Series with X's index and
        partitions for a DataFrame; equal to ``detector.predict`` on the
        same rows.
    """
    return _scored(detector, X, "predict", stacklevel=2)


# -- thresholds --------------------------------------------------------------


def _as_vector(values, name):
    """`values` as a 1-D dask array with known chunk sizes."""
    if values is None:
        raise TypeError(f"{name} must be array-like, got None")
    if _is_series(values) or _is_frame(values):
        values = values.to_dask_array(lengths=True)
    elif not isinstance(values, da.Array):
        values = np.asarray(values)
    values = da.asarray(values)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-D (or a single column), got shape {values.shape}")
    return _with_known_rows(values)


_INDEX = re.compile(r"at index (\d+)")


def _part_located(call, start, *args):
    """call(*args) on one part of a labelled set; an error naming an index in
    the part names it in the whole set (start + that index)."""
    try:
        return call(*args)
    except ValueError as exc:
        message = _INDEX.sub(lambda found: f"at index {int(found[1]) + start}", str(exc))
        if message == str(exc):
            raise
        raise ValueError(message) from exc


def select_threshold(y_true, log_density):
    """The exact F1 threshold over a distributed labelled set, without a global sort.

    Two passes over the partitions: the first gathers the anomalies' scores
    (few) on the client; the second lets every partition count its normal
    scores in each interval between consecutive distinct anomaly scores
    (searchsorted + bincount) and report the smallest of each; the counts are
    summed and scanned with the same kernel as :func:`gaussext.select_threshold`.
    Persist `log_density` first if computing it twice is costly.

    Parameters
    ----------
    y_true : dask.array.Array, dask Series or array-like of shape (n_samples,)
        1 for an anomaly, 0 for a normal point; both classes present.  Its
        chunks need not match those of `log_density`, and may be of unknown
        size (counted first); the labels are paired with the scores by
        position.
    log_density : dask.array.Array, dask Series or array-like of shape (n_samples,)
        log p(x), e.g. from :func:`score_samples`; -inf allowed, NaN and +inf
        not (an error names the first one's index in the whole set).

    Returns
    -------
    ThresholdResult
        Equal, bit for bit, to ``gaussext.select_threshold`` on the gathered
        arrays in epsilon, log_epsilon, f1, precision, recall and the counts;
        its curves hold one candidate per distinct anomalous score (the only
        candidates that can be best).
    """
    scores = _as_vector(log_density, "log_density")
    labels = _as_vector(y_true, "y_true")
    if labels.shape[0] != scores.shape[0]:
        raise ValueError(f"y_true has {labels.shape[0]} labels but there are "
                         f"{scores.shape[0]} samples; they must have the same length")
    if scores.shape[0] == 0:
        raise ValueError("log_density is empty")
    labels = labels.rechunk(scores.chunks)
    located = dask.delayed(_part_located, pure=True)
    parts = list(zip(labels.to_delayed().ravel(), scores.to_delayed().ravel(),
                     _starts(scores.chunks[0])))
    distinct, multiplicity = _threshold.distinct_anomalous_scores(
        dask.compute(*[located(_threshold.anomalous_scores, start, y, s)
                       for y, s, start in parts]),
        name="y_true")
    counts = [dask.delayed(_threshold.count_normals_by_interval)(y, s, distinct)
              for y, s, _ in parts]
    counts, smallest = _tree_reduce(counts, _threshold.merge_interval_counts).compute()
    return _threshold.threshold_from_interval_counts(distinct, multiplicity, counts, smallest)


def tune_threshold(detector, X_val, y_val):
    """Choose the detector's epsilon by the exact F1 scan on a distributed
    labelled set, and keep it, as ``detector.tune_threshold`` does in memory.

    The validation scores are persisted on the workers for the two passes of
    :func:`select_threshold`.

    Parameters
    ----------
    detector : fitted GaussianAnomalyDetector
    X_val : dask array, dask DataFrame or array-like of shape (n_samples, n_features)
        As in :func:`score_samples` (the same feature-name checks and warnings).
    y_val : dask.array.Array, dask Series or array-like of shape (n_samples,)
        0/1 labels in the rows' order, chunked in any way (sizes may be unknown).

    Returns
    -------
    ThresholdResult
        Also stored as ``detector.threshold_``; ``epsilon_``, ``log_epsilon_``
        and ``offset_`` are updated.
    """
    scores = _scored(detector, X_val, "score_samples", stacklevel=2).persist()
    return detector.set_threshold(select_threshold(y_val, scores))
