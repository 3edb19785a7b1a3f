"""Streaming fits: GaussianStatistics, partial_fit, and fit over chunks and memory maps.

Every split of the rows into chunks must give the parameters of one fit on
their concatenation within 1e-12 relative, also with the data at a 1e6 offset.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaussext import ConditioningWarning, GaussianAnomalyDetector, GaussianStatistics, oracle

N_ROWS, N_FEATURES = 60, 3
KINDS = ("diagonal", "full")
# Early partial fits of the full model see few samples per feature and warn so.
few_samples = pytest.mark.filterwarnings("ignore::gaussext.ConditioningWarning")


def correlated_rows(offset=0.0, n_rows=N_ROWS, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    mixing = np.eye(N_FEATURES) + rng.normal(size=(N_FEATURES, N_FEATURES)) / 2
    return (rng.normal(size=(n_rows, N_FEATURES)) @ mixing + offset + np.arange(N_FEATURES)
            ).astype(dtype)


def assert_same_gaussian(fitted, reference, rtol=1e-12):
    """Means and (co)variances equal within rtol; entries that can be near 0
    (means, off-diagonal covariances) within rtol of the data's spread."""
    spread = np.sqrt(reference.statistics_.variance().max())
    np.testing.assert_allclose(fitted.mean_, reference.mean_, rtol=rtol, atol=rtol * spread)
    if reference.covariance == "diagonal":
        np.testing.assert_allclose(fitted.var_, reference.var_, rtol=rtol, atol=0)
    else:
        scale = np.abs(np.diagonal(reference.covariance_)).max()
        np.testing.assert_allclose(fitted.covariance_, reference.covariance_, rtol=rtol,
                                   atol=rtol * scale)
        np.testing.assert_allclose(np.diagonal(fitted.covariance_),
                                   np.diagonal(reference.covariance_), rtol=rtol, atol=0)


def chunks_at(X, split_points):
    return np.split(X, sorted(set(split_points)))


@few_samples
@settings(max_examples=60, deadline=None)
@given(split_points=st.lists(st.integers(0, N_ROWS), max_size=N_ROWS),
       kind=st.sampled_from(KINDS), offset=st.sampled_from([0.0, 1e6]))
def test_partial_fit_over_any_split_equals_fit(split_points, kind, offset):
    """partial_fit over chunks cut at arbitrary points (empty and one-row chunks
    included) gives fit's parameters on the concatenation."""
    X = correlated_rows(offset)
    streamed = GaussianAnomalyDetector(kind)
    for chunk in chunks_at(X, split_points):
        streamed.partial_fit(chunk)
    assert streamed.statistics_.n_samples == N_ROWS
    assert_same_gaussian(streamed, GaussianAnomalyDetector(kind).fit(X))


@few_samples
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("offset", [0.0, 1e6])
def test_one_row_chunks_equal_fit_and_the_oracle(kind, offset):
    X = correlated_rows(offset)
    streamed = GaussianAnomalyDetector(kind, ddof=1)
    for row in X:
        streamed.partial_fit(row[None, :])
    assert_same_gaussian(streamed, GaussianAnomalyDetector(kind, ddof=1).fit(X))
    if kind == "diagonal":
        expected_mean, expected_var = oracle.mean_and_variance(X, ddof=1)
        np.testing.assert_allclose(streamed.var_, expected_var, rtol=1e-12)
    else:
        expected_mean, _ = oracle.covariance(X, ddof=1)
    np.testing.assert_allclose(streamed.mean_, expected_mean, rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(cut=st.integers(0, N_ROWS), kind=st.sampled_from(KINDS),
       offset=st.sampled_from([0.0, 1e6]))
def test_two_halves_fitted_apart_merge_into_one_fit(cut, kind, offset):
    X = correlated_rows(offset)
    left = GaussianStatistics(kind).update(X[:cut])
    right = GaussianStatistics(kind).update(X[cut:])
    whole = GaussianStatistics(kind).update(X)
    for merged in (left.merge(right), right.merge(left)):
        assert merged.n_samples == N_ROWS
        scale = np.abs(whole.variance()).max()
        np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-12, atol=1e-12 * scale)
        np.testing.assert_allclose(merged.covariance(), whole.covariance(), rtol=1e-12,
                                   atol=1e-12 * scale)
    # the operands are left as they were
    assert left.n_samples == cut and right.n_samples == N_ROWS - cut


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(1, N_ROWS - 1), min_size=2, max_size=2, unique=True),
       kind=st.sampled_from(KINDS))
