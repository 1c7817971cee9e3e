"""Alembic, driven from code: where the schema is, where it should be, and getting there."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.command import upgrade as alembic_upgrade
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError

from shipyard.stores.metadata.base import SchemaStatus

MIGRATIONS = Path(__file__).parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The revision this version of Shipyard needs."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "the migrations folder has no revisions"
    return head


def current_status(connection: sa.Connection) -> SchemaStatus:
    """Read the database's revision over an open connection."""
    current = MigrationContext.configure(connection).get_current_revision()
    script = ScriptDirectory.from_config(_config())
    try:
        known = current is None or script.get_revision(current) is not None
    except CommandError:  # a revision from a newer Shipyard
        known = False
    return SchemaStatus(current=current, head=head_revision(), known=known)


def upgrade_to_head(connection: sa.Connection) -> None:
    """Apply pending migrations inside the caller's transaction."""
    upgrade_to(connection, "head")


def upgrade_to(connection: sa.Connection, revision: str) -> None:
    """Migrate up to ``revision`` inside the caller's transaction (tests of a migration
    start from the revision before it)."""
    config = _config()
    config.attributes["connection"] = connection
    alembic_upgrade(config, revision)
