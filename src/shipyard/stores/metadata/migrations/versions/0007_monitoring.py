"""Monitoring: window profiles of the capture, monitored series, alarms and their history.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

from shipyard.stores.metadata.schema import alarm_events, alarms, monitor_points, monitor_profiles

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

NEW_TABLES = (monitor_profiles, monitor_points, alarms, alarm_events)


def upgrade() -> None:
    bind = op.get_bind()
    for table in NEW_TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(NEW_TABLES):
        table.drop(bind)
