"""Contaminated data sets for the robust fit, and the table of their ROC AUCs.

Every model is fitted on *all* the rows of a set, anomalies included, as an
unsupervised user must, and ranks the same rows; the AUC says how well its
ranking separates the labelled anomalies.  Sets:

* from data shipped with scikit-learn (no download): breast cancer (benign
  rows, plus the first malignant rows to 5%, 10% and 30% of the set), wine
  (classes 0 and 1, plus the first class-2 rows to 10%), digits (zeros, plus
  the first other digits to 10%; the constant pixels dropped);
* synthetic, seeded: correlated Gaussian inliers with scattered anomalies
  (2%, 10%, 35%), a clustered group of anomalies (10%, 35%),
  correlation-breaking anomalies inside the marginal ranges (10%), and
  heavy-tailed (multivariate t, 3 dof) inliers with scattered anomalies (5%);
* a large set (n = 50,000, d = 9, 10% scattered) for the time.

Run ``python bench/robust_suite.py`` for the table in bench/README.md.
"""

import time

import numpy as np

CONTAMINATION_CASES = {"breast-cancer": (0.05, 0.10, 0.30), "wine": (0.10,), "digits": (0.10,)}


def _with_anomalies(inliers, outliers, fraction):
    """All inliers plus the first outliers, so that they make `fraction` of the rows."""
    n_out = max(1, int(round(fraction * inliers.shape[0] / (1.0 - fraction))))
    X = np.vstack([inliers, outliers[:n_out]])
    y = np.r_[np.zeros(inliers.shape[0], dtype=int), np.ones(n_out, dtype=int)]
    return X, y


def sklearn_sets():
    """[(name, X, y)] from data sets that ship with scikit-learn."""
    from sklearn import datasets

    sets = []
    cancer = datasets.load_breast_cancer()
    # target 1 is benign
    for fraction in CONTAMINATION_CASES["breast-cancer"]:
        X, y = _with_anomalies(cancer.data[cancer.target == 1], cancer.data[cancer.target == 0],
                               fraction)
        sets.append((f"breast-cancer {fraction:.0%}", X, y))
    wine = datasets.load_wine()
    X, y = _with_anomalies(wine.data[wine.target < 2], wine.data[wine.target == 2], 0.10)
    sets.append(("wine 10%", X, y))
    digits = datasets.load_digits()
    X, y = _with_anomalies(digits.data[digits.target == 0], digits.data[digits.target != 0],
                           0.10)
    varying = np.ptp(X[y == 0], axis=0) > 0
    # pixels that are 0 in most zeros leave any half-sample's covariance
    # singular: our models are regularised here (see DIGITS_PARAMS)
    sets.append(("digits 10%", X[:, varying], y))
    return sets


def _correlated(rng, n, d):
    mixing = rng.normal(size=(d, d)) / np.sqrt(d) + np.eye(d)
    return rng.standard_normal((n, d)) @ mixing, mixing


def synthetic_sets(n=2_000, d=6, seed=0):
    """[(name, X, y)] of seeded synthetic sets with n inliers of d features."""
    sets = []
    for fraction in (0.02, 0.10, 0.35):
        rng = np.random.default_rng([seed, 1, int(fraction * 100)])
        inliers, _ = _correlated(rng, n, d)
        scattered = rng.uniform(-8.0, 8.0, size=(n, d))
        X, y = _with_anomalies(inliers, scattered, fraction)
        sets.append((f"scattered {fraction:.0%}", X, y))
    for fraction, spread in ((0.10, 0.3), (0.35, 0.3), (0.35, 1.0)):
        rng = np.random.default_rng([seed, 2, int(fraction * 100), int(spread * 10)])
        inliers, _ = _correlated(rng, n, d)
        # a tight cluster is denser than the inliers: no density model can
        # rank it as anomalous once it outweighs the robust fit's breakdown
        cluster = 4.0 + spread * rng.standard_normal((n, d))
        X, y = _with_anomalies(inliers, cluster, fraction)
        sets.append((f"clustered {fraction:.0%} sd {spread}", X, y))
    rng = np.random.default_rng([seed, 3])
    inliers, mixing = _correlated(rng, n, d)
    # each feature drawn as an inlier's, but from different rows: marginals
    # kept, correlations broken
    shuffled = np.column_stack([rng.permutation(inliers[:, j]) for j in range(d)])
    X, y = _with_anomalies(inliers, shuffled, 0.10)
    sets.append(("correlation-breaking 10%", X, y))
    rng = np.random.default_rng([seed, 4])
    gaussian, _ = _correlated(rng, n, d)
    heavy = gaussian / np.sqrt(rng.chisquare(3, size=(n, 1)) / 3.0)
    X, y = _with_anomalies(heavy, rng.uniform(-15.0, 15.0, size=(n, d)), 0.05)
    sets.append(("heavy-tailed t3 5%", X, y))
    return sets


