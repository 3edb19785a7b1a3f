"""Figures for a fitted detector (needs matplotlib: ``pip install 'gaussext[plot]'``).

The pictures of the classic method: each feature's histogram with the fitted
normal over it, a scatter of two features with the model's density contours,
precision / recall / F1 against the threshold with the chosen epsilon marked,
and the data with the flagged anomalies highlighted; :func:`report` puts them
in one figure.  Figures are built with ``matplotlib.figure.Figure`` (no
pyplot, no window), so they work on any backend, headless included.
"""

import math

import numpy as np

try:
    from matplotlib.figure import Figure
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "gaussext.plot needs matplotlib, which is an optional extra: "
        "pip install 'gaussext[plot]'"
    ) from exc

from gaussext._threshold import ThresholdResult, select_threshold
from gaussext._validation import check_array, check_is_fitted, check_labels, check_n_features

__all__ = ["anomalies", "density_contours", "histograms", "report", "save_report",
           "threshold_curve", "threshold_curves"]

_LOG_2PI = math.log(2.0 * math.pi)


def _marginal(detector, features):
    """(mean, covariance) of the model's marginal over `features`.

    A Gaussian's marginal over a subset of coordinates is the Gaussian with
    the sub-vector of the mean and the sub-block of the covariance.
    """
    check_is_fitted(detector)
    index = np.asarray(features)
    if hasattr(detector, "covariance_"):
        covariance = detector.covariance_[np.ix_(index, index)]
    else:
        covariance = np.diag(detector.var_[index])
    return detector.mean_[index], covariance


def marginal_log_density(detector, points, features):
    """log-density of the model's marginal over `features` at `points`.

    Parameters
    ----------
    detector : fitted GaussianAnomalyDetector
    points : ndarray of shape (n, len(features))
    features : sequence of int

    Returns
    -------
    ndarray of shape (n,)
        log N(points; mu_F, Sigma_FF), computed plainly with NumPy.
    """
    mean, covariance = _marginal(detector, features)
    residual = np.asarray(points, dtype=np.float64) - mean
    sign, log_det = np.linalg.slogdet(covariance)
    solved = np.linalg.solve(covariance, residual.T).T
    quadratic = np.einsum("ij,ij->i", residual, solved)
    return -0.5 * (len(features) * _LOG_2PI + log_det + quadratic)


def _names(detector, X, feature_names):
    if feature_names is not None:
        return [str(name) for name in feature_names]
    fitted = getattr(detector, "feature_names_in_", None)
    if fitted is not None:
        return [str(name) for name in fitted]
    return [f"x{j}" for j in range(X.shape[1])]


def _check_data(detector, X, features=None):
    check_is_fitted(detector)
    X = check_array(X)
    check_n_features(X, detector.n_features_in_, type(detector).__name__)
    if features is not None:
        features = tuple(int(f) for f in features)
        if len(features) != 2 or len(set(features)) != 2 or not all(
                0 <= f < X.shape[1] for f in features):
            raise ValueError(f"features must be two different column indices in "
                             f"[0, {X.shape[1]}), got {features}")
    return X, features


def histograms(detector, X, feature_names=None, *, bins=30, axes=None):
    """One histogram per feature (as a density) with the fitted normal over it.

    For the full model the curve is feature j's marginal, N(mu_j, Sigma_jj).

    Parameters
    ----------
    detector : fitted GaussianAnomalyDetector
    X : array-like of shape (n_samples, n_features)
    feature_names : sequence of str, optional
    bins : int
    axes : sequence of matplotlib Axes, optional
        One per feature; a new figure with one row of axes when omitted.

    Returns
    -------
    list of Axes
    """
    X, _ = _check_data(detector, X)
    names = _names(detector, X, feature_names)
    if axes is None:
        figure = Figure(figsize=(3.2 * X.shape[1], 2.8), layout="constrained")
        axes = figure.subplots(1, X.shape[1], squeeze=False)[0]
    for j, ax in enumerate(axes):
        mean, covariance = _marginal(detector, [j])
        std = math.sqrt(covariance[0, 0])
        ax.hist(X[:, j], bins=bins, density=True, color="0.75", edgecolor="0.45")
        grid = np.linspace(min(X[:, j].min(), mean[0] - 4 * std),
                           max(X[:, j].max(), mean[0] + 4 * std), 200)
        ax.plot(grid, np.exp(marginal_log_density(detector, grid[:, None], [j])),
                color="tab:blue", label=f"N({mean[0]:.3g}, {std * std:.3g})")
        ax.set_title(names[j], fontsize=9)
        ax.legend(fontsize=7)
    return list(axes)


