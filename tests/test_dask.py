"""gaussext.dask on a real distributed.LocalCluster (worker processes on loopback):
fit, score, predict and the exact threshold against the in-memory results, on dask
arrays (also of unknown chunk sizes, with empty chunks) and DataFrames."""

import copy
import math
import re
import subprocess
import sys
import warnings

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster

import gaussext
import gaussext.dask as gdask
from gaussext import GaussianAnomalyDetector

KINDS = ("diagonal", "full")


@pytest.fixture(scope="module")
def client():
    """Two single-threaded worker processes, no dashboard, on 127.0.0.1."""
    with LocalCluster(processes=True, n_workers=2, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as connected:
        yield connected


def training_rows(n_rows=5_000, n_features=4, offset=1e6, seed=0):
    rng = np.random.default_rng(seed)
    mixing = np.eye(n_features) + rng.normal(size=(n_features, n_features)) / 3
    return rng.normal(size=(n_rows, n_features)) @ mixing + offset


def assert_fields_equal(result, expected):
    for field in ("epsilon", "log_epsilon", "f1", "precision", "recall", "true_positives",
                  "false_positives", "false_negatives", "true_negatives", "method"):
        assert getattr(result, field) == getattr(expected, field), field


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("chunks", [(700, 4), (1_000, 2), (5_000, 4)],
                         ids=["uneven-rows", "column-chunks", "one-chunk"])
def test_fit_equals_the_in_memory_fit(client, kind, chunks):
    X = training_rows()
    fitted = gdask.fit(da.from_array(X, chunks=chunks), covariance=kind, ddof=1)
    reference = GaussianAnomalyDetector(kind, ddof=1).fit(X)
    assert isinstance(fitted, GaussianAnomalyDetector) and fitted.covariance == kind
    assert fitted.statistics_.n_samples == X.shape[0]
    np.testing.assert_allclose(fitted.mean_, reference.mean_, rtol=1e-12)
    spread = fitted.var_ if kind == "diagonal" else fitted.covariance_
    expected = reference.var_ if kind == "diagonal" else reference.covariance_
    np.testing.assert_allclose(spread, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
    # epsilon: the contamination quantile over every row (the sample holds them all)
    assert fitted.log_epsilon_ == pytest.approx(
        np.quantile(reference.score_samples(X), 0.1), rel=1e-12)
    assert fitted.log_epsilon_ == pytest.approx(reference.log_epsilon_, rel=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_epsilon_beyond_the_sample_equals_a_chunked_fit_and_flags_the_contamination(
        client, kind):
    """More rows than the row sample keeps: the merged partitions' sample is
    the one a single chunked pass keeps, and it flags the contamination share
    of all rows, however the rows are partitioned."""
    rng = np.random.default_rng(11)
    X = rng.normal(size=(200_000, 3)) @ np.array([[1.0, 0.3, 0.0], [0, 1, 0.5], [0, 0, 2]])
    X = X[np.argsort(np.abs(X[:, 0]))]  # ordered: the last rows are the farthest out
    chunked = GaussianAnomalyDetector(kind).fit(iter(np.array_split(X, 7)))
    for chunks in (30_000, 77_777):
        fitted = gdask.fit(da.from_array(X, chunks=(chunks, 3)), covariance=kind)
        # the same sample rows; the parameters agree to rounding (another merge order)
        assert fitted.log_epsilon_ == pytest.approx(chunked.log_epsilon_, rel=1e-12)
        flagged = np.mean(fitted.score_samples(X) < fitted.log_epsilon_)
        assert abs(flagged - 0.1) <= 0.003


@pytest.mark.parametrize("kind", KINDS)
def test_scores_and_predictions_equal_in_memory_bit_for_bit(client, kind):
    X = training_rows(offset=0.0)
    detector = GaussianAnomalyDetector(kind).fit(X)
    X_new = training_rows(3_000, seed=1, offset=0.0) * 1.5
    dask_X = da.from_array(X_new, chunks=(800, 2))
    scores = gdask.score_samples(detector, dask_X)
    labels = gdask.predict(detector, dask_X)
    assert isinstance(scores, da.Array) and scores.chunks == ((800, 800, 800, 600),)
    np.testing.assert_array_equal(scores.compute(), detector.score_samples(X_new))
    predicted = labels.compute()
    assert predicted.dtype == np.int64 and set(np.unique(predicted)) == {-1, 1}
    np.testing.assert_array_equal(predicted, detector.predict(X_new))


@pytest.mark.parametrize("seed", range(4))
def test_select_threshold_equals_the_in_memory_scan_bit_for_bit(client, seed):
    """Rounded scores make ties within and across classes and partitions; some
    are -inf; the labels are chunked differently from the scores."""
    rng = np.random.default_rng(seed)
    n = 4_000
    y = (rng.random(n) < 0.03).astype(np.int64)
    scores = np.round(rng.normal(size=n) - 3.0 * y, 1)
    scores[rng.integers(0, n, 5)] = -np.inf
    result = gdask.select_threshold(da.from_array(y, chunks=900),
                                    da.from_array(scores, chunks=(1_000, 1_000, 1_500, 500)))
    expected = gaussext.select_threshold(y, scores)
    assert isinstance(result, gaussext.ThresholdResult)
    assert_fields_equal(result, expected)
    kept = np.isin(expected.thresholds, result.thresholds)
    np.testing.assert_array_equal(expected.f1_curve[kept], result.f1_curve)
    np.testing.assert_array_equal(expected.precision_curve[kept], result.precision_curve)


def test_fit_score_and_tune_end_to_end(client):
    """The README's pipeline: fit, score the validation set, tune, predict."""
    X = training_rows(offset=10.0)
    rng = np.random.default_rng(7)
    X_val = training_rows(2_000, seed=3, offset=10.0)
    y_val = (rng.random(2_000) < 0.05).astype(np.int64)
    X_val[y_val == 1] += 4.0
    detector = gdask.fit(da.from_array(X, chunks=1_000), covariance="full")
    val_scores = gdask.score_samples(detector, da.from_array(X_val, chunks=500)).persist()
    tuned = gdask.select_threshold(da.from_array(y_val, chunks=500), val_scores)
    expected = GaussianAnomalyDetector("full").fit(X)
    expected_tuned = expected.tune_threshold(X_val, y_val)
    assert tuned.f1 == expected_tuned.f1 and tuned.true_positives == expected_tuned.true_positives
    assert tuned.log_epsilon == pytest.approx(expected_tuned.log_epsilon, rel=1e-12)
    kept = gdask.tune_threshold(detector, da.from_array(X_val, chunks=700),
                                da.from_array(y_val, chunks=300))
    assert_fields_equal(kept, tuned)
    assert detector.threshold_ is kept and detector.log_epsilon_ == tuned.log_epsilon
    X_new = da.from_array(X_val, chunks=600)
    np.testing.assert_array_equal(gdask.predict(detector, X_new).compute(),
                                  np.where(val_scores.compute() < tuned.log_epsilon, -1, 1))


def test_dask_errors_name_what_is_wrong(client):
    X = da.from_array(training_rows(100), chunks=50)
    detector = gdask.fit(X)
    with pytest.raises(ValueError, match="Expected a 2-D array for X, got a 1-D array"):
        gdask.fit(da.ones(10, chunks=5))
    with pytest.raises(TypeError, match="X must hold numbers, got dtype <U1"):
        gdask.fit(da.from_array(np.array([["a"]])))
    with pytest.raises(ValueError, match="X holds no rows"):
        gdask.fit(da.ones((0, 3), chunks=5))
    with pytest.raises(ValueError, match="shrinkage='ledoit-wolf' cannot be used with "
                                         "gaussext.dask.fit"):
        gdask.fit(X, covariance="full", shrinkage="ledoit-wolf")
    with pytest.raises(ValueError, match="covariance must be one of"):
        gdask.fit(X, covariance="spherical")
    with pytest.raises(ValueError, match="X has 3 features, but GaussianAnomalyDetector is "
                                         "expecting 4 features as input"):
        gdask.score_samples(detector, X[:, :3])
    with pytest.raises(ValueError, match="not fitted yet"):
        gdask.predict(GaussianAnomalyDetector(), X)
    scores = da.from_array(np.arange(10.0), chunks=4)
    with pytest.raises(ValueError, match="y_true holds a single class: every label is 0"):
        gdask.select_threshold(da.zeros(10, chunks=3), scores)
    with pytest.raises(ValueError, match="y_true has 9 labels but there are 10 samples"):
        gdask.select_threshold(da.zeros(9, chunks=3), scores)
    with pytest.raises(ValueError, match="log_density must be 1-D"):
        gdask.select_threshold(da.zeros(10, chunks=3), da.ones((10, 2), chunks=3))
    bad = np.arange(10.0)
    bad[6] = np.nan
    with pytest.raises(ValueError, match="log_density contains 1 NaN or \\+inf value"):
        gdask.select_threshold(da.from_array(np.arange(10) % 2, chunks=3),
                               da.from_array(bad, chunks=4))


def test_import_without_dask_names_the_extra(tmp_path):
    blocked = ("import sys; sys.modules['dask'] = None; sys.modules['dask.array'] = None\n"
               "import gaussext.dask\n")
    completed = subprocess.run([sys.executable, "-c", blocked], capture_output=True,
                               text=True, cwd=tmp_path)
    assert completed.returncode != 0
    assert "pip install 'gaussext[dask]'" in completed.stderr


# -- DataFrames, unknown chunk sizes, empty partitions, global row numbers ----

def training_frame(n_rows=3_000, seed=0):
    """A pandas frame of named float64, int64 and float32 columns (the
    in-memory estimator's input), with a non-default index."""
    X = training_rows(n_rows, n_features=4, offset=0.0, seed=seed)
    frame = pd.DataFrame(X[:, :2], columns=["latency", "load"],
                         index=np.arange(n_rows) * 10 + 5)
    frame["errors"] = np.round(X[:, 2] * 3).astype(np.int64)
    frame["queue"] = X[:, 3].astype(np.float32)
    return frame


def assert_same_model(fitted, reference, rtol=1e-12):
    np.testing.assert_allclose(fitted.mean_, reference.mean_, rtol=rtol,
                               atol=rtol * np.abs(reference.mean_).max())
    spread = "var_" if fitted.covariance == "diagonal" else "covariance_"
    expected = getattr(reference, spread)
    np.testing.assert_allclose(getattr(fitted, spread), expected, rtol=rtol,
                               atol=rtol * np.abs(expected).max())


def warned_or_raised(call):
    """(warning messages, error type and message) of call(), to compare the
    in-memory estimator with gaussext.dask."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = call()
            if hasattr(result, "compute"):
                result.compute()
            error = None
        except (TypeError, ValueError) as exc:
            error = (type(exc), str(exc))
    return [(w.category, str(w.message)) for w in caught], error


@pytest.mark.parametrize("kind", KINDS)
def test_dataframe_fit_score_predict_equal_the_in_memory_estimator(client, kind):
    frame = training_frame()
    X = dd.from_pandas(frame, npartitions=4)
    fitted = gdask.fit(X, covariance=kind)
    reference = GaussianAnomalyDetector(kind).fit(frame)
    assert_same_model(fitted, reference)
    assert fitted.feature_names_in_.dtype == reference.feature_names_in_.dtype == object
    np.testing.assert_array_equal(fitted.feature_names_in_, reference.feature_names_in_)
    # epsilon: the contamination quantile over every row
    assert fitted.log_epsilon_ == pytest.approx(reference.log_epsilon_, rel=1e-12)
    new = training_frame(1_000, seed=1)
    dask_new = dd.from_pandas(new, npartitions=3)
    scores = gdask.score_samples(fitted, dask_new)
    labels = gdask.predict(fitted, dask_new)
    # a Series with the frame's index and partitions, so it lines up with it
    assert isinstance(scores, dd.Series) and scores.npartitions == dask_new.npartitions
    computed = scores.compute()
    pd.testing.assert_index_equal(computed.index, new.index)
    assert computed.dtype == np.float64
    np.testing.assert_array_equal(computed.to_numpy(), fitted.score_samples(new))
    np.testing.assert_allclose(computed.to_numpy(), reference.score_samples(new), rtol=1e-12)
    predicted = labels.compute()
    assert predicted.dtype == np.int64
    pd.testing.assert_index_equal(predicted.index, new.index)
    np.testing.assert_array_equal(predicted.to_numpy(), fitted.predict(new))
    joined = dask_new.assign(score=scores)[scores < fitted.log_epsilon_].compute()
    pd.testing.assert_frame_equal(
        joined, new.assign(score=fitted.score_samples(new))[fitted.predict(new) == -1])


def test_dataframe_tune_threshold_equals_the_in_memory_tuning(client):
    n_val = 2_000
    frame = training_frame(n_val, seed=5)
    rng = np.random.default_rng(3)
    y = pd.Series((rng.random(n_val) < 0.05).astype(np.int64), index=frame.index)
    frame.loc[y == 1, "latency"] += 4.0
    fitted = gdask.fit(dd.from_pandas(training_frame(), npartitions=3), covariance="full")
    in_memory = copy.deepcopy(fitted)
    expected = in_memory.tune_threshold(frame, y)
    result = gdask.tune_threshold(fitted, dd.from_pandas(frame, npartitions=5),
                                  dd.from_pandas(y, npartitions=2))
    assert_fields_equal(result, expected)
    assert fitted.log_epsilon_ == in_memory.log_epsilon_
    np.testing.assert_array_equal(
        gdask.predict(fitted, dd.from_pandas(frame, npartitions=5)).compute().to_numpy(),
        in_memory.predict(frame))


def test_dataframe_names_are_checked_as_in_memory(client):
    frame = training_frame(500)
    named = gdask.fit(dd.from_pandas(frame, npartitions=2))
    unnamed = gdask.fit(da.from_array(frame.to_numpy(), chunks=200))
    reordered = frame[["load", "latency", "errors", "queue"]]
    renamed = frame.rename(columns={"queue": "backlog"})
    cases = [
        (named, frame.to_numpy()),          # an array on a model fitted with names: warns
        (unnamed, frame),                   # names on a model fitted without: warns
        (named, reordered),                 # same names, other order: ValueError
        (named, renamed),                   # another name: ValueError
        (named, frame[["latency", "load", "errors"]]),  # a column missing: ValueError
        (named, frame),                     # nothing to say
    ]
    outcomes = []
    for detector, data in cases:
        dask_data = (dd.from_pandas(data, npartitions=2) if isinstance(data, pd.DataFrame)
                     else da.from_array(data, chunks=200))
        for method in ("score_samples", "predict"):
            expected = warned_or_raised(lambda: getattr(detector, method)(data))
            got = warned_or_raised(lambda: getattr(gdask, method)(detector, dask_data))
            assert got == expected, (method, list(getattr(data, "columns", [])))
        labels = np.arange(len(data)) % 2
        tuned = copy.deepcopy(detector)
        expected = warned_or_raised(lambda: tuned.tune_threshold(data, labels))
        got = warned_or_raised(lambda: gdask.tune_threshold(detector, dask_data,
                                                            da.from_array(labels)))
        assert got == expected
        outcomes.append(expected)
    # the cases do cover a warning each way, each kind of ValueError, and silence
    assert [len(w) for w, _ in outcomes] == [1, 1, 0, 0, 0, 0]
    assert [e is None for _, e in outcomes] == [True, True, False, False, False, True]
    # the warning points at the caller's line, not into gaussext
    with pytest.warns(UserWarning, match="X does not have valid feature names") as caught:
        gdask.score_samples(named, da.from_array(frame.to_numpy()))
    assert caught[0].filename == __file__


def test_dataframe_non_numeric_columns_are_named(client):
    frame = training_frame(200)
    for column, values in [("host", [f"h{i % 3}" for i in range(200)]),
                           ("when", pd.date_range("2026-01-01", periods=200, freq="min")),
                           ("zone", pd.Categorical(["a", "b"] * 100))]:
        X = dd.from_pandas(frame.assign(**{column: values}), npartitions=2)
        with pytest.raises(TypeError, match=f"X column '{column}' has dtype .*numeric columns"):
            gdask.fit(X)
    fitted = gdask.fit(dd.from_pandas(frame, npartitions=2))
    as_text = frame.assign(errors=frame["errors"].astype(str))
    with pytest.raises(TypeError, match="X column 'errors' has dtype"):
        gdask.score_samples(fitted, dd.from_pandas(as_text, npartitions=2))
    with pytest.raises(ValueError, match="Expected a 2-D array for X, got a dask Series"):
        gdask.fit(dd.from_pandas(frame["latency"], npartitions=2))
    # a constant column is named in the error as the in-memory fit names it
    constant = frame.assign(errors=3)
    with pytest.raises(ValueError) as in_memory:
        GaussianAnomalyDetector().fit(constant)
    with pytest.raises(ValueError, match="'errors'") as distributed:
        gdask.fit(dd.from_pandas(constant, npartitions=2))
    assert str(distributed.value) == str(in_memory.value)
    # pandas' nullable integers without missing values are numbers
    nullable = frame.astype({"errors": "Int64"})
    nullable_fit = gdask.fit(dd.from_pandas(nullable, npartitions=2))
    assert_same_model(nullable_fit, GaussianAnomalyDetector().fit(nullable))


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_chunk_sizes_and_empty_chunks(client, kind):
    """Boolean filtering leaves chunk sizes unknown (NaN); this filter also
    empties whole chunks (rows 1000-1999 and the last chunk)."""
    X = training_rows(4_000, offset=0.0, seed=2)
    keep = X[:, 0] > -0.5
    keep[1_000:2_000] = False
    keep[3_500:] = False
    dask_X = da.from_array(X, chunks=500)
    filtered = dask_X[da.from_array(keep, chunks=500)]
    assert all(math.isnan(rows) for rows in filtered.chunks[0])
    fitted = gdask.fit(filtered, covariance=kind)
    reference = GaussianAnomalyDetector(kind).fit(X[keep])
    assert fitted.statistics_.n_samples == keep.sum()
    assert_same_model(fitted, reference)
    # epsilon over every kept row
    assert fitted.log_epsilon_ == pytest.approx(reference.log_epsilon_, rel=1e-12)
    np.testing.assert_array_equal(gdask.score_samples(fitted, filtered).compute(),
                                  fitted.score_samples(X[keep]))
    np.testing.assert_array_equal(gdask.predict(fitted, filtered).compute(),
                                  fitted.predict(X[keep]))
    # labels filtered by the same mask: unknown chunks too, aligned by position
    y = (np.abs(X[:, 1]) > 2.0).astype(np.int64)
    dask_y = da.from_array(y, chunks=700)[da.from_array(keep, chunks=700)]
    expected = copy.deepcopy(fitted).tune_threshold(X[keep], y[keep])
    assert_fields_equal(gdask.tune_threshold(fitted, filtered, dask_y), expected)


def test_empty_dataframe_partitions(client):
    frame = training_frame(2_000)
    def kept(rows):                                    # empties partitions 2 and 3 of 5
        return rows[(rows.index < 5_000) | (rows.index > 16_000)]

    filtered = dd.from_pandas(frame, npartitions=5).map_partitions(kept)
    assert filtered.map_partitions(len).compute().tolist() == [400, 100, 0, 0, 400]
    rows = kept(frame)
    fitted = gdask.fit(filtered, covariance="full")
    assert_same_model(fitted, GaussianAnomalyDetector("full").fit(rows))
    np.testing.assert_array_equal(gdask.score_samples(fitted, filtered).compute().to_numpy(),
                                  fitted.score_samples(rows))
    y = (rows["load"].abs() > 1.5).astype(np.int64)
    dask_y = dd.from_pandas((frame["load"].abs() > 1.5).astype(np.int64),
                           npartitions=5).map_partitions(kept)
    expected = copy.deepcopy(fitted).tune_threshold(rows, y)
    assert_fields_equal(gdask.tune_threshold(fitted, filtered, dask_y), expected)


def test_errors_name_global_row_numbers(client):
    """A NaN is reported at its row counted from 0 over all chunks, also
    when the chunk sizes are unknown (after filtering) and for DataFrames."""
    X = training_rows(3_000, offset=0.0, seed=4)
    keep = X[:, 0] > -1.0
    filtered_rows = X[keep]
    bad_row = 1_234                         # in the filtered rows, well past the first chunk
    X[np.flatnonzero(keep)[bad_row], 2] = np.nan
    message = re.escape(f"the first at row {bad_row}, column 2")
    filtered = da.from_array(X, chunks=400)[da.from_array(keep, chunks=400)]
    with pytest.raises(ValueError, match=message):
        gdask.fit(filtered)
    fitted = GaussianAnomalyDetector().fit(filtered_rows)
    for method in (gdask.score_samples, gdask.predict):
        with pytest.raises(ValueError, match=message):
            method(fitted, filtered).compute()
    with pytest.raises(ValueError, match=message):
        gdask.tune_threshold(fitted, filtered, da.from_array(np.arange(keep.sum()) % 2))
    frame = dd.from_pandas(pd.DataFrame(X[keep], columns=list("abcd")), npartitions=4)
    with pytest.raises(ValueError, match=message):
        gdask.fit(frame)
    named = GaussianAnomalyDetector().fit(pd.DataFrame(filtered_rows, columns=list("abcd")))
    with pytest.raises(ValueError, match=message):
        gdask.score_samples(named, frame).compute()
    # pd.NA in a nullable column of the third partition (rows 1000-1499)
    nullable = pd.DataFrame({"a": pd.array(np.arange(2_000), dtype="Int64"),
                             "b": np.linspace(0.0, 1.0, 2_000)})
    nullable.loc[1_234, "a"] = pd.NA
    with pytest.raises(ValueError, match=re.escape("X holds pd.NA") + ".*"
                       + re.escape("(the first at row 1234, column 'a')")):
        gdask.fit(dd.from_pandas(nullable, npartitions=4))
    # a NaN score in the third part of the labelled set
    scores = np.arange(10.0)
    scores[6] = np.nan
    with pytest.raises(ValueError, match="NaN or \\+inf value\\(s\\); the first at index 6"):
        gdask.select_threshold(da.from_array(np.arange(10) % 2, chunks=3),
                               da.from_array(scores, chunks=3))
