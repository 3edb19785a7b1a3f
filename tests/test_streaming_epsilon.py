"""Epsilon over every training row in any chunking, the row sample behind it,
and forgetting (half_life).

The oracle is plain: score every training row under the fitted model and
count the share below epsilon (weighted by 2^{-(n-1-i)/h} with forgetting).
"""

import numpy as np
import pytest

from gaussext import GaussianAnomalyDetector, GaussianStatistics
from gaussext._sample import RowSample, default_capacity, row_priorities, weighted_quantile

KINDS = ("diagonal", "full")
N_FEATURES = 3
TOLERANCE = 0.003
# Early partial fits of the full model see few samples per feature and warn so.
few_samples = pytest.mark.filterwarnings("ignore::gaussext.ConditioningWarning")


def gaussian_rows(n_rows, seed=0, offset=0.0):
    rng = np.random.default_rng(seed)
    mixing = np.eye(N_FEATURES) + rng.normal(size=(N_FEATURES, N_FEATURES)) / 3
    return rng.normal(size=(n_rows, N_FEATURES)) @ mixing + offset


def flagged_share(detector, X, weights=None):
    flagged = detector.score_samples(X) < detector.log_epsilon_
    return float(np.average(flagged, weights=weights))


def by_distance(X, descending):
    """X sorted by distance from its mean: with descending=True the last rows
    are the most central, so a last chunk would flag none of them's peers."""
    distance = np.sum((X - X.mean(axis=0)) ** 2, axis=1)
    order = np.argsort(distance)
    return X[order[::-1]] if descending else X[order]


def random_chunks(X, seed, largest):
    rng = np.random.default_rng(seed)
    cuts, start = [], 0
    while start < X.shape[0]:
        start += int(rng.integers(1, largest + 1))
        cuts.append(start)
    return np.split(X, [cut for cut in cuts if cut < X.shape[0]])


def cycled_chunks(X, sizes=(1, 3, 7)):
    start, turn = 0, 0
    while start < X.shape[0]:
        size = sizes[turn % len(sizes)]
        yield X[start:start + size]
        start, turn = start + size, turn + 1


# -- epsilon over every row ----------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_chunks_of_1_3_7_rows_flag_the_contamination_share_of_every_row(kind):
    """10^5 rows in chunks of 1, 3 and 7 rows (about 27000 chunks): at most the
    sample's capacity, so every row is kept and the share is the in-memory one."""
    X = gaussian_rows(100_000, seed=1)
    detector = GaussianAnomalyDetector(kind).fit(cycled_chunks(X))
    assert detector.statistics_.n_samples == X.shape[0]
    assert flagged_share(detector, X) == pytest.approx(0.1, abs=1 / X.shape[0])
    in_memory = GaussianAnomalyDetector(kind).fit(X)
    np.testing.assert_allclose(detector.log_epsilon_, in_memory.log_epsilon_, rtol=1e-12)


@few_samples
@pytest.mark.parametrize("kind", KINDS)
def test_one_row_partial_fits_take_epsilon_from_every_row(kind):
    """partial_fit one row at a time, ending on the most central rows (a
    last-chunk epsilon would flag every row) or on the farthest (none)."""
    X = gaussian_rows(2500, seed=2)
    for descending in (True, False):
        ordered = by_distance(X, descending)
        detector = GaussianAnomalyDetector(kind)
        for row in ordered:
            detector.partial_fit(row[None, :])
        assert flagged_share(detector, X) == pytest.approx(0.1, abs=1 / X.shape[0])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("ordering", ["random", "central last", "far last"])
@pytest.mark.parametrize("contamination", [0.1, 0.02])
def test_beyond_the_sample_capacity_the_share_is_within_0_003(kind, ordering, contamination):
    """4 x 10^5 rows, three times the sample's capacity, in random chunks of 1
    to 4000 rows: the share of every training row flagged is within 0.003
    of contamination (sampling sd about 0.00083 at 0.1), whatever the order."""
    X = gaussian_rows(400_000, seed=3)
    assert X.shape[0] > 3 * default_capacity(N_FEATURES)
    if ordering != "random":
        X = by_distance(X, descending=ordering == "central last")
    detector = GaussianAnomalyDetector(kind, contamination=contamination)
    detector.fit(iter(random_chunks(X, seed=4, largest=4000)))
    sample = detector.statistics_.sample
    assert len(sample) == sample.capacity == default_capacity(N_FEATURES)
    assert abs(flagged_share(detector, X) - contamination) < TOLERANCE


