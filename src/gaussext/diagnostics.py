"""How Gaussian each feature looks, and what transform would help.

The Gaussian model assumes every feature is roughly normal.  For each column
:func:`gaussianity` reports the sample skewness, the excess kurtosis, the
p-value of D'Agostino and Pearson's normality test and the transform that
:class:`gaussext.GaussianizingTransformer` would choose.
"""

from dataclasses import dataclass

import numpy as np
from scipy import stats

from gaussext._transform import MIN_SAMPLES_FOR_TEST, choose_transform, is_constant
from gaussext._transform import normality
from gaussext._validation import check_array

__all__ = ["GaussianityReport", "gaussianity"]


@dataclass(frozen=True)
class GaussianityReport:
    """Per-feature normality figures, one entry per column.

    Attributes
    ----------
    feature_names : tuple of str
    n_samples : int
    skewness : ndarray of shape (n_features,)
        Sample skewness ``scipy.stats.skew(x)`` (biased, as SciPy's default):
        0 for a symmetric distribution, > 0 for a long right tail.
    excess_kurtosis : ndarray of shape (n_features,)
        ``scipy.stats.kurtosis(x)`` (Fisher's definition): 0 for a normal.
    statistic, p_value : ndarray of shape (n_features,)
        K² and p-value of ``scipy.stats.normaltest(x)``; a small p-value
        means "not normal".
    suggested : tuple of str
        The transform a GaussianizingTransformer would choose (a name from
        ``TRANSFORMS``), or "drop" for a constant column.
    notes : tuple of str
        Why figures are missing: "constant" (skewness, kurtosis, statistic and
        p-value are NaN: they are undefined for a column without spread) or
        "fewer than 20 rows: no normality test" (statistic and p-value NaN);
        "" otherwise.  No other entry is ever NaN.
    """

    feature_names: tuple
    n_samples: int
    skewness: np.ndarray
    excess_kurtosis: np.ndarray
    statistic: np.ndarray
    p_value: np.ndarray
    suggested: tuple
    notes: tuple

    def rows(self):
        """One tuple per feature: (name, skewness, excess kurtosis, p-value,
        suggested, note)."""
        return list(zip(self.feature_names, self.skewness, self.excess_kurtosis, self.p_value,
                        self.suggested, self.notes))


def gaussianity(X, feature_names=None, *, alpha=0.01):
    """Skewness, excess kurtosis, normality p-value and a suggested transform per feature.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Finite numbers.
    feature_names : sequence of str of length n_features, optional
        Defaults to "x0", "x1", ...
    alpha : float, default=0.01
        Level of the normality test used to choose the transform (see
        :func:`gaussext._transform.choose_transform`).

    Returns
    -------
    GaussianityReport

    Notes
    -----
    With fewer than 20 rows the normality test is not run (SciPy documents
    its kurtosis test as valid from 20 observations): statistic and p-value
    are NaN, the note says so, and the suggested transform is "identity".
    A constant column gets NaN moments, the note "constant" and the
    suggestion "drop" (its variance is 0, so no Gaussian fits it).

    Examples
    --------
    >>> import numpy as np
    >>> from gaussext.diagnostics import gaussianity
    >>> rng = np.random.default_rng(0)
    >>> report = gaussianity(rng.lognormal(size=(500, 1)), ["latency"])
    >>> report.suggested
    ('log',)
    """
    X = check_array(X)
    n_samples, n_features = X.shape
    if feature_names is None:
        feature_names = tuple(f"x{j}" for j in range(n_features))
    else:
        feature_names = tuple(str(name) for name in feature_names)
        if len(feature_names) != n_features:
            raise ValueError(f"feature_names has {len(feature_names)} names but X has "
                             f"{n_features} features")
    figures = np.full((4, n_features), np.nan)  # skewness, kurtosis, K², p
    suggested, notes = [], []
    for j in range(n_features):
        column = np.asarray(X[:, j], dtype=np.float64)
        if is_constant(column):  # a single row included
            suggested.append("drop")
            notes.append("constant")
            continue
        figures[0, j] = stats.skew(column)
        figures[1, j] = stats.kurtosis(column)
        if n_samples < MIN_SAMPLES_FOR_TEST:
            suggested.append("identity")
            notes.append(f"fewer than {MIN_SAMPLES_FOR_TEST} rows: no normality test")
            continue
        figures[2, j], figures[3, j] = normality(column)
        suggested.append(choose_transform(column, alpha=alpha)[0])
        notes.append("")
    return GaussianityReport(feature_names, n_samples, figures[0], figures[1], figures[2],
                             figures[3], tuple(suggested), tuple(notes))
