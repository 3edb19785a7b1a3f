"""Exactly collinear features with regularization: scores against a
pseudo-inverse reference on the rank-reduced space.

With a ridge lambda, the squared Mahalanobis distance of a point x whose
deviation delta = x - mu lies in the range of the (singular) covariance Sigma
is sum_k (v_k' delta)^2 / (lambda_k + lambda) over Sigma's nonzero
eigenpairs: it differs from the pseudo-inverse distance delta' Sigma^+ delta
by a relative amount of at most lambda / lambda_min, where lambda_min is the
smallest nonzero eigenvalue.  A point that breaks the dependency has a
component along the null space, divided by lambda alone: it must rank as
more anomalous than every point that keeps it.
"""

import math

import numpy as np
import pytest

from gaussext import GaussianAnomalyDetector

LOG_2PI = math.log(2 * math.pi)


def _independent(n_samples, rng):
    mixing = np.array([[2.0, 0.0, 0.0], [0.8, 1.0, 0.0], [-0.5, 0.3, 0.5]])
    return 10.0 + rng.normal(size=(n_samples, 3)) @ mixing.T


DEPENDENCIES = {
    "minus another": lambda base: np.column_stack([base, -base[:, 0]]),
    "difference of two others": lambda base: np.column_stack([base, base[:, 0] - base[:, 1]]),
}


def _pseudo_inverse_distance(X_train, points):
    """delta' Sigma^+ delta with Sigma the maximum-likelihood covariance,
    restricted to its numerically nonzero eigenvalues; and the smallest one."""
    mean = X_train.mean(axis=0)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(X_train, rowvar=False, bias=True))
    kept = eigenvalues > 1e-10 * eigenvalues.max()
    projections = (points - mean) @ eigenvectors[:, kept]
    return np.sum(projections**2 / eigenvalues[kept], axis=1), eigenvalues[kept].min()


def _squared_distance(detector, points):
    """Read delta' Sigma_reg^-1 delta back from log p(x)."""
    d = points.shape[1]
    return -2.0 * detector.score_samples(points) - d * LOG_2PI - detector.log_det_


@pytest.mark.parametrize("dependency", sorted(DEPENDENCIES))
@pytest.mark.parametrize("remedy", ["reg_covar", "shrinkage"])
def test_scores_agree_with_the_pseudo_inverse(dependency, remedy):
    rng = np.random.default_rng(0)
    make = DEPENDENCIES[dependency]
    X_train = make(_independent(5000, rng))
    points = make(_independent(300, rng))
    average_variance = float(np.mean(X_train.var(axis=0)))
    if remedy == "reg_covar":
        ridge = 1e-8 * average_variance
        detector = GaussianAnomalyDetector("full", reg_covar=ridge).fit(X_train)
        scale = 1.0
    else:
        # (1 - s) Sigma + s tr(Sigma)/p I: a ridge of s tr/p on a scaled Sigma
        intensity = 1e-8
        detector = GaussianAnomalyDetector("full", shrinkage=intensity).fit(X_train)
        ridge = intensity * average_variance
        scale = 1.0 - intensity
    assert detector.rank_ == 4

    reference, smallest = _pseudo_inverse_distance(X_train, points)
    distance = _squared_distance(detector, points) * scale
    assert np.all(np.isfinite(distance))
    # the ridge's bias bound plus the rounding that conditioning amplifies
    tolerance = ridge / smallest + detector.condition_number_ * np.finfo(np.float64).eps
    np.testing.assert_allclose(distance, reference, rtol=tolerance)

    # the same ranking as the rank-reduced model: the dependent column dropped
    reduced = GaussianAnomalyDetector("full").fit(X_train[:, :3])
    order = np.argsort(detector.score_samples(points), kind="stable")
    assert np.array_equal(order, np.argsort(reduced.score_samples(points[:, :3]), kind="stable"))
    assert np.array_equal(order, np.argsort(-reference, kind="stable"))

    # breaking the dependency by a tenth of a standard deviation outranks all
    broken = points[:20].copy()
    broken[:, 3] += 0.1 * np.sqrt(X_train[:, 3].var())
    assert detector.score_samples(broken).max() < detector.score_samples(points).min()
