"""SQLite, the embedded default: WAL, a busy timeout, and writers that queue instead of failing."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.pool import StaticPool

from shipyard.stores.metadata.sql import WRITE_OPTION, SqlMetadataStore

BUSY_TIMEOUT_SECONDS = 60


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
