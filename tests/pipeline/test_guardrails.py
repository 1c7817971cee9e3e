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
