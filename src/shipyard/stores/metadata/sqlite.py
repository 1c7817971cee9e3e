"""SQLite, the embedded default: WAL, a busy timeout, and writers that queue instead of failing."""

from __future__ import annotations

import os
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import StaticPool

from shipyard.errors import AlreadyExists
from shipyard.stores.metadata.sql import WRITE_OPTION, SqlMetadataStore

BUSY_TIMEOUT_SECONDS = 60

# Primary result codes (the low byte of extended ones) for a file SQLite cannot trust.
SQLITE_CORRUPT = 11
SQLITE_NOTADB = 26


class SqliteMetadataStore(SqlMetadataStore):
    """Metadata in one SQLite file (or memory, for tests)."""

    backend = "sqlite"

    def _create_engine(self, url: str) -> sa.Engine:
        in_memory = sa.make_url(url).database in (None, "", ":memory:")
        engine = sa.create_engine(
            url,
            connect_args={"timeout": BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            # Memory databases live and die with one connection: share it.
            poolclass=StaticPool if in_memory else None,
        )

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event below issue BEGIN itself.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            # A write transaction takes the write lock up front: a deferred one that
            # upgrades later fails at once with "database is locked" instead of waiting.
            if conn.get_execution_options().get(WRITE_OPTION):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("BEGIN")

        return engine

    def _insert_ignoring_conflicts(self, table: sa.Table) -> Any:
        return sqlite_insert(table).on_conflict_do_nothing()

    def ensure_schema(self) -> None:
        # The embedded default may migrate itself; BEGIN IMMEDIATE serialises racing processes.
        if not self.schema_status().up_to_date:
            self.upgrade()

    def _is_damage(self, exc: DBAPIError) -> bool:
        code = getattr(exc.orig, "sqlite_errorcode", None)
        return isinstance(code, int) and code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB)

    def integrity_check(self) -> list[str] | None:
        with self._read() as conn:
            rows = conn.exec_driver_sql("PRAGMA integrity_check").scalars().all()
        return [] if rows == ["ok"] else [str(row) for row in rows]

    def backup(self, target: Path) -> Path:
        """Copy the database with SQLite's online backup API.

        The copy is taken in one step, inside one read transaction: under WAL,
        writers carry on meanwhile and the copy is the database as of its start.
        It is written beside ``target`` and renamed, so a failed backup leaves
        nothing that looks like one. A folder ``target`` gets a timestamped file.
        """
        if target.is_dir():
            target = target / f"metadata-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.db"
        if target.exists():
            raise AlreadyExists(
                f"{target} exists already.", hint="Name a new file, or a folder to write into."
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            with self._connect() as conn:
                source = conn.connection.driver_connection
                assert isinstance(source, sqlite3.Connection)  # the pysqlite driver's
                copy = sqlite3.connect(partial)
                try:
                    source.backup(copy)
                    # A standalone file: no -wal or -shm beside it when it is opened.
                    copy.execute("PRAGMA journal_mode=DELETE")
                finally:
                    copy.close()
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return target
