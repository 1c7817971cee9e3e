"""SQLite, the embedded default: one file, WAL, the stdlib driver for sub-millisecond reads.

Layout (four tables):

- ``online_rows(view, entity_key, event_us, created_us, written_us, feature_values)``,
  primary key (view, entity_key), WITHOUT ROWID so a read is one B-tree lookup;
  ``feature_values`` is a JSON object from feature name to value;
- ``online_views(view, join_keys, features, updated_us)``: what each view was written with;
- ``online_checkpoints(view, checkpoint)``: a running materialization's progress (JSON);
- ``online_intervals(view, start_us, end_us, rows, completed_us)``: completed intervals.

Threads: one writer connection behind a lock (writes queue; ``BEGIN IMMEDIATE``
and a busy timeout make other processes queue too), and one read connection
per thread, so reads never wait for a write in progress (WAL). An in-memory
store (``sqlite://``) has a single connection, and reads take the lock too.
SQLAlchemy is not used here: a read is a cached prepared statement on a
persistent connection, a few microseconds.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import BackendUnavailable, SchemaOutOfDate
from shipyard.stores.online.base import (
    NO_CREATED,
    EntityKey,
    MaterializeCheckpoint,
    MaterializedInterval,
    OnlineRow,
    OnlineStore,
    check_read_args,
    check_view,
    checkpoint_from_json,
    checkpoint_to_json,
    encode_entity_key,
    encode_rows,
    from_us,
    has_mappings,
    key_values,
    loads_value,
    now_us,
    to_us,
)

if TYPE_CHECKING:
    import pyarrow as pa

BUSY_TIMEOUT_SECONDS = 60
SCHEMA_VERSION = 2  # 2: online_intervals.last_event_us

_SCHEMA = """
CREATE TABLE IF NOT EXISTS online_rows (
    view TEXT NOT NULL,
    entity_key TEXT NOT NULL,
    event_us INTEGER NOT NULL,
    created_us INTEGER,
    written_us INTEGER NOT NULL,
    feature_values TEXT NOT NULL,
    PRIMARY KEY (view, entity_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS online_views (
    view TEXT PRIMARY KEY,
    join_keys TEXT NOT NULL,
    features TEXT NOT NULL,
    updated_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS online_checkpoints (
    view TEXT PRIMARY KEY,
    checkpoint TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS online_intervals (
    view TEXT NOT NULL,
    start_us INTEGER NOT NULL,
    end_us INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    completed_us INTEGER NOT NULL,
    last_event_us INTEGER,
    PRIMARY KEY (view, start_us, end_us)
);
"""

_UPGRADE_TO_2 = "ALTER TABLE online_intervals ADD COLUMN last_event_us INTEGER;"

# Newer wins by (event time, created time); equal is not newer, so a replay changes nothing.
_UPSERT = f"""
INSERT INTO online_rows (view, entity_key, event_us, created_us, written_us, feature_values)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (view, entity_key) DO UPDATE SET
    event_us = excluded.event_us,
    created_us = excluded.created_us,
    written_us = excluded.written_us,
    feature_values = excluded.feature_values
WHERE (excluded.event_us, coalesce(excluded.created_us, {NO_CREATED}))
    > (online_rows.event_us, coalesce(online_rows.created_us, {NO_CREATED}))
"""
_READ_ONE = (
    "SELECT entity_key, event_us, created_us, written_us, feature_values FROM online_rows "
    "WHERE view = ? AND entity_key = ?"
)
_READ_MANY = (
    "SELECT entity_key, event_us, created_us, written_us, feature_values FROM online_rows "
    "WHERE view = ? AND entity_key IN (SELECT value FROM json_each(?))"
)
_SAVE_VIEW = (
    "INSERT OR REPLACE INTO online_views (view, join_keys, features, updated_us) "
    "VALUES (?, ?, ?, ?)"
)

Record = tuple[str, int, int | None, int, str]


class SqliteOnlineStore(OnlineStore):
    """Online features in one SQLite file (``path``), or in memory when ``path`` is None."""

    backend = "sqlite"

    def __init__(self, path: str | Path | None) -> None:
        self._path = None if path is None else Path(path)
        self._write_lock = threading.Lock()
        self._readers_lock = threading.Lock()  # not the write lock: a new reader never waits
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._join_keys: dict[str, tuple[str, ...]] = {}
        self._writer = self._connect(writer=True)
        self._create_schema()

    @property
    def location(self) -> str:
        return ":memory:" if self._path is None else str(self._path)

    # -- connections ---------------------------------------------------------------

    def _connect(self, *, writer: bool) -> sqlite3.Connection:
        target = ":memory:" if self._path is None else str(self._path)
        try:
            if self._path is not None:
                self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                target,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,  # autocommit; transactions are explicit
                check_same_thread=False,
                cached_statements=256,
            )
            if self._path is not None and writer:
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            if not writer:
                conn.execute("PRAGMA query_only=ON")
        except (OSError, sqlite3.Error) as exc:
            raise self._unavailable(exc) from None
        return conn

    def _reader(self) -> sqlite3.Connection:
        """This thread's read connection, opened on its first read."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(writer=False)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _unavailable(self, exc: BaseException) -> BackendUnavailable:
        return BackendUnavailable(
            f"The online store {self.location} cannot be used: {exc}.",
            hint="Check that the file's folder exists and is writable, and the disk is not full.",
        )

    def _create_schema(self) -> None:
        with self._write_lock:
            try:
                version = self._writer.execute("PRAGMA user_version").fetchall()[0][0]
                if version > SCHEMA_VERSION:
                    raise SchemaOutOfDate(
                        f"The online store {self.location} has schema version {version}; "
                        f"this Shipyard knows {SCHEMA_VERSION}.",
                        hint="Upgrade Shipyard.",
                    )
                upgrade = _UPGRADE_TO_2 if version == 1 else ""
                self._writer.executescript(
                    f"BEGIN IMMEDIATE; {_SCHEMA} {upgrade} "
                    f"PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                )
            except sqlite3.Error as exc:
                raise self._unavailable(exc) from None

    def close(self) -> None:
        with self._write_lock, self._readers_lock:
            for conn in [*self._readers, self._writer]:
                conn.close()
            self._readers.clear()

    # -- writes --------------------------------------------------------------------

    def write(
        self,
        view: str,
        table: pa.Table | pa.RecordBatch,
        *,
        join_keys: Sequence[str],
        event_timestamp: str,
        features: Sequence[str],
        created_timestamp: str | None = None,
        checkpoint: MaterializeCheckpoint | None = None,
    ) -> int:
        check_view(view)
        rows = encode_rows(
            table,
            join_keys=join_keys,
            event_timestamp=event_timestamp,
            features=features,
            created_timestamp=created_timestamp,
        )
        written_us = now_us()
        params = (
            (view, key, event, created, written_us, values)
            for key, event, created, values in zip(
                rows.keys, rows.event_us, rows.created_us, rows.objects(features), strict=True
            )
        )
        view_params = (view, json.dumps(list(join_keys)), json.dumps(list(features)), written_us)

        def statements(conn: sqlite3.Connection) -> int:
            before = conn.total_changes
            conn.executemany(_UPSERT, params)
            changed = conn.total_changes - before
            conn.execute(_SAVE_VIEW, view_params)
            if checkpoint is not None:
                text = checkpoint_to_json(checkpoint, written_us)
                conn.execute(
                    "INSERT OR REPLACE INTO online_checkpoints (view, checkpoint) VALUES (?, ?)",
                    (view, text),
                )
            return changed

        changed = self._transaction(statements)
        self._join_keys[view] = tuple(join_keys)
        return changed

    def _transaction(self, statements: Any) -> Any:
        """Run ``statements(conn)`` in one write transaction: all of it or none of it."""
        with self._write_lock:
            conn = self._writer
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = statements(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.rollback()
                    raise
            except sqlite3.OperationalError as exc:
                raise self._unavailable(exc) from None
            return result

    def finish_materialization(
        self,
        view: str,
        start: datetime,
        end: datetime,
        rows: int,
        last_event: datetime | None = None,
    ) -> None:
        check_view(view)
        last_us = None if last_event is None else to_us(last_event)

        def statements(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO online_intervals "
                "(view, start_us, end_us, rows, completed_us, last_event_us) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (view, to_us(start), to_us(end), rows, now_us(), last_us),
            )
            conn.execute("DELETE FROM online_checkpoints WHERE view = ?", (view,))

        self._transaction(statements)

    def delete_view(self, view: str) -> int:
        check_view(view)

        def statements(conn: sqlite3.Connection) -> int:
            deleted = conn.execute("DELETE FROM online_rows WHERE view = ?", (view,)).rowcount
            for table in ("online_views", "online_checkpoints", "online_intervals"):
                conn.execute(f"DELETE FROM {table} WHERE view = ?", (view,))
            return int(deleted)

        deleted: int = self._transaction(statements)
        self._join_keys.pop(view, None)
        return deleted

    # -- reads ---------------------------------------------------------------------

    def read(
        self,
        view: str,
        entity_keys: Sequence[EntityKey],
        features: Sequence[str],
        *,
        join_keys: Sequence[str] | None = None,
    ) -> list[OnlineRow | None]:
        check_read_args(entity_keys, features)
        order = join_keys
        if order is None and has_mappings(entity_keys):
            order = self._stored_join_keys(view)
        keys = [encode_entity_key(key_values(key, order, view=view)) for key in entity_keys]
        try:
            if not keys:
                found = []
            elif len(keys) == 1:
                found = self._query(_READ_ONE, (view, keys[0]))
            else:
                found = self._query(_READ_MANY, (view, json.dumps(keys)))
        except sqlite3.OperationalError as exc:
            raise self._unavailable(exc) from None
        by_key = {record[0]: record for record in found}
        return [_online_row(by_key.get(key), features) for key in keys]

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        # fetchall, not fetchone: an unfinished statement would hold its read snapshot open.
        if self._path is None:
            with self._write_lock:
                return self._writer.execute(sql, params).fetchall()
        return self._reader().execute(sql, params).fetchall()

    def _stored_join_keys(self, view: str) -> tuple[str, ...] | None:
        """The view's join-key order, needed only to read keys given as mappings."""
        if view not in self._join_keys:
            found = self._query("SELECT join_keys FROM online_views WHERE view = ?", (view,))
            if not found:
                return None
            self._join_keys[view] = tuple(json.loads(found[0][0]))
        return self._join_keys[view]

    def get_checkpoint(self, view: str) -> MaterializeCheckpoint | None:
        found = self._query("SELECT checkpoint FROM online_checkpoints WHERE view = ?", (view,))
        return checkpoint_from_json(found[0][0]) if found else None

    def materialized_intervals(self, view: str) -> list[MaterializedInterval]:
        found = self._query(
            "SELECT start_us, end_us, rows, completed_us, last_event_us FROM online_intervals "
            "WHERE view = ? ORDER BY start_us, end_us",
            (view,),
        )
        return [
            MaterializedInterval(
                from_us(start),
                from_us(end),
                rows,
                from_us(completed),
                None if last is None else from_us(last),
            )
            for start, end, rows, completed, last in found
        ]

    def views(self) -> list[str]:
        return [row[0] for row in self._query("SELECT view FROM online_views ORDER BY view", ())]


def _online_row(record: Record | None, features: Sequence[str]) -> OnlineRow | None:
    if record is None:
        return None
    _, event_us, created_us, written_us, text = record
    stored = loads_value(text)
    return OnlineRow(
        values={name: stored.get(name) for name in features},
        event_timestamp=from_us(event_us),
        created_timestamp=None if created_us is None else from_us(created_us),
        written_at=from_us(written_us),
    )
