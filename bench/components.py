"""Where the time of one call goes: medians of its parts, for profiling.

Usage::

    python bench/components.py [--n 1000000] [--d 8] [--dtype float64]

Times, on one (n, d) array, the compiled kernels called directly and
the public calls around them (validation, workspace, the contamination
quantile), on one thread and on all of them.  This is the
evidence behind the notes in bench/README.md on targets not met; it asserts
nothing.
"""

import argparse
import timeit

import numpy as np

from gaussext import GaussianAnomalyDetector, GaussianStatistics, _kernels
from gaussext._gaussian import diagonal_gaussian, full_gaussian
from gaussext._parallel import n_threads_for
from gaussext._threshold import contamination_quantile


def median_ms(function, repeat=15):
    return 1e3 * float(np.median(timeit.repeat(function, number=1, repeat=repeat)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=8)
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.n, args.d)).astype(args.dtype)
    out = np.empty(args.n)
    rows = [("X.sum()", median_ms(lambda: X.sum())),
            ("X.mean(0) + X.var(0)", median_ms(lambda: (X.mean(axis=0), X.var(axis=0)))),
            ("np.cov(X.T)", median_ms(lambda: np.cov(X, rowvar=False)))]
    for n_jobs in (1, None):
        n_threads = n_threads_for(n_jobs, args.n * args.d * args.d)
        label = f"{n_threads} thread(s)"
        diagonal = GaussianAnomalyDetector("diagonal", n_jobs=n_jobs).fit(X[:20_000])
        full = GaussianAnomalyDetector("full", n_jobs=n_jobs).fit(X[:20_000])
        # the kernels' inputs, derived from the public attributes as a fit does
        diagonal_model = diagonal_gaussian(diagonal.mean_, diagonal.var_, remedies="")
        full_model = full_gaussian(full.mean_, full.covariance_, remedies="")
        workspace = np.empty(_kernels.full_workspace_shape(n_threads, args.d, args.n), X.dtype)
        whitening = full_model.whitening.astype(X.dtype)
        rows += [
            (f"diagonal kernel, {label}", median_ms(lambda: _kernels.diagonal_log_density(
                X, diagonal_model.mean, diagonal_model.inv_std, diagonal_model.log_norm, out,
                n_threads))),
            (f"diagonal score_samples, {label}", median_ms(lambda: diagonal.score_samples(X))),
            (f"full kernel, {label}", median_ms(lambda: _kernels.full_log_density(
                X, full_model.mean, full_model.inv_std, whitening, full_model.log_norm, out,
                workspace, n_threads))),
            (f"full score_samples, {label}", median_ms(lambda: full.score_samples(X))),
            (f"diagonal statistics, {label}", median_ms(
                lambda: GaussianStatistics("diagonal").update(X, n_jobs=n_threads))),
            (f"full statistics, {label}", median_ms(
                lambda: GaussianStatistics("full").update(X, n_jobs=n_threads))),
            (f"diagonal fit, {label}", median_ms(lambda: diagonal.fit(X), repeat=7)),
            (f"full fit, {label}", median_ms(lambda: full.fit(X), repeat=7)),
        ]
    scores = diagonal.score_samples(X)
    rows.append(("contamination quantile of n scores",
                 median_ms(lambda: contamination_quantile(scores, 0.1))))
    print(f"n = {args.n:,}, d = {args.d}, {args.dtype}; medians in ms")
    for name, milliseconds in rows:
        print(f"{milliseconds:10.2f}  {name}")


if __name__ == "__main__":
    main()
