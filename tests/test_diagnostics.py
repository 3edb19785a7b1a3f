"""gaussianity(): figures against scipy.stats, the transform suggested for
known distributions, and the documented outcomes for tiny and constant columns."""

import numpy as np
import pytest
from scipy import stats

from gaussext.diagnostics import gaussianity

N = 3000
RNG = np.random.default_rng(1)
#: (name, column, transform that makes it exactly normal)
KNOWN = [
    ("normal", RNG.normal(3.0, 2.0, size=N), "identity"),
    ("lognormal", np.exp(0.7 * RNG.normal(size=N) + 1.0), "log"),
    ("square of a normal", np.square(RNG.normal(6.0, 1.0, size=N)), "sqrt"),
    ("cube of a normal", RNG.normal(size=N) ** 3, "cbrt"),
    ("lognormal minus 1", np.expm1(0.5 * RNG.normal(size=N)), "log1p"),
    ("Box-Cox, lambda 1/4", (1 + 0.25 * RNG.normal(size=N)) ** 4, "boxcox"),
]
X_KNOWN = np.column_stack([column for _, column, _ in KNOWN])


def test_figures_are_scipys():
    report = gaussianity(X_KNOWN)
    np.testing.assert_allclose(report.skewness, stats.skew(X_KNOWN), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(report.excess_kurtosis, stats.kurtosis(X_KNOWN), rtol=1e-12)
    expected = stats.normaltest(X_KNOWN)
    np.testing.assert_allclose(report.statistic, expected.statistic, rtol=1e-12)
    np.testing.assert_allclose(report.p_value, expected.pvalue, rtol=1e-9, atol=1e-300)
    assert report.feature_names == tuple(f"x{j}" for j in range(len(KNOWN)))
    assert report.n_samples == N and report.notes == ("",) * len(KNOWN)


@pytest.mark.parametrize("index", range(len(KNOWN)), ids=[k[0] for k in KNOWN])
def test_suggested_transform_for_known_distributions(index):
    name, column, expected = KNOWN[index]
    assert gaussianity(column[:, None], [name]).suggested == (expected,)


def test_fewer_than_20_rows_skip_the_test_and_say_so():
    X = RNG.normal(size=(12, 2))
    report = gaussianity(X, ["a", "b"])
    assert np.all(np.isnan(report.p_value)) and np.all(np.isnan(report.statistic))
    assert report.notes == ("fewer than 20 rows: no normality test",) * 2
    assert report.suggested == ("identity", "identity")
    np.testing.assert_allclose(report.skewness, stats.skew(X), rtol=1e-12)


def test_constant_columns_are_reported_not_warned_about():
    # scipy warns (a RuntimeWarning, an error under pytest here) on constant data
    X = np.column_stack([np.full(50, 7.25), RNG.normal(size=50), np.full(50, 1e12)])
    report = gaussianity(X)
    assert report.suggested[0] == report.suggested[2] == "drop"
    assert report.notes[0] == report.notes[2] == "constant"
    assert np.isnan(report.skewness[0]) and not np.isnan(report.skewness[1])
    single = gaussianity([[1.0, 2.0]])
    assert single.notes == ("constant", "constant")


def test_rows_and_validation():
    report = gaussianity(X_KNOWN[:, :2], ["load", "latency"])
    assert [row[0] for row in report.rows()] == ["load", "latency"]
    assert report.rows()[1][4] == "log"
    with pytest.raises(ValueError, match="feature_names has 1 names but X has 2 features"):
        gaussianity(X_KNOWN[:, :2], ["load"])
    bad = X_KNOWN[:30, :2].copy()
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="the first at row 3, column 1"):
        gaussianity(bad)
    with pytest.raises(ValueError, match="Expected a 2-D array"):
        gaussianity(X_KNOWN[:, 0])


def test_server_metrics_are_gaussian_without_their_anomalies(server_csv):
    # as the README says: the 9 labelled outliers make the file fail the test,
    # its 298 normal rows pass it
    X, labels = server_csv
    whole, normal = gaussianity(X), gaussianity(X[labels == 0])
    assert np.all(whole.p_value < 1e-20) and np.all(whole.excess_kurtosis > 15)
    np.testing.assert_allclose(normal.p_value, stats.normaltest(X[labels == 0]).pvalue,
                               rtol=1e-9)
    assert np.all(normal.p_value > 0.2) and normal.suggested == ("identity", "identity")