def test_the_sample_does_not_depend_on_the_chunking():
    """Two chunkings (one of partial_fits) keep the same rows, bit for bit, and
    give the same epsilon under one model, bit for bit."""
    X = gaussian_rows(300_000, seed=5)
    one = GaussianAnomalyDetector("full").fit(iter(random_chunks(X, seed=6, largest=50_000)))
    other = GaussianAnomalyDetector("full")
    for chunk in random_chunks(X, seed=7, largest=9_000):
        other.partial_fit(chunk)
    rows, index, threshold = one.statistics_.sample.view()
    other_rows, other_index, other_threshold = other.statistics_.sample.view()
    np.testing.assert_array_equal(index, other_index)
    np.testing.assert_array_equal(rows, other_rows)
    np.testing.assert_array_equal(rows, X[index])
    assert threshold == other_threshold
    score = one._snapshot().gaussian.log_density
    assert (one.statistics_.sample.quantile(score, 0.1)
            == other.statistics_.sample.quantile(score, 0.1))
    np.testing.assert_allclose(other.log_epsilon_, one.log_epsilon_, rtol=1e-12)


def test_the_sample_is_the_top_priorities_of_every_row():
    """The oracle: the capacity rows of highest priority among all row numbers."""
    X = gaussian_rows(50_000, seed=8)
    statistics = GaussianStatistics("diagonal", sample=1000)
    for chunk in random_chunks(X, seed=9, largest=700):
        statistics.update(chunk)
    priorities = row_priorities(np.arange(X.shape[0]), None)
    expected = np.sort(np.argsort(priorities)[-1000:])
    rows, index, threshold = statistics.sample.view()
    np.testing.assert_array_equal(index, expected)
    assert threshold == np.sort(priorities)[-1001]


