"""scikit-learn's protocols beyond fit/predict: feature names carried through
pipelines, set_output, the feature-name warnings, and tuning with GridSearchCV
through gaussext.scorers.  scikit-learn's own estimators and metrics are the
oracle throughout."""

import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, f1_score, fbeta_score, get_scorer, roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from gaussext import GaussianAnomalyDetector, GaussianizingTransformer, scorers
from gaussext.datasets import FEATURE_NAMES, make_server_metrics


@pytest.fixture(scope="module")
def labelled():
    """Server metrics with 5% anomalies of the kinds that break correlations."""
    return make_server_metrics(1200, anomaly_fraction=0.05, random_state=3)


@pytest.fixture(scope="module")
def frame(labelled):
    X, _ = labelled
    positive = X - X.min(axis=0) + 1.0  # so that every transform is a candidate
    return pd.DataFrame(positive, columns=list(FEATURE_NAMES), index=np.arange(100, 100 + len(X)))


def _sklearn_message(fit_X, score_X):
    """The warning scikit-learn's IsolationForest gives in the same situation."""
    forest = IsolationForest(n_estimators=2, random_state=0).fit(fit_X)
    with pytest.warns(UserWarning) as record:
        forest.score_samples(score_X)
    return str(record[0].message).replace("IsolationForest", "{}")


# -- feature names -------------------------------------------------------------

def test_transformer_records_and_returns_the_dataframe_names(frame):
    transformer = GaussianizingTransformer().fit(frame)
    assert list(transformer.feature_names_in_) == list(FEATURE_NAMES)
    assert list(transformer.get_feature_names_out()) == list(FEATURE_NAMES)
    assert list(transformer.get_feature_names_out(list(FEATURE_NAMES))) == list(FEATURE_NAMES)


def test_transformer_without_names_numbers_its_outputs_and_forgets_old_names(frame):
    transformer = GaussianizingTransformer().fit(frame)
    transformer.fit(frame.to_numpy())
    assert not hasattr(transformer, "feature_names_in_")
    assert list(transformer.get_feature_names_out()) == ["x0", "x1", "x2", "x3"]
    assert list(transformer.get_feature_names_out(["a", "b", "c", "d"])) == ["a", "b", "c", "d"]


@pytest.mark.parametrize("names, message", [
    (["a", "b"], "input_features should have length equal to number of features (4), got 2"),
    (["a", "b", "c", "d"], "input_features is not equal to feature_names_in_: expected "
                           "['latency_ms', 'throughput_mbps', 'cpu_load_pct', 'memory_used_gb'], "
                           "got ['a', 'b', 'c', 'd']"),
])
def test_transformer_refuses_other_input_features(frame, names, message):
    transformer = GaussianizingTransformer().fit(frame)
    with pytest.raises(ValueError) as excinfo:
        transformer.get_feature_names_out(names)
    assert str(excinfo.value) == message


def test_get_feature_names_out_before_fit_is_not_fitted():
    with pytest.raises(sklearn.exceptions.NotFittedError):
        GaussianizingTransformer().get_feature_names_out()


@pytest.mark.parametrize("estimator", [GaussianAnomalyDetector(), GaussianizingTransformer()],
                         ids=lambda e: type(e).__name__)
def test_fit_on_a_dataframe_then_an_ndarray_warns_as_scikit_learn_does(frame, estimator):
    expected = _sklearn_message(frame, frame.to_numpy()).format(type(estimator).__name__)
    estimator.fit(frame)
    call = estimator.score_samples if hasattr(estimator, "score_samples") else estimator.transform
    with pytest.warns(UserWarning) as record:
        call(frame.to_numpy())
    assert [str(w.message) for w in record] == [expected]


@pytest.mark.parametrize("estimator", [GaussianAnomalyDetector(), GaussianizingTransformer()],
                         ids=lambda e: type(e).__name__)
def test_fit_on_an_ndarray_then_a_dataframe_warns_as_scikit_learn_does(frame, estimator):
    expected = _sklearn_message(frame.to_numpy(), frame).format(type(estimator).__name__)
    estimator.fit(frame.to_numpy())
    call = estimator.score_samples if hasattr(estimator, "score_samples") else estimator.transform
    with pytest.warns(UserWarning) as record:
        call(frame)
    assert [str(w.message) for w in record] == [expected]


def test_transform_with_reordered_columns_is_refused(frame):
    transformer = GaussianizingTransformer().fit(frame)
    with pytest.raises(ValueError, match="The feature names should match those that were passed"):
        transformer.transform(frame[list(reversed(FEATURE_NAMES))])


# -- set_output and pipelines ---------------------------------------------------

def test_set_output_pandas_returns_a_frame_with_names_and_index(frame):
    plain = GaussianizingTransformer().fit(frame).transform(frame)
    transformer = GaussianizingTransformer().set_output(transform="pandas").fit(frame)
    out = transformer.transform(frame)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(FEATURE_NAMES)
    assert out.index.equals(frame.index)
    np.testing.assert_array_equal(out.to_numpy(), plain)
    fitted_out = GaussianizingTransformer().set_output(transform="pandas").fit_transform(frame)
    np.testing.assert_array_equal(fitted_out.to_numpy(), plain)


def test_set_output_default_overrides_the_global_setting(frame):
    transformer = GaussianizingTransformer().fit(frame)
    with sklearn.config_context(transform_output="pandas"):
        assert isinstance(transformer.transform(frame), pd.DataFrame)
        transformer.set_output(transform="default")
        assert isinstance(transformer.transform(frame), np.ndarray)


