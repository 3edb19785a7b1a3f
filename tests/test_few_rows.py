"""The few-row scorer (``_kernels.FewRowScorer``): the serving path.

``score_samples``, ``decision_function`` and ``predict`` on a few rows of a
plain float array go through one compiled call that reads X through NumPy's
C API.  It must give the general kernels' scores bit for bit, agree with the
oracle, and take nothing it cannot read as it assumes: every other input
(other layouts, dtypes, byte orders, subclasses, shapes, non-finite values)
goes to the general path, which validates it and names what is wrong.
"""

import pickle
import warnings

import numpy as np
import pytest

from gaussext import GaussianAnomalyDetector, _kernels, oracle
from gaussext._gaussian import diagonal_gaussian, full_gaussian

MODELS = ("diagonal", "full")


def _gaussian(kind, n_features, seed=0):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(n_features, n_features)) + 2 * np.eye(n_features)
    covariance = mixing @ mixing.T + np.eye(n_features)
    mean = rng.normal(size=n_features) * 10
    if kind == "diagonal":
        return diagonal_gaussian(mean, np.diagonal(covariance).copy(), remedies=""), covariance
    return full_gaussian(mean, covariance, remedies=""), covariance


def _rows(gaussian, covariance, n_rows, dtype, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.multivariate_normal(gaussian.mean, covariance, size=n_rows)
    return np.ascontiguousarray(X, dtype=dtype)


def _most_rows(n_features):
    """The most rows the scorer takes: ceil(n / 8) * 8 * d <= 4096."""
    return 4096 // (8 * n_features) * 8


@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_features", [1, 2, 3, 7, 8, 9, 16, 33, 512])
def test_scores_equal_the_general_kernels_bit_for_bit(kind, dtype, n_features):
    gaussian, covariance = _gaussian(kind, n_features)
    for n_rows in sorted({1, 2, 7, 8, 9, _most_rows(n_features)}):
        if n_rows > _most_rows(n_features):
            continue
        X = _rows(gaussian, covariance, n_rows, dtype)
        fast = gaussian.few_rows.log_density(X)
        assert fast is not None and fast.dtype == np.float64 and fast.shape == (n_rows,)
        np.testing.assert_array_equal(fast, gaussian.log_density(X, n_jobs=1))


@pytest.mark.parametrize("kind", MODELS)
def test_scores_agree_with_the_oracle(kind):
    gaussian, covariance = _gaussian(kind, 5)
    X = _rows(gaussian, covariance, 9, np.float64)
    if kind == "diagonal":
        expected = oracle.diagonal_log_density(X, gaussian.mean, gaussian.variances)
    else:
        expected = oracle.full_log_density(X, gaussian.mean, covariance)
    np.testing.assert_allclose(gaussian.few_rows.log_density(X), expected, rtol=1e-12)


@pytest.mark.parametrize("kind", MODELS)
def test_predict_flags_scores_below_log_epsilon(kind):
    gaussian, covariance = _gaussian(kind, 4)
    X = _rows(gaussian, covariance, 40, np.float64)
    scores = gaussian.log_density(X, n_jobs=1)
    for log_epsilon in (np.median(scores), scores[3], -np.inf, np.inf):
        labels = gaussian.few_rows.predict(X, log_epsilon)
        assert labels.dtype == np.int64
        np.testing.assert_array_equal(labels, np.where(scores < log_epsilon, -1, 1))


def _not_taken(X):
    """Inputs of 4 features the scorer must leave to the general path."""
    big_endian = X.astype(">f8")
    misaligned = np.frombuffer(b"\0" + X.tobytes(), dtype=np.float64, offset=1,
                               count=X.size).reshape(X.shape)
    assert not misaligned.flags.aligned
    return {
        "fortran order": np.asfortranarray(X),
        "strided view": np.repeat(X, 2, axis=0)[::2],
        "column subset": np.hstack([X, X])[:, :4],
        "big-endian": big_endian,
        "misaligned": misaligned,
        "matrix subclass": np.asmatrix(X),
        "int64": X.astype(np.int64),
        "float16": X.astype(np.float16),
        "longdouble": X.astype(np.longdouble),
        "one row as 1-D": X[0].copy(),
        "3-D": X[None],
        "no rows": X[:0],
        "5 features": np.hstack([X, X[:, :1]]),
        "too many rows": np.repeat(X, 4096, axis=0),
        "list": X.tolist(),
    }


@pytest.mark.parametrize("kind", MODELS)
def test_inputs_it_cannot_read_in_place_are_not_taken(kind):
    gaussian, covariance = _gaussian(kind, 4)
    X = _rows(gaussian, covariance, 3, np.float64)
    for name, candidate in _not_taken(X).items():
        assert gaussian.few_rows.log_density(candidate) is None, name
        assert gaussian.few_rows.predict(candidate, 0.0) is None, name


@pytest.mark.parametrize("kind", MODELS)
def test_the_estimator_gives_the_same_answers_on_every_layout(kind):
    """What the scorer leaves goes through validation: same scores when the
    input is valid, the usual messages when it is not."""
    rng = np.random.default_rng(3)
    detector = GaussianAnomalyDetector(kind).fit(rng.normal(size=(500, 4)) @ np.diag([1, 2, 3, 4]))
    X = np.ascontiguousarray(rng.normal(size=(3, 4)))
    expected = detector.score_samples(np.asfortranarray(X))  # the general path
    np.testing.assert_array_equal(detector.score_samples(X), expected)
    np.testing.assert_array_equal(detector.decision_function(X),
                                  expected - detector.log_epsilon_)
    np.testing.assert_array_equal(detector.predict(X),
                                  np.where(expected < detector.log_epsilon_, -1, 1))
    for name in ("strided view", "big-endian", "misaligned", "matrix subclass", "list"):
        candidate = _not_taken(X)[name]
        np.testing.assert_array_equal(detector.score_samples(candidate), expected, err_msg=name)
    with pytest.raises(ValueError, match="4 features"):
        detector.score_samples(_not_taken(X)["5 features"])
    with pytest.raises(ValueError, match="2-D"):
        detector.predict(X[0])
    with pytest.raises(ValueError, match="0 sample"):
        detector.predict(X[:0])


@pytest.mark.parametrize("kind", MODELS)
def test_non_finite_rows_go_to_the_general_path(kind):
    gaussian, covariance = _gaussian(kind, 4)
    X = _rows(gaussian, covariance, 3, np.float64)
    X[1, 2] = np.nan
    assert gaussian.few_rows.log_density(X) is None
    assert gaussian.few_rows.predict(X, 0.0) is None
    rng = np.random.default_rng(4)
    detector = GaussianAnomalyDetector(kind).fit(rng.normal(size=(200, 4)))
    with pytest.raises(ValueError, match=r"NaN.*row 1.*column 2|row 1.*column 2.*NaN"):
        detector.score_samples(X)
    with pytest.raises(ValueError, match=r"row 1.*column 2|NaN"):
        detector.predict(X)
    # a finite row far enough out overflows the product: rescored, -inf, never NaN
    far = np.full((1, 4), -1.7e308)
    assert detector.score_samples(far)[0] == -np.inf
    assert detector.predict(far)[0] == -1


def test_missing_values_are_still_marginalised():
    rng = np.random.default_rng(5)
    detector = GaussianAnomalyDetector("full", missing="marginalize").fit(
        rng.normal(size=(300, 3)) @ np.array([[1.0, 0.5, 0.2], [0, 1, 0.3], [0, 0, 1]]))
    X = np.array([[0.1, np.nan, 0.2]])
    kept = [0, 2]
    expected = oracle.full_log_density(X[:, kept], detector.mean_[kept],
                                       detector.covariance_[np.ix_(kept, kept)])
    np.testing.assert_allclose(detector.score_samples(X), expected, rtol=1e-12)


def test_a_model_fitted_on_named_columns_still_warns_for_an_array():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(6)
    frame = pd.DataFrame(rng.normal(size=(100, 2)), columns=["cpu", "latency"])
    detector = GaussianAnomalyDetector().fit(frame)
    with pytest.warns(UserWarning, match="feature names"):
        detector.score_samples(frame.to_numpy()[:1])
    with pytest.warns(UserWarning, match="feature names"):
        detector.predict(frame.to_numpy()[:1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        detector.predict(frame.iloc[:1])


@pytest.mark.parametrize("kind", MODELS)
def test_pickled_models_score_as_before(kind):
    rng = np.random.default_rng(7)
    detector = GaussianAnomalyDetector(kind).fit(rng.normal(size=(100, 3)))
    X = rng.normal(size=(2, 3))
    copy = pickle.loads(pickle.dumps(detector))
    np.testing.assert_array_equal(copy.score_samples(X), detector.score_samples(X))
    np.testing.assert_array_equal(copy.predict(X), detector.predict(X))


def test_parameters_of_the_wrong_shape_are_refused():
    mean, inv_std = np.zeros(3), np.ones(3)
    whitening = np.eye(3)
    with pytest.raises(ValueError, match=r"inv_std has shape \(4,\), expected \(3,\)"):
        _kernels.FewRowScorer(mean, np.ones(4), 0.0)
    with pytest.raises(ValueError, match=r"mean has shape \(3, 1\), expected \(3,\)"):
        _kernels.FewRowScorer(np.zeros((3, 1)), inv_std, 0.0)
    with pytest.raises(ValueError, match=r"whitening has shape \(3, 2\), expected \(3, 3\)"):
        _kernels.FewRowScorer(mean, inv_std, 0.0, np.asfortranarray(whitening[:, :2]),
                              whitening.astype(np.float32))
    with pytest.raises(ValueError, match=r"whitening has shape \(2, 2\), expected \(3, 3\)"):
        _kernels.FewRowScorer(mean, inv_std, 0.0, np.eye(2), np.eye(2, dtype=np.float32))
    with pytest.raises(ValueError,
                       match=r"whitening_float32 has shape \(3, 2\), expected \(3, 3\)"):
        _kernels.FewRowScorer(mean, inv_std, 0.0, whitening, np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match="together"):
        _kernels.FewRowScorer(mean, inv_std, 0.0, whitening, None)


def _misaligned(array):
    buffer = np.zeros(array.nbytes + 1, dtype=np.uint8)
    copy = np.frombuffer(buffer.data, dtype=array.dtype, count=array.size, offset=1)
    copy = copy.reshape(array.shape)
    copy[...] = array
    assert not copy.flags.aligned
    return copy


@pytest.mark.parametrize("kind", MODELS)
def test_parameters_in_any_layout_are_copied_to_one_it_reads(kind):
    """Arrays unpickled from out-of-band buffers (Dask) need not be aligned."""
    gaussian, covariance = _gaussian(kind, 5)
    X = _rows(gaussian, covariance, 4, np.float64)
    whitening = (None, None) if kind == "diagonal" else (
        _misaligned(gaussian.whitening), _misaligned(gaussian.whitening_float32))
    scorer = _kernels.FewRowScorer(_misaligned(gaussian.mean), list(gaussian.inv_std),
                                   gaussian.log_norm, *whitening)
    np.testing.assert_array_equal(scorer.log_density(X), gaussian.few_rows.log_density(X))


@pytest.mark.parametrize("kind", MODELS)
def test_a_model_pickled_with_out_of_band_buffers_scores_as_before(kind):
    rng = np.random.default_rng(8)
    detector = GaussianAnomalyDetector(kind).fit(rng.normal(size=(100, 3)))
    buffers = []
    data = pickle.dumps(detector, protocol=5, buffer_callback=buffers.append)
    # each buffer handed back one byte off its alignment, as a network frame may be
    moved = []
    for buffer in buffers:
        raw = buffer.raw()
        shifted = np.zeros(raw.nbytes + 1, dtype=np.uint8)[1:]  # one byte past 8-byte alignment
        shifted[:] = np.frombuffer(raw, dtype=np.uint8)
        moved.append(shifted)
    copy = pickle.loads(data, buffers=moved)
    X = rng.normal(size=(2, 3))
    np.testing.assert_array_equal(copy.score_samples(X), detector.score_samples(X))
