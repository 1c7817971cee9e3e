"""Tracking: runs record a heartbeat, so a run whose process died reads as killed.

- ``runs.heartbeat_at``: when the run's process last said it was alive.
- ``runs.alive_until``: the deadline that beat set (a few heartbeat intervals
  later). A run still ``running`` past it reads as ``killed``.

Both are null for runs stored before this revision and for imported runs: those
read as stored, since nothing says whether their process is still alive. End a
stale one with ``shipyard runs end RUN --status killed``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shipyard.stores.metadata.schema import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_COLUMNS = ("heartbeat_at", "alive_until")


def upgrade() -> None:
    # Nullable and without a default: a new column costs no rewrite of the table.
    for name in _COLUMNS:
        op.add_column("runs", sa.Column(name, UTCDateTime, nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): the columns have no index, so
    # SQLite need not rebuild the table, and its partial index survives as it is.
    for name in reversed(_COLUMNS):
        op.execute(f"ALTER TABLE runs DROP COLUMN {name}")
