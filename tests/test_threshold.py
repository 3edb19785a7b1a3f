"""Exact-scan semantics of select_threshold, written out case by case."""

import numpy as np
import pytest

from gaussext import select_threshold


def test_strict_inequality_and_midpoint():
    y = [1, 0, 1, 0, 0]
    log_p = [-10.0, -8.0, -6.0, -2.0, -1.0]
    result = select_threshold(y, log_p)
    # flagging {-10} gives F1 2/3, {-10, -8, -6} gives 4/5: the latter wins
    assert result.f1 == pytest.approx(0.8)
    assert (result.true_positives, result.false_positives, result.false_negatives) == (2, 1, 0)
    # between the last flagged (-6) and the first unflagged (-2) score
    assert result.log_epsilon == -4.0
    assert result.epsilon == pytest.approx(np.exp(-4.0))
    np.testing.assert_array_equal(result.thresholds, [-9.0, -7.0, -4.0, -1.5,
                                                      np.nextafter(-1.0, np.inf)])
    np.testing.assert_allclose(result.f1_curve, [2 / 3, 0.5, 0.8, 4 / 6, 4 / 7])
    np.testing.assert_allclose(result.precision_curve, [1.0, 0.5, 2 / 3, 0.5, 0.4])
    np.testing.assert_allclose(result.recall_curve, [0.5, 0.5, 1.0, 1.0, 1.0])


def test_tied_scores_form_one_candidate():
    # the three points at -5 are flagged together or not at all
    y = [1, 1, 0, 1, 0, 0]
    log_p = [-9.0, -5.0, -5.0, -5.0, -1.0, -1.0]
    result = select_threshold(y, log_p)
    assert result.thresholds.shape == (3,)
    assert (result.true_positives, result.false_positives) == (3, 1)
    assert -5.0 < result.log_epsilon <= -1.0


def test_equal_best_f1_keeps_smallest_epsilon():
    # flagging {-9}: tp 1, fp 0, fn 1 -> F1 2/3; flagging all four: tp 2, fp 2,
    # fn 0 -> 4/6 = 2/3 as well; the candidates between score lower
    y = [1, 0, 0, 1]
    log_p = [-9.0, -8.0, -7.0, -6.0]
    result = select_threshold(y, log_p)
    np.testing.assert_allclose(result.f1_curve, [2 / 3, 2 / 4, 2 / 5, 4 / 6])
    assert result.log_epsilon == -8.5
    assert (result.true_positives, result.false_positives) == (1, 0)


def test_negative_infinity_scores_are_valid():
    y = [1, 1, 0, 0]
    log_p = [-np.inf, -np.inf, -3.0, -1.0]
    result = select_threshold(y, log_p)
    assert result.f1 == 1.0
    assert result.log_epsilon == -3.0  # the midpoint with -inf is not representable
    assert np.all(np.asarray(log_p)[:2] < result.log_epsilon)


def test_adjacent_floats_threshold_separates_them():
    a = -2.0
    b = np.nextafter(a, np.inf)
    result = select_threshold([1, 0], [a, b])
    assert a < result.log_epsilon <= b
    assert result.f1 == 1.0


def test_booleans_and_column_vectors_accepted():
    y = np.array([[True], [False], [False], [True]])
    log_p = np.array([[-4.0], [-1.0], [-2.0], [-5.0]])
    assert select_threshold(y, log_p).f1 == 1.0


def test_input_arrays_untouched():
    y = np.array([0, 1, 0, 1, 0])
    log_p = np.array([-1.0, -9.0, -2.0, -8.0, -3.0])
    y_before, log_p_before = y.copy(), log_p.copy()
    select_threshold(y, log_p)
    select_threshold(y, log_p, method="grid")
    np.testing.assert_array_equal(y, y_before)
    np.testing.assert_array_equal(log_p, log_p_before)


def test_grid_reports_no_threshold_when_no_grid_point_finds_an_anomaly():
    # the anomaly has the largest density: no grid epsilon below max p flags it
    result = select_threshold([0, 0, 1], [-3.0, -2.0, -1.0], method="grid")
    assert result.f1 == 0.0 and result.epsilon == 0.0 and result.log_epsilon == -np.inf
    assert result.true_positives == 0 and result.false_negatives == 1


@pytest.mark.parametrize("method", ["exact", "dask"])
def test_the_largest_float_as_a_score(method):
    """A threshold above float64's largest score is +inf, quietly; it flags
    every point, as the counts say (found by the fuzz target)."""
    import gaussext.dask

    largest = np.finfo(np.float64).max
    scores = np.array([largest, largest, -1.0])
    labels = [1, 1, 0]
    search = select_threshold if method == "exact" else gaussext.dask.select_threshold
    result = search(labels, scores)
    # the anomalies score highest: only flagging everything finds them
    assert result.log_epsilon == np.inf and result.f1 == 0.8
    assert result.true_positives == 2 and result.false_positives == 1
    flagged = scores < result.log_epsilon
    assert flagged.sum() == result.true_positives + result.false_positives