def density_contours(detector, X, features=(0, 1), feature_names=None, *, ax=None):
    """Scatter of two features with the contours of the model's density.

    The contours are those of the model's 2-D marginal over the two features
    (for a two-feature model, the model itself, whose epsilon contour is drawn
    in red: points outside it are flagged).  Levels are spaced by powers of
    ten of the density.

    Returns
    -------
    matplotlib Axes
    """
    X, features = _check_data(detector, X, features)
    names = _names(detector, X, feature_names)
    ax = ax if ax is not None else Figure(figsize=(4, 3.5), layout="constrained").subplots()
    i, j = features
    pad_i, pad_j = np.ptp(X[:, i]) * 0.1, np.ptp(X[:, j]) * 0.1
    grid_i = np.linspace(X[:, i].min() - pad_i, X[:, i].max() + pad_i, 150)
    grid_j = np.linspace(X[:, j].min() - pad_j, X[:, j].max() + pad_j, 150)
    mesh_i, mesh_j = np.meshgrid(grid_i, grid_j)
    log_density = marginal_log_density(
        detector, np.column_stack([mesh_i.ravel(), mesh_j.ravel()]), features
    ).reshape(mesh_i.shape)
    peak = float(log_density.max())
    levels = peak - np.log(10.0) * np.arange(20, 0, -2)  # 10^-20 ... 10^-2 of the peak
    ax.scatter(X[:, i], X[:, j], s=6, color="0.35", linewidths=0)
    ax.contour(mesh_i, mesh_j, log_density, levels=levels, cmap="viridis", linewidths=0.8)
    if X.shape[1] == 2 and np.isfinite(detector.log_epsilon_) and \
            log_density.min() < detector.log_epsilon_ < peak:
        ax.contour(mesh_i, mesh_j, log_density, levels=[detector.log_epsilon_], colors="red",
                   linewidths=1.2)
    ax.set_xlabel(names[i])
    ax.set_ylabel(names[j])
    ax.set_title("density contours" + (" (2-D marginal)" if X.shape[1] > 2 else ""), fontsize=9)
    return ax


def threshold_curve(y_true, log_density, *, method="exact"):
    """The data :func:`threshold_curves` plots: one F1 search's curves.

    Returns
    -------
    dict
        ``log_epsilon`` (candidate thresholds, ascending, finite ones only),
        ``precision``, ``recall``, ``f1`` at each, and ``chosen`` (the
        selected log epsilon) -- from :func:`gaussext.select_threshold`.
    """
    return _curve_data(select_threshold(y_true, log_density, method=method))


def _curve_data(result):
    finite = np.isfinite(result.thresholds)
    return {"log_epsilon": result.thresholds[finite], "precision": result.precision_curve[finite],
            "recall": result.recall_curve[finite], "f1": result.f1_curve[finite],
            "chosen": result.log_epsilon, "best_f1": result.f1}


