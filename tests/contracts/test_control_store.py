"""The control store's contract, on SQLite and PostgreSQL: aliases, approvals, endpoints and
deployments (compare-and-set on a revision, one event per write), the audit log, schedules,
and no lost update when 8 processes race on one deployment, one alias or one schedule."""

from __future__ import annotations

import json
import multiprocessing
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from shipyard.stores.control import ControlStore, Variant, control_store_for
from shipyard.stores.jobs import job_store_for
from shipyard.stores.metadata import open_metadata_store
from shipyard.stores.metadata.sql import SqlMetadataStore

# The racing processes are spawned: they import their function by module name, which a
# test module loaded by pytest's importlib mode does not have. So it lives in a plain
# module beside this one, imported through this folder on sys.path (which spawned
# processes inherit).
sys.path.insert(0, str(Path(__file__).parent))
import control_races

PROCESSES = 8
T0 = control_races.T0


@pytest.fixture
def url(metadata_url: str) -> str:
    store = open_metadata_store(metadata_url)
    store.upgrade()
    store.close()
    return metadata_url


@pytest.fixture
def metadata(url: str) -> Iterator[SqlMetadataStore]:
    store = open_metadata_store(url)
    assert isinstance(store, SqlMetadataStore)
    yield store
    store.close()


@pytest.fixture
def control(metadata: SqlMetadataStore) -> ControlStore:
    return control_store_for(metadata)


# -- aliases --------------------------------------------------------------------------------


def test_an_alias_moves_and_each_move_is_recorded_once(control: ControlStore) -> None:
    assert control.alias("delay", "production") is None
    first = control.move_alias("delay", "production", 1, by="pipeline")
    assert (first.version, first.revision, first.updated_by) == (1, 1, "pipeline")
    second = control.move_alias("delay", "production", 2, by="pipeline")
    assert (second.version, second.revision) == (2, 2)
    same = control.move_alias("delay", "production", 2, by="someone")
    assert same.revision == 2 and same.updated_by == "pipeline"  # unchanged: nothing recorded
    history = control.alias_history("delay", "production")
    assert [(m.version, m.revision, m.by) for m in history] == [
        (1, 1, "pipeline"),
        (2, 2, "pipeline"),
    ]
    pointer = control.alias("delay", "production")
    assert pointer is not None and pointer.version == 2 and pointer.revision == 2


def test_an_alias_moves_only_from_where_the_caller_saw_it(control: ControlStore) -> None:
    with pytest.raises(Conflict, match="unset, not at 1"):
        control.move_alias("delay", "production", 2, by="p", expected_version=1)
    control.move_alias("delay", "production", 1, by="p", expected_version=None)
    with pytest.raises(Conflict, match="it is at 1, not unset"):
        control.move_alias("delay", "production", 3, by="p", expected_version=None)
    control.move_alias("delay", "production", 2, by="p", expected_version=1)
    with pytest.raises(Conflict, match="at 2, not at 1"):  # the lost update the issue names
        control.move_alias("delay", "production", 3, by="p", expected_version=1)
    with pytest.raises(Conflict, match="revision 2, not 1"):
        control.move_alias("delay", "production", 3, by="p", expected_revision=1)
    moved = control.move_alias("delay", "production", 3, by="p", expected_revision=2)
    assert moved.revision == 3
    with pytest.raises(Conflict, match="revision 0, not 1"):  # 0 means never set
        control.move_alias("delay", "staging", 3, by="p", expected_revision=1)
    assert control.move_alias("delay", "staging", 3, by="p", expected_revision=0).revision == 1
    assert [m.version for m in control.alias_history("delay", "production")] == [1, 2, 3]


def test_removing_an_alias_keeps_its_history(control: ControlStore) -> None:
    with pytest.raises(NotFound):
        control.move_alias("delay", "production", None, by="p")
    control.move_alias("delay", "production", 1, by="p")
    control.move_alias("delay", "staging", 2, by="p")
    control.move_alias("fraud", "production", 5, by="p")
    assert control.aliases("delay") == {"production": 1, "staging": 2}
    assert control.all_aliases() == {
        "delay": {"production": 1, "staging": 2},
        "fraud": {"production": 5},
    }
    removed = control.move_alias("delay", "staging", None, by="p", expected_version=2)
    assert removed.version is None and removed.revision == 2
    assert control.aliases("delay") == {"production": 1}
    assert control.all_aliases() == {"delay": {"production": 1}, "fraud": {"production": 5}}
    assert [m.version for m in control.alias_history("delay", "staging")] == [2, None]
    back = control.move_alias("delay", "staging", 4, by="p", expected_version=None)
    assert back.revision == 3 and control.aliases("delay")["staging"] == 4