def test_set_output_refuses_an_unknown_container():
    with pytest.raises(ValueError) as excinfo:
        GaussianizingTransformer().set_output(transform="arrow")
    assert str(excinfo.value) == ("set_output's transform must be one of ['default', 'pandas'] "
                                  "or None, got 'arrow'")


def test_pipeline_set_output_carries_names_to_the_detector(frame):
    pipe = make_pipeline(GaussianizingTransformer(), GaussianAnomalyDetector())
    pipe.set_output(transform="pandas").fit(frame)
    assert list(pipe[-1].feature_names_in_) == list(FEATURE_NAMES)
    assert list(pipe[:-1].get_feature_names_out()) == list(FEATURE_NAMES)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no feature-name warning anywhere
        scores = pipe.score_samples(frame)
    # the same model without names: the same numbers
    plain = make_pipeline(GaussianizingTransformer(), GaussianAnomalyDetector()).fit(
        frame.to_numpy())
    np.testing.assert_array_equal(scores, plain.score_samples(frame.to_numpy()))


def test_names_pass_through_a_scikit_learn_step_too(frame):
    pipe = make_pipeline(StandardScaler(), GaussianizingTransformer(), GaussianAnomalyDetector())
    pipe.set_output(transform="pandas").fit(frame)
    assert list(pipe[-1].feature_names_in_) == list(FEATURE_NAMES)


# -- scorers --------------------------------------------------------------------

@pytest.fixture(scope="module")
def fitted(labelled):
    X, y = labelled
    return GaussianAnomalyDetector(covariance="full", contamination=0.05).fit(X), X, y


def test_f1_and_fbeta_score_predict_against_0_1_labels(fitted):
    detector, X, y = fitted
    flagged = (detector.predict(X) == -1).astype(int)
    assert scorers.f1(detector, X, y) == pytest.approx(f1_score(y, flagged), abs=1e-15)
    fbeta = scorers.make_fbeta(2.0)
    assert fbeta(detector, X, y) == pytest.approx(fbeta_score(y, flagged, beta=2.0), abs=1e-15)


def test_ranking_scorers_treat_low_density_as_anomalous(fitted):
    detector, X, y = fitted
    anomaly_score = -detector.score_samples(X)
    assert scorers.roc_auc(detector, X, y) == roc_auc_score(y, anomaly_score)
    assert scorers.average_precision(detector, X, y) == average_precision_score(y, anomaly_score)
    # scikit-learn's own "roc_auc" reads decision_function, high for normal
    # points: it measures the opposite ranking
    assert get_scorer("roc_auc")(detector, X, y) == pytest.approx(
        1.0 - scorers.roc_auc(detector, X, y), abs=1e-12)


def test_scorers_refuse_minus_one_plus_one_labels(fitted):
    detector, X, y = fitted
    with pytest.raises(ValueError, match=r"For -1/\+1 labels pass \(y == -1\)"):
        scorers.f1(detector, X, np.where(y == 1, -1, 1))


def test_make_fbeta_checks_beta():
    with pytest.raises(ValueError, match="beta"):
        scorers.make_fbeta(0.0)


def test_grid_search_scores_each_fold_as_the_metrics_do(labelled):
    X, y = labelled
    grid = {"covariance": ["diagonal", "full"], "contamination": [0.02, 0.05, 0.1]}
    cv = StratifiedKFold(4)
    search = GridSearchCV(GaussianAnomalyDetector(), grid, cv=cv, refit="f1",
                          scoring={"f1": scorers.f1, "roc_auc": scorers.roc_auc}).fit(X, y)
    for i, params in enumerate(search.cv_results_["params"]):
        f1s, aucs = [], []
        for train, test in cv.split(X, y):
            detector = GaussianAnomalyDetector(**params).fit(X[train])
            f1s.append(f1_score(y[test], detector.predict(X[test]) == -1))
            aucs.append(roc_auc_score(y[test], -detector.score_samples(X[test])))
        assert search.cv_results_["mean_test_f1"][i] == pytest.approx(np.mean(f1s), abs=1e-14)
        assert search.cv_results_["mean_test_roc_auc"][i] == pytest.approx(np.mean(aucs), abs=1e-14)
    # the anomalies break correlations, which only the full model sees, and
    # 5% of them make contamination 0.05 the right threshold
    assert search.best_params_ == {"covariance": "full", "contamination": 0.05}
    assert search.best_estimator_.covariance == "full"


def test_grid_search_tunes_a_pipeline(frame, labelled):
    _, y = labelled
    cv = StratifiedKFold(3)
    pipe = make_pipeline(GaussianizingTransformer(), GaussianAnomalyDetector(covariance="full"))
    search = GridSearchCV(pipe, {"gaussianizingtransformer__alpha": [0.01, 0.2]},
                          scoring=scorers.average_precision, cv=cv).fit(frame, y)
    for i, alpha in enumerate([0.01, 0.2]):
        scores = []
        for train, test in cv.split(frame, y):
            transformer = GaussianizingTransformer(alpha=alpha).fit(frame.iloc[train])
            detector = GaussianAnomalyDetector(covariance="full").fit(
                transformer.transform(frame.iloc[train]))
            scores.append(average_precision_score(
                y[test], -detector.score_samples(transformer.transform(frame.iloc[test]))))
        assert search.cv_results_["mean_test_score"][i] == pytest.approx(np.mean(scores),
                                                                         abs=1e-14)
