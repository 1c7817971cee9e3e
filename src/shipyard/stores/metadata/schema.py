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


# -- experiment tracking ----------------------------------------------------------------
# Runs get an integer surrogate key: the big tables (metrics above all) repeat it in
# every row, where a 32-character uid would double their size. The uid is the public id.

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.UniqueConstraint("name", name="uq_experiments_name"),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uid", sa.String(32), nullable=False),
    sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.id"), nullable=False),
    sa.Column("name", sa.String(250), nullable=False),
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("runs.id")),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("start_time", UTCDateTime, nullable=False),
    sa.Column("end_time", UTCDateTime),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("notes", sa.Text, nullable=False),
    sa.Column("record", JSONType, nullable=False),
    # Refreshed by the tracker while the run is open (revision 0004): a run still running
    # after ``alive_until`` lost its process and reads as killed.
    sa.Column("heartbeat_at", UTCDateTime),
    sa.Column("alive_until", UTCDateTime),
    sa.UniqueConstraint("uid", name="uq_runs_uid"),
    sa.Index("ix_runs_experiment_start", "experiment_id", "start_time"),
    # Only runs that have a parent: most runs have none, and each entry is a page to write.
    sa.Index(
        "ix_runs_parent",
        "parent_id",
        sqlite_where=sa.text("parent_id IS NOT NULL"),
        postgresql_where=sa.text("parent_id IS NOT NULL"),
    ),
)

# Small keyed tables are WITHOUT ROWID on SQLite: the primary key is the row, stored once.
params = sa.Table(
    "params",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sqlite_with_rowid=False,
)

# Every logged value, append-only. No foreign key: this is the table that grows, and
# each extra per-row structure costs bytes and write time. Its layout differs by database
# (revision 0003): on SQLite a WITHOUT ROWID table clustered on (run_id, key, step,
# timestamp, value), one B-tree, a point repeated exactly kept once; on PostgreSQL a heap
# that COPY appends to, with the (run_id, key) index declared here. Statements use the
# columns only, the same on both.
metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("key", sa.String(250), nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Index("ix_metrics_run_key", "run_id", "key"),
)

# The latest value of each metric of each run (highest step; the later write on a tie),
# kept on write: search filters and orders on it instead of scanning `metrics`. No index
# on (key, value) since revision 0003: a run's keys landed at scattered places in it,
# which doubled the pages each run's transaction writes; filters scan this table as they
# scan params and tags.
latest_metrics = sa.Table(
    "latest_metrics",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    sqlite_with_rowid=False,
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sqlite_with_rowid=False,
)

# Run ids are handed out from here in blocks (``TrackingStore.reserve_run_ids``), so a
# tracker knows a new run's id without a round trip and the run's row can wait for the
# background writer's next batch. One row per counter: ``runs`` is the next free run id.
# Not in TABLES: it holds no records.
tracking_counters = sa.Table(
    "tracking_counters",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("next_id", sa.BigInteger, nullable=False),
)

run_artifacts = sa.Table(
    "run_artifacts",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("path", sa.String(1000), primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

# Durable jobs (revision 0005): one row per job, its state machine and its lease.
# A worker owns a running job while lease_expires_at is ahead and its lease_token
# matches; a job whose lease ran out is claimed again (at-least-once delivery).
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("payload", JSONType, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("available_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime),
    sa.Column("lease_owner", sa.String(128)),
    sa.Column("lease_token", sa.String(32)),
    sa.Column("lease_expires_at", UTCDateTime),
    sa.Column("heartbeat_at", UTCDateTime),
    sa.Column("result", JSONType),
    sa.Column("error", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("started_at", UTCDateTime),
    sa.Column("finished_at", UTCDateTime),
)
# Claim order within (kind, state): highest priority, then oldest, then first enqueued.
sa.Index("ix_jobs_claim", jobs.c.kind, jobs.c.state, jobs.c.priority.desc(), jobs.c.available_at,
         jobs.c.id)  # fmt: skip

TABLES = (
    versions,
    version_counters,
    lineage,
    experiments,
    runs,
    params,
    metrics,
    latest_metrics,
    tags,
    run_artifacts,
    jobs,
)