def test_reviews_are_kept_oldest_first(control: ControlStore) -> None:
    control.add_review("delay", 3, "pending", "", by="alice")
    control.add_review("delay", 3, "approved", "slices fine", by="bob")
    control.add_review("delay", 4, "rejected", "worse", by="bob")
    reviews = control.reviews("delay", 3)
    assert [(r.status, r.by, r.comment) for r in reviews] == [
        ("pending", "alice", ""),
        ("approved", "bob", "slices fine"),
    ]
    assert control.reviews("delay", 9) == []


# -- endpoints ------------------------------------------------------------------------------


def _blue_green() -> list[Variant]:
    return [Variant("blue", "delay", 1, weight=9.0), Variant("green", "delay", 2, weight=1.0)]


def test_an_endpoint_changes_by_compare_and_set_with_one_event_per_write(
    control: ControlStore,
) -> None:
    created = control.create_endpoint("delay", {"timeout_ms": 50}, _blue_green(), by="pipeline")
    assert created.revision == 1 and created.spec == {"timeout_ms": 50}
    assert [(v.name, v.version, v.weight) for v in created.variants] == [
        ("blue", 1, 9.0),
        ("green", 2, 1.0),
    ]
    assert control.endpoint("delay") == created
    with pytest.raises(AlreadyExists):
        control.create_endpoint("delay", {}, [], by="pipeline")

    shifted = control.update_endpoint(
        "delay",
        expected_revision=1,
        by="pipeline",
        event="traffic_shifted",
        variants=[
            Variant("green", "delay", 2, weight=1.0),
            Variant("mirror", "delay", 3, weight=0.0, role="shadow", spec={"k": 1}),
        ],
        detail={"reason": "canary passed"},
    )
    assert shifted.revision == 2 and shifted.spec == {"timeout_ms": 50}  # spec untouched
    assert [(v.name, v.role, v.spec) for v in shifted.variants] == [  # replaced as a whole
        ("green", "primary", {}),
        ("mirror", "shadow", {"k": 1}),
    ]
    respec = control.update_endpoint(
        "delay", expected_revision=2, by="alice", event="respec", spec={"timeout_ms": 80}
    )
    assert respec.revision == 3 and respec.spec == {"timeout_ms": 80}
    assert respec.variants == shifted.variants and respec.updated_by == "alice"
    assert respec.created_by == "pipeline" and respec.created_at == created.created_at

    with pytest.raises(Conflict, match="revision 3, not 2"):
        control.update_endpoint(
            "delay",
            expected_revision=2,
            by="bob",
            event="respec",
            spec={"timeout_ms": 1},
            variants=[],
        )
    assert control.endpoint("delay") == respec  # the refused write changed nothing

    events = control.events("endpoint", "delay")
    assert [(e.revision, e.event, e.by) for e in events] == [
        (1, "created", "pipeline"),
        (2, "traffic_shifted", "pipeline"),
        (3, "respec", "alice"),
    ]
    assert events[1].detail["reason"] == "canary passed"
    assert [v["name"] for v in events[1].detail["variants"]] == ["green", "mirror"]
    assert events[2].detail == {"spec": {"timeout_ms": 80}}

    control.create_endpoint("fraud", {}, [], by="pipeline")
    assert [e.name for e in control.endpoints()] == ["delay", "fraud"]
    with pytest.raises(Conflict):
        control.delete_endpoint("delay", expected_revision=1, by="pipeline")
    control.delete_endpoint("delay", expected_revision=3, by="pipeline")
    with pytest.raises(NotFound):
        control.endpoint("delay")
    assert [e.name for e in control.endpoints()] == ["fraud"]
    assert [e.event for e in control.events("endpoint", "delay")][-1] == "deleted"
    assert control.events("endpoint", "delay")[-1].revision == 4
    again = control.create_endpoint("delay", {}, [Variant("v", "delay", 7)], by="pipeline")
    assert again.revision == 1 and [v.name for v in again.variants] == ["v"]  # none left over


def test_a_missing_endpoint_is_not_found(control: ControlStore) -> None:
    with pytest.raises(NotFound):
        control.endpoint("nope")
    with pytest.raises(NotFound):
        control.update_endpoint("nope", expected_revision=1, by="p", event="x", spec={})
    with pytest.raises(NotFound):
        control.delete_endpoint("nope", expected_revision=1, by="p")
    assert control.events("endpoint", "nope") == []


