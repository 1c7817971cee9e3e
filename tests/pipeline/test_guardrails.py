"""Guardrails on a real data set the repository did not use before (Capital Bikeshare):
a leak declared on the dataset is refused whatever pipeline.yaml offers, and a model
without signal never reaches production."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import shipyard
from shipyard.errors import GateFailed, NotFound
from shipyard.pipeline.standard import build, parse_config

from .bikeshare import COLUMNS, load_bikeshare


@pytest.fixture(scope="module")
def hours() -> pd.DataFrame:
    return load_bikeshare()


@pytest.fixture
def ws(tmp_path: Path) -> Any:
    with shipyard.connect(tmp_path / "home") as workspace:
        yield workspace


def pipeline(ws: Any, **changes: Any) -> Any:
    raw: dict[str, Any] = {
        "name": "bikes",
        "model": "bikes",
        "dataset": "hours",
        "target": "busy",
        "columns": COLUMNS,
        "split": {
            "sets": {"training": 0.75, "validation": 0.25},
            "time_ordered": True,
            "time_column": "event_timestamp",
            "id_columns": ["hour_id"],
            "target": "busy",
            "windows": {"testing": {"start": "2011-11-01"}},
            "slices": {"working": "workingday == 1", "weekend": "workingday == 0"},
        },
        "experiments": [{"type": "logistic"}],
        "metric": "roc_auc",
        "gate": {"metrics": ["roc_auc"], "n_bootstrap": 200},
        "evaluate": ["testing"],
        "aliases": ["staging", "production"],
    }
    raw.update(changes)
    return build(parse_config(raw, base=ws.settings.home))


def register(ws: Any, frame: pd.DataFrame, **roles: Any) -> None:
    ws.datasets.register(
        "hours", frame, time_column="event_timestamp", id_columns=["hour_id"], target="busy",
        **roles,
    )  # fmt: skip


def test_a_leak_declared_on_the_dataset_is_refused_whatever_the_yaml_offers(
    ws: Any, hours: pd.DataFrame
) -> None:
    register(ws, hours, known_after=["casual"])
    # The YAML offers the leak as a column and declares nothing itself.
    run = ws.pipelines.run(pipeline(ws, columns=[*COLUMNS, "casual"]))
    run.check()
    assert "casual" in run.outputs["split"]["refused"]
    assert "declared known-after on dataset:hours@1" in run.outputs["split"]["refused"]["casual"]
    production = ws.models.get("bikes", alias="production")
    assert "casual" not in production.signature.input_names
    assert production.lineage["known_after"] == ["casual"]
    assert production.tags["refused_features"] == "casual"


def test_random_labels_never_reach_production(ws: Any, hours: pd.DataFrame) -> None:
    scrambled = hours.copy()
    scrambled["busy"] = np.random.default_rng(3).permutation(scrambled["busy"].to_numpy())
    register(ws, scrambled)
    run = ws.pipelines.run(pipeline(ws))
    assert run.failed_step == "gate" and run.exit_code == GateFailed.exit_code
    assert "no demonstrated signal" in run.error["message"]
    with pytest.raises(NotFound):
        ws.models.get("bikes", alias="production")


def test_an_honest_model_beats_the_baseline_beyond_noise_and_says_by_which_rule(
    ws: Any, hours: pd.DataFrame
) -> None:
    register(ws, hours, known_after=["casual", "registered"])
    run = ws.pipelines.run(pipeline(ws))
    run.check()
    report = run.outputs["gate_report"]
    assert report["rule"] == "beats_baseline" and report["passed"]
    [overall] = [c for c in report["checks"] if c["scope"] == "overall"]
    assert overall["ci_low"] > 0
    assert run.outputs["training"]["best"] != run.outputs["training"]["baseline"]
    assert ws.models.get("bikes", alias="production").version == 1
    # The model's lineage names its pipeline run by the run's own ref, which opens.
    assert ws.lineage("model:bikes@1").pipeline_run == f"pipeline_run:bikes@{run.version}"
    assert ws.lineage("pipeline_run:bikes").build_id == run.build_id  # latest run
    assert ws.lineage(f"pipeline_run:bikes@{run.version}").build_id == run.build_id


# --- leakage rules on real data: configuration only ------------------------------

NO_HUMIDITY = [c for c in COLUMNS if c != "hum"]  # a weather feed without humidity
RUSH_HOURS = "rentals follow commuting hours; known when the prediction is asked for"


def findings(run: Any, kind: str) -> list[dict[str, Any]]:
    return [f for f in run.outputs["split"]["leakage"]["findings"] if f["kind"] == kind]


def test_an_honest_strong_feature_is_refused_until_declared_expected(
    ws: Any, hours: pd.DataFrame
) -> None:
    register(ws, hours[["hour_id", "event_timestamp", *NO_HUMIDITY, "busy"]])
    # Without humidity, 'hr' alone (AUC about 0.91) is far above the next feature (about 0.68).
    # Equal hours of other days make up about 9% of validation here: allowed below.
    settings = {"columns": NO_HUMIDITY, "aliases": ["staging"],
                "leakage": {"max_equal_feature_share": 0.1}}  # fmt: skip
    refused = ws.pipelines.run(pipeline(ws, **settings))
    refused.check()
    assert "above the next best feature 'temp'" in refused.outputs["split"]["refused"]["hr"]
    declared = ws.pipelines.run(pipeline(ws, **settings, expected_strong={"hr": RUSH_HOURS}))
    declared.check()
    assert "hr" not in declared.outputs["split"]["refused"]
    [info] = findings(declared, "target_proxy")
    assert info["severity"] == "info" and f'"{RUSH_HOURS}"' in info["message"]
    leakage = declared.outputs["split"]["leakage"]
    assert leakage["top_scores"][0]["feature"] == "hr" and leakage["full_model"]["score"] > 0.9
    assert "hr" in ws.models.get("bikes", alias="staging").signature.input_names


def test_equal_hours_of_other_days_fail_above_the_share_and_pass_below(
    ws: Any, hours: pd.DataFrame
) -> None:
    register(ws, hours[["hour_id", "event_timestamp", *NO_HUMIDITY, "busy"]])
    settings = {
        "columns": NO_HUMIDITY,
        "aliases": ["staging"],
        "expected_strong": {"hr": RUSH_HOURS},
    }
    strict = ws.pipelines.run(pipeline(ws, **settings))  # the default share: 1%
    assert strict.failed_step == "split_and_check" and strict.exit_code == GateFailed.exit_code
    # The message names the setting that lets them through, with a value that does.
    assert "leakage: {max_equal_feature_share: 0.1}" in strict.error["message"]
    allowed = ws.pipelines.run(pipeline(ws, **settings, leakage={"max_equal_feature_share": 0.1}))
    allowed.check()
    equal = findings(allowed, "equal_features")
    assert equal and {f["severity"] for f in equal} == {"info"}
    assert not findings(allowed, "exact_duplicates")  # no hour was copied


def test_a_time_ordered_split_keeps_time_order_with_equal_rows(
    ws: Any, hours: pd.DataFrame
) -> None:
    register(ws, hours[["hour_id", "event_timestamp", *COLUMNS, "busy"]])
    run = ws.pipelines.run(pipeline(ws, aliases=["staging"]))
    run.check()
    split = ws.splits.get(run.outputs["split"]["split"])
    assert any("time_ordered, so each stays in the set its time puts it in" in w
               for w in split.warnings)  # fmt: skip
    times = {name: frame["event_timestamp"] for name, frame in ws.splits.sets(split).items()}
    assert times["training"].max() <= times["validation"].min()
    assert times["validation"].max() <= times["testing"].min()
    # The equal rows that cross sets are reported, below the default share: info.
    equal = findings(run, "equal_features")
    assert equal and all(f["details"]["fraction"] <= 0.01 for f in equal)


def test_leakage_settings_in_pipeline_yaml_are_checked_before_anything_runs(ws: Any) -> None:
    from shipyard.errors import InvalidInput  # local: this file's imports are shared

    cases: list[tuple[dict[str, Any], str]] = [
        ({"leakage": {"max_equal_share": 0.1}}, "Known: proxy_error"),
        ({"leakage": {"max_equal_feature_share": 2}}, "max_equal_feature_share must be"),
        ({"expected_strong": {"hr": ""}}, "reason it is strong"),
        ({"expected_strong": ["hr"]}, "reason it is strong"),
    ]
    for changes, fragment in cases:
        with pytest.raises(InvalidInput, match=fragment):
            pipeline(ws, **changes)
