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


def test_quickstart_registers_a_gated_model_refuses_the_leak_and_reruns_from_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "qs"
    assert main(["quickstart", str(home), "--every-nth-day", "7"]) == 0
    out = capsys.readouterr().out
    assert "Leakage check refused feature dep_delay" in out
    assert "Registered model:delay@1" in out and "shipyard --home" in out

    with shipyard.connect(home) as ws:
        [first] = ws.pipelines.list_runs()
        assert set(statuses(first).values()) == {"succeeded"}, statuses(first)
        gate = first.outputs["gate_report"]
        # No production model yet: the candidate had to beat the baseline beyond noise.
        assert (gate["rule"], gate["passed"], gate["failures"]) == ("beats_baseline", True, [])
        assert gate["reference"].startswith("baseline")
        primary = next(c for c in gate["checks"] if c["scope"] == "overall")  # metric 1
        assert primary["passed"] and primary["ci_low"] > 0, primary
        assert primary["reason"].endswith("beyond noise"), primary
        verdict = f"Gate ({gate['candidate']} vs {gate['reference']}): passed"
        assert re.search(rf"^{re.escape(verdict)}$", out, flags=re.MULTILINE), out
        production = ws.models.get("delay", alias="production")
        assert production.version == 1
        assert production.tags["refused_features"] == "dep_delay"
        assert "dep_delay" not in production.signature.input_names
        assert set(production.lineage["feature_views"]) == {"weather@1", "carrier_daily@1"}
    assert main(["--home", str(home), "lineage", "model:delay@1", "--json"]) == 0
    lineage = json.loads(capsys.readouterr().out)
    text = json.dumps(lineage)
    for expected in ("dataset:flights@1", "dataset:delay-training@1", "split:delay@1",
                     "weather@1", "build-"):  # fmt: skip
        assert expected in text, expected
    # The chain walks back to the raw data: the training set came from the three tables.
    training = lineage["upstream"]["dataset:delay-training@1"]
    assert set(training["datasets"]) == {
        "dataset:flights@1",
        "dataset:weather@1",
        "dataset:carrier_daily@1",
    }

    # The rerun takes its work from the cache (how fast that is is the benchmarks' job).
    # Only the production alias changed (the first run set it), so only the gate and the
    # registration run again, and each sees that the candidate is model:delay@1 already.
    assert main(["quickstart", str(home), "--every-nth-day", "7"]) == 0
    rerun = capsys.readouterr().out
    assert "train: cached" in rerun and "evaluate: cached" in rerun
    # resolve_inputs and deploy (which depends on approvals, not inputs) are never cached
    rerun_anew = {"resolve_inputs", "gate", "register", "deploy"}
    with shipyard.connect(home) as ws:
        again, earlier = ws.pipelines.list_runs()
        assert earlier.build_id == first.build_id != again.build_id
        assert statuses(again) == {
            step.name: "succeeded" if step.name in rerun_anew else "cached" for step in first.steps
        }
        assert again.outputs["training"]["run"] == first.outputs["training"]["run"]
        judged = again.outputs["gate_report"]
        assert (judged["passed"], judged["checks"]) == (True, [])
        assert judged["notes"] == ["the candidate is the production model itself"]
        assert again.outputs["model_version"] == first.outputs["model_version"]
        assert [v.version for v in ws.models.versions("delay")] == [1]


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