@pytest.mark.parametrize(
    "variants",
    [
        [Variant("a", "delay", 0)],  # versions start at 1
        [Variant("a", "delay", 1, weight=-1.0)],
        [Variant("a", "delay", 1, weight=float("nan"))],
        [Variant("a", "delay", 1, weight=float("inf"))],
        [Variant("a", "delay", 1, role="canary")],
        [Variant("a", "delay", 1), Variant("a", "delay", 2)],  # one name twice
        [Variant("bad name", "delay", 1)],
        [Variant("a", "bad/model", 1)],
        [Variant("a", "delay", 1, spec={"x": float("nan")})],
        ["not a variant"],
    ],
)
def test_bad_variants_are_refused_and_nothing_is_written(
    control: ControlStore, variants: list[Variant]
) -> None:
    with pytest.raises(InvalidInput):
        control.create_endpoint("delay", {}, variants, by="p")
    assert control.endpoints() == []
    control.create_endpoint("delay", {}, [Variant("ok", "delay", 1)], by="p")
    with pytest.raises(InvalidInput):
        control.update_endpoint("delay", expected_revision=1, by="p", event="x", variants=variants)
    assert control.endpoint("delay").revision == 1
    assert len(control.events("endpoint", "delay")) == 1


def test_other_bad_input_is_refused(control: ControlStore) -> None:
    for bad in ("", "has space", "a/b", "x" * 129):
        with pytest.raises(InvalidInput):
            control.create_endpoint(bad, {}, [], by="p")
    with pytest.raises(InvalidInput):
        control.create_endpoint("delay", {"when": datetime.now(UTC)}, [], by="p")  # not JSON
    with pytest.raises(InvalidInput):
        control.create_endpoint("delay", ["not", "a", "mapping"], [], by="p")  # type: ignore[arg-type]
    control.create_endpoint("delay", {}, [], by="p")
    with pytest.raises(InvalidInput):
        control.update_endpoint("delay", expected_revision=0, by="p", event="x", spec={})
    with pytest.raises(InvalidInput):
        control.update_endpoint("delay", expected_revision=1, by="p", event="", spec={})
    with pytest.raises(InvalidInput):
        control.events("model", "delay")
    with pytest.raises(InvalidInput):
        control.create_deployment("delay", "canary", {}, by="p", state="x" * 17)
    with pytest.raises(InvalidInput):
        control.deployments(limit=0)


def test_a_write_inside_a_failed_transaction_leaves_nothing(
    metadata: SqlMetadataStore, control: ControlStore
) -> None:
    with pytest.raises(RuntimeError), metadata.transaction():
        control.create_endpoint("delay", {}, [Variant("a", "delay", 1)], by="p")
        control.move_alias("delay", "production", 1, by="p")
        raise RuntimeError("crash between the steps")
    assert control.endpoints() == [] and control.events("endpoint", "delay") == []
    assert control.alias("delay", "production") is None


# -- deployments --------------------------------------------------------------------------


def test_a_deployment_moves_through_its_states_by_compare_and_set(control: ControlStore) -> None:
    first = control.create_deployment("delay", "canary", {"steps": [10, 50]}, by="pipeline")
    assert len(first.id) == 32 and first.state == "pending" and first.revision == 1
    assert control.deployment(first.id) == first
    baking = control.update_deployment(
        first.id,
        expected_revision=1,
        by="pipeline",
        event="step",
        state="baking",
        status={"step": 0},
    )
    assert (baking.state, baking.revision, baking.status) == ("baking", 2, {"step": 0})
    with pytest.raises(Conflict, match="revision 2, not 1"):
        control.update_deployment(
            first.id, expected_revision=1, by="pipeline", event="abort", state="aborted"
        )
    noted = control.update_deployment(
        first.id, expected_revision=2, by="pipeline", event="note", detail={"p99_ms": 12.5}
    )
    assert noted.state == "baking" and noted.status == {"step": 0} and noted.revision == 3
    done = control.update_deployment(
        first.id,
        expected_revision=3,
        by="pipeline",
        event="finish",
        state="done",
        status={"step": 1},
    )
    assert control.deployment(first.id) == done and done.spec == {"steps": [10, 50]}
    events = control.events("deployment", first.id)
    assert [(e.revision, e.event) for e in events] == [
        (1, "created"),
        (2, "step"),
        (3, "note"),
        (4, "finish"),
    ]
    assert events[1].detail == {"state": "baking", "status": {"step": 0}}
    assert events[2].detail == {"p99_ms": 12.5}

    second = control.create_deployment("delay", "blue_green", {}, by="pipeline", state="ready")
    other = control.create_deployment("fraud", "shadow", {}, by="pipeline")
    assert [d.id for d in control.deployments("delay")] == [second.id, first.id]  # newest first
    assert [d.id for d in control.deployments()] == [other.id, second.id, first.id]
    assert [d.id for d in control.deployments(limit=1)] == [other.id]
    with pytest.raises(NotFound):
        control.deployment("f" * 32)
    with pytest.raises(NotFound):
        control.update_deployment("f" * 32, expected_revision=1, by="p", event="x", state="done")


