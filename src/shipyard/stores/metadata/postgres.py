"""PostgreSQL through psycopg 3, for teams: migrated only by `shipyard db upgrade`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError

from shipyard.errors import BackendUnavailable, InvalidInput
from shipyard.stores.metadata.sql import SqlMetadataStore

# Any constant works; it only has to be the same in every Shipyard process.
MIGRATION_LOCK_KEY = 0x5348_4950  # "SHIP"

# SQLSTATEs of class XX the server raises when it finds its own files damaged.
DAMAGE_STATES = ("XX001", "XX002")  # data_corrupted, index_corrupted


class PostgresMetadataStore(SqlMetadataStore):
    """Metadata in a shared PostgreSQL database."""

    backend = "postgresql"

    def _create_engine(self, url: str) -> sa.Engine:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise BackendUnavailable(
                "The PostgreSQL driver psycopg is not installed.",
                hint='Install it with `pip install "shipyard[postgres]"`.',
            ) from None
        return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)

    def _insert_ignoring_conflicts(self, table: sa.Table) -> Any:
        return pg_insert(table).on_conflict_do_nothing()

    def _lock_for_migration(self, connection: sa.Connection) -> None:
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))

    def ensure_schema(self) -> None:
        # A shared database is never migrated behind its operators' backs.
        self._refuse_if_out_of_date()

    def _is_damage(self, exc: DBAPIError) -> bool:
        return getattr(exc.orig, "sqlstate", None) in DAMAGE_STATES

    def backup(self, target: Path) -> Path:
        raise InvalidInput(
            "`shipyard db backup` copies the embedded SQLite database only; this one is "
            "on a PostgreSQL server.",
            hint="Back it up with the server's tools, for example "
            "`pg_dump --format=custom --file shipyard.dump DBNAME` (restore with `pg_restore`).",
        )
