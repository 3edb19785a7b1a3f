"""GaussianizingTransformer: SciPy's transforms, exact round trips, domain
errors at transform time, a Pipeline before the detector that raises F1, and
scikit-learn's estimator checks."""

import numpy as np
import pytest
from scipy import special, stats
from sklearn.base import clone
from sklearn.pipeline import Pipeline, make_pipeline

from gaussext import GaussianAnomalyDetector, GaussianizingTransformer, NotFittedError
from gaussext import select_threshold
from gaussext._testing import sklearn_checks
from gaussext._transform import TRANSFORMS, _inverse_yeojohnson

RNG = np.random.default_rng(3)
POSITIVE = np.column_stack([RNG.lognormal(size=400), RNG.gamma(2.0, size=400) + 0.1])
ANY_SIGN = np.column_stack([RNG.normal(size=400) ** 3, RNG.standard_t(3, size=400)])


@pytest.mark.parametrize("name, data", [
    ("identity", ANY_SIGN), ("log", POSITIVE), ("log1p", POSITIVE - 0.5), ("sqrt", POSITIVE),
    ("cbrt", ANY_SIGN), ("boxcox", POSITIVE), ("yeojohnson", ANY_SIGN),
])
def test_each_transform_is_scipys_and_round_trips(name, data):
    transformer = GaussianizingTransformer([name], alpha=1e-300).fit(data)
    # alpha tiny: identity is kept only where it is not rejected at all
    assert set(transformer.transforms_) <= {name, "identity"}
    forced = GaussianizingTransformer([name], alpha=1 - 1e-12).fit(data)
    transformed = forced.transform(data)
    for j, chosen in enumerate(forced.transforms_):
        column = data[:, j]
        expected = {
            "identity": lambda: column, "log": lambda: np.log(column),
            "log1p": lambda: np.log1p(column), "sqrt": lambda: np.sqrt(column),
            "cbrt": lambda: np.cbrt(column), "boxcox": lambda: stats.boxcox(column)[0],
            "yeojohnson": lambda: stats.yeojohnson(column)[0],
        }[chosen]()
        np.testing.assert_allclose(transformed[:, j], expected, rtol=1e-12)
        if chosen in ("boxcox", "yeojohnson"):
            lmbda = getattr(stats, chosen)(column)[1]
            assert forced.lambdas_[j] == pytest.approx(lmbda, rel=1e-12)
        else:
            assert np.isnan(forced.lambdas_[j])
    np.testing.assert_allclose(forced.inverse_transform(transformed), data, rtol=1e-10,
                               atol=1e-14)


@pytest.mark.parametrize("lmbda", [-1.5, 0.0, 0.7, 2.0, 3.1])
def test_inverse_yeojohnson_undoes_scipys(lmbda):
    x = np.linspace(-0.9, 4.0, 300) if lmbda > 2 else np.linspace(-5.0, 0.9, 300) \
        if lmbda < 0 else np.linspace(-6.0, 6.0, 301)
    np.testing.assert_allclose(_inverse_yeojohnson(stats.yeojohnson(x, lmbda), lmbda), x,
                               rtol=1e-10, atol=1e-12)


def test_inverse_boxcox_is_scipys():
    transformer = GaussianizingTransformer(["boxcox"], alpha=1 - 1e-12).fit(POSITIVE)
    y = transformer.transform(POSITIVE)
    j = transformer.transforms_.index("boxcox")
    np.testing.assert_array_equal(transformer.inverse_transform(y)[:, j],
                                  special.inv_boxcox(y[:, j], transformer.lambdas_[j]))


@pytest.mark.parametrize("name, bad_value, domain", [
    ("log", 0.0, "x > 0"), ("boxcox", -3.0, "x > 0"), ("sqrt", -1e-9, "x >= 0"),
    ("log1p", -1.0, "x > -1"),
])
def test_out_of_domain_values_at_transform_time(name, bad_value, domain):
    data = POSITIVE[:, :1] if name != "log1p" else POSITIVE[:, :1] - 0.5
    transformer = GaussianizingTransformer([name], alpha=1 - 1e-12).fit(data)
    assert transformer.transforms_ == [name]
    new = data[:5].copy()
    new[3, 0] = bad_value
    with pytest.raises(ValueError, match=rf"feature 0, row 3: value .* outside the domain of "
                                         rf"the '{name}' transform chosen at fit time "
                                         rf"\({domain}\)"):
        transformer.transform(new)


def test_inverse_of_sqrt_refuses_negative_values():
    transformer = GaussianizingTransformer(["sqrt"], alpha=1 - 1e-12).fit(POSITIVE[:, :1])
    with pytest.raises(ValueError, match="row 1: value -2.0 is outside the domain of the "
                                         "inverse of the 'sqrt' transform"):
        transformer.inverse_transform([[1.0], [-2.0]])


