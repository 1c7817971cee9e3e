"""lifecycle.yaml: the quickstart's and the departures scenario's are valid; a bad one is
refused with what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.errors import InvalidConfig
from shipyard.quickstart.lifecycle_config import read_lifecycle
from shipyard.quickstart.run import LIFECYCLE, SCENARIO

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_lifecycles_are_valid() -> None:
    quickstart = read_lifecycle(SCENARIO / LIFECYCLE)
    assert (quickstart.endpoint, quickstart.model, quickstart.target) == ("delay", "delay", "late")
    assert quickstart.start < quickstart.fresh < quickstart.ab_start < quickstart.end
    assert quickstart.deploy["endpoint"] == "delay" and quickstart.deploy["require_approval"]
    departures = read_lifecycle(ROOT / "examples" / "departures" / "lifecycle.yaml")
    assert (departures.model, departures.target) == ("departures", "dep_late")
    assert departures.alarm["feature"] == "weather__dewp"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("- a list\n", "must be a mapping"),
        ("pipeline: pipeline.yaml\nendpoint: e\ncolour: red\n", "unknown key(s) colour"),
        ("pipeline: nowhere.yaml\nendpoint: e\nreplay: {}\noutcome: o\nalarm: {}\n",
         "does not exist"),
    ],
)  # fmt: skip
def test_a_bad_lifecycle_is_refused_saying_why(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "lifecycle.yaml"
    path.write_text(text)
    with pytest.raises(InvalidConfig, match=says.replace("(", r"\(").replace(")", r"\)")):
        read_lifecycle(path)


def test_replay_dates_must_be_in_order(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text("model: m\ndataset: d\ntarget: t\n")
    path = tmp_path / "lifecycle.yaml"
    path.write_text(
        "pipeline: pipeline.yaml\nendpoint: e\noutcome: o\nalarm: {name: a, feature: f}\n"
        "replay: {start: 2013-11-01, fresh: 2013-09-01, ab_start: 2013-12-01, end: 2014-01-01}\n"
    )
    with pytest.raises(InvalidConfig, match="start < fresh < ab_start < end"):
        read_lifecycle(path)


def test_a_lifecycle_killed_part_way_or_running_is_not_started_again(tmp_path: Path) -> None:
    import shipyard
    from shipyard.errors import InvalidInput
    from shipyard.quickstart.lifecycle import RECORD, run_lifecycle

    home = tmp_path / "ws"
    with shipyard.connect(home) as ws:
        (home / RECORD).with_suffix(".started").write_text("2026-12-07T19:00:00+00:00")
        with pytest.raises(InvalidInput, match="stopped part way") as refused:
            run_lifecycle(ws, read_lifecycle(SCENARIO / LIFECYCLE), stage=print)
    assert refused.value.hint == "Run it in a fresh workspace folder."
