"""README command 1's quickstart end to end (on every 7th day of the flights, for time),
and the second scenario in examples/, both through the same standard pipeline."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import shipyard
from shipyard.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def statuses(run: Any) -> dict[str, str]:
    return {step.name: str(step.status) for step in run.steps}


def test_quickstart_runs_the_whole_lifecycle_and_reruns_from_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """README command 1: data to a gated model (the leak refused), approved and deployed by
    the pipeline, replayed months through the live endpoint with labels a day late, a
    drift alarm on the seasonal temperature, the quality series, a second candidate by
    canary, an A/B test; and the lineage from the endpoint back to the raw tables."""
    from shipyard.serving.capture import read_capture

    home = tmp_path / "qs"
    assert main(["quickstart", str(home), "--every-nth-day", "7"]) == 0
    out = capsys.readouterr().out
    assert "Leakage check refused feature dep_delay" in out
    assert "Registered model:delay@1" in out and "shipyard --home" in out
    assert "The pipeline stopped before deploying: a person approves first." in out

    with shipyard.connect(home) as ws:
        first = ws.pipelines.list_runs()[-1]
        steps = statuses(first)
        # Everything passed; the deployment waited for a person's approval.
        assert steps.pop("deploy") == "gate-failed"
        assert set(steps.values()) == {"succeeded"}, steps
        gate = first.outputs["gate_report"]
        # No production model yet: the candidate had to beat the baseline beyond noise.
        assert (gate["rule"], gate["passed"], gate["failures"]) == ("beats_baseline", True, [])
        primary = next(c for c in gate["checks"] if c["scope"] == "overall")  # metric 1
        assert primary["passed"] and primary["ci_low"] > 0, primary
        verdict = f"Gate ({gate['candidate']} vs {gate['reference']}): passed"
        assert re.search(rf"^{re.escape(verdict)}$", out, flags=re.MULTILINE), out
        assert ws.models.approval("delay", 1).status == "approved"
        first_model = ws.models.get("delay", 1)
        assert first_model.tags["refused_features"] == "dep_delay"
        assert "dep_delay" not in first_model.signature.input_names

        # The canary: the second candidate, promoted by its guards, serves production.
        canaries = [d for d in ws.deployments.list("delay") if d.strategy == "canary"]
        assert [d.state for d in canaries] == ["promoted"], [d.status for d in canaries]
        endpoint = ws.endpoints.get("delay")
        [serving] = [v for v in endpoint.variants if v.weight > 0]
        assert (serving.model, serving.version) == ("delay", 2)
        assert endpoint.spec["production"] is True
        assert ws.models.get("delay", alias="production").version == 2

        # The replay's captures: requests stating 2013 times, on both variants.
        captured = read_capture(home, "delay", columns=["variant", "replayed"]).to_pandas()
        assert len(captured) > 300 and captured["replayed"].all()
        assert set(captured["variant"]) == {"primary", "candidate"}
        assert captured["time"].min().year == 2013

        # The drift alarm on the seasonal temperature went off, after two drifted weeks.
        history = ws.monitoring.alarm_history("temp-drift")
        assert any(event.new_state == "ALARM" for event in history), history
        temp = ws.monitoring.points("delay", stage="enriched", metric="ks",
                                    feature="weather__temp")  # fmt: skip
        assert sum(p.flagged for p in temp) >= 2
        # The quality series, from the labels that came a day late.
        quality = ws.monitoring.points("delay", stage="quality", metric="roc_auc")
        values = [p.value for p in quality if p.value is not None]  # None: one class only
        assert len(values) >= 8 and all(0 < v < 1 for v in values)

        # The A/B test's report compared the outcome per variant.
        [ab] = [d for d in ws.deployments.list("delay") if d.strategy == "ab"]
        report = ws.deployments.report(ab.id)
        rebooked = report["outcomes"]["rebooked"]
        assert rebooked["stable"]["requests"] > 20 and rebooked["candidate"]["requests"] > 20
        assert "A/B test: model:delay@2 (stable) against model:delay@1" in out
        assert "rebooked:" in out and "Canary of model:delay@2: promoted" in out
        assert (home / "monitoring" / "delay-drift.png").is_file()

        # The lineage, from the deployed endpoint back to the three raw tables.
        deployed = f"model:{serving.model}@{serving.version}"
    assert main(["--home", str(home), "lineage", deployed, "--json"]) == 0
    lineage = json.loads(capsys.readouterr().out)
    assert "build-" in json.dumps(lineage) and "weather@1" in json.dumps(lineage)
    [training] = [
        v for k, v in lineage["upstream"].items() if k.startswith("dataset:delay-training@")
    ]
    assert set(training["datasets"]) == {
        "dataset:flights@1",
        "dataset:weather@1",
        "dataset:carrier_daily@1",
    }

    # The rerun takes its work from the cache and shows the recorded lifecycle.
    assert main(["quickstart", str(home), "--every-nth-day", "7"]) == 0
    rerun = capsys.readouterr().out
    assert "train: cached" in rerun and "evaluate: cached" in rerun
    assert "the lifecycle ran in this workspace already" in rerun
    assert "Canary of model:delay@2: promoted" in rerun


def test_the_second_scenario_runs_through_the_same_pipeline(tmp_path: Path) -> None:
    example = ROOT / "examples" / "breast_cancer"
    home = tmp_path / "bc"
    prepared = subprocess.run(
        [sys.executable, str(example / "prepare.py"), str(home)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert prepared.returncode == 0, prepared.stderr
    assert main(["--home", str(home), "pipeline", "run", str(example / "pipeline.yaml")]) == 0
    with shipyard.connect(home) as ws:
        version = ws.models.get("tumours", alias="staging")
        assert version.lineage["datasets"][0] == "dataset:tumours@1"
        [run] = ws.pipelines.list_runs()
        assert set(statuses(run).values()) == {"succeeded"}, statuses(run)
        gate = run.outputs["gate_report"]
        assert (gate["rule"], gate["passed"], gate["failures"]) == ("beats_baseline", True, [])
        testing = run.outputs["evaluation"]["testing"]
        assert testing["rows"] == 114  # 20% of the 569 tumours
        assert testing["overall"]["roc_auc"] > 0.97
        # The registered model answers in the dataset's labels, and mostly rightly.
        tumours = ws.datasets.load("tumours")
        predicted = ws.models.load("tumours", alias="staging").predict(tumours)
        assert predicted.dtype == bool and set(predicted.tolist()) == {True, False}
        accuracy = float((predicted == tumours["malignant"].to_numpy()).mean())
        assert accuracy > 0.93, accuracy
