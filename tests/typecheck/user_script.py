"""A typical user's script, checked with ``mypy --strict`` (tests/test_packaging.py)
and run as written: every public name it uses must carry annotations precise
enough for a strictly typed application."""

import numpy as np
import numpy.typing as npt

import gaussext
from gaussext import (GaussianAnomalyDetector, GaussianizingTransformer, GaussianStatistics,
                      ThresholdResult, evaluate, select_threshold)
from gaussext.datasets import make_demo_split, make_server_metrics


def flag_anomalies(train: npt.NDArray[np.float64], val: npt.NDArray[np.float64],
                   labels: npt.NDArray[np.int64]) -> tuple[float, npt.NDArray[np.int64]]:
    detector = GaussianAnomalyDetector("full", contamination=0.05).fit(train)
    result: ThresholdResult = detector.tune_threshold(val, labels)
    flags = detector.predict(val)
    scores: npt.NDArray[np.float64] = detector.score_samples(val)
    check = evaluate(labels, scores, log_epsilon=result.log_epsilon)
    assert check.f1 == result.f1
    return result.epsilon, flags


def main() -> None:
    split = make_demo_split(random_state=0)
    epsilon, flags = flag_anomalies(split.X_train, split.X_val, split.y_val)
    print(f"epsilon {epsilon:.3g}; {int((flags == -1).sum())} of {flags.size} flagged")

    statistics = GaussianStatistics("diagonal").update(split.X_train[:1000])
    statistics = statistics.merge(GaussianStatistics("diagonal").update(split.X_train[1000:]))
    variances: npt.NDArray[np.float64] = statistics.variance(ddof=1)
    print(statistics.n_samples, variances.round(2))

    X, y = make_server_metrics(500, anomaly_fraction=0.04, random_state=1)
    positive = X - X.min(axis=0) + 1.0
    transformer = GaussianizingTransformer(alpha=0.05).fit(positive)
    names: list[str] = [str(name) for name in transformer.get_feature_names_out()]
    print(dict(zip(names, transformer.transforms_)))
    detector = GaussianAnomalyDetector().set_params(contamination=0.04).fit(positive)
    best = select_threshold(y, detector.score_samples(positive), method="grid")
    print(f"{best.f1:.3f}", gaussext.__version__)


if __name__ == "__main__":
    main()
