"""Control-plane state in typed tables: aliases, approvals, access, endpoints, deployments,
an audit log, schedules, and a job's progress.

Until now aliases, approvals, group memberships and policy attachments were records in
the generic ``versions`` table, and their current state was found by listing or
replaying them. This revision creates a table per kind of state (see
``shipyard.stores.metadata.schema``) and moves those records into it, history
included: every alias move becomes a ``model_alias_events`` row and the last one
the ``model_aliases`` row; every review a ``model_approvals`` row; every principal
and group change an ``access_events`` row, and the state they add up to (old
spellings of a name folded together, as the service read them) the
``group_members`` and ``policy_attachments`` rows. The moved records leave
``versions``. Downgrading writes them back as records.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from shipyard.stores.metadata.schema import (
    access_events,
    audit_log,
    control_events,
    deployments,
    endpoint_variants,
    endpoints,
    group_members,
    model_alias_events,
    model_aliases,
    model_approvals,
    policy_attachments,
    schedules,
    version_counters,
    versions,
)

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Created in this order (variants refer to endpoints), dropped in the reverse.
NEW_TABLES = (
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
)
MOVED_KINDS = ("model_alias", "model_approval", "principal", "group")


def upgrade() -> None:
    op.add_column("jobs", sa.Column("progress", sa.JSON(), nullable=True))
    bind = op.get_bind()
    for table in NEW_TABLES:
        table.create(bind)
    _move_aliases(bind)
    _move_approvals(bind)
    _move_access(bind)
    for kind in MOVED_KINDS:
        bind.execute(sa.delete(versions).where(versions.c.kind == kind))
        bind.execute(sa.delete(version_counters).where(version_counters.c.kind == kind))


def downgrade() -> None:
    bind = op.get_bind()
    _restore_aliases(bind)
    _restore_approvals(bind)
    _restore_access(bind)
    for table in reversed(NEW_TABLES):
        table.drop(bind)
    op.execute("ALTER TABLE jobs DROP COLUMN progress")


# -- upgrade: records into tables ---------------------------------------------------------


def _records(bind: sa.Connection, kind: str) -> Iterator[Mapping[str, Any]]:
    """The records of ``kind``, by name then version, attributes decoded."""
    query = (
        sa.select(
            versions.c.name,
            versions.c.version,
            sa.cast(versions.c.attributes, sa.Text).label("attributes"),
            versions.c.created_at,
            versions.c.created_by,
        )
        .where(versions.c.kind == kind)
        .order_by(versions.c.name, versions.c.version)
    )
    for row in bind.execute(query):
        data = dict(row._mapping)
        data["attributes"] = json.loads(data["attributes"] or "{}")
        yield data


def _move_aliases(bind: sa.Connection) -> None:
    current: dict[tuple[str, str], dict[str, Any]] = {}
    events = []
    for record in _records(bind, "model_alias"):
        attributes = record["attributes"]
        key = (str(attributes["model"]), str(attributes["alias"]))
        revision = current.get(key, {}).get("revision", 0) + 1
        version = attributes.get("version")
        events.append(
            {
                "model": key[0],
                "alias": key[1],
                "version": version,
                "revision": revision,
                "at": record["created_at"],
                "by": record["created_by"],
            }
        )
        current[key] = {
            "model": key[0],
            "alias": key[1],
            "version": version,
            "revision": revision,
            "updated_at": record["created_at"],
            "updated_by": record["created_by"],
        }
    if events:
        bind.execute(sa.insert(model_alias_events), events)
        bind.execute(sa.insert(model_aliases), list(current.values()))


def _move_approvals(bind: sa.Connection) -> None:
    rows = [
        {
            "model": str(r["attributes"]["model"]),
            "version": int(r["attributes"]["version"]),
            "status": str(r["attributes"].get("status") or "pending"),
            "comment": str(r["attributes"].get("comment") or ""),
            "at": r["created_at"],
            "by": r["created_by"],
        }
        for r in _records(bind, "model_approval")
    ]
    rows.sort(key=lambda r: r["at"])
    if rows:
        bind.execute(sa.insert(model_approvals), rows)


def _move_access(bind: sa.Connection) -> None:
    """Each principal's and group's state (old spellings folded together) and history."""
    members: set[tuple[str, str]] = set()
    attached: set[tuple[str, str, str]] = set()
    events: list[dict[str, Any]] = []
    for kind in ("principal", "group"):
        latest: dict[str, Mapping[str, Any]] = {}  # record name -> its latest record
        owners: dict[str, str] = {}  # record name -> folded owner
        for record in _records(bind, kind):
            owner = _owner(kind, record)
            if owner is None:
                continue  # not a record the security service wrote
            latest[record["name"]] = record
            owners[record["name"]] = owner
            change = record["attributes"].get("change")
            if isinstance(change, Mapping) and change.get("op") in ("add", "remove"):
                events.append(_access_event(kind, owner, change, record))
        # A folded record that took its old spellings in is the state on its own.
        settled = {owners[n] for n, r in latest.items() if r["attributes"].get("folded")}
        for name, record in latest.items():
            owner = owners[name]
            if owner in settled and not record["attributes"].get("folded"):
                continue
            attributes = record["attributes"]
            for policy in attributes.get("policies") or []:
                attached.add((kind, owner, str(policy)))
            for group in attributes.get("groups") or []:
                members.add((str(group).casefold(), owner))
    now = datetime.now(UTC)
    if members:
        bind.execute(
            sa.insert(group_members),
            [
                {"group_name": g, "principal": p, "added_at": now, "added_by": "migration"}
                for g, p in sorted(members)
            ],
        )
    if attached:
        bind.execute(
            sa.insert(policy_attachments),
            [
                {
                    "target_kind": k,
                    "target": t,
                    "policy": p,
                    "attached_at": now,
                    "attached_by": "migration",
                }
                for k, t, p in sorted(attached)
            ],
        )
    events.sort(key=lambda e: e["at"])
    if events:
        bind.execute(sa.insert(access_events), events)


def _owner(kind: str, record: Mapping[str, Any]) -> str | None:
    """The folded principal or group a record belongs to."""
    if kind == "group":
        return str(record["name"]).casefold()
    owner = record["attributes"].get("principal")
    if isinstance(owner, str) and owner.strip():
        return owner.strip().casefold()
    if str(record["name"]).startswith("principal-"):
        return None
    return str(record["name"]).casefold()


def _access_event(
    kind: str, owner: str, change: Mapping[str, Any], record: Mapping[str, Any]
) -> dict[str, Any]:
    membership = change.get("field") == "groups"
    verb = {
        ("add", True): "join",
        ("remove", True): "leave",
        ("add", False): "attach",
        ("remove", False): "detach",
    }
    value = str(change.get("value"))
    return {
        "change": verb[(str(change["op"]), membership)],
        "target_kind": kind,
        "target": owner,
        "subject": value.casefold() if membership else value,
        "at": record["created_at"],
        "by": record["created_by"],
    }


# -- downgrade: tables back into records ----------------------------------------------------


def _write_records(bind: sa.Connection, kind: str, rows: list[dict[str, Any]]) -> None:
    """Append ``rows`` (name, attributes, created_at, created_by) as versions of ``kind``."""
    latest: dict[str, int] = {}
    for row in rows:
        version = latest.get(row["name"], 0) + 1
        latest[row["name"]] = version
        bind.execute(
            sa.insert(versions).values(
                id=uuid.uuid4().hex,
                kind=kind,
                name=row["name"],
                version=version,
                content_hash=None,
                attributes=row["attributes"],
                description="",
                created_at=row["created_at"],
                created_by=row["created_by"],
            )
        )
    for name, version in latest.items():
        bind.execute(sa.insert(version_counters).values(kind=kind, name=name, latest=version))


def _restore_aliases(bind: sa.Connection) -> None:
    events = bind.execute(sa.select(model_alias_events).order_by(model_alias_events.c.id))
    _write_records(
        bind,
        "model_alias",
        [
            {
                "name": f"{e.model}.{e.alias}",
                "created_at": e.at,
                "created_by": e.by,
                "attributes": {"model": e.model, "alias": e.alias, "version": e.version},
            }
            for e in events
        ],
    )


def _restore_approvals(bind: sa.Connection) -> None:
    reviews = bind.execute(sa.select(model_approvals).order_by(model_approvals.c.id))
    _write_records(
        bind,
        "model_approval",
        [
            {
                "name": f"{r.model}.{r.version}",
                "created_at": r.at,
                "created_by": r.by,
                "attributes": {
                    "model": r.model,
                    "version": r.version,
                    "status": r.status,
                    "comment": r.comment,
                },
            }
            for r in reviews
        ],
    )


def _restore_access(bind: sa.Connection) -> None:
    """One record per principal and group holding its current state."""
    from shipyard.security.names import principal_key

    state: dict[tuple[str, str], dict[str, list[str]]] = {}
    for row in bind.execute(sa.select(policy_attachments)):
        entry = state.setdefault((row.target_kind, row.target), {"groups": [], "policies": []})
        entry["policies"].append(row.policy)
    for row in bind.execute(sa.select(group_members)):
        entry = state.setdefault(("principal", row.principal), {"groups": [], "policies": []})
        entry["groups"].append(row.group_name)
    now = datetime.now(UTC)
    for kind in ("principal", "group"):
        rows = []
        for (target_kind, target), entry in sorted(state.items()):
            if target_kind != kind:
                continue
            attributes: dict[str, Any] = {
                "policies": sorted(entry["policies"]),
                "folded": True,
                "change": {"op": "merge", "field": "-", "value": "-"},
            }
            if kind == "principal":
                attributes["groups"] = sorted(entry["groups"])
                attributes["principal"] = target
            name = principal_key(target) if kind == "principal" else target
            rows.append(
                {
                    "name": name,
                    "attributes": attributes,
                    "created_at": now,
                    "created_by": "migration",
                }
            )
        _write_records(bind, kind, rows)
