"""`shipyard runs list` shows the metric it is ordered by."""

from __future__ import annotations

from pathlib import Path

import pytest

import shipyard
from shipyard.cli import context
from shipyard.cli.main import main


def test_ordering_by_a_metric_shows_its_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(context.console, "width", 200)  # whole headers, on any terminal
    home = tmp_path / ".shipyard"
    with shipyard.connect(home) as ws:
        for name, values in (("a", (0.7, 0.1)), ("b", (0.8, 0.2))):
            with ws.runs.start_run("flights", name) as run:
                # Six metrics: by default only the first four names (a to d) are shown.
                run.log_metrics({"a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0})
                run.log_metrics({"y": values[0], "z": values[1]})
    base = ["--home", str(home), "runs", "list"]
    assert main([*base, "--order-by", "metrics.y DESC"]) == 0
    out = capsys.readouterr().out
    assert out.index("0.8") < out.index("0.7")
    assert _header(out) == [
        "run",
        "experiment",
        "name",
        "status",
        "started",
        "y",
        "a",
        "b",
        "c",
        "d",
    ]
    assert main([*base, "--metric", "a", "--order-by", "metrics.z"]) == 0
    assert _header(capsys.readouterr().out)[5:] == ["z", "a"]


def _header(table: str) -> list[str]:
    line = next(line for line in table.splitlines() if "status" in line)
    return [cell.strip() for cell in line.strip("┃ ").split("┃")]
