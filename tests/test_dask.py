"""gaussext.dask on a real distributed.LocalCluster (worker processes on loopback):
fit, score, predict and the exact threshold against the in-memory results."""

import subprocess
import sys

import dask.array as da
import numpy as np
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
    # epsilon: the contamination quantile over the last chunk of rows
    last_rows = X[-(X.shape[0] % chunks[0] or chunks[0]):]
    assert fitted.log_epsilon_ == pytest.approx(
        np.quantile(reference.score_samples(last_rows), 0.1), rel=1e-12)


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
