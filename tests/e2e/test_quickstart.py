"""README command 1's quickstart end to end (on every 7th day of the flights, for time),
and the second scenario in examples/, both through the same standard pipeline."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import shipyard
from shipyard.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def test_quickstart_registers_a_gated_model_refuses_the_leak_and_reruns_from_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "qs"
    started = time.perf_counter()
    assert main(["quickstart", str(home), "--every-nth-day", "7"]) == 0
    first = time.perf_counter() - started
    out = capsys.readouterr().out
    assert "Leakage check refused feature dep_delay" in out
    assert "Gate (candidate" in out and "passed" in out
    assert "Registered model:delay@1" in out and "shipyard --home" in out

    with shipyard.connect(home) as ws:
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

    started = time.perf_counter()
    assert main(["quickstart", str(home), "--every-nth-day", "7"]) == 0
    second = time.perf_counter() - started
    rerun = capsys.readouterr().out
    assert "train: cached" in rerun and "evaluate: cached" in rerun
    assert second < first / 2, (first, second)


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
        assert (
            ws.models.load("tumours", alias="staging")
            .predict(ws.datasets.load("tumours").head(3))
            .dtype
            == bool
        )
