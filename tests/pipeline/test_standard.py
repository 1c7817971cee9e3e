"""The standard training pipeline on real flights data: cache, gate, promotion, lineage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

import shipyard
from shipyard.cli.main import main
from shipyard.errors import GateFailed, InvalidInput
from shipyard.pipeline.standard import build, parse_config
from shipyard.quickstart.flights import load_tables
from shipyard.quickstart.run import SCENARIO, copy_scenario

SMALL = {"columns": ["distance"], "experiments": [{"type": "logistic"}]}  # a weak first model


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return load_tables(every_nth_day=14)


@pytest.fixture
def ws(tmp_path: Path, tables: dict[str, pd.DataFrame]) -> Any:
    with shipyard.connect(tmp_path / "home") as workspace:
        flights = workspace.datasets.register(
            "flights", tables["flights"], time_column="event_timestamp",
            id_columns=["flight_id"], target="late", known_after=["dep_delay"],
        )  # fmt: skip
        workspace.datasets.register("weather", tables["weather"], time_column="time_hour")
        workspace.datasets.register("carrier_daily", tables["carrier_daily"], time_column="day_end")
        workspace.quality.baseline(flights.ref)
        copy_scenario(workspace.settings.home)
        yield workspace


def config(ws: Any, **changes: Any) -> Any:
    scenario = ws.settings.home / "scenario"
    raw = yaml.safe_load((scenario / "pipeline.yaml").read_text(encoding="utf-8"))
    raw["experiments"] = [
        {"type": "logistic"},
        {"type": "hist_gradient_boosting", "params": {"max_iter": 40}},
    ]
    raw["gate"]["n_bootstrap"] = 200
    raw.update(changes)
    return build(parse_config(raw, base=scenario))


def statuses(run: Any) -> dict[str, str]:
    return {s.name: str(s.status) for s in run.steps}


def test_unchanged_pipeline_comes_from_the_cache(ws: Any) -> None:
    first = ws.pipelines.run(config(ws, aliases=["staging"], **SMALL))
    first.check()
    again = ws.pipelines.run(config(ws, aliases=["staging"], **SMALL))
    again.check()
    assert statuses(again) == {
        "resolve_inputs": "succeeded",  # pins versions: never cached
        "deploy": "succeeded",  # depends on approvals, not inputs: never cached
        **{s.name: "cached" for s in again.steps if s.name not in ("resolve_inputs", "deploy")},
    }
    assert again.outputs["model_version"] == first.outputs["model_version"]
    assert ws.models.get("delay", alias="staging").version == 1


def test_better_model_becomes_production_and_a_worse_one_is_refused(
    ws: Any, tables: dict[str, pd.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    ws.pipelines.run(config(ws, **SMALL)).check()  # distance only: production v1
    assert ws.models.get("delay", alias="production").version == 1
    better = ws.pipelines.run(config(ws))  # + weather, carrier rates, boosting
    better.check()
    gate = better.outputs["gate_report"]
    assert gate["reference"] == "model:delay@1 (production)" and gate["passed"]
    assert {c["scope"] for c in gate["checks"]} >= {"overall", "JFK", "carrier_UA"}
    production = ws.models.get("delay", alias="production")
    assert production.version == 2
    lineage = production.lineage
    assert lineage["feature_views"] == ["carrier_daily@1", "weather@1"]
    assert lineage["feature_service"] == "delay@1"
    assert lineage["split"] == "split:delay@1"  # the same training set and plan: the same split
    assert lineage["build_id"] == better.build_id
    assert production.tags["refused_features"] == "dep_delay"
    assert ws.models.tags("delay", 2)["gate"] == "passed"
    # Its monitoring baseline: training profile, its own scores, its validation quality.
    monitored = ws.monitoring.get_baseline("delay@2")
    assert monitored is not None and monitored.outputs is not None
    assert 0.5 < monitored.metrics["roc_auc"] < 1 and monitored.positive == 1

    shuffled = tables["flights"].copy()  # a new data version whose labels were scrambled
    shuffled["late"] = np.random.default_rng(0).permutation(shuffled["late"].to_numpy())
    ws.datasets.register(
        "flights",
        shuffled,
        time_column="event_timestamp",
        id_columns=["flight_id"],
        target="late",
        known_after=["dep_delay"],
    )
    worse = ws.pipelines.run(config(ws))
    assert worse.failed_step == "gate" and worse.exit_code == GateFailed.exit_code
    assert "failed the gate against model:delay@2 (production)" in worse.error["message"]
    assert statuses(worse)["register"] == "not-run"
    assert ws.models.get("delay", alias="production").version == 2  # untouched

    ws.models.approve("delay", 2, "reviewed the gate report")
    home = str(ws.settings.home)
    assert main(["--home", home, "lineage", "model:delay@2", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    text = json.dumps(shown)
    for expected in (
        "dataset:flights@1",
        "weather@1",
        "split:delay@1",
        better.build_id,
        "approved",
    ):
        assert expected in text, expected


def test_a_pipeline_file_runs_from_the_cli_and_bad_config_is_refused(
    ws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(ws.settings.home)
    path = ws.settings.home / "scenario" / "pipeline.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw.update(SMALL, gate={"metrics": ["roc_auc"], "n_bootstrap": 100})
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert main(["--home", home, "pipeline", "run", str(path)]) == 0
    assert "flights-delay: succeeded" in capsys.readouterr().out
    raw["gate"] = {"metrics": ["roc_auc"], "max_drop_typo": 1}
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert main(["--home", home, "pipeline", "run", str(path)]) == 2
    assert "Unknown gate setting" in capsys.readouterr().err
    with pytest.raises(InvalidInput, match="Missing setting"):
        parse_config({"name": "x"}, base=SCENARIO)
    with pytest.raises(InvalidInput, match="Experiment type 'svm'"):
        parse_config({**raw, "gate": {}, "experiments": ["svm"]}, base=SCENARIO)


def test_a_new_version_of_a_feature_source_retrains(
    ws: Any, tables: dict[str, pd.DataFrame]
) -> None:
    ws.pipelines.run(config(ws, aliases=["staging"], **SMALL)).check()
    warmer = tables["weather"].assign(temp=tables["weather"]["temp"] + 1.0)
    ws.datasets.register("weather", warmer, time_column="time_hour")  # weather@2
    rerun = ws.pipelines.run(config(ws, aliases=["staging"], **SMALL))
    rerun.check()
    assert statuses(rerun)["training_set"] == "succeeded"  # not taken from the cache
    assert "dataset:weather@2" in rerun.outputs["inputs"]["view_datasets"]


def test_production_moved_by_another_run_meanwhile_stops_the_registration(
    ws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs at once: the one whose gate judged a production that another run has since
    replaced registers nothing and says so, instead of overwriting the other's promotion."""
    import shipyard.registry.gate as gates

    ws.pipelines.run(config(ws, **SMALL)).check()  # production v1
    judge = gates.gate

    def judge_while_another_run_promotes(*args: Any, **kwargs: Any) -> Any:
        report = judge(*args, **kwargs)  # judged against v1 ...
        other = ws.as_principal("pipeline").models  # ... while another run promotes v2
        v1 = other.load("delay", version=1)
        other.register("delay", v1.model, input_example=v1.input_example, aliases=["production"])
        return report

    monkeypatch.setattr(gates, "gate", judge_while_another_run_promotes)
    racing = ws.pipelines.run(config(ws))
    assert racing.failed_step == "register"
    assert racing.error is not None and "Not registered" in racing.error["message"]
    assert racing.exit_code != 0
    assert ws.models.get("delay", alias="production").version == 2  # the other run's
    assert [v.version for v in ws.models.versions("delay")] == [1, 2]  # nothing of ours
