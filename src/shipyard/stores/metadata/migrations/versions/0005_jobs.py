"""Durable jobs: a queue with leases, retries, a dead-letter state, cancel and time-to-live.

One row per job (``jobs``); the claim index covers the query every worker runs:
the oldest available job of some kinds. See ``shipyard.stores.jobs``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shipyard.stores.metadata.schema import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("available_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime),
        sa.Column("lease_owner", sa.String(128)),
        sa.Column("lease_token", sa.String(32)),
        sa.Column("lease_expires_at", UTCDateTime),
        sa.Column("heartbeat_at", UTCDateTime),
        sa.Column("result", sa.JSON()),
        sa.Column("error", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("started_at", UTCDateTime),
        sa.Column("finished_at", UTCDateTime),
    )
    # Claim order within (kind, state): highest priority, then oldest, then first enqueued.
    op.create_index(
        "ix_jobs_claim",
        "jobs",
        ["kind", "state", sa.text("priority DESC"), "available_at", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_claim", table_name="jobs")
    op.drop_table("jobs")
