"""Regenerate the README's figures in bench/figures/ (needs the plot extra).

Usage::

    python bench/figures.py

Writes ``demo-report.png`` (the demo's full-covariance model on generated
server metrics), ``server-report.png`` (the per-feature model on
../shared/data/server-operational-params.csv, epsilon by the classic grid,
when that folder is present) and ``gaussianize.png`` (a lognormal feature
before and after GaussianizingTransformer).
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from gaussext import GaussianAnomalyDetector, GaussianizingTransformer, plot  # noqa: E402
from gaussext._io import read_table  # noqa: E402
from gaussext.datasets import make_demo_split  # noqa: E402

OUT = Path(__file__).resolve().parent / "figures"
SERVER_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / \
    "server-operational-params.csv"
DPI = 80


def demo_report():
    split = make_demo_split(random_state=0)
    det = GaussianAnomalyDetector("full").fit(split.X_train)
    result = det.tune_threshold(split.X_val, split.y_val)
    return plot.save_report(OUT / "demo-report.png", det, split.X_val, split.y_val,
                            threshold_result=result, feature_names=split.feature_names, dpi=DPI)


def server_report():
    table = read_table(str(SERVER_CSV))
    X, names = table.features(exclude=("Anomaly",))
    labels = table.labels("Anomaly")
    det = GaussianAnomalyDetector().fit(X)
    result = det.tune_threshold(X, labels, method="grid")
    return plot.save_report(OUT / "server-report.png", det, X, labels, threshold_result=result,
                            feature_names=names, dpi=DPI)


def gaussianize():
    rng = np.random.default_rng(0)
    latency = rng.lognormal(1.0, 0.7, size=(2000, 1))
    transformer = GaussianizingTransformer().fit(latency)
    transformed = transformer.transform(latency)
    figure = Figure(figsize=(6.4, 2.6), layout="constrained")
    axes = figure.subplots(1, 2)
    for ax, data, title in ((axes[0], latency, "latency (raw)"),
                            (axes[1], transformed,
                             f"{transformer.transforms_[0]}(latency)")):
        plot.histograms(GaussianAnomalyDetector().fit(data), data, [title], axes=[ax])
    path = OUT / "gaussianize.png"
    figure.savefig(path, dpi=DPI)
    return path


def _shrink(path):
    """Rewrite a PNG with a 64-colour palette: a third of the bytes, same look
    (PIL comes with matplotlib)."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=64)
    small.save(path, optimize=True)


def main():
    OUT.mkdir(exist_ok=True)
    written = [demo_report(), gaussianize()]
    if SERVER_CSV.is_file():
        written.append(server_report())
    for path in written:
        _shrink(path)
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
