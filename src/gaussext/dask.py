"""Fit, score and tune on Dask arrays: data beyond one machine's memory.

Needs the optional extra ``gaussext[dask]`` (``dask[array]`` and
``distributed``).  Every function builds a Dask graph and runs it on the
current scheduler: a ``distributed.Client`` when one is active (a
``LocalCluster`` on one machine, or ``Client("tcp://scheduler:8786")`` for a
cluster), Dask's threaded scheduler otherwise (the kernels release the GIL, so
threads use every core: give the detector ``n_jobs=1`` when a worker runs
several tasks at once, so that each task does not start a thread per core).

What crosses the network:

- :func:`fit`: one :class:`~gaussext.GaussianStatistics` per chunk of rows,
  O(d) numbers (diagonal) or O(d^2) (full), merged pairwise in a tree, plus
  the last chunk of rows, from which epsilon is taken;
- :func:`score_samples`, :func:`predict`: the fitted detector to each task
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

import numpy as np

from gaussext import _threshold
from gaussext._estimator import GaussianAnomalyDetector, check_params_for_statistics
from gaussext._statistics import GaussianStatistics
from gaussext._validation import check_array, check_finite, check_is_fitted, check_n_features

__all__ = ["fit", "predict", "score_samples", "select_threshold", "tune_threshold"]


def _as_row_chunks(X, name="X"):
    """X as a 2-D numeric dask array with all columns in one chunk.

    In-memory input gets the estimator's own validation; a dask array's
    dtype and shape are checked with the same messages, its values (NaN,
    infinity) by the kernels when the chunks are computed.
    """
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
    """X with every chunk's row count known.  Boolean indexing (``X[X[:, 0] > 0]``)
    leaves them unknown (NaN); they are computed here, which evaluates X's
    graph up to its chunks' lengths once."""
    if any(math.isnan(rows) for rows in X.chunks[0]):
        X = X.compute_chunk_sizes()
    return X


def _chunk_starts(X):
    """The global index of each row chunk's first row."""
    return np.cumsum((0, *X.chunks[0][:-1])).tolist()


def _located(call, chunk, start, name="X"):
    """call(chunk); a NaN or infinity in the chunk is reported at its row in
    the whole array (start + its row in the chunk), not in the chunk."""
    try:
        return call(chunk)
    except ValueError as exc:
        if start is not None and math.isfinite(start):
            try:
                check_finite(chunk, name=name, row_offset=int(start))
            except ValueError as located:
                raise located from exc
        raise


def _chunk_statistics(chunk, kind, n_jobs, start):
    return _located(lambda rows: GaussianStatistics(kind).update(rows, n_jobs=n_jobs),
                    chunk, start)


def _block_start(block_info):
    """The first row's global index of the block map_blocks passes (None when
    Dask does not know it)."""
    try:
        return block_info[0]["array-location"][0][0]
    except (TypeError, KeyError, IndexError):
        return None


def _score_block(chunk, method, block_info=None):
    return _located(method, chunk, _block_start(block_info))


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
    """Fit a GaussianAnomalyDetector on a Dask array, chunk by chunk.

    Each chunk of rows yields its :class:`~gaussext.GaussianStatistics` with
    the same compiled kernel as an in-memory fit; they are merged pairwise in
    a tree (Chan, Golub and LeVeque), so the parameters equal those of
    ``GaussianAnomalyDetector(covariance, **params).fit(X.compute())`` within
    about 1e-15 relative.

    Parameters
    ----------
    X : dask.array.Array or array-like of shape (n_samples, n_features)
        Chunked along rows; column chunks are joined (rechunked) first.
    covariance : {"diagonal", "full"}, default="diagonal"
    **params
        Other parameters of :class:`~gaussext.GaussianAnomalyDetector`.
        ``shrinkage="ledoit-wolf"`` is refused (it needs all the rows).

    Returns
    -------
    GaussianAnomalyDetector
        Fitted.  Epsilon is the `contamination` quantile of the log-densities
        of the last chunk of rows; choose it on labelled data with
        :func:`select_threshold` and ``score_samples`` for an exact F1 optimum.
    """
    detector = GaussianAnomalyDetector(covariance, **params)
    # before any work on the cluster
    check_params_for_statistics(detector, "gaussext.dask.fit")
    X = _with_known_rows(_as_row_chunks(X))
    if X.shape[0] == 0:
        raise ValueError("X holds no rows: at least 2 are needed to fit")
    chunk_stats = dask.delayed(_chunk_statistics)
    parts = [chunk_stats(chunk, covariance, detector.n_jobs, start)
             for chunk, start in zip(X.to_delayed().ravel(), _chunk_starts(X))]
    # the last non-empty chunk gives epsilon
    last = next(i for i in reversed(range(X.numblocks[0])) if X.chunks[0][i] > 0)
    statistics, threshold_rows = dask.compute(_tree_reduce(parts, _merge), X.blocks[last])
    return detector.fit_statistics(statistics, threshold_rows)


