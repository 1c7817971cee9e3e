"""Initial schema: versioned records, version counters, lineage.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shipyard.stores.metadata.schema import JSONType, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "versions",
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
    )
    op.create_index("ix_versions_content", "versions", ["kind", "name", "content_hash"])
    op.create_table(
        "version_counters",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("latest", sa.Integer, nullable=False),
    )
    op.create_table(
        "lineage",
        sa.Column("subject", sa.String(200), primary_key=True),
        sa.Column("record", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("lineage")
    op.drop_table("version_counters")
    op.drop_index("ix_versions_content", table_name="versions")
    op.drop_table("versions")
