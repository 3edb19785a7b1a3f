"""The default threads against one thread: one model scoring the same rows.

Peers, each ``GaussianAnomalyDetector(covariance, n_jobs=...).score_samples``
fitted on the same training rows:

* ``diagonal-default #p``, ``diagonal-1-thread #p``, p = 1 .. PASSES;
* ``full-default #p``, ``full-1-thread #p``.

The scoring tables time ``gaussext`` and ``gaussext-1-thread`` too, each for
its own second or so.  On a shared two-core machine whether the second core
is there changes over seconds, and that is exactly what this ratio measures:
so the two alternate here, pass after pass, each timed for ROUNDS calls, and
the target reads the median over the passes of each pass's ratio.
"""

import numpy as np

JOB = "threads vs one thread"
PASSES = 5
ROUNDS = 40
PAIRS = [("diagonal-default", "diagonal-1-thread"), ("full-default", "full-1-thread")]
QUICK_CASES = [(20_000, 8, "float64")]
FULL_CASES = [(1_000_000, 8, "float64")]


def test_threads_against_one_thread(measure, data, training_rows, fitted_detector,
                                    reference_scores, case, pair_side):
    n_samples, n_features, _ = case
    covariance, threads = pair_side.split("-", 1)
    X = data(*case)
    detector = fitted_detector(X[:training_rows], covariance,
                               None if threads == "default" else 1)
    result = measure.pedantic(detector.score_samples, args=(X,), rounds=ROUNDS,
                              warmup_rounds=2)
    # every thread count gives the same bits
    assert np.array_equal(result, reference_scores(n_samples, n_features, covariance))