@pytest.mark.parametrize("half_life", [None, 2000.0])
def test_merging_parts_computed_apart_equals_one_pass(half_life):
    """Parts numbered by their first_row, merged in a tree (as Dask does):
    the same sample as one pass, statistics within 1e-12, the same epsilon."""
    X = gaussian_rows(200_000, seed=10)
    bounds = [0, 1, 30_000, 30_007, 90_000, 150_000, 200_000]
    parts = []
    for start, end in zip(bounds[:-1], bounds[1:]):
        part = GaussianStatistics("full", half_life=half_life, sample=True)
        part.update(X[start:start + 1], first_row=start)
        part.update(X[start + 1:end])
        parts.append(part)
    empty = GaussianStatistics("full", half_life=half_life, sample=True)
    while len(parts) > 1:  # pairwise, as a tree reduction
        parts = [parts[i].merge(parts[i + 1]) if i + 1 < len(parts) else parts[i]
                 for i in range(0, len(parts), 2)]
    merged = parts[0].merge(empty)
    one_pass = GaussianStatistics("full", half_life=half_life, sample=True).update(X)
    assert merged.n_samples == one_pass.n_samples and merged.first_row == 0
    np.testing.assert_allclose(merged.mean, one_pass.mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(merged.covariance(), one_pass.covariance(), rtol=1e-12,
                               atol=1e-12)
    for got, expected in zip(merged.sample.view(), one_pass.sample.view()):
        np.testing.assert_array_equal(got, expected)
    fitted = GaussianAnomalyDetector("full", half_life=half_life).fit_statistics(merged)
    reference = GaussianAnomalyDetector("full", half_life=half_life).fit_statistics(one_pass)
    np.testing.assert_allclose(fitted.log_epsilon_, reference.log_epsilon_, rtol=1e-12)
    if half_life is None:  # merged in any order without forgetting
        assert abs(flagged_share(fitted, X) - 0.1) < TOLERANCE


def test_merge_refuses_overlapping_or_mismatched_parts():
    X = gaussian_rows(100)
    a = GaussianStatistics("diagonal", sample=True).update(X[:50])
    overlapping = GaussianStatistics("diagonal", sample=True).update(X[50:], first_row=10)
    with pytest.raises(ValueError, match="share row numbers"):
        a.merge(overlapping)
    with pytest.raises(ValueError, match="row samples of different sizes"):
        a.merge(GaussianStatistics("diagonal", sample=64).update(X[50:], first_row=50))
    with pytest.raises(ValueError, match="half_life=None and half_life=10.0"):
        a.merge(GaussianStatistics("diagonal", half_life=10, sample=True).update(X))
    with pytest.raises(ValueError, match="update continues the rows seen so far, which end "
                                         "before row 50; got first_row=7"):
        a.update(X, first_row=7)


def test_the_sample_never_exceeds_its_capacity():
    """Memory: the kept rows never exceed the capacity, the storage twice it."""
    X = gaussian_rows(30_000, seed=11)
    statistics = GaussianStatistics("full", sample=500)
    for chunk in random_chunks(X, seed=12, largest=900):
        statistics.update(chunk)
        sample = statistics.sample
        assert sample._size <= 1000 and sample._rows.shape[0] <= 1000
        assert len(sample) <= 500 and len(sample.view()[1]) == len(sample)
    assert len(statistics.sample) == 500


def test_fit_statistics_needs_rows_or_a_sample():
    X = gaussian_rows(1000)
    plain = GaussianStatistics("diagonal").update(X)
    with pytest.raises(ValueError, match="needs X_threshold"):
        GaussianAnomalyDetector().fit_statistics(plain)
    with_rows = GaussianAnomalyDetector().fit_statistics(plain, X)
    sampled = GaussianAnomalyDetector().fit_statistics(
        GaussianStatistics("diagonal", sample=True).update(X))
    np.testing.assert_allclose(sampled.log_epsilon_, with_rows.log_epsilon_, rtol=1e-12)
    with pytest.raises(ValueError, match="half_life=5.0 but the detector half_life=None"):
        GaussianAnomalyDetector().fit_statistics(
            GaussianStatistics("diagonal", half_life=5, sample=True).update(X))


def test_float32_rows_are_kept_and_scored_as_float32():
    X = gaussian_rows(2000).astype(np.float32)
    chunked = GaussianAnomalyDetector("full").fit(iter(np.array_split(X, 5)))
    assert chunked.statistics_.sample.view()[0].dtype == np.float32
    assert chunked.log_epsilon_ == pytest.approx(
        GaussianAnomalyDetector("full").fit(X).log_epsilon_, rel=1e-6)
    chunked.partial_fit(X[:3].astype(np.float64))  # a float64 chunk: float64 from then on
    assert chunked.statistics_.sample.view()[0].dtype == np.float64


def test_weighted_quantile_is_numpy_linear_with_equal_weights():
    values = np.random.default_rng(13).normal(size=101)
    for q in (0.0, 0.013, 0.1, 0.5, 1.0):
        assert weighted_quantile(values, np.zeros(101), q) == pytest.approx(
            np.quantile(values, q), rel=1e-13, abs=1e-13)


# -- forgetting ----------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_after_a_level_shift_the_mean_follows_within_a_few_half_lives(kind):
    """A shift of 5 standard deviations: 5 half-lives later the mean is within
    0.2 standard deviations of the new level (the old rows weigh 2^-5)."""
    rng = np.random.default_rng(14)
    half_life = 400
    before = rng.normal(size=(10_000, N_FEATURES))
    after = rng.normal(size=(5 * half_life, N_FEATURES)) + 5.0
    detector = GaussianAnomalyDetector(kind, half_life=half_life)
    for chunk in random_chunks(np.vstack([before, after]), seed=15, largest=300):
        detector.partial_fit(chunk)
    assert np.all(np.abs(detector.mean_ - 5.0) < 0.2)
    never_forgets = GaussianAnomalyDetector(kind).fit(np.vstack([before, after]))
    assert np.all(np.abs(never_forgets.mean_ - 5.0) > 3.0)
    # epsilon follows too: about the contamination share of recent rows is flagged
    assert abs(flagged_share(detector, after[-half_life:]) - 0.1) < 0.05


def weighted_oracle(X, half_life, ddof=0):
    """Mean and covariance with row i of n weighted 2^{-(n-1-i)/h}, written plainly."""
    n = X.shape[0]
    weights = 2.0 ** (-(n - 1 - np.arange(n)) / half_life)
    mean = weights @ X / weights.sum()
    centred = X - mean
    divisor = weights.sum() - ddof * (weights @ weights) / weights.sum()
    return mean, (centred * weights[:, None]).T @ centred / divisor


@few_samples
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("ddof", [0, 1])
def test_one_row_chunks_big_chunks_and_fit_agree_with_forgetting(kind, ddof):
    X = gaussian_rows(2000, seed=16, offset=1e3)
    half_life = 250.0
    fitted = GaussianAnomalyDetector(kind, half_life=half_life, ddof=ddof).fit(X)
    one_row = GaussianAnomalyDetector(kind, half_life=half_life, ddof=ddof)
    for row in X:
        one_row.partial_fit(row[None, :])
    big = GaussianAnomalyDetector(kind, half_life=half_life, ddof=ddof)
    for chunk in np.array_split(X, 3):
        big.partial_fit(chunk)
    mean, covariance = weighted_oracle(X, half_life, ddof)
    spread = covariance if kind == "full" else np.diagonal(covariance)
    attribute = "covariance_" if kind == "full" else "var_"
    for model in (fitted, one_row, big):
        np.testing.assert_allclose(model.mean_, mean, rtol=1e-12)
        np.testing.assert_allclose(getattr(model, attribute), spread, rtol=1e-10,
                                   atol=1e-10 * spread.max())
    np.testing.assert_allclose(one_row.mean_, fitted.mean_, rtol=1e-12)
    np.testing.assert_allclose(getattr(one_row, attribute), getattr(fitted, attribute),
                               rtol=1e-12, atol=1e-12 * spread.max())
    np.testing.assert_allclose(getattr(big, attribute), getattr(fitted, attribute),
                               rtol=1e-12, atol=1e-12 * spread.max())
    # every row kept: the same weighted quantile
    np.testing.assert_allclose(one_row.log_epsilon_, fitted.log_epsilon_, rtol=1e-12)
    np.testing.assert_allclose(big.log_epsilon_, fitted.log_epsilon_, rtol=1e-12)


def test_forgetting_merges_are_associative_and_ordered():
    X = gaussian_rows(9000, seed=17)
    parts = [GaussianStatistics("full", half_life=700.0).update(X[s:e], first_row=s)
             for s, e in ((0, 2000), (2000, 2001), (2001, 9000))]
    left = parts[0].merge(parts[1]).merge(parts[2])
    right = parts[0].merge(parts[1].merge(parts[2]))
    mean, covariance = weighted_oracle(X, 700.0)
    for merged in (left, right):
        np.testing.assert_allclose(merged.mean, mean, rtol=1e-12)
        np.testing.assert_allclose(merged.covariance(), covariance, rtol=1e-12, atol=1e-13)
    assert left.weight == pytest.approx(right.weight, rel=1e-14)
    with pytest.raises(ValueError, match="must be consecutive, earlier part first"):
        parts[2].merge(parts[0])


def test_weighted_epsilon_beyond_the_capacity_follows_the_weights():
    """4 x 10^5 rows whose spread doubles halfway, half_life 10^5 rows (about
    250000 effective rows, more than the sample keeps): the weighted share of
    rows flagged is within 0.003 of contamination."""
    X = gaussian_rows(400_000, seed=18)
    X[200_000:] *= 2.0
    half_life = 100_000.0
    detector = GaussianAnomalyDetector("diagonal", half_life=half_life)
    detector.fit(iter(random_chunks(X, seed=19, largest=20_000)))
    assert detector.statistics_.effective_n_samples > default_capacity(N_FEATURES)
    n = X.shape[0]
    weights = 2.0 ** (-(n - 1 - np.arange(n)) / half_life)
    assert abs(flagged_share(detector, X, weights) - 0.1) < TOLERANCE


@pytest.mark.parametrize("half_life, error", [
    (0, ValueError), (-3.0, ValueError), (float("inf"), ValueError), (float("nan"), ValueError),
    ("100", TypeError), (True, TypeError),
])
def test_half_life_is_validated(half_life, error):
    with pytest.raises(error, match="half_life must be None or a positive"):
        GaussianAnomalyDetector(half_life=half_life).fit(gaussian_rows(50))
    with pytest.raises(error, match="half_life must be None or a positive"):
        GaussianStatistics(half_life=half_life)


def test_half_life_refuses_robust_and_ledoit_wolf_and_changes_between_calls():
    X = gaussian_rows(200)
    with pytest.raises(ValueError, match="half_life cannot be combined with robust=True"):
        GaussianAnomalyDetector(half_life=10, robust=True).fit(X)
    with pytest.raises(ValueError, match="shrinkage='ledoit-wolf'"):
        GaussianAnomalyDetector("full", half_life=10, shrinkage="ledoit-wolf").fit(X)
    detector = GaussianAnomalyDetector(half_life=10).fit(X)
    detector.set_params(half_life=20)
    with pytest.raises(ValueError, match="half_life is 20 but the statistics accumulated so "
                                         "far have half_life=10.0; call fit"):
        detector.partial_fit(X)
    detector.fit(X)  # fit starts again with the new half-life
    assert detector.statistics_.half_life == 20.0


def test_pending_epsilon_is_computed_once_and_pickles():
    import pickle

    X = gaussian_rows(5000, seed=20)
    detector = GaussianAnomalyDetector()
    for chunk in np.array_split(X, 50):
        detector.partial_fit(chunk)
    assert detector._fitted.pending_epsilon is not None
    copy = pickle.loads(pickle.dumps(detector))
    epsilon = detector.log_epsilon_
    assert detector._fitted.pending_epsilon is None
    assert copy.log_epsilon_ == epsilon
    assert epsilon == pytest.approx(
        np.quantile(detector.score_samples(X), 0.1), rel=1e-12)


def test_scoring_alone_does_not_compute_a_pending_epsilon(monkeypatch):
    """score_samples uses the Gaussian only: after partial_fit it must not
    score the row sample; predict (which compares with epsilon) does, once."""
    calls = []
    quantile = RowSample.quantile
    monkeypatch.setattr(RowSample, "quantile",
                        lambda self, *args: calls.append(1) or quantile(self, *args))
    X = gaussian_rows(5000, seed=22)
    detector = GaussianAnomalyDetector("full")
    for chunk in np.array_split(X, 10):
        detector.partial_fit(chunk)
    scores = detector.score_samples(X[:3])  # the few-row path
    np.testing.assert_array_equal(detector.score_samples(np.asfortranarray(X[:3])), scores)
    assert calls == []
    labels = detector.predict(X[:3])
    assert len(calls) == 1
    np.testing.assert_array_equal(labels, np.where(scores < detector.log_epsilon_, -1, 1))
    assert len(calls) == 1


def test_row_sample_from_arrays_round_trip():
    X = gaussian_rows(3000, seed=21)
    sample = RowSample(N_FEATURES, None, 256)
    sample.add(X, 0)
    rows, index, threshold = sample.view()
    again = RowSample.from_arrays(rows, index, threshold, None, 256)
    again.add(X[:10], 3000)
    sample.add(X[:10], 3000)
    for got, expected in zip(again.view(), sample.view()):
        np.testing.assert_array_equal(got, expected)


def test_numpy_priorities_equal_the_kernels_bit_for_bit():
    """The sample keys rows by u from the compiled loop for consecutive rows
    and by NumPy for stored row numbers: both must be the same numbers."""
    from gaussext import _kernels
    from gaussext._sample import _uniform

    for first in (0, 1, 2**40 + 3, 2**62 - 5000):
        expected = np.empty(5000)
        _kernels.row_uniforms(first, expected)
        index = np.arange(first, first + 5000, dtype=np.int64)
        np.testing.assert_array_equal(_uniform(index), expected)
        np.testing.assert_array_equal(_uniform(index[:3]), expected[:3])  # the scalar path
        np.testing.assert_array_equal(row_priorities(index[::7], None), expected[::7])


def test_a_stale_pending_epsilon_resolves_the_newest_model_whole():
    """A model published by partial_fit, read after a later partial_fit changed
    the sample, is not scored with a threshold from another sample: the call
    takes the newest model and its own threshold."""
    X = gaussian_rows(3000, seed=22)
    detector = GaussianAnomalyDetector()
    detector.partial_fit(X[:1000])
    old = detector.__dict__["_fitted"]
    detector.partial_fit(X[1000:])
    newest = detector.__dict__["_fitted"]
    resolved = detector._resolve_epsilon(old)
    assert resolved.gaussian is newest.gaussian and resolved.pending_epsilon is None
    assert resolved.log_epsilon == pytest.approx(np.quantile(detector.score_samples(X), 0.1),
                                                 rel=1e-12)
    # statistics changed by hand, with no newer model: epsilon is that of the sample as it is
    detector.partial_fit(X[:10])
    detector.statistics_.update(X[10:500])
    assert np.isfinite(detector.log_epsilon_)


def test_a_tie_at_the_cut_keeps_the_lower_row_numbers():
    """Equal priorities at the cut (rare with 52-bit priorities, but possible):
    the kept rows are decided by row number, whether read through a pending
    cut or after the cut is made in place."""
    sample = RowSample(1, None, 3)
    keys = np.array([0.5, 0.7, 0.5, 0.5, 0.9])
    rows = np.arange(5.0).reshape(5, 1)
    order = np.array([3, 1, 0, 4, 2])  # stored in no particular order
    sample._append(rows[order], np.array([10, 11, 12, 13, 14])[order], keys[order])
    rows_kept, index, threshold = sample.view()
    np.testing.assert_array_equal(index, [10, 11, 14])
    np.testing.assert_array_equal(rows_kept[:, 0], [0.0, 1.0, 4.0])
    assert threshold == 0.5 and len(sample) == 3
    # the first fills the storage (twice the capacity), the second makes the cut
    sample._append(np.zeros((2, 1)), np.array([20, 21]), np.array([0.1, 0.2]))
    assert sample._size == 4 and sample._floor == 0.5
    np.testing.assert_array_equal(sample.view()[1], [10, 11, 14])
    assert sample.threshold == 0.5
