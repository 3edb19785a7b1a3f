"""Plain reference implementations, the test oracle.

Each function is the textbook formula written out with Python loops and
NumPy, sharing no code with the compiled kernels, so that agreement between
the two means something.  Slow on purpose; use it on small inputs.

It validates nothing: it is the tests' reference, given only well-formed
arrays, and not part of the supported API (malformed input may give NaN or
an arbitrary exception here; the public functions refuse it).
"""

import math

import numpy as np

__all__ = [
    "covariance",
    "diagonal_log_density",
    "f1_scan",
    "full_log_density",
    "grid_search",
    "mean_and_variance",
]


def mean_and_variance(X, ddof=0):
    """Per-feature mean and variance, sum of squares / (n - ddof)."""
    rows = [[float(v) for v in row] for row in np.asarray(X)]
    n = len(rows)
    d = len(rows[0])
    mean = [math.fsum(row[j] for row in rows) / n for j in range(d)]
    var = [math.fsum((row[j] - mean[j]) ** 2 for row in rows) / (n - ddof) for j in range(d)]
    return np.array(mean), np.array(var)


def covariance(X, ddof=0):
    """Mean vector and covariance matrix, scatter / (n - ddof)."""
    rows = [[float(v) for v in row] for row in np.asarray(X)]
    n = len(rows)
    d = len(rows[0])
    mean = [math.fsum(row[j] for row in rows) / n for j in range(d)]
    cov = np.empty((d, d))
    for a in range(d):
        for b in range(d):
            cov[a, b] = math.fsum((row[a] - mean[a]) * (row[b] - mean[b]) for row in rows) / (n - ddof)
    return np.array(mean), cov


def diagonal_log_density(X, mean, var):
    """sum_j log N(x_j; mean_j, var_j) for each row of X."""
    out = []
    for row in np.asarray(X):
        terms = [
            -0.5 * math.log(2 * math.pi * float(var[j]))
            - (float(row[j]) - float(mean[j])) ** 2 / (2 * float(var[j]))
            for j in range(len(row))
        ]
        out.append(math.fsum(terms))
    return np.array(out)


def full_log_density(X, mean, cov):
    """log N(x; mean, cov) for each row of X, by a linear solve and slogdet."""
    cov = np.asarray(cov, dtype=np.float64)
    d = cov.shape[0]
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:
        raise ValueError("covariance is not positive definite")
    out = []
    for row in np.asarray(X, dtype=np.float64):
        diff = row - mean
        maha = float(diff @ np.linalg.solve(cov, diff))
        out.append(-0.5 * (d * math.log(2 * math.pi) + logdet + maha))
    return np.array(out)


def f1_scan(y_true, log_density):
    """For every distinct score s (ascending), flag the points with score <= s
    and count.  Returns (distinct_scores, tp, fp, f1, best_index), best being
    the first maximum of F1 = 2 tp / (2 tp + fp + fn)."""
    y = [int(v) for v in np.asarray(y_true).ravel()]
    scores = [float(v) for v in np.asarray(log_density).ravel()]
    distinct = sorted(set(scores))
    n_anomalies = sum(y)
    tps, fps, f1s = [], [], []
    for s in distinct:
        tp = sum(1 for yi, si in zip(y, scores) if si <= s and yi == 1)
        fp = sum(1 for yi, si in zip(y, scores) if si <= s and yi == 0)
        fn = n_anomalies - tp
        tps.append(tp)
        fps.append(fp)
        f1s.append(2 * tp / (2 * tp + fp + fn))
    best = max(range(len(distinct)), key=lambda k: (f1s[k], -k))
    return np.array(distinct), np.array(tps), np.array(fps), np.array(f1s), best


def grid_search(labels, probabilities, steps=1000):
    """The classic course loop, as published: (epsilon, f1)."""
    labels = np.asarray(labels).ravel()
    probabilities = np.asarray(probabilities).ravel()
    best_epsilon, best_f1 = 0.0, 0.0
    step = (probabilities.max() - probabilities.min()) / steps
    for epsilon in np.arange(probabilities.min(), probabilities.max(), step):
        predictions = probabilities < epsilon
        tp = int(np.sum(predictions & (labels == 1)))
        fp = int(np.sum(predictions & (labels == 0)))
        fn = int(np.sum(~predictions & (labels == 1)))
        if tp + fp == 0 or tp + fn == 0:
            continue
        if tp == 0:
            continue
        precision = tp / (tp + fp)
        recall = tp / (tp + fn)
        f1 = 2 * precision * recall / (precision + recall)
        if f1 > best_f1:
            best_epsilon, best_f1 = float(epsilon), f1
    return best_epsilon, best_f1
