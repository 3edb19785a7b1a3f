"""float32 against float64: one model scoring the same rows in either type.

Peers, each model fitted on the same training rows in the type it scores,
``GaussianAnomalyDetector(covariance).score_samples`` (all cores) on X and on
X rounded to float32:

* ``diagonal-float64 #p``, ``diagonal-float32 #p``, p = 1 .. PASSES;
* ``full-float64 #p``, ``full-float32 #p``.

The scoring tables time these shapes in both types as well, but there the two
types of one model are minutes apart (every peer of the float64 group runs
between them), and a shared machine's speed drifts over seconds and minutes
by more than the ratio's margin.  Here the two types alternate, pass after
pass, each timed for ROUNDS calls: the target reads the median over the
passes of each pass's ratio of medians, so each ratio compares two windows a
second apart and a pass that a drift split is outvoted.
"""

import numpy as np

JOB = "float32 vs float64"
PASSES = 5
ROUNDS = 25
PAIRS = [("diagonal-float64", "diagonal-float32"), ("full-float64", "full-float32")]
QUICK_CASES = [(2_000, 8, "both types")]
FULL_CASES = [(1_000_000, 32, "both types")]


def test_float32_against_float64(measure, data, training_rows, fitted_detector,
                                 reference_scores, case, pair_side):
    n_samples, n_features, _ = case
    covariance, dtype_name = pair_side.split("-")
    X = data(n_samples, n_features, dtype_name)
    detector = fitted_detector(X[:training_rows], covariance)
    result = measure.pedantic(detector.score_samples, args=(X,), rounds=ROUNDS,
                              warmup_rounds=2)
    # both types give the float64 model's scores of the float64 rows, to
    # float32's precision (the full model whitens float32 rows in float32)
    expected = reference_scores(n_samples, n_features, covariance)
    rtol = 1e-12 if dtype_name == "float64" else 1e-3
    np.testing.assert_allclose(result, expected, rtol=rtol, atol=rtol * np.abs(expected).max())
