"""evaluate(): counts and scores against scikit-learn's metrics, and the same
numbers as the tuned ThresholdResult."""

import math

import numpy as np
import pytest
from sklearn import metrics

from gaussext import GaussianAnomalyDetector, evaluate, select_threshold
from gaussext.datasets import make_demo_split

RNG = np.random.default_rng(17)
SCORES = RNG.normal(-5.0, 2.0, size=300)
LABELS = (RNG.random(300) < 0.1).astype(int)


@pytest.mark.parametrize("epsilon", [0.0, 1e-300, 1e-5, 1e-3, 0.01, 1.0, 5.0])
def test_counts_and_scores_match_sklearn(epsilon):
    result = evaluate(LABELS, SCORES, epsilon)
    predicted = (np.exp(SCORES) < epsilon).astype(int)   # p(x) < epsilon, in plain units
    tn, fp, fn, tp = metrics.confusion_matrix(LABELS, predicted, labels=[0, 1]).ravel()
    assert (result.tp, result.fp, result.fn, result.tn) == (tp, fp, fn, tn)
    assert result.precision == metrics.precision_score(LABELS, predicted, zero_division=0)
    assert result.recall == metrics.recall_score(LABELS, predicted, zero_division=0)
    assert result.f1 == pytest.approx(metrics.f1_score(LABELS, predicted, zero_division=0),
                                      abs=1e-15)
    for beta in (0.5, 1.0, 2.0):
        assert result.fbeta(beta) == pytest.approx(
            metrics.fbeta_score(LABELS, predicted, beta=beta, zero_division=0), abs=1e-15)
    assert result.epsilon == epsilon


def test_zero_epsilon_flags_nothing_and_scores_zero():
    result = evaluate(LABELS, SCORES, 0)
    assert (result.tp, result.fp) == (0, 0) and result.tn == int(np.sum(LABELS == 0))
    assert result.precision == result.recall == result.f1 == result.fbeta(2.0) == 0.0


def test_no_anomaly_in_labels_gives_recall_zero_not_nan():
    result = evaluate(np.zeros(5), [-9.0, -1.0, -1.0, -1.0, -1.0], 0.01)
    assert (result.tp, result.fp, result.fn, result.tn) == (0, 1, 0, 4)
    assert result.recall == 0.0 and result.f1 == 0.0 and not math.isnan(result.precision)


def test_strict_inequality_at_the_threshold():
    # p(x) == epsilon is not an anomaly
    result = evaluate([1, 0], [math.log(0.25), math.log(0.5)], 0.25)
    assert result.tp == 0 and result.fn == 1


@pytest.mark.parametrize("method", ["exact", "grid"])
@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_tuned_threshold_gives_the_same_numbers(method, covariance):
    split = make_demo_split(random_state=1)
    det = GaussianAnomalyDetector(covariance).fit(split.X_train)
    tuned = det.tune_threshold(split.X_val, split.y_val, method=method)
    result = evaluate(split.y_val, det.score_samples(split.X_val), tuned.epsilon)
    assert (result.tp, result.fp, result.fn, result.tn) == (
        tuned.true_positives, tuned.false_positives, tuned.false_negatives,
        tuned.true_negatives)
    assert (result.precision, result.recall, result.f1) == (tuned.precision, tuned.recall,
                                                            tuned.f1)
    assert result.tp + result.fp + result.fn + result.tn == split.y_val.shape[0]


def test_log_epsilon_reproduces_the_tuned_counts_by_construction():
    # two distinct scores one ulp apart: the tuned threshold is the upper one
    # itself, which exp/log rounding may not survive; log_epsilon always does
    low = -7.0
    scores = np.array([low, np.nextafter(low, 0.0), -1.0, -2.0, -30.0])
    labels = np.array([1, 0, 0, 0, 1])
    tuned = select_threshold(labels, scores)
    result = evaluate(labels, scores, log_epsilon=tuned.log_epsilon)
    assert (result.tp, result.fp, result.fn, result.tn) == (
        tuned.true_positives, tuned.false_positives, tuned.false_negatives,
        tuned.true_negatives) == (2, 0, 0, 3)
    assert result.epsilon == tuned.epsilon
    assert evaluate(labels, scores, log_epsilon=-np.inf).tp == 0


def test_tuned_threshold_on_the_course_data(ex8):
    data = ex8("ex8data2")
    scores = GaussianAnomalyDetector().fit(data["X"]).score_samples(data["Xval"])
    tuned = select_threshold(data["yval"], scores)
    result = evaluate(data["yval"], scores, tuned.epsilon)
    assert result.f1 == tuned.f1 and result.tn == tuned.true_negatives
    flagged = scores < tuned.log_epsilon
    tn, fp, fn, tp = metrics.confusion_matrix(data["yval"], flagged).ravel()
    assert (tuned.true_negatives, tuned.false_positives, tuned.false_negatives,
            tuned.true_positives) == (tn, fp, fn, tp)


@pytest.mark.parametrize("epsilon, error, message", [
    (-1e-3, ValueError, "epsilon must be >= 0.0"),
    (math.inf, ValueError, "epsilon must be finite"),
    (math.nan, ValueError, "epsilon must be finite"),
    ("0.1", TypeError, "epsilon must be a real number"),
    (None, TypeError, "give exactly one of epsilon"),
])
def test_bad_epsilon(epsilon, error, message):
    with pytest.raises(error, match=message):
        evaluate(LABELS, SCORES, epsilon)


@pytest.mark.parametrize("kwargs, error, message", [
    ({}, TypeError, "give exactly one of epsilon"),
    ({"epsilon": 0.1, "log_epsilon": -2.0}, TypeError, "give exactly one of epsilon"),
    ({"log_epsilon": math.nan}, ValueError, "log_epsilon must be a number, got nan"),
    ({"log_epsilon": "x"}, TypeError, "log_epsilon must be a real number"),
])
def test_bad_threshold_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        evaluate(LABELS, SCORES, **kwargs)


def test_bad_labels_scores_and_beta():
    with pytest.raises(ValueError, match="y_true must hold only 0 .* found 2"):
        evaluate([0, 2], [-1.0, -2.0], 0.1)
    with pytest.raises(ValueError, match="y_true has 2 labels but there are 3 samples"):
        evaluate([0, 1], [-1.0, -2.0, -3.0], 0.1)
    with pytest.raises(ValueError, match="log_density contains 1 NaN"):
        evaluate([0, 1], [-1.0, math.nan], 0.1)
    with pytest.raises(ValueError, match="beta must be > 0.0"):
        evaluate([0, 1], [-1.0, -2.0], 0.1).fbeta(0)


def test_inputs_are_not_modified():
    labels, scores = LABELS.copy(), SCORES.copy()
    labels.flags.writeable = scores.flags.writeable = False
    evaluate(labels, scores, 0.01)
    np.testing.assert_array_equal(labels, LABELS)
    np.testing.assert_array_equal(scores, SCORES)


def test_epsilon_beyond_float64_range_quietly_reads_inf():
    """log_epsilon above 709.78 (a model with variances near 1e-300): the
    probability-unit epsilon is inf, without an overflow warning."""
    result = evaluate([0, 1], [1000.0, 900.0], log_epsilon=950.0)
    assert result.epsilon == np.inf and (result.tp, result.fp) == (1, 0)
