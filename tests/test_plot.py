"""gaussext.plot: PNG files that exist and are not trivial, and the data drawn
checked against SciPy and the threshold search where that is cheap."""

import importlib
import sys

import matplotlib
import numpy as np
import pytest
from scipy import stats

matplotlib.use("Agg")

from gaussext import GaussianAnomalyDetector, evaluate, plot, select_threshold  # noqa: E402
from gaussext.datasets import make_demo_split  # noqa: E402

SPLIT = make_demo_split(600, 300, random_state=4)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _assert_png(path, min_bytes=20_000):
    content = path.read_bytes()
    assert content.startswith(PNG_SIGNATURE) and len(content) > min_bytes


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_report_png(covariance, tmp_path):
    det = GaussianAnomalyDetector(covariance).fit(SPLIT.X_train)
    result = det.tune_threshold(SPLIT.X_val, SPLIT.y_val)
    path = plot.save_report(tmp_path / "report.png", det, SPLIT.X_val, SPLIT.y_val,
                            threshold_result=result, feature_names=SPLIT.feature_names)
    _assert_png(path)
    # 4 histograms, contours, anomalies, curves
    assert len(plot.report(det, SPLIT.X_val, SPLIT.y_val, threshold_result=result).axes) == 7


def test_report_of_one_feature_has_no_scatter(tmp_path):
    X = np.random.default_rng(0).normal(size=(300, 1))
    det = GaussianAnomalyDetector().fit(X)
    figure = plot.report(det, X)
    assert len(figure.axes) == 1
    figure.savefig(tmp_path / "one.png", dpi=80)
    _assert_png(tmp_path / "one.png", min_bytes=5_000)


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_histogram_curves_are_the_fitted_normals(covariance):
    det = GaussianAnomalyDetector(covariance).fit(SPLIT.X_train)
    axes = plot.histograms(det, SPLIT.X_val)
    variances = det.var_ if covariance == "diagonal" else np.diag(det.covariance_)
    for j, ax in enumerate(axes):
        x, y = ax.lines[0].get_xydata().T
        np.testing.assert_allclose(y, stats.norm.pdf(x, det.mean_[j], np.sqrt(variances[j])),
                                   rtol=1e-12)
        assert ax.get_title() == f"x{j}"
        heights = [patch.get_height() for patch in ax.patches]
        widths = [patch.get_width() for patch in ax.patches]
        assert np.dot(heights, widths) == pytest.approx(1.0)   # a density histogram


def test_contours_use_the_two_dimensional_marginal():
    det = GaussianAnomalyDetector("full").fit(SPLIT.X_train)
    points = SPLIT.X_val[:20][:, [1, 3]]
    marginal = stats.multivariate_normal(det.mean_[[1, 3]], det.covariance_[np.ix_([1, 3], [1, 3])])
    np.testing.assert_allclose(plot.marginal_log_density(det, points, (1, 3)),
                               marginal.logpdf(points), rtol=1e-12)
    ax = plot.density_contours(det, SPLIT.X_val, (1, 3), SPLIT.feature_names)
    assert ax.get_xlabel() == SPLIT.feature_names[1] and "marginal" in ax.get_title()
    # on a two-feature model the epsilon contour is drawn, in red
    two = GaussianAnomalyDetector().fit(SPLIT.X_train[:, :2])
    ax = plot.density_contours(two, SPLIT.X_val[:, :2])
    assert len(ax.collections) >= 3


def test_threshold_curve_agrees_with_evaluate_at_every_candidate():
    det = GaussianAnomalyDetector().fit(SPLIT.X_train)
    scores = det.score_samples(SPLIT.X_val)
    data = plot.threshold_curve(SPLIT.y_val, scores)
    best = select_threshold(SPLIT.y_val, scores)
    # the marked choice, counted again by evaluate, is the curve's best
    chosen = evaluate(SPLIT.y_val, scores, log_epsilon=data["chosen"])
    assert chosen.f1 == data["best_f1"] == data["f1"].max()
    for k in range(0, data["log_epsilon"].size, 7):
        at = evaluate(SPLIT.y_val, scores, float(np.exp(data["log_epsilon"][k])))
        assert (at.precision, at.recall, at.f1) == (
            data["precision"][k], data["recall"][k], data["f1"][k])
    ax = plot.threshold_curves(best)
    assert ax.lines[-1].get_xdata()[0] == best.log_epsilon      # the chosen epsilon marked
    np.testing.assert_array_equal(ax.lines[2].get_ydata(), data["f1"])


def test_anomalies_highlights_the_predicted_rows():
    det = GaussianAnomalyDetector("full").fit(SPLIT.X_train)
    det.tune_threshold(SPLIT.X_val, SPLIT.y_val)
    ax = plot.anomalies(det, SPLIT.X_val, (0, 2), SPLIT.y_val)
    flagged = det.predict(SPLIT.X_val) == -1
    np.testing.assert_array_equal(ax.collections[1].get_offsets(), SPLIT.X_val[flagged][:, [0, 2]])
    np.testing.assert_array_equal(ax.collections[2].get_offsets(),
                                  SPLIT.X_val[SPLIT.y_val == 1][:, [0, 2]])


def test_bad_arguments():
    det = GaussianAnomalyDetector().fit(SPLIT.X_train)
    with pytest.raises(ValueError, match=r"features must be two different column indices in "
                                         r"\[0, 4\), got \(1, 1\)"):
        plot.density_contours(det, SPLIT.X_val, (1, 1))
    with pytest.raises(ValueError, match="X has 2 features, but GaussianAnomalyDetector is expecting 4 features as input"):
        plot.anomalies(det, SPLIT.X_val[:, :2])
    with pytest.raises(TypeError, match="threshold_result must be a ThresholdResult"):
        plot.threshold_curves({"f1": 1.0})


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.delitem(sys.modules, "gaussext.plot")
    with pytest.raises(ImportError, match=r"pip install 'gaussext\[plot\]'"):
        importlib.import_module("gaussext.plot")
