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
    # What a running job says it is doing (revision 0006): a pipeline run's current step.
    sa.Column("progress", JSONType),
)
# Claim order within (kind, state): highest priority, then oldest, then first enqueued.
sa.Index(
    "ix_jobs_claim",
    jobs.c.kind,
    jobs.c.state,
    jobs.c.priority.desc(),
    jobs.c.available_at,
    jobs.c.id,
)


# -- control-plane state (revision 0006) -------------------------------------------------
# Mutable pointers and state machines, each a current-state row with a ``revision`` that
# compare-and-set writes check, beside an append-only history. Definitions stay in
# ``versions``; these tables hold what moves.

# Where each alias of each model points now; version is null once the alias is removed
# (the row stays, so its revision keeps counting).
model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column("model", sa.String(128), primary_key=True),
    sa.Column("alias", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("updated_by", sa.String(128), nullable=False),
    sa.Index("ix_model_aliases_version", "model", "version"),
)

# Every move of every alias, oldest first by id.
model_alias_events = sa.Table(
    "model_alias_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("alias", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("by", sa.String(128), nullable=False),
    sa.Index("ix_model_alias_events_alias", "model", "alias", "id"),
)

# Every review of a model version, oldest first by id; the latest is the approval.
model_approvals = sa.Table(
    "model_approvals",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("by", sa.String(128), nullable=False),
    sa.Index("ix_model_approvals_version", "model", "version", "id"),
)

# Access state: who is in which group, which policies are attached to whom. One row per
# fact, so two writers adding different facts never overwrite each other.
group_members = sa.Table(
    "group_members",
    metadata,
    sa.Column("group_name", sa.String(128), primary_key=True),
    sa.Column("principal", sa.String(256), primary_key=True),
    sa.Column("added_at", UTCDateTime, nullable=False),
    sa.Column("added_by", sa.String(128), nullable=False),
    sa.Index("ix_group_members_principal", "principal"),
)

policy_attachments = sa.Table(
    "policy_attachments",
    metadata,
    sa.Column("target_kind", sa.String(16), primary_key=True),  # principal | group
    sa.Column("target", sa.String(256), primary_key=True),
    sa.Column("policy", sa.String(128), primary_key=True),
    sa.Column("attached_at", UTCDateTime, nullable=False),
    sa.Column("attached_by", sa.String(128), nullable=False),
)

# The history of those facts: add/remove of a member, attach/detach of a policy.
access_events = sa.Table(
    "access_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("change", sa.String(16), nullable=False),
    sa.Column("target_kind", sa.String(16), nullable=False),
    sa.Column("target", sa.String(256), nullable=False),
    sa.Column("subject", sa.String(128), nullable=False),  # the group or the policy
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("by", sa.String(128), nullable=False),
    sa.Index("ix_access_events_target", "target_kind", "target", "id"),
)

