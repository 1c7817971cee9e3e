"""The second scenario, examples/departures: the same lifecycle as the quickstart from
configuration only (a prepare script registers the data; `shipyard lifecycle` does the
rest), on another question: will a flight leave 15+ minutes late?"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import shipyard
from shipyard.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "departures"


def test_the_departures_scenario_runs_the_whole_lifecycle_from_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from shipyard.serving.capture import read_capture

    home = tmp_path / "dep"
    prepared = subprocess.run(
        [sys.executable, str(EXAMPLE / "prepare.py"), str(home), "14"],  # every 14th day
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert prepared.returncode == 0, prepared.stderr
    lifecycle = str(EXAMPLE / "lifecycle.yaml")
    assert main(["--home", str(home), "lifecycle", lifecycle]) == 0
    out = capsys.readouterr().out
    with shipyard.connect(home) as ws:
        first = ws.models.get("departures", 1)
        assert "late" in first.tags["refused_features"].split(",")  # the arrival: a leak
        endpoint = ws.endpoints.get("departures")
        assert endpoint.spec["production"] is True
        [canary] = [d for d in ws.deployments.list("departures") if d.strategy == "canary"]
        assert canary.state in ("promoted", "rolled_back"), canary.status
        assert f"Canary of model:departures@2: {canary.state}" in out
        captured = read_capture(home, "departures", columns=["variant", "status"]).to_pandas()
        assert len(captured) > 300 and (captured["status"] == 200).all()
        history = ws.monitoring.alarm_history("dewpoint-drift")
        assert any(event.new_state == "ALARM" for event in history)
        quality = ws.monitoring.points("departures", stage="quality", metric="roc_auc")
        assert len(quality) >= 8
        [ab] = [d for d in ws.deployments.list("departures") if d.strategy == "ab"]
        outcome = ws.deployments.report(ab.id)["outcomes"]["warned"]
        assert outcome["stable"]["requests"] > 20 and outcome["candidate"]["requests"] > 20
    assert "warned:" in out and (home / "monitoring" / "departures-drift.html").is_file()
    # A rerun shows what was recorded: the replay moved the workspace's time on.
    assert main(["--home", str(home), "lifecycle", lifecycle]) == 0
    assert "the lifecycle ran in this workspace already" in capsys.readouterr().out
