"""The contract every tracking backend passes: written once, run on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shipyard.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from shipyard.stores.metadata import open_metadata_store
from shipyard.stores.tracking import NewRun, OrderTerm, RunKey, TrackingStore, tracking_store_for
from shipyard.stores.tracking.query import attribute_condition, key_condition

WRITER = textwrap.dedent(
    """
    import sys, time, uuid
    from datetime import UTC, datetime
    from pathlib import Path
    from shipyard.stores.metadata import open_metadata_store
    from shipyard.stores.tracking import NewRun, tracking_store_for

    url, worker, count, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    meta = open_metadata_store(url)
    store = tracking_store_for(meta)
    exp = store.get_or_create_experiment("race", created_by=f"w{worker}")
    key = store.create_run(NewRun(uuid.uuid4().hex, exp.id, f"w{worker}", datetime.now(UTC), "w"))
    print(key.uid, flush=True)
    while not go.exists():          # start together, to collide for real
        time.sleep(0.005)
    batch = 50                      # many small transactions: real contention
    for start in range(0, count, batch):
        rows = [(key.id, "loss", s, float(s), time.time()) for s in range(start, start + batch)]
        store.log_batch(metrics=rows, tags=[(key.id, "at", str(start))])
    meta.close()
    """
)


def new_run(store: TrackingStore, experiment: str = "e", **kwargs: object) -> RunKey:
    exp = store.get_or_create_experiment(experiment, created_by="ana")
    spec = {"uid": uuid.uuid4().hex, "experiment_id": exp.id, "name": "r", "created_by": "ana"}
    spec.update({"start_time": datetime.now(UTC), **kwargs})
    return store.create_run(NewRun(**spec))  # type: ignore[arg-type]


class TrackingStoreContract:
    """Subclasses supply ``url``: an empty database."""

    @pytest.fixture
    def url(self) -> str:
        raise NotImplementedError  # each backend's class supplies its database

    @pytest.fixture
    def store(self, url: str) -> Iterator[TrackingStore]:
        meta = open_metadata_store(url)
        meta.upgrade()
        yield tracking_store_for(meta)
        meta.close()

    # -- experiments ----------------------------------------------------------------------

    def test_experiments(self, store: TrackingStore) -> None:
        first = store.get_or_create_experiment("churn", created_by="ana")
        again = store.get_or_create_experiment("churn", created_by="bo")
        assert first == again and first.created_by == "ana"
        assert first.created_at.utcoffset() == timedelta(0)
        with pytest.raises(AlreadyExists, match="churn"):
            store.create_experiment("churn", created_by="bo")
        store.create_experiment("alpha", created_by="bo")
        assert [e.name for e in store.list_experiments()] == ["alpha", "churn"]
        with pytest.raises(NotFound, match="nope"):
            store.get_experiment("nope")

    # -- runs -------------------------------------------------------------------------------

    def test_runs_round_trip(self, store: TrackingStore) -> None:
        exp = store.get_or_create_experiment("e", created_by="ana")
        start = datetime.now(UTC).replace(microsecond=0)
        record = {"seed": 7, "packages": {"numpy": "2.0"}, "b": 1, "a": 2}
        specs = [
            NewRun(uuid.uuid4().hex, exp.id, f"r{i}", start, "ana", record=record) for i in range(3)
        ]
        keys = store.create_runs(specs)
        assert [k.uid for k in keys] == [s.uid for s in specs]
        assert len({k.id for k in keys}) == 3
        child = new_run(store, parent_id=keys[0].id, name="child")
        info = store.get_run(keys[1].uid)
        assert (info.name, info.experiment, info.status, info.parent) == (
            "r1",
            "e",
            "running",
            None,
        )
        assert info.start_time == start and info.end_time is None
        assert info.record == record and list(info.record) == ["seed", "packages", "b", "a"]
        assert (info.params, info.metrics, info.tags, info.artifacts) == ({}, {}, {}, {})
        assert store.get_run(child.uid).parent == keys[0].uid
        assert store.run_key(keys[2].uid) == keys[2]

    def test_reserved_ids_are_never_handed_out_twice(self, store: TrackingStore) -> None:
        exp = store.get_or_create_experiment("e", created_by="ana")
        first, second = store.reserve_run_ids(3), store.reserve_run_ids(5)
        assert len(first) == 3 and len(second) == 5
        numbered = store.create_runs(
            [NewRun(uuid.uuid4().hex, exp.id, "own id", datetime.now(UTC), "ana", id=first[1])]
        )
        assert numbered[0].id == first[1]
        counted = store.create_runs(
            [NewRun(uuid.uuid4().hex, exp.id, f"r{i}", datetime.now(UTC), "ana") for i in range(4)]
        )
        handed = [*first, *second, *(k.id for k in counted)]
        assert len(set(handed)) == len(handed)
        assert store.get_run(numbered[0].uid).name == "own id"

    def test_a_batch_creates_its_runs_first(self, store: TrackingStore) -> None:
        exp = store.get_or_create_experiment("e", created_by="ana")
        parent, ended, running = store.reserve_run_ids(3)
        start = datetime.now(UTC)
        new = [
            NewRun(uuid.uuid4().hex, exp.id, "parent", start, "ana", id=parent),
            NewRun(uuid.uuid4().hex, exp.id, "ended", start, "ana", parent_id=parent, id=ended),
            NewRun(uuid.uuid4().hex, exp.id, "running", start, "ana", record={"a": 1}, id=running),
        ]
        end = start + timedelta(seconds=3)
        store.log_batch(
            runs=new,
            params=[(ended, "lr", "0.1")],
            metrics=[(ended, "m", 0, 1.0, 0.0), (running, "m", 1, 2.0, 0.0)],
            tags=[(running, "t", "x")],
            ends=[(ended, "failed", end)],
        )
        done, going = store.get_run(new[1].uid), store.get_run(new[2].uid)
        assert (done.status, done.end_time, done.parent) == ("failed", end, new[0].uid)
        assert (done.params, done.metrics) == ({"lr": "0.1"}, {"m": 1.0})
        assert (going.status, going.end_time, going.record) == ("running", None, {"a": 1})
        assert (going.metrics, going.tags) == ({"m": 2.0}, {"t": "x"})
        store.log_batch(ends=[(running, "finished", end)])
        assert store.get_run(new[2].uid).status == "finished"
        with pytest.raises(ValueError, match="reserve"):
            store.log_batch(runs=[replace(new[0], uid=uuid.uuid4().hex, id=None)])

    def test_unknown_runs_are_not_found(self, store: TrackingStore) -> None:
        for call in (store.get_run, store.run_key, lambda uid: store.metric_history(uid, "m")):
            with pytest.raises(NotFound, match="0" * 32):
                call("0" * 32)

    def test_latest_metric_follows_the_highest_step(self, store: TrackingStore) -> None:
        a, b = new_run(store), new_run(store)
        store.log_batch(metrics=[(a.id, "m", 5, 0.5, 1.0), (a.id, "m", 2, 0.2, 2.0)])
        store.log_batch(metrics=[(a.id, "m", 3, 0.3, 3.0), (b.id, "m", 0, 9.0, 3.0)])
        assert store.get_run(a.uid).metrics == {"m": 0.5}  # a lower step never wins
        store.log_batch(metrics=[(a.id, "m", 5, 0.55, 4.0), (a.id, "m", 5, 0.56, 4.0)])
        assert store.get_run(a.uid).metrics == {"m": 0.56}  # a tie goes to the later write
        store.log_batch(metrics=[(a.id, "m", 6, -1.5, 5.0), (a.id, "n", 0, 1e300, 5.0)])
        assert store.get_run(a.uid).metrics == {"m": -1.5, "n": 1e300}
        assert store.get_run(b.uid).metrics == {"m": 9.0}
        history = store.metric_history(a.uid, "m")
        assert [(p.step, p.value) for p in history] == [
            (2, 0.2),
            (3, 0.3),
            (5, 0.5),
            (5, 0.55),
            (5, 0.56),
            (6, -1.5),
        ]
        assert store.metric_history(a.uid, "unknown") == []

    def test_params_keep_the_first_value_and_tags_the_last(self, store: TrackingStore) -> None:
        run = new_run(store)
        store.log_batch(params=[(run.id, "lr", "0.1")], tags=[(run.id, "t", "one")])
        store.log_batch(
            params=[(run.id, "lr", "0.2"), (run.id, "x", "")], tags=[(run.id, "t", "2")]
        )
        info = store.get_run(run.uid)
        assert info.params == {"lr": "0.1", "x": ""} and info.tags == {"t": "2"}

    def test_ends_and_status(self, store: TrackingStore) -> None:
        a, b, c = new_run(store), new_run(store), new_run(store)
        end = datetime.now(UTC)
        store.log_batch(metrics=[(a.id, "m", 0, 1.0, 0.0)], ends=[(a.id, "finished", end)])
        info = store.get_run(a.uid)
        assert info.status == "finished" and info.end_time is not None
        assert abs(info.end_time - end) < timedelta(milliseconds=1)
        store.log_batch(ends=[(a.id, "failed", end)])  # an ended run keeps its status
        assert store.get_run(a.uid).status == "finished"
        store.set_status(b.id, "killed", end)
        assert store.get_run(b.uid).status == "killed"
        with pytest.raises(Conflict, match="already ended"):
            store.set_status(b.id, "finished", end)
        with pytest.raises(NotFound):
            store.set_status(10**6, "finished", end)
        assert store.get_run(c.uid).status == "running"

    def test_artifacts_notes_and_record(self, store: TrackingStore) -> None:
        run = new_run(store, record={"seed": 1})
        store.record_artifact(run.id, "model/model.pkl", "a" * 64, 10)
        store.record_artifact(run.id, "plot.png", "b" * 64, 20)
        store.record_artifact(run.id, "plot.png", "c" * 64, 30)
        store.append_note(run.id, "first")
        store.append_note(run.id, "second\nline")
        store.update_record(run.id, {"dataset": "dataset:flights@3", "seed": 2})
        info = store.get_run(run.uid)
        assert info.artifacts == {"model/model.pkl": "a" * 64, "plot.png": "c" * 64}
        assert info.notes == "first\n\nsecond\nline"
        assert info.record == {"seed": 2, "dataset": "dataset:flights@3"}

    # -- search -------------------------------------------------------------------------------

    def test_search_filters_orders_and_limits(self, store: TrackingStore) -> None:
        keys = [new_run(store, "a" if i < 4 else "b", name=f"r{i}") for i in range(6)]
        auc = [0.9, None, 0.7, 0.95, 0.8, None]
        for key, value in zip(keys, auc, strict=True):
            if value is not None:
                store.log_batch(metrics=[(key.id, "auc", 0, value, 0.0)])
        store.log_batch(
            params=[(keys[0].id, "model", "HGB"), (keys[2].id, "model", "hgb-2")],
            tags=[(keys[1].id, "team", "x")],
        )
        names = lambda runs: [r.name for r in runs]  # noqa: E731
        by_auc = [OrderTerm("metrics", "auc", True)]
        assert names(store.search_runs(None, by_auc)) == ["r3", "r0", "r4", "r2", "r5", "r1"]
        ascending = [OrderTerm("metrics", "auc", False)]
        assert names(store.search_runs(None, ascending))[:4] == ["r2", "r4", "r0", "r3"]
        assert names(store.search_runs(None, by_auc, max_results=2)) == ["r3", "r0"]
        assert names(store.search_runs(None, by_auc, experiments=["b"])) == ["r4", "r5"]
        high = key_condition("metrics", "auc", ">=", 0.8)
        assert names(store.search_runs(high, by_auc)) == ["r3", "r0", "r4"]
        # A run without the key matches no comparison on it, != included.
        assert names(store.search_runs(key_condition("params", "model", "!=", "x"))) == [
            "r2",
            "r0",
        ]
        # LIKE is case-sensitive on every backend; ILIKE is not.
        assert names(store.search_runs(key_condition("params", "model", "LIKE", "hgb%"))) == ["r2"]
        ilike = key_condition("params", "model", "ILIKE", "hgb%")
        assert sorted(names(store.search_runs(ilike))) == ["r0", "r2"]
        assert names(store.search_runs(key_condition("params", "model", "LIKE", "H_B"))) == ["r0"]
        named = attribute_condition("experiment", "=", "b")
        assert names(store.search_runs(named, [OrderTerm("attributes", "name")])) == ["r4", "r5"]
        assert names(store.search_runs(key_condition("tags", "team", "=", "x"))) == ["r1"]

    def test_like_wildcards_and_escapes(self, store: TrackingStore) -> None:
        values = ["50%_off", "50xyoff", "a*b?[c]", "aXb?[c]", "back\\slash"]
        keys = [new_run(store, name=value) for value in values]
        store.log_batch(params=[(k.id, "p", v) for k, v in zip(keys, values, strict=True)])

        def like(pattern: str, op: str = "LIKE") -> list[str]:
            found = store.search_runs(key_condition("params", "p", op, pattern))
            return sorted(r.name for r in found)

        assert like("50%off") == ["50%_off", "50xyoff"]
        assert like(r"50\%\_off") == ["50%_off"]
        assert like("a*b?[c]") == ["a*b?[c]"]  # GLOB's own wildcards are plain text
        assert like("a_b?[c]") == ["a*b?[c]", "aXb?[c]"]
        assert like(r"back\\slash") == like(r"BACK\\%", "ILIKE") == ["back\\slash"]
        with pytest.raises(InvalidInput, match="lone backslash"):
            like("50\\")

    def test_newest_runs_come_first_by_default(self, store: TrackingStore) -> None:
        start = datetime.now(UTC)
        for i in range(3):
            new_run(store, name=f"r{i}", start_time=start + timedelta(seconds=i))
        assert [r.name for r in store.search_runs()] == ["r2", "r1", "r0"]

    # -- concurrency ----------------------------------------------------------------------------

    def test_four_processes_logging_at_once_lose_nothing(
        self, store: TrackingStore, url: str, tmp_path: Path
    ) -> None:
        workers, per_worker = 4, 2500
        go = tmp_path / "go"
        store.get_or_create_experiment("race", created_by="test")
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, url, str(w), str(per_worker), str(go)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for w in range(workers)
        ]
        uids = []
        for proc in procs:  # each prints its run id once it is ready
            assert proc.stdout is not None
            uids.append(proc.stdout.readline().strip())
        go.touch()
        started = time.monotonic()
        errors = [proc.communicate(timeout=300)[1] for proc in procs]
        assert all(proc.returncode == 0 for proc in procs), errors
        assert time.monotonic() - started < 120
        for uid in uids:
            history = store.metric_history(uid, "loss")
            assert [p.step for p in history] == list(range(per_worker))
            info = store.get_run(uid)
            assert info.metrics == {"loss": per_worker - 1.0}
            assert info.tags == {"at": str(per_worker - 50)}

    # -- liveness -------------------------------------------------------------------------------

    def test_a_running_run_past_its_deadline_reads_as_killed(self, store: TrackingStore) -> None:
        from shipyard.training.tracking.search import compile_filter

        now = datetime.now(UTC).replace(microsecond=0)
        ago = now - timedelta(minutes=10)
        dead = new_run(store, name="dead", start_time=ago, alive_until=ago + timedelta(minutes=2))
        alive = new_run(store, name="alive", start_time=now, alive_until=now + timedelta(hours=1))
        untracked = new_run(store, name="untracked", start_time=ago)  # liveness unknown
        done = new_run(store, name="done", start_time=ago, alive_until=ago)
        store.set_status(done.id, "finished", now)

        killed = store.get_run(dead.uid)
        assert killed.status == "killed" and killed.end_time == killed.heartbeat == ago
        assert store.get_run(alive.uid).heartbeat == now
        assert (store.get_run(untracked.uid).status, store.get_run(untracked.uid).heartbeat) == (
            "running",
            None,
        )
        assert store.get_run(done.uid).status == "finished"

        def names(filter_text: str) -> list[str]:
            return sorted(r.name for r in store.search_runs(compile_filter(filter_text)))

        assert names("attributes.status = 'killed'") == ["dead"]
        assert names("attributes.status = 'running'") == ["alive", "untracked"]
        assert names("attributes.status != 'running'") == ["dead", "done"]
        assert names("attributes.status LIKE 'kill%' or attributes.name = 'done'") == [
            "dead",
            "done",
        ]

        # A beat brings a stalled run back; an ended run keeps its status and last beat.
        store.heartbeat([dead.id, done.id], now, now + timedelta(minutes=2))
        revived = store.get_run(dead.uid)
        assert (revived.status, revived.end_time, revived.heartbeat) == ("running", None, now)
        assert store.get_run(done.uid).heartbeat == ago
        assert names("attributes.status = 'killed'") == []
        store.heartbeat([], now, now)  # nothing to do

    # -- migration ------------------------------------------------------------------------------

    def test_revision_0003_numbers_new_runs_after_the_old_ones(self, url: str) -> None:
        import sqlalchemy as sa
        from alembic.command import upgrade

        from shipyard.stores.metadata import migrate

        meta = open_metadata_store(url)
        with meta._write() as conn:  # a database as revision 0002 left it
            config = migrate._config()
            config.attributes["connection"] = conn
            upgrade(config, "0002")
            conn.execute(
                sa.text("INSERT INTO experiments VALUES (1, 'old', :t, 'ana')"), {"t": "2026-01-01"}
            )
            for rid in (1, 7):
                conn.execute(
                    sa.text(
                        "INSERT INTO runs (id, uid, experiment_id, name, status, start_time, "
                        "created_by, notes, record) VALUES (:id, :uid, 1, 'r', 'finished', "
                        ":t, 'ana', '', '{}')"
                    ),
                    {"id": rid, "uid": f"{rid:032x}", "t": "2026-01-01"},
                )
            conn.execute(
                sa.text("INSERT INTO metrics VALUES (7, 'm', :s, :v, :t)"),
                [{"s": s, "v": s / 4, "t": float(i)} for i, s in enumerate((2, 0, 1, 1))],
            )
        assert meta.upgrade().up_to_date
        store = tracking_store_for(meta)
        assert min(store.reserve_run_ids(2)) == 8
        assert new_run(store, "old").id == 10
        assert len(store.search_runs(experiments=["old"])) == 3
        history = store.metric_history(f"{7:032x}", "m")
        assert [(p.step, p.value) for p in history] == [(0, 0.0), (1, 0.25), (1, 0.25), (2, 0.5)]
        indexes = {ix["name"] for ix in sa.inspect(meta.engine).get_indexes("latest_metrics")}
        assert "ix_latest_metrics_key_value" not in indexes
        meta.close()

    def test_revision_0004_leaves_old_runs_as_they_were(self, url: str) -> None:
        import sqlalchemy as sa
        from alembic.command import downgrade, upgrade

        from shipyard.stores.metadata import migrate

        meta = open_metadata_store(url)
        meta.upgrade()
        store = tracking_store_for(meta)
        old = new_run(store, start_time=datetime.now(UTC) - timedelta(days=30))
        with meta._write() as conn:  # back to revision 0003, and up again
            config = migrate._config()
            config.attributes["connection"] = conn
            downgrade(config, "0003")
            assert "alive_until" not in {c["name"] for c in sa.inspect(conn).get_columns("runs")}
            upgrade(config, "head")
        store = tracking_store_for(meta)
        info = store.get_run(old.uid)  # nothing says its process died: it reads as stored
        assert (info.status, info.heartbeat) == ("running", None)
        indexes = {ix["name"] for ix in sa.inspect(meta.engine).get_indexes("runs")}
        assert "ix_runs_parent" in indexes
        meta.close()


class TestSqliteTrackingStore(TrackingStoreContract):
    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'metadata.db'}"

    def test_keyed_tables_have_no_rowid(self, store: TrackingStore, url: str) -> None:
        import sqlite3

        db = sqlite3.connect(url.removeprefix("sqlite:///"))
        sql = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
        db.close()
        for table in ("params", "latest_metrics", "tags", "run_artifacts", "metrics"):
            assert "WITHOUT ROWID" in sql[table], table

    def test_metrics_are_one_clustered_table(self, store: TrackingStore, url: str) -> None:
        import sqlite3

        run = new_run(store)
        rows = [(run.id, "m", s, s / 10, float(i)) for i, s in enumerate((3, 1, 2, 2))]
        store.log_batch(metrics=[*rows, rows[0]])  # a point repeated exactly is kept once
        history = store.metric_history(run.uid, "m")
        assert [(p.step, p.value) for p in history] == [(1, 0.1), (2, 0.2), (2, 0.2), (3, 0.3)]
        db = sqlite3.connect(url.removeprefix("sqlite:///"))
        indexes = db.execute(
            "SELECT name FROM sqlite_master WHERE tbl_name = 'metrics' AND type = 'index' "
            "AND sql IS NOT NULL"
        ).fetchall()
        plan = db.execute(
            "EXPLAIN QUERY PLAN SELECT step, value FROM metrics WHERE run_id = 1 AND key = 'm' "
            "ORDER BY step, timestamp"
        ).fetchall()
        db.close()
        assert indexes == [] and not any("TEMP B-TREE" in row[-1] for row in plan), plan


class TestPostgresTrackingStore(TrackingStoreContract):
    @pytest.fixture
    def url(self, postgres_url: str) -> str:
        return postgres_url