def large_set(n=50_000, d=9, seed=0):
    """(name, X, y): the timing set, 10% scattered anomalies."""
    rng = np.random.default_rng([seed, 5])
    n_in = int(0.9 * n)
    inliers, _ = _correlated(rng, n_in, d)
    X, y = _with_anomalies(inliers, rng.uniform(-8.0, 8.0, size=(n, d)), 0.10)
    return f"large {X.shape[0]}x{d} 10%", X, y


# Regularisation of our models on the digits set, plain and robust alike:
# pixel intensities run from 0 to 16.
DIGITS_PARAMS = {"full": {"shrinkage": "oas"}, "diagonal": {"variance_floor": 1.0}}


def scorers(set_name=""):
    """{name: fit-and-score callable X -> anomaly score (higher = more anomalous)}."""
    from sklearn.covariance import EllipticEnvelope

    from gaussext import GaussianAnomalyDetector

    def ours(covariance, robust):
        params = DIGITS_PARAMS[covariance] if set_name.startswith("digits") else {}
        return lambda X: -GaussianAnomalyDetector(covariance, robust=robust, **params) \
            .fit(X).score_samples(X)

    return {
        "plain full": ours("full", False),
        "robust full": ours("full", True),
        "plain diagonal": ours("diagonal", False),
        "robust diagonal": ours("diagonal", True),
        # EllipticEnvelope's score is MinCovDet's Mahalanobis distance
        "EllipticEnvelope": lambda X: -EllipticEnvelope(random_state=0).fit(X).score_samples(X),
    }


def evaluate(sets, names=None):
    """[(set name, n, d, {scorer: (auc, seconds)})] for every set and scorer."""
    import warnings

    from sklearn.metrics import roc_auc_score

    table = []
    for set_name, X, y in sets:
        row = {}
        for name, score in scorers(set_name).items():
            if names is not None and name not in names:
                continue
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # singular-looking sets warn in sklearn
                try:
                    scores = score(X)
                except ValueError as exc:  # a model that refuses the set is reported
                    row[name] = (float("nan"), float("nan"), str(exc)[:60])
                    continue
            seconds = time.perf_counter() - start
            row[name] = (roc_auc_score(y, scores), seconds, "")
        table.append((set_name, X.shape[0], X.shape[1], row))
    return table


def markdown(table):
    names = list(table[0][3])
    lines = ["| set | n | d | " + " | ".join(f"AUC {name}" for name in names)
             + " | " + " | ".join(f"s {name}" for name in names) + " |",
             "|---|---:|---:|" + "---:|" * (2 * len(names))]
    for set_name, n, d, row in table:
        lines.append(f"| {set_name} | {n} | {d} | "
                     + " | ".join(f"{row[name][0]:.3f}" for name in names) + " | "
                     + " | ".join(f"{row[name][1]:.3g}" for name in names) + " |")
    means = [np.nanmean([row[name][0] for *_, row in table]) for name in names]
    lines.append("| **mean** | | | " + " | ".join(f"**{m:.3f}**" for m in means) + " |"
                 + " |" * len(names))
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    sets = sklearn_sets() + synthetic_sets()
    print(markdown(evaluate(sets)))
    if "--no-large" not in sys.argv:
        print()
        print(markdown(evaluate([large_set()])))
