"""Monitoring: window profiles of the capture, monitored series, alarms and their history;
and at most one running deployment per endpoint (a partial unique index).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shipyard.stores.metadata.schema import (
    RUNNING_DEPLOYMENT_INDEX,
    alarm_events,
    alarms,
    monitor_points,
    monitor_profiles,
)

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

NEW_TABLES = (monitor_profiles, monitor_points, alarms, alarm_events)


def upgrade() -> None:
    bind = op.get_bind()
    for table in NEW_TABLES:
        table.create(bind)
    # A database made at 0006 from today's schema module has the index already.
    if RUNNING_DEPLOYMENT_INDEX.name not in {
        index["name"] for index in sa.inspect(bind).get_indexes("deployments")
    }:
        RUNNING_DEPLOYMENT_INDEX.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    RUNNING_DEPLOYMENT_INDEX.drop(bind)
    for table in reversed(NEW_TABLES):
        table.drop(bind)