# Serving endpoints (the serving issue fills in spec): one row each, CAS on revision.
endpoints = sa.Table(
    "endpoints",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("spec", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("updated_by", sa.String(128), nullable=False),
)

# An endpoint's variants; written with the endpoint's revision bumped in one transaction.
endpoint_variants = sa.Table(
    "endpoint_variants",
    metadata,
    sa.Column(
        "endpoint",
        sa.String(128),
        sa.ForeignKey("endpoints.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("weight", sa.Float, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),  # primary | shadow
    sa.Column("spec", JSONType, nullable=False),
)

# Deployments: a persisted state machine per rollout, CAS on revision.
deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("endpoint", sa.String(128), nullable=False),
    sa.Column("strategy", sa.String(32), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("spec", JSONType, nullable=False),
    sa.Column("status", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("updated_by", sa.String(128), nullable=False),
    sa.Index("ix_deployments_endpoint", "endpoint", "created_at"),
)
# At most one running deployment per endpoint, whoever starts two at once (revision 0007).
RUNNING_DEPLOYMENT_INDEX = sa.Index(
    "ux_deployments_running",
    deployments.c.endpoint,
    unique=True,
    sqlite_where=deployments.c.state == "running",
    postgresql_where=deployments.c.state == "running",
)

# Append-only history of endpoints and deployments: each CAS write adds one event.
control_events = sa.Table(
    "control_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("resource_kind", sa.String(32), nullable=False),  # endpoint | deployment
    sa.Column("resource", sa.String(128), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("detail", JSONType, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("by", sa.String(128), nullable=False),
    sa.Index("ix_control_events_resource", "resource_kind", "resource", "id"),
)

# Who did what to which resource, when, from where, and whether it was allowed.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("principal", sa.String(256), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("resource", sa.String(400), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),  # allowed | denied | failed
    sa.Column("source", sa.String(200), nullable=False),  # cli, api 1.2.3.4, python...
    sa.Column("detail", JSONType, nullable=False),
    sa.Index("ix_audit_log_at", "at"),
    sa.Index("ix_audit_log_principal", "principal", "at"),
)

# Interval schedules that `shipyard server` fires as jobs; firing moves next_fire_at
# with a compare-and-set, so several servers fire each interval once.
schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("job_kind", sa.String(64), nullable=False),
    sa.Column("payload", JSONType, nullable=False),
    sa.Column("interval_seconds", sa.Integer, nullable=False),
    sa.Column("next_fire_at", UTCDateTime, nullable=False),
    sa.Column("last_fired_at", UTCDateTime),
    sa.Column("last_job_id", sa.BigInteger),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
)

# -- monitoring (revision 0007) ---------------------------------------------------------

# The profile of one hour of an endpoint's capture, per variant and stage, built from the
# capture files it lists; files that arrive later are profiled alone and merged in.
monitor_profiles = sa.Table(
    "monitor_profiles",
    metadata,
    sa.Column("endpoint", sa.String(128), primary_key=True),
    sa.Column("variant", sa.String(128), primary_key=True),
    sa.Column("stage", sa.String(16), primary_key=True),
    sa.Column("hour", UTCDateTime, primary_key=True),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("files", JSONType, nullable=False),
    sa.Column("artifact", sa.String(64), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# One value of a monitored series over a window; a recomputed window replaces its points.
monitor_points = sa.Table(
    "monitor_points",
    metadata,
    sa.Column("endpoint", sa.String(128), primary_key=True),
    sa.Column("variant", sa.String(128), primary_key=True),
    sa.Column("stage", sa.String(16), primary_key=True),
    sa.Column("metric", sa.String(64), primary_key=True),
    sa.Column("feature", sa.String(256), primary_key=True),
    sa.Column("window_start", UTCDateTime, primary_key=True),
    sa.Column("window_end", UTCDateTime, primary_key=True),
    sa.Column("value", sa.Float),
    sa.Column("p_value", sa.Float),
    sa.Column("flagged", sa.Boolean, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("detail", JSONType, nullable=False),
    sa.Column("computed_at", UTCDateTime, nullable=False),
    sa.Index("ix_monitor_points_time", "endpoint", "window_start"),
)

# Alarms on monitored series: the rule and actions in spec, the state by compare-and-set.
alarms = sa.Table(
    "alarms",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("endpoint", sa.String(128), nullable=False),
    sa.Column("spec", JSONType, nullable=False),
    sa.Column("state", sa.String(24), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("state_changed_at", UTCDateTime, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
)

alarm_events = sa.Table(
    "alarm_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("alarm", sa.String(128), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("old_state", sa.String(24), nullable=False),
    sa.Column("new_state", sa.String(24), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("detail", JSONType, nullable=False),
    sa.Index("ix_alarm_events_alarm", "alarm", "at"),
)

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
    model_aliases,
    model_alias_events,
    model_approvals,
    group_members,
    policy_attachments,
    access_events,
    endpoints,
    endpoint_variants,
    deployments,
    control_events,
    audit_log,
    schedules,
    monitor_profiles,
    monitor_points,
    alarms,
    alarm_events,
)
