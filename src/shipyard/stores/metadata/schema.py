"""The metadata tables as SQLAlchemy Core objects, used at run time.

Alembic migrations in ``migrations/versions`` create and change these tables;
a change here always comes with a new migration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on every database (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the metadata store; use UTC-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# Plain JSON, not JSONB: JSONB reorders object keys, and key order carries meaning
# (a split plan's sets are drawn in the order they are named).
JSONType = sa.JSON()

metadata = sa.MetaData()

versions = sa.Table(
    "versions",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("content_hash", sa.String(64)),
    sa.Column("attributes", JSONType, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.UniqueConstraint("kind", "name", "version", name="uq_versions_kind_name_version"),
    sa.Index("ix_versions_content", "kind", "name", "content_hash"),
)

# One row per name: the latest version handed out. Updating it takes a row
# lock, which is what makes concurrent version allocation safe.
version_counters = sa.Table(
    "version_counters",
    metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("latest", sa.Integer, nullable=False),
)

lineage = sa.Table(
    "lineage",
    metadata,
    sa.Column("subject", sa.String(200), primary_key=True),
    sa.Column("record", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

TABLES = (versions, version_counters, lineage)