def test_merge_is_associative(cuts, kind):
    first, second = sorted(cuts)
    X = correlated_rows(1e6)
    a, b, c = (GaussianStatistics(kind).update(part)
               for part in np.split(X, [first, second]))
    left_first = a.merge(b).merge(c)
    right_first = a.merge(b.merge(c))
    np.testing.assert_allclose(left_first.mean, right_first.mean, rtol=1e-12, atol=0)  # ~1e6
    np.testing.assert_allclose(left_first.scatter, right_first.scatter, rtol=1e-12,
                               atol=1e-12 * np.abs(left_first.variance()).max() * N_ROWS)


@pytest.mark.parametrize("kind", KINDS)
def test_statistics_accessors_match_numpy(kind):
    X = correlated_rows()
    statistics = GaussianStatistics(kind).update(X[:25]).merge(
        GaussianStatistics(kind).update(X[25:]))
    np.testing.assert_allclose(statistics.variance(ddof=1), X.var(axis=0, ddof=1), rtol=1e-12)
    expected = np.cov(X, rowvar=False, ddof=0)
    if kind == "diagonal":
        expected = np.diag(np.diagonal(expected))
        assert statistics.scatter.shape == (N_FEATURES,)
    else:
        np.testing.assert_array_equal(statistics.scatter, statistics.scatter.T)
    np.testing.assert_allclose(statistics.covariance(), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", KINDS)
def test_empty_statistics_are_the_identity_of_merge(kind):
    X = correlated_rows()
    full = GaussianStatistics(kind).update(X)
    for empty in (GaussianStatistics(kind), GaussianStatistics(kind, N_FEATURES),
                  GaussianStatistics(kind).update(np.empty((0, N_FEATURES)))):
        for merged in (full.merge(empty), empty.merge(full)):
            assert merged.n_samples == N_ROWS
            np.testing.assert_array_equal(merged.mean, full.mean)
            np.testing.assert_array_equal(merged.scatter, full.scatter)
    assert GaussianStatistics(kind).merge(GaussianStatistics(kind)).n_samples == 0


def test_statistics_errors_name_what_is_wrong():
    three = GaussianStatistics("full").update(np.ones((2, 3)))
    with pytest.raises(ValueError, match="X has 2 features, but these GaussianStatistics have 3"):
        three.update(np.ones((4, 2)))
    with pytest.raises(ValueError, match="has 2 features, but these GaussianStatistics have 3"):
        three.merge(GaussianStatistics("full").update(np.ones((2, 2))))
    with pytest.raises(ValueError, match="kind 'diagonal' with GaussianStatistics of kind 'full'"):
        three.merge(GaussianStatistics("diagonal").update(np.ones((2, 3))))
    with pytest.raises(ValueError, match=r"kind must be one of \('diagonal', 'full'\), got 'ful'"):
        GaussianStatistics("ful")
    with pytest.raises(TypeError, match="merge needs another GaussianStatistics, got ndarray"):
        three.merge(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"of 0 row\(s\) define no mean; at least 1"):
        GaussianStatistics().mean
    with pytest.raises(ValueError, match=r"of 2 row\(s\) define no variance with ddof=2"):
        three.variance(ddof=2)
    with pytest.raises(TypeError, match="n_jobs must be None or an integer, got 1.5"):
        three.update(np.ones((2, 3)), n_jobs=1.5)
    with pytest.raises(ValueError, match="Expected a 2-D array for X, got a 1-D array"):
        three.update(np.ones(3))


def test_a_chunk_with_nan_is_refused_and_changes_nothing():
    statistics = GaussianStatistics("diagonal").update(correlated_rows())
    mean, scatter = statistics.mean, statistics.scatter
    bad = correlated_rows(seed=1)[:5]
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="the first at row 3, column 1"):
        statistics.update(bad)
    assert statistics.n_samples == N_ROWS
    np.testing.assert_array_equal(statistics.mean, mean)
    np.testing.assert_array_equal(statistics.scatter, scatter)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("make_chunks", [
    lambda X: (chunk for chunk in np.array_split(X, 7)),
    lambda X: np.array_split(X, 5),
    lambda X: iter([X[:1], X[1:2], X[2:]]),
], ids=["generator", "list", "iterator-one-row-chunks"])
def test_fit_on_chunks_equals_fit_on_their_concatenation(kind, make_chunks):
    X = correlated_rows(1e6, n_rows=400)
    reference = GaussianAnomalyDetector(kind).fit(X)
    chunked = GaussianAnomalyDetector(kind).fit(make_chunks(X))
    assert_same_gaussian(chunked, reference)
    # all rows fit in the threshold's block: epsilon is fit's, up to the rounding
    # of the parameters
    np.testing.assert_allclose(chunked.log_epsilon_, reference.log_epsilon_, rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fit_on_a_memory_map_equals_fit_in_memory(kind, dtype, tmp_path):
    X = correlated_rows(1e3, n_rows=500, dtype=dtype)
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    reference = GaussianAnomalyDetector(kind).fit(X)
    fitted = GaussianAnomalyDetector(kind).fit(mapped)
    assert_same_gaussian(fitted, reference)
    assert fitted.log_epsilon_ == reference.log_epsilon_  # one block: the same rows and sums
    # a slice of the map too
    assert_same_gaussian(GaussianAnomalyDetector(kind).fit(mapped[100:]),
                         GaussianAnomalyDetector(kind).fit(X[100:]))


def test_a_memory_map_longer_than_a_block_is_read_in_blocks(tmp_path, monkeypatch):
    """Blocks of 1 KiB (32 rows of 4 float64): many blocks, the same parameters;
    epsilon is the contamination quantile over every row (fewer than the
    row sample's capacity: all of them are kept)."""
    from gaussext import _blocks

    monkeypatch.setattr(_blocks, "BLOCK_BYTES", 1024)
    X = np.random.default_rng(3).normal(size=(1000, 4)) + 1e6
    np.save(tmp_path / "X.npy", X)
    seen = []
    original_map_rows = _blocks._map_rows
    monkeypatch.setattr(_blocks, "_map_rows", lambda *args, **kwargs: seen.append(args[-2:])
                        or original_map_rows(*args, **kwargs))
    fitted = GaussianAnomalyDetector("full").fit(np.load(tmp_path / "X.npy", mmap_mode="r"))
    assert seen[:2] == [(0, 32), (32, 64)] and len(seen) == 32
    assert_same_gaussian(fitted, GaussianAnomalyDetector("full").fit(X))
    # every row scored by the in-memory reference, not by the model under test
    every_row = GaussianAnomalyDetector("full").fit(X).score_samples(X)
    assert fitted.log_epsilon_ == pytest.approx(np.quantile(every_row, 0.1), rel=1e-12)


def test_lists_of_rows_are_still_one_array():
    """A list of rows (lists or 1-D arrays) is 2-D data, not chunks."""
    rows = correlated_rows()[:10]
    reference = GaussianAnomalyDetector().fit(rows)
    assert_same_gaussian(GaussianAnomalyDetector().fit(rows.tolist()), reference)
    assert_same_gaussian(GaussianAnomalyDetector().fit(list(rows)), reference)


def test_partial_fit_threshold_rules():
    X = correlated_rows(n_rows=300)
    detector = GaussianAnomalyDetector("diagonal", contamination=0.2)
    detector.partial_fit(X[:1])
    assert not hasattr(detector, "log_epsilon_")  # one row: no Gaussian yet
    with pytest.raises(ValueError, match="not fitted yet"):
        detector.predict(X[:2])
    detector.partial_fit(X[1:200])
    # untuned: the contamination quantile of every row's score under the updated model
    assert detector.log_epsilon_ == pytest.approx(
        np.quantile(detector.score_samples(X[:200]), 0.2), rel=1e-12)
    labels = np.zeros(100, dtype=int)
    labels[:10] = 1
    tuned = detector.tune_threshold(X[200:] + labels[:, None] * 5, labels)
    detector.partial_fit(X[200:])
    assert detector.log_epsilon_ == tuned.log_epsilon and detector.threshold_ is tuned


@few_samples
def test_partial_fit_with_shrinkage():
    X = correlated_rows()
    oas = GaussianAnomalyDetector("full", shrinkage="oas")
    for chunk in np.array_split(X, 6):
        oas.partial_fit(chunk)
    reference = GaussianAnomalyDetector("full", shrinkage="oas").fit(X)
    assert oas.shrinkage_ == pytest.approx(reference.shrinkage_, rel=1e-12)
    assert_same_gaussian(oas, reference)
    with pytest.raises(ValueError, match="shrinkage='ledoit-wolf' cannot be used with partial_fit"):
        GaussianAnomalyDetector("full", shrinkage="ledoit-wolf").partial_fit(X)
    with pytest.raises(ValueError, match="shrinkage='ledoit-wolf' cannot be used with chunked"):
        GaussianAnomalyDetector("full", shrinkage="ledoit-wolf").fit(iter([X]))


def test_partial_fit_continues_fit_and_refuses_bad_chunks():
    X = correlated_rows(n_rows=300)
    detector = GaussianAnomalyDetector("full").fit(X[:100])
    detector.partial_fit(X[100:])
    assert_same_gaussian(detector, GaussianAnomalyDetector("full").fit(X))
    with pytest.raises(ValueError, match="X has 2 features, but GaussianAnomalyDetector is "
                                         "expecting 3 features as input"):
        detector.partial_fit(X[:5, :2])
    detector.set_params(covariance="diagonal")
    with pytest.raises(ValueError, match="covariance is 'diagonal' but the statistics "
                                         "accumulated so far are 'full'"):
        detector.partial_fit(X)


def test_fit_on_bad_chunks_names_the_chunk():
    X = correlated_rows()
    with pytest.raises(ValueError, match=r"X holds no rows: fit was given 0 chunk\(s\)"):
        GaussianAnomalyDetector().fit(iter([]))
    with pytest.raises(ValueError, match=r"given 2 chunk\(s\) and all were empty"):
        GaussianAnomalyDetector().fit(iter([X[:0], X[:0]]))
    with pytest.raises(ValueError, match="chunk 1 of X: X has 2 features, but these "
                                         "GaussianStatistics have 3"):
        GaussianAnomalyDetector().fit(iter([X, X[:, :2]]))
    bad = X.copy()
    bad[7, 2] = np.inf
    with pytest.raises(ValueError, match="chunk 2 of X: Input X contains NaN or infinity.*"
                                         "row 7, column 2"):
        GaussianAnomalyDetector().fit(iter([X, X, bad]))
    with pytest.raises(ValueError, match="got n_samples = 1"):
        GaussianAnomalyDetector().fit(iter([X[:1]]))


def test_conditioning_warning_still_raised_by_fit():
    with pytest.warns(ConditioningWarning, match="fewer than 10 samples per feature"):
        GaussianAnomalyDetector("full").fit(correlated_rows(n_rows=20))


def test_partial_fit_on_a_constant_feature_raises_and_keeps_the_rows():
    detector = GaussianAnomalyDetector()
    constant = np.array([[1.0, 2.0], [3.0, 2.0]])
    with pytest.raises(ValueError, match=r"Feature\(s\) 1 have zero variance"):
        detector.partial_fit(constant)
    assert detector.statistics_.n_samples == 2 and not hasattr(detector, "log_epsilon_")
    detector.partial_fit(np.array([[2.0, 5.0]]))
    np.testing.assert_allclose(detector.var_, np.var([[1, 2], [3, 2], [2, 5]], axis=0))


def test_partial_fit_after_load_or_pickle_continues_and_from_parameters_refuses(tmp_path):
    import pickle

    X = correlated_rows()
    detector = GaussianAnomalyDetector(resumable=True).fit(X)
    detector.save(tmp_path / "model.npz")
    loaded = GaussianAnomalyDetector.load(tmp_path / "model.npz")
    loaded.partial_fit(X)
    assert loaded.statistics_.n_samples == 2 * N_ROWS
    unpickled = pickle.loads(pickle.dumps(detector))
    unpickled.partial_fit(X)
    assert unpickled.statistics_.n_samples == 2 * N_ROWS
    assert unpickled.log_epsilon_ == loaded.log_epsilon_
    built = GaussianAnomalyDetector.from_parameters(detector.mean_, detector.var_,
                                                     log_epsilon=detector.log_epsilon_)
    with pytest.raises(ValueError, match="not the statistics partial_fit continues from"):
        built.partial_fit(X)


@pytest.mark.parametrize("kind", KINDS)
def test_epsilon_of_a_chunked_fit_from_every_row(kind):
    X = correlated_rows(offset=1e3, n_rows=3000)
    centre = X.mean(axis=0)
    X[-300:] = centre + 5.0 * (X[-300:] - centre)  # the last rows alone: another quantile
    detector = GaussianAnomalyDetector(kind).fit(iter([X[:1000], X[1000:2000], X[2000:]]))
    in_memory = GaussianAnomalyDetector(kind).fit(X)
    # the row sample holds all 3000 rows: the in-memory epsilon
    np.testing.assert_allclose(detector.log_epsilon_, in_memory.log_epsilon_, rtol=1e-12)
    detector.set_contamination_threshold(detector.score_samples(X))
    # the quantile of every row's score, as numpy computes it
    expected = np.quantile(detector.score_samples(X), detector.contamination)
    assert detector.log_epsilon_ == pytest.approx(expected, rel=1e-14)
    np.testing.assert_allclose(detector.log_epsilon_, in_memory.log_epsilon_, rtol=1e-12)
    assert detector.threshold_ is None
    with pytest.raises(ValueError, match=r"log_density must be a non-empty 1-D array of "
                                         r"scores, got shape \(3000, 1\)"):
        detector.set_contamination_threshold(detector.score_samples(X)[:, None])


def test_chunks_with_column_names_name_the_features():
    pd = pytest.importorskip("pandas")
    X = correlated_rows()
    frame = pd.DataFrame(X, columns=["cpu", "memory", "disk"])
    detector = GaussianAnomalyDetector().fit(iter([frame[:30], frame[30:]]))
    assert list(detector.feature_names_in_) == ["cpu", "memory", "disk"]