def threshold_curves(threshold_result, *, ax=None):
    """Precision, recall and F1 against log epsilon, the chosen epsilon marked.

    Parameters
    ----------
    threshold_result : ThresholdResult
        From ``tune_threshold`` or ``select_threshold``.

    Returns
    -------
    matplotlib Axes
    """
    if not isinstance(threshold_result, ThresholdResult):
        raise TypeError(f"threshold_result must be a ThresholdResult, got "
                        f"{type(threshold_result).__name__}")
    data = _curve_data(threshold_result)
    ax = ax if ax is not None else Figure(figsize=(4, 3), layout="constrained").subplots()
    for key, color in (("precision", "tab:blue"), ("recall", "tab:orange"), ("f1", "tab:green")):
        ax.plot(data["log_epsilon"], data[key], label=key, color=color, linewidth=1.2)
    ax.axvline(data["chosen"], color="red", linestyle="--", linewidth=1,
               label=f"epsilon = {threshold_result.epsilon:.3g} (F1 {data['best_f1']:.3f})")
    ax.set_xlabel("log epsilon")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    ax.set_title("threshold search", fontsize=9)
    return ax


def anomalies(detector, X, features=(0, 1), y_true=None, feature_names=None, *, ax=None):
    """Scatter of two features with the rows flagged (p(x) < epsilon) in red.

    With `y_true`, labelled anomalies are circled, so misses show as circles
    without red and false alarms as red without a circle.

    Returns
    -------
    matplotlib Axes
    """
    # predict sees X as given, so that a DataFrame's names are checked
    flagged = detector.predict(X) == -1
    X, features = _check_data(detector, X, features)
    names = _names(detector, X, feature_names)
    ax = ax if ax is not None else Figure(figsize=(4, 3.5), layout="constrained").subplots()
    i, j = features
    ax.scatter(X[~flagged, i], X[~flagged, j], s=6, color="0.5", linewidths=0, label="normal")
    ax.scatter(X[flagged, i], X[flagged, j], s=14, color="red", label=f"flagged ({flagged.sum()})")
    if y_true is not None:
        labelled = check_labels(y_true, X.shape[0], name="y_true",
                                both_classes=False).view(bool)
        ax.scatter(X[labelled, i], X[labelled, j], s=60, facecolors="none", edgecolors="black",
                   linewidths=0.8, label=f"labelled anomaly ({labelled.sum()})")
    ax.set_xlabel(names[i])
    ax.set_ylabel(names[j])
    ax.legend(fontsize=7)
    ax.set_title("flagged anomalies", fontsize=9)
    return ax


def report(detector, X, y_true=None, *, threshold_result=None, feature_names=None,
           features=(0, 1), max_histograms=4):
    """One figure: histograms (up to `max_histograms` features), density
    contours and flagged anomalies of two features, and the threshold curves
    when a `threshold_result` is given.

    Returns
    -------
    matplotlib.figure.Figure
    """
    n_features = _check_data(detector, X)[0].shape[1]
    n_hist = min(n_features, max_histograms)
    lower = (2 if n_features >= 2 else 0) + (threshold_result is not None)
    columns = max(n_hist, lower, 1)
    figure = Figure(figsize=(3.2 * columns, 2.8 * (1 + (lower > 0))), layout="constrained")
    grid = figure.add_gridspec(1 + (lower > 0), columns)
    # one axes per histogram drawn: the first n_hist features
    histograms(detector, X, feature_names,
               axes=[figure.add_subplot(grid[0, j]) for j in range(n_hist)])
    position = 0
    if n_features >= 2:
        density_contours(detector, X, features, feature_names,
                         ax=figure.add_subplot(grid[1, 0]))
        anomalies(detector, X, features, y_true, feature_names,
                  ax=figure.add_subplot(grid[1, 1]))
        position = 2
    if threshold_result is not None:
        threshold_curves(threshold_result, ax=figure.add_subplot(grid[1, position]))
    return figure


def save_report(path, detector, X, y_true=None, *, dpi=90, **options):
    """Write :func:`report` to `path` (PNG, or any format matplotlib knows
    from the extension); returns the path."""
    report(detector, X, y_true, **options).savefig(path, dpi=dpi)
    return path