# -- audit log ------------------------------------------------------------------------------


def test_the_audit_log_is_filtered_newest_first(control: ControlStore) -> None:
    before = datetime.now(UTC)
    control.audit(
        "alice",
        "models:SetAlias",
        "model:delay/production",
        "denied",
        source="api 127.0.0.1",
        detail={"why": "only the pipeline"},
    )
    middle = datetime.now(UTC)
    control.audit("pipeline", "models:SetAlias", "model:delay/production", "allowed")
    control.audit("alice", "datasets:Read", "dataset:flights", "allowed", source="cli")
    entries = control.audit_log()
    assert [(e.principal, e.action) for e in entries] == [
        ("alice", "datasets:Read"),
        ("pipeline", "models:SetAlias"),
        ("alice", "models:SetAlias"),
    ]
    denied = entries[-1]
    assert denied.outcome == "denied" and denied.source == "api 127.0.0.1"
    assert denied.detail == {"why": "only the pipeline"} and before <= denied.at <= middle
    assert [e.action for e in control.audit_log(principal="alice")] == [
        "datasets:Read",
        "models:SetAlias",
    ]
    assert [e.principal for e in control.audit_log(action="models:SetAlias")] == [
        "pipeline",
        "alice",
    ]
    assert len(control.audit_log(since=middle)) == 2
    assert len(control.audit_log(principal="alice", action="models:SetAlias", since=middle)) == 0
    assert len(control.audit_log(limit=1)) == 1
    for kwargs in ({"limit": 0}, {"limit": 10_001}, {"since": datetime(2026, 1, 1)}):
        with pytest.raises(InvalidInput):
            control.audit_log(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        control.audit("alice", "models:SetAlias", "model:delay", "maybe")


# -- schedules ------------------------------------------------------------------------------


def test_a_schedule_fires_once_per_interval_and_skips_missed_ones(
    metadata: SqlMetadataStore, control: ControlStore
) -> None:
    jobs = job_store_for(metadata)
    made = control.put_schedule(
        "drift", "monitor.drift", {"endpoint": "delay"}, 60, by="alice", first_fire_at=T0
    )
    assert made.revision == 1 and made.next_fire_at == T0 and made.last_fired_at is None
    assert control.fire_due(T0 - timedelta(seconds=1), by="server") == []  # not due yet

    fired = control.fire_due(T0, by="server")
    assert len(fired) == 1
    schedule, job_id = fired[0]
    assert schedule.next_fire_at == T0 + timedelta(seconds=60) and schedule.last_job_id == job_id
    job = jobs.get(job_id)
    assert (job.kind, job.payload, job.created_by) == (
        "monitor.drift",
        {"endpoint": "delay"},
        "server",
    )
    assert control.fire_due(T0 + timedelta(seconds=59), by="server") == []  # fired already

    # No server ran for 10 minutes: the missed intervals fire once, not in a burst.
    late = T0 + timedelta(seconds=60 * 10 + 5)
    fired = control.fire_due(late, by="server")
    assert len(fired) == 1 and fired[0][0].next_fire_at == T0 + timedelta(seconds=60 * 11)
    assert control.fire_due(late, by="server") == []
    stored = control.schedules()[0]
    assert stored.last_fired_at == late and stored.last_job_id == fired[0][1]
    assert stored.revision == 3
    assert len(jobs.list(kind="monitor.drift")) == 2


def test_schedules_are_replaced_disabled_and_deleted(
    metadata: SqlMetadataStore, control: ControlStore
) -> None:
    control.put_schedule("drift", "monitor.drift", {}, 60, by="alice", first_fire_at=T0)
    control.put_schedule("quality", "monitor.quality", {}, 300, by="alice", first_fire_at=T0)
    replaced = control.put_schedule(
        "drift", "monitor.drift", {"window": "1h"}, 3600, by="bob", first_fire_at=T0, enabled=False
    )
    assert replaced.revision == 2 and replaced.payload == {"window": "1h"}
    assert replaced.interval_seconds == 3600 and replaced.created_by == "alice"
    assert [s.name for s in control.schedules()] == ["drift", "quality"]
    fired = control.fire_due(T0 + timedelta(hours=2), by="server")
    assert [s.name for s, _ in fired] == ["quality"]  # the disabled one does not fire
    control.delete_schedule("quality")
    assert [s.name for s in control.schedules()] == ["drift"]
    with pytest.raises(NotFound):
        control.delete_schedule("quality")
    for interval in (0, -5, 1.5, True):
        with pytest.raises(InvalidInput):
            control.put_schedule("bad", "monitor.drift", {}, interval, by="alice")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        control.put_schedule(
            "bad", "monitor.drift", {}, 60, by="alice", first_fire_at=datetime(2026, 1, 1)
        )
    with pytest.raises(InvalidInput):
        control.fire_due(datetime(2026, 1, 1), by="server")  # a naive time
    assert len(job_store_for(metadata).list()) == 1


# -- 8 processes racing ---------------------------------------------------------------------


def _run_race(url: str, tmp_path: Path, what: str, rounds: int, target: str = "") -> list[Any]:
    """Each process's results, one list per process, one entry per round."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    outs = [tmp_path / f"{what}-{i}.json" for i in range(PROCESSES)]
    procs = [
        context.Process(
            target=control_races.race, args=(url, what, i, rounds, barrier, target, str(out))
        )
        for i, out in enumerate(outs)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=600)
        assert proc.exitcode == 0, f"a racing process failed (exit code {proc.exitcode})"
    return [json.loads(out.read_text()) for out in outs]


@pytest.mark.slow
def test_eight_processes_racing_on_one_deployment_lose_no_update(
    url: str, control: ControlStore, tmp_path: Path
) -> None:
    deployment = control.create_deployment("delay", "canary", {}, by="pipeline")
    rounds = 15
    results = _run_race(url, tmp_path, "deployment", rounds, deployment.id)
    for round_ in range(rounds):
        attempts = [process[round_] for process in results]
        winners = [seen for seen in attempts if seen is not None]
        assert winners == [round_ + 1], f"round {round_}: {attempts}"  # exactly one won
    wins = sum(seen is not None for process in results for seen in process)
    final = control.deployment(deployment.id)
    assert final.revision == 1 + wins == 1 + rounds
    steps = [e for e in control.events("deployment", deployment.id) if e.event == "step"]
    assert [e.revision for e in steps] == list(range(2, rounds + 2))  # one event per write
    winners_by_round = {
        round_: f"p{i}"
        for i, process in enumerate(results)
        for round_, seen in enumerate(process)
        if seen is not None
    }
    assert [e.by for e in steps] == [winners_by_round[r] for r in range(rounds)]
    assert [e.detail["status"]["round"] for e in steps] == list(range(rounds))
    assert final.status == {"round": rounds - 1, "winner": winners_by_round[rounds - 1]}


@pytest.mark.slow
def test_eight_processes_racing_to_move_one_alias_lose_no_update(
    url: str, control: ControlStore, tmp_path: Path
) -> None:
    rounds = 10
    results = _run_race(url, tmp_path, "alias", rounds, "delay")
    moved = []
    for round_ in range(rounds):
        winners = [process[round_] for process in results if process[round_] is not None]
        assert len(winners) == 1, f"round {round_}: {winners}"
        moved.extend(winners)
    history = control.alias_history("delay", "production")
    assert [m.version for m in history] == moved
    assert [m.revision for m in history] == list(range(1, rounds + 1))
    pointer = control.alias("delay", "production")
    assert pointer is not None and pointer.version == moved[-1] and pointer.revision == rounds


@pytest.mark.slow
def test_eight_processes_firing_schedules_at_once_fire_each_interval_once(
    url: str, metadata: SqlMetadataStore, control: ControlStore, tmp_path: Path
) -> None:
    control.put_schedule("every-minute", "monitor", {"n": 1}, 60, by="a", first_fire_at=T0)
    control.put_schedule("every-2-minutes", "monitor", {"n": 2}, 120, by="a", first_fire_at=T0)
    control.put_schedule("off", "monitor", {"n": 0}, 60, by="a", first_fire_at=T0, enabled=False)
    rounds = 8
    results = _run_race(url, tmp_path, "schedule", rounds)
    for round_ in range(rounds):
        fired = Counter(name for process in results for name, _ in process[round_])
        expected = {"every-minute": 1} | ({"every-2-minutes": 1} if round_ % 2 == 0 else {})
        assert fired == expected, f"round {round_}: {fired}"
    job_ids = [job_id for process in results for fired in process for _, job_id in fired]
    jobs = job_store_for(metadata).list(kind="monitor")
    assert sorted(job.id for job in jobs) == sorted(job_ids)  # no job without its firing
    assert Counter(job.payload["n"] for job in jobs) == {1: rounds, 2: rounds // 2}