def _fitted_rows(detector, X):
    check_is_fitted(detector)
    X = _as_row_chunks(X)
    check_n_features(X, detector.n_features_in_, type(detector).__name__)
    return X


def score_samples(detector, X):
    """log p(x) of each row of a Dask array, as a lazy dask array.

    Parameters
    ----------
    detector : fitted GaussianAnomalyDetector
    X : dask.array.Array or array-like of shape (n_samples, n_features)

    Returns
    -------
    dask.array.Array of shape (n_samples,), float64
        Chunked like X's rows; equal bit for bit to ``detector.score_samples``
        on the same rows.
    """
    X = _fitted_rows(detector, X)
    return X.map_blocks(_score_block, detector.score_samples, drop_axis=1, dtype=np.float64,
                        meta=np.empty(0, dtype=np.float64))


def predict(detector, X):
    """+1 (normal) or -1 (anomaly) for each row of a Dask array, lazily.

    Returns
    -------
    dask.array.Array of shape (n_samples,), int64
    """
    X = _fitted_rows(detector, X)
    return X.map_blocks(_score_block, detector.predict, drop_axis=1, dtype=np.int64,
                        meta=np.empty(0, dtype=np.int64))


def _as_vector(values, name):
    if values is None:
        raise TypeError(f"{name} must be array-like, got None")
    values = da.asarray(values)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-D (or a single column), got shape {values.shape}")
    return values


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
    y_true : dask.array.Array or array-like of shape (n_samples,)
        1 for an anomaly, 0 for a normal point; both classes present.
    log_density : dask.array.Array or array-like of shape (n_samples,)
        log p(x), e.g. from :func:`score_samples`; -inf allowed, NaN and +inf not.

    Returns
    -------
    ThresholdResult
        Equal, bit for bit, to ``gaussext.select_threshold`` on the gathered
        arrays in epsilon, log_epsilon, f1, precision, recall and the counts;
        its curves hold one candidate per distinct anomalous score (the only
        candidates that can be best).
    """
    scores = _with_known_rows(_as_vector(log_density, "log_density"))
    labels = _with_known_rows(_as_vector(y_true, "y_true"))
    if labels.shape[0] != scores.shape[0]:
        raise ValueError(f"y_true has {labels.shape[0]} labels but there are "
                         f"{scores.shape[0]} samples; they must have the same length")
    if scores.shape[0] == 0:
        raise ValueError("log_density is empty")
    labels = labels.rechunk(scores.chunks)
    pairs = list(zip(labels.to_delayed().ravel(), scores.to_delayed().ravel()))
    distinct, multiplicity = _threshold.distinct_anomalous_scores(
        dask.compute(*[dask.delayed(_threshold.anomalous_scores)(y, s) for y, s in pairs]),
        name="y_true")
    parts = [dask.delayed(_threshold.count_normals_by_interval)(y, s, distinct)
             for y, s in pairs]
    counts, smallest = _tree_reduce(parts, _threshold.merge_interval_counts).compute()
    return _threshold.threshold_from_interval_counts(distinct, multiplicity, counts, smallest)


def tune_threshold(detector, X_val, y_val):
    """Choose the detector's epsilon by the exact F1 scan on a distributed
    labelled set, and keep it, as ``detector.tune_threshold`` does in memory.

    The validation scores are persisted on the workers for the two passes of
    :func:`select_threshold`.

    Returns
    -------
    ThresholdResult
        Also stored as ``detector.threshold_``; ``epsilon_``, ``log_epsilon_``
        and ``offset_`` are updated.
    """
    scores = score_samples(detector, X_val).persist()
    return detector.set_threshold(select_threshold(y_val, scores))
