"""The contract every metadata backend passes: written once, run on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from shipyard.errors import Conflict, InvalidInput, NotFound, SchemaOutOfDate
from shipyard.lineage import CodeVersion, Lineage
from shipyard.stores.metadata import SchemaStatus, open_metadata_store
from shipyard.stores.metadata.sql import SqlMetadataStore
from shipyard.types import Ref

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from shipyard.stores.metadata import open_metadata_store

    url, worker, count, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    store = open_metadata_store(url)
    store.ensure_schema()
    while not go.exists():          # start together, to collide for real
        time.sleep(0.005)
    for i in range(count):
        store.create_version(
            "record", "shared", created_by=f"worker-{worker}",
            attributes={"worker": worker, "i": i},
        )
    store.close()
    """
)


class MetadataStoreContract:
    """Subclasses supply ``url`` (an empty database) and say whether it migrates itself."""

    migrates_itself: bool

    @pytest.fixture
    def url(self) -> str:
        raise NotImplementedError  # each backend's class supplies its database

    @pytest.fixture
    def store(self, url: str) -> Iterator[SqlMetadataStore]:
        store = open_metadata_store(url)
        store.upgrade()
        yield store
        store.close()

    # -- schema -------------------------------------------------------------------

    def test_empty_database_reports_no_revision(self, url: str) -> None:
        store = open_metadata_store(url)
        status = store.schema_status()
        store.close()
        assert status.current is None and not status.up_to_date

    def test_ensure_schema_on_an_empty_database(self, url: str) -> None:
        store = open_metadata_store(url)
        try:
            if self.migrates_itself:
                store.ensure_schema()
                assert store.schema_status().up_to_date
            else:
                with pytest.raises(SchemaOutOfDate, match="shipyard db upgrade"):
                    store.ensure_schema()
        finally:
            store.close()

    def test_upgrade_is_idempotent(self, store: SqlMetadataStore) -> None:
        first = store.schema_status()
        second = store.upgrade()
        assert first == second
        assert isinstance(second, SchemaStatus) and second.up_to_date

    def test_a_database_newer_than_the_code_is_refused(self, store: SqlMetadataStore) -> None:
        with store.engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(SchemaOutOfDate, match="newer"):
            store.ensure_schema() if not self.migrates_itself else store.upgrade()

    # -- versions -------------------------------------------------------------------

    def test_versions_start_at_one_and_grow(self, store: SqlMetadataStore) -> None:
        first, created = store.create_version("dataset", "flights", created_by="ana")
        second, _ = store.create_version("dataset", "flights", created_by="ana")
        other, _ = store.create_version("model", "flights", created_by="ana")
        assert created
        assert (first.version, second.version, other.version) == (1, 2, 1)
        assert store.get_version("dataset", "flights").version == 2
        assert store.get_version("dataset", "flights", 1).id == first.id
        assert [r.version for r in store.list_versions("dataset", "flights")] == [1, 2]
        assert store.list_names("dataset") == ["flights"]
        assert first.ref == Ref("dataset", "flights", 1)

    def test_records_round_trip_with_utc_times(self, store: SqlMetadataStore) -> None:
        before = datetime.now(UTC)
        record, _ = store.create_version(
            "dataset",
            "weather",
            created_by="ana",
            content_hash="ab" * 32,
            attributes={"rows": 26115, "columns": ["origin", "temp"], "nested": {"a": 1.5}},
            description="hourly weather",
        )
        loaded = store.get_version("dataset", "weather", 1)
        assert loaded == record
        assert loaded.created_at.tzinfo is not None
        assert loaded.created_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
        assert before <= loaded.created_at <= datetime.now(UTC)

    def test_attribute_key_order_round_trips(self, store: SqlMetadataStore) -> None:
        order = {"training": 0.7, "validation": 0.15, "testing": 0.15, "b": {"z": 1, "a": 2}}
        store.create_version("split", "s", created_by="a", attributes=order)
        loaded = store.get_version("split", "s").attributes
        assert list(loaded) == list(order) and list(loaded["b"]) == ["z", "a"]

    def test_same_content_reuses_the_version(self, store: SqlMetadataStore) -> None:
        first, _ = store.create_version(
            "dataset", "d", created_by="a", content_hash="1" * 64, reuse_same_content=True
        )
        again, created = store.create_version(
            "dataset", "d", created_by="a", content_hash="1" * 64, reuse_same_content=True
        )
        changed, created_changed = store.create_version(
            "dataset", "d", created_by="a", content_hash="2" * 64, reuse_same_content=True
        )
        assert again.id == first.id and not created
        assert changed.version == 2 and created_changed

    def test_missing_versions_are_not_found_with_a_hint(self, store: SqlMetadataStore) -> None:
        with pytest.raises(NotFound, match="dataset:nothing"):
            store.get_version("dataset", "nothing")
        store.create_version("dataset", "one", created_by="a")
        with pytest.raises(NotFound) as info:
            store.get_version("dataset", "one", 5)
        assert info.value.hint is not None and "1" in info.value.hint

    def test_bad_names_are_refused_and_nothing_is_written(self, store: SqlMetadataStore) -> None:
        for bad in ["", "has space", "../etc", "x" * 129]:
            with pytest.raises(InvalidInput):
                store.create_version("dataset", bad, created_by="a")
        assert store.info().counts["versions"] == 0

    # -- lineage ----------------------------------------------------------------------

    def test_lineage_round_trips(self, store: SqlMetadataStore) -> None:
        subject = Ref("model", "delay", 7)
        record = Lineage(
            datasets=("dataset:flights@3",),
            features=("feature_view:weather@2",),
            split_plan="split:time@1",
            run="run:abc",
            code=CodeVersion(commit="f" * 40, dirty=True, diff_hash="0" * 64),
            build_id="build-1",
            extra={"note": "x"},
        )
        store.put_lineage(subject, record)
        assert store.get_lineage(subject) == record
        store.put_lineage(subject, Lineage(build_id="build-2"))
        assert store.get_lineage(subject).build_id == "build-2"
        with pytest.raises(NotFound):
            store.get_lineage(Ref("model", "delay", 8))

    def test_info_counts_rows(self, store: SqlMetadataStore) -> None:
        store.create_version("dataset", "a", created_by="x")
        info = store.info()
        assert info.counts["versions"] == 1 and info.schema is not None
        assert "***" in info.location or "sqlite" in info.location

    # -- concurrency --------------------------------------------------------------------

    def test_eight_processes_writing_at_once_lose_nothing(
        self, store: SqlMetadataStore, url: str, tmp_path: Path
    ) -> None:
        workers, per_worker = 8, 1000
        go = tmp_path / "go"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, url, str(w), str(per_worker), str(go)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for w in range(workers)
        ]
        time.sleep(1.0)  # let every process import and connect before the start signal
        go.touch()
        failures = []
        for proc in procs:
            _, err = proc.communicate(timeout=540)
            if proc.returncode != 0:
                failures.append(err)
        assert not failures, failures[0][-2000:]
        assert not any("database is locked" in f for f in failures)
        records = store.list_versions("record", "shared")
        assert len(records) == workers * per_worker
        assert [r.version for r in records] == list(range(1, workers * per_worker + 1))
        pairs = {(r.attributes["worker"], r.attributes["i"]) for r in records}
        assert len(pairs) == workers * per_worker

    def test_expected_latest_is_a_compare_and_set(self, store: SqlMetadataStore) -> None:
        store.create_version("policy", "p", created_by="t", expected_latest=0)
        store.create_version("policy", "p", created_by="t", expected_latest=1)
        with pytest.raises(Conflict, match="at version 2, not 1"):
            store.create_version("policy", "p", created_by="t", expected_latest=1)
        assert [r.version for r in store.list_versions("policy", "p")] == [1, 2]

    # -- queries that filter in the database ------------------------------------------

    def test_find_versions_filters_by_hash_and_attributes(self, store: SqlMetadataStore) -> None:
        for n, (dataset, hash_) in enumerate([("a@1", "h1"), ("b@1", "h2"), ("a@2", "h3")]):
            store.create_version("baseline", "x", created_by="t", content_hash=hash_,
                                 attributes={"dataset": dataset, "n": n, "ok": n != 1})  # fmt: skip
        store.create_version("baseline", "y", created_by="t", attributes={"dataset": "a@1"})
        found = store.find_versions("baseline", "x", attributes={"dataset": "a@1"})
        assert [r.version for r in found] == [1]
        assert [r.version for r in store.find_versions("baseline", "x", content_hash="h3")] == [3]
        assert [r.version for r in store.find_versions("baseline", "x", attributes={"n": 1})] == [2]
        assert [r.name for r in store.find_versions("baseline", attributes={"ok": True})] == [
            "x", "x",
        ]  # fmt: skip
        newest = store.find_versions("baseline", newest_first=True, limit=2)
        assert [(r.name, r.version) for r in newest] == [("y", 1), ("x", 3)]
        assert store.find_versions("baseline", "z") == []
        with pytest.raises(InvalidInput):
            store.find_versions("baseline", limit=-1)

    def test_latest_versions_and_versions_of_are_one_query(self, store: SqlMetadataStore) -> None:
        for name, count in (("a", 3), ("b", 1), ("c", 2)):
            for _ in range(count):
                store.create_version("model", name, created_by="t")
        latest = store.latest_versions("model")
        assert [(r.name, r.version) for r in latest] == [("a", 3), ("b", 1), ("c", 2)]
        assert [r.name for r in store.latest_versions("model", ["c", "zz"])] == ["c"]
        both = store.versions_of("model", ["a", "c"])
        assert [(r.name, r.version) for r in both] == [
            ("a", 1), ("a", 2), ("a", 3), ("c", 1), ("c", 2),
        ]  # fmt: skip
        assert store.versions_of("model", []) == []


class TestSqliteMetadataStore(MetadataStoreContract):
    migrates_itself = True

    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'metadata.db'}"

    def test_concurrent_first_use_migrates_once(self, url: str, tmp_path: Path) -> None:
        script = (
            "import sys; from shipyard.stores.metadata import open_metadata_store as o; "
            "s = o(sys.argv[1]); s.ensure_schema(); "
            "s.create_version('record', 'r', created_by='x'); s.close()"
        )
        procs = [
            subprocess.Popen([sys.executable, "-c", script, url], stderr=subprocess.PIPE)
            for _ in range(4)
        ]
        errors = [p.communicate(timeout=120)[1] for p in procs]
        assert all(p.returncode == 0 for p in procs), errors
        store = open_metadata_store(url)
        assert len(store.list_versions("record", "r")) == 4
        store.close()

    def test_wal_mode_is_on(self, store: SqlMetadataStore) -> None:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


class TestPostgresMetadataStore(MetadataStoreContract):
    migrates_itself = False

    @pytest.fixture
    def url(self, postgres_url: str) -> str:
        return postgres_url
