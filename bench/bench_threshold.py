"""Threshold selection: choose epsilon maximising F1 on labelled scores.

Scores are log-densities of n points, 1% of them anomalies whose scores
overlap the normal ones' (so the best F1 is well below 1).  Peers:

* ``gaussext`` — ``select_threshold(y, log_density)``, the exact scan;
* ``sklearn-pr-curve`` — ``sklearn.metrics.precision_recall_curve`` on
  -log p, then the argmax of F1 over its thresholds;
* ``classic-grid`` — the course's loop over 1000 evenly spaced epsilons in
  probability units (n <= 10^5 only), which can miss the best threshold.
"""

import numpy as np

JOB = "threshold"
PEERS = ["gaussext", "sklearn-pr-curve", "classic-grid"]
QUICK_CASES = [(5_000, 8, "float64")]
FULL_CASES = [(10_000, 8, "float64"), (100_000, 8, "float64"), (1_000_000, 8, "float64")]
ANOMALY_FRACTION = 0.01
CLASSIC_GRID_MAX_ROWS = 100_000


def runs(peer, case):
    return peer != "classic-grid" or case[0] <= CLASSIC_GRID_MAX_ROWS


def labelled_scores(n_samples, n_features):
    """(y, log_density): chi-square distances, anomalies drawn four times wider."""
    rng = np.random.default_rng(n_samples)
    y = (rng.random(n_samples) < ANOMALY_FRACTION).astype(np.int64)
    squared_distance = rng.chisquare(n_features, n_samples) * np.where(y == 1, 4.0, 1.0)
    log_density = -0.5 * (n_features * np.log(2 * np.pi) + squared_distance)
    return y, log_density


def sklearn_best_f1(y, log_density):
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(y, -log_density)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    best = int(np.argmax(f1[:-1]))
    return -thresholds[best], f1[best]


def classic_grid(y, log_density):
    from gaussext.oracle import grid_search

    return grid_search(y, np.exp(log_density))


def test_threshold(measure, case, peer):
    from gaussext import select_threshold

    y, log_density = labelled_scores(case[0], case[1])
    if peer == "gaussext":
        result = measure(select_threshold, y, log_density)
        assert result.f1 > 0
        return
    exact_f1 = select_threshold(y, log_density).f1
    if peer == "sklearn-pr-curve":
        _, best_f1 = measure(sklearn_best_f1, y, log_density)
        np.testing.assert_allclose(best_f1, exact_f1, rtol=1e-12)
    else:
        _, grid_f1 = measure(classic_grid, y, log_density)
        assert grid_f1 <= exact_f1