def test_the_simplest_transform_that_passes_is_chosen():
    # a lognormal feature: log makes it exactly normal, so log wins over Box-Cox
    X = np.column_stack([RNG.normal(size=2000), RNG.lognormal(size=2000)])
    transformer = GaussianizingTransformer().fit(X)
    assert transformer.transforms_ == ["identity", "log"]
    expected = stats.normaltest(np.log(X[:, 1]))
    assert transformer.statistics_[1] == pytest.approx(expected.statistic, rel=1e-12)
    assert transformer.p_values_[1] == pytest.approx(expected.pvalue, rel=1e-9)


def _skewed_split(seed):
    """Two lognormal features; validation anomalies unusually small in one of
    them, which a Gaussian on the raw skewed feature sits right next to."""
    rng = np.random.default_rng(seed)
    X_train = rng.lognormal(0.0, 0.8, size=(3000, 2))
    X_val = rng.lognormal(0.0, 0.8, size=(600, 2))
    y_val = np.zeros(600, dtype=int)
    y_val[:30] = 1
    X_val[:30, 0] = np.exp(rng.normal(-3.6, 0.2, size=30))
    return X_train, X_val, y_val


def test_gaussianizing_raises_validation_f1_in_a_pipeline():
    X_train, X_val, y_val = _skewed_split(seed=12)
    raw = GaussianAnomalyDetector().fit(X_train)
    raw_f1 = raw.tune_threshold(X_val, y_val).f1
    pipeline = Pipeline([("gaussianize", GaussianizingTransformer()),
                         ("detect", GaussianAnomalyDetector())]).fit(X_train)
    assert pipeline.named_steps["gaussianize"].transforms_ == ["log", "log"]
    transformed_f1 = select_threshold(y_val, pipeline.score_samples(X_val)).f1
    # the tuned epsilon works through the pipeline too
    pipeline[-1].tune_threshold(pipeline[:-1].transform(X_val), y_val)
    predicted_anomalies = pipeline.predict(X_val) == -1
    assert predicted_anomalies[:30].mean() > 0.8
    assert transformed_f1 >= raw_f1 + 0.3, (raw_f1, transformed_f1)


def test_params_protocol_and_clone():
    transformer = GaussianizingTransformer(["log", "sqrt"], alpha=0.05)
    assert transformer.get_params() == {"transforms": ["log", "sqrt"], "alpha": 0.05}
    copy = clone(transformer).set_params(alpha=0.2)
    assert copy.alpha == 0.2 and transformer.alpha == 0.05
    assert repr(copy) == "GaussianizingTransformer(alpha=0.2, transforms=['log', 'sqrt'])"
    with pytest.raises(ValueError, match="Invalid parameter 'beta'"):
        transformer.set_params(beta=1)
    pipe = make_pipeline(GaussianizingTransformer(), GaussianAnomalyDetector("full"))
    assert pipe.get_params()["gaussianizingtransformer__alpha"] == 0.01


@pytest.mark.parametrize("params, error, message", [
    ({"alpha": 0.0}, ValueError, "alpha must be > 0.0"),
    ({"alpha": 1.5}, ValueError, "alpha must be < 1.0"),
    ({"alpha": "0.1"}, TypeError, "alpha must be a real number"),
    ({"transforms": ["log", "exp"]}, ValueError, r"unknown transform\(s\) \['exp'\]"),
    ({"transforms": "log"}, TypeError, "transforms must be a sequence of names"),
])
def test_bad_parameters(params, error, message):
    with pytest.raises(error, match=message):
        GaussianizingTransformer(**params).fit(POSITIVE)


def test_bad_data_and_unfitted_use():
    with pytest.raises(NotFittedError):
        GaussianizingTransformer().transform(POSITIVE)
    transformer = GaussianizingTransformer().fit(POSITIVE)
    with pytest.raises(ValueError, match="X has 3 features, but GaussianizingTransformer is "
                                         "expecting 2"):
        transformer.transform(np.ones((4, 3)))
    bad = POSITIVE.copy()
    bad[2, 0] = np.nan
    with pytest.raises(ValueError, match="first at row 2, column 0"):
        GaussianizingTransformer().fit(bad)


def test_small_and_constant_columns_keep_the_identity():
    X = np.column_stack([RNG.lognormal(size=200), np.full(200, 4.0)])
    transformer = GaussianizingTransformer().fit(X)
    assert transformer.transforms_[1] == "identity" and np.isnan(transformer.p_values_[1])
    few = GaussianizingTransformer().fit(X[:10])
    assert few.transforms_ == ["identity", "identity"]


def test_caller_array_is_not_modified():
    X = POSITIVE.copy()
    X.flags.writeable = False
    transformer = GaussianizingTransformer().fit(X)
    out = transformer.transform(X)
    transformer.inverse_transform(out)
    np.testing.assert_array_equal(X, POSITIVE)
    assert out is not X and not np.shares_memory(out, X)


def test_the_candidate_transforms():
    assert set(TRANSFORMS) == {"identity", "log", "log1p", "sqrt", "cbrt", "boxcox",
                               "yeojohnson"}


@pytest.mark.filterwarnings("ignore:.*does not inherit from:UserWarning")
@pytest.mark.parametrize("estimator, check", list(sklearn_checks(GaussianizingTransformer())))
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
