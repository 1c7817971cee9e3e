"""Endpoints (with their variants) and deployments in their tables, each write a
compare-and-set on the row's revision that appends one ``control_events`` row.

The revision check is the write itself: ``UPDATE ... SET revision = revision + 1 WHERE
name = :n AND revision = :expected``. Of two writers that saw the same revision, the
second's update finds no row (PostgreSQL re-reads the row after the first commits;
SQLite runs one writer at a time), so it fails with :class:`Conflict` instead of
overwriting: no lost update, on either database, without a separate lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from shipyard.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from shipyard.stores.control import checks
from shipyard.stores.control.base import ControlEvent, Deployment, Endpoint, Variant
from shipyard.stores.control.sql_common import SqlPart, now
from shipyard.stores.metadata.schema import (
    control_events,
    deployments,
    endpoint_variants,
    endpoints,
)
from shipyard.types import check_name

ROLES = ("primary", "shadow")
_WHAT = {"endpoints": "Endpoint", "deployments": "Deployment"}  # for messages
RESOURCE_KINDS = ("endpoint", "deployment")


class EndpointStateSql(SqlPart):
    """``endpoints`` + ``endpoint_variants``, ``deployments``, and their ``control_events``."""

    # -- endpoints ----------------------------------------------------------------------

    def create_endpoint(
        self, name: str, spec: Mapping[str, Any], variants: Sequence[Variant], *, by: str
    ) -> Endpoint:
        check_name(name, "Endpoint name")
        spec = checks.json_mapping(spec, "An endpoint's spec")
        rows = _variant_rows(name, variants)
        by = _principal(by)
        at = now()
        with self._meta.transaction() as conn:
            # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT.
            inserted = conn.execute(
                self._meta.insert_ignoring_conflicts(endpoints)
                .values(
                    name=name,
                    revision=1,
                    spec=spec,
                    created_at=at,
                    created_by=by,
                    updated_at=at,
                    updated_by=by,
                )
                .returning(endpoints.c.name)
            ).first()
            if inserted is None:
                raise AlreadyExists(
                    f"Endpoint {name!r} exists already.",
                    hint="Change it with update_endpoint, or pick another name.",
                )
            if rows:
                conn.execute(sa.insert(endpoint_variants), rows)
            detail = {"spec": spec, "variants": [_variant_detail(row) for row in rows]}
            _record(conn, "endpoint", name, 1, "created", detail, at, by)
            return _read_endpoint(conn, name)

    def endpoint(self, name: str) -> Endpoint:
        with self._meta.reading() as conn:
            return _read_endpoint(conn, name)

    def endpoints(self) -> list[Endpoint]:
        v = endpoint_variants.c
        with self._meta.reading() as conn:
            heads = conn.execute(sa.select(endpoints).order_by(endpoints.c.name)).all()
            found: dict[str, list[Variant]] = {}
            for row in conn.execute(sa.select(endpoint_variants).order_by(v.endpoint, v.name)):
                found.setdefault(row.endpoint, []).append(_variant(row))
        return [_endpoint(head, found.get(head.name, [])) for head in heads]

    def update_endpoint(
        self,
        name: str,
        *,
        expected_revision: int,
        by: str,
        event: str,
        spec: Mapping[str, Any] | None = None,
        variants: Sequence[Variant] | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> Endpoint:
        check_name(name, "Endpoint name")
        checks.whole(expected_revision, "expected_revision", 1)
        event = checks.label(event, "Event name", 64)
        by = _principal(by)
        recorded = checks.json_mapping(detail or {}, "An event's detail")
        values: dict[str, Any] = {}
        if spec is not None:
            values["spec"] = checks.json_mapping(spec, "An endpoint's spec")
            recorded.setdefault("spec", values["spec"])
        rows = None if variants is None else _variant_rows(name, variants)
        if rows is not None:
            recorded.setdefault("variants", [_variant_detail(row) for row in rows])
        at = now()
        with self._meta.transaction() as conn:
            stamp = {"updated_at": at, "updated_by": by}
            revision = _bump(conn, endpoints.c.name, name, expected_revision, values | stamp)
            if rows is not None:  # replaced as a whole, under the same revision
                conn.execute(
                    sa.delete(endpoint_variants).where(endpoint_variants.c.endpoint == name)
                )
                if rows:
                    conn.execute(sa.insert(endpoint_variants), rows)
            _record(conn, "endpoint", name, revision, event, recorded, at, by)
            return _read_endpoint(conn, name)

    def delete_endpoint(self, name: str, *, expected_revision: int, by: str) -> None:
        check_name(name, "Endpoint name")
        checks.whole(expected_revision, "expected_revision", 1)
        by = _principal(by)
        at = now()
        with self._meta.transaction() as conn:
            gone = conn.execute(
                sa.delete(endpoints).where(
                    endpoints.c.name == name, endpoints.c.revision == expected_revision
                )
            ).rowcount
            if gone != 1:
                _refuse(conn, endpoints.c.name, name, expected_revision)
            # Cascaded already where foreign keys are enforced; explicit for any that are not.
            conn.execute(sa.delete(endpoint_variants).where(endpoint_variants.c.endpoint == name))
            _record(conn, "endpoint", name, expected_revision + 1, "deleted", {}, at, by)

    # -- deployments ------------------------------------------------------------------

    def create_deployment(
        self,
        endpoint: str,
        strategy: str,
        spec: Mapping[str, Any],
        *,
        by: str,
        state: str = "pending",
        status: Mapping[str, Any] | None = None,
    ) -> Deployment:
        check_name(endpoint, "Endpoint name")
        strategy = checks.label(strategy, "Deployment strategy", 32)
        state = checks.label(state, "Deployment state", 16)
        spec = checks.json_mapping(spec, "A deployment's spec")
        status = checks.json_mapping(status or {}, "A deployment's status")
        by = _principal(by)
        at = now()
        deployment = Deployment(
            id=uuid.uuid4().hex,
            endpoint=endpoint,
            strategy=strategy,
            state=state,
            revision=1,
            spec=spec,
            status=status,
            created_at=at,
            created_by=by,
            updated_at=at,
            updated_by=by,
        )
        try:
            with self._meta.transaction() as conn:
                conn.execute(sa.insert(deployments).values(**deployment.__dict__))
                detail = {"endpoint": endpoint, "strategy": strategy, "state": state,
                          "spec": spec}  # fmt: skip
                _record(conn, "deployment", deployment.id, 1, "created", detail, at, by)
        except IntegrityError:
            raise Conflict(
                f"Endpoint {endpoint!r} already has a running deployment: another one was "
                "started at the same time.",
                hint="`shipyard deployments list --endpoint ENDPOINT` shows it.",
            ) from None
        return deployment

    def deployment(self, deployment_id: str) -> Deployment:
        _check_id(deployment_id)
        with self._meta.reading() as conn:
            return _read_deployment(conn, deployment_id)

    def deployments(self, endpoint: str | None = None, *, limit: int = 100) -> list[Deployment]:
        checks.limit(limit)
        d = deployments.c
        query = sa.select(deployments).order_by(d.created_at.desc(), d.id).limit(limit)
        if endpoint is not None:
            query = query.where(d.endpoint == check_name(endpoint, "Endpoint name"))
        with self._meta.reading() as conn:
            return [Deployment(**row._mapping) for row in conn.execute(query)]

    def update_deployment(
        self,
        deployment_id: str,
        *,
        expected_revision: int,
        by: str,
        event: str,
        state: str | None = None,
        status: Mapping[str, Any] | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> Deployment:
        _check_id(deployment_id)
        checks.whole(expected_revision, "expected_revision", 1)
        event = checks.label(event, "Event name", 64)
        by = _principal(by)
        recorded = checks.json_mapping(detail or {}, "An event's detail")
        values: dict[str, Any] = {}
        if state is not None:
            values["state"] = checks.label(state, "Deployment state", 16)
        if status is not None:
            values["status"] = checks.json_mapping(status, "A deployment's status")
        for key, value in values.items():  # the event says what the write set
            recorded.setdefault(key, value)
        at = now()
        with self._meta.transaction() as conn:
            stamp = {"updated_at": at, "updated_by": by}
            revision = _bump(
                conn, deployments.c.id, deployment_id, expected_revision, values | stamp
            )
            _record(conn, "deployment", deployment_id, revision, event, recorded, at, by)
            return _read_deployment(conn, deployment_id)

    def events(self, resource_kind: str, resource: str) -> list[ControlEvent]:
        if resource_kind not in RESOURCE_KINDS:
            raise InvalidInput(
                f"Unknown resource kind {resource_kind!r}.",
                hint=f"Use {' or '.join(RESOURCE_KINDS)}.",
            )
        e = control_events.c
        query = (
            sa.select(e.resource_kind, e.resource, e.revision, e.event, e.detail, e.at, e.by)
            .where(e.resource_kind == resource_kind, e.resource == resource)
            .order_by(e.id)
        )
        with self._meta.reading() as conn:
            return [ControlEvent(**row._mapping) for row in conn.execute(query)]


# -- the compare-and-set ------------------------------------------------------------------


def _bump(
    conn: sa.Connection, key: sa.Column[Any], value: str, expected: int, values: Mapping[str, Any]
) -> int:
    """Move the row from revision ``expected`` to ``expected + 1`` with ``values``, in one
    statement; NotFound or Conflict (nothing written) when it is missing or elsewhere."""
    table = key.table
    changed = conn.execute(
        sa.update(table)
        .where(key == value, table.c.revision == expected)
        .values(revision=table.c.revision + 1, **values)
    ).rowcount
    if changed != 1:
        _refuse(conn, key, value, expected)
    return expected + 1


def _refuse(conn: sa.Connection, key: sa.Column[Any], value: str, expected: int) -> None:
    what = _WHAT[key.table.name]
    current = conn.execute(sa.select(key.table.c.revision).where(key == value)).scalar_one_or_none()
    if current is None:
        raise NotFound(
            f"{what} {value!r} does not exist.",
            hint=f"List the {what.lower()}s to find the right one.",
        )
    raise Conflict(
        f"{what} {value!r} is at revision {current}, not {expected} as expected: someone "
        "changed it since you read it.",
        hint="Read it again and decide again on what it is now.",
    )


def _record(
    conn: sa.Connection,
    kind: str,
    resource: str,
    revision: int,
    event: str,
    detail: Mapping[str, Any],
    at: datetime,
    by: str,
) -> None:
    conn.execute(
        sa.insert(control_events).values(
            resource_kind=kind,
            resource=resource,
            revision=revision,
            event=event,
            detail=dict(detail),
            at=at,
            by=by,
        )
    )


# -- rows and records -------------------------------------------------------------------


def _read_endpoint(conn: sa.Connection, name: str) -> Endpoint:
    head = conn.execute(sa.select(endpoints).where(endpoints.c.name == name)).first()
    if head is None:
        raise NotFound(f"Endpoint {name!r} does not exist.", hint="List endpoints to see names.")
    v = endpoint_variants.c
    rows = conn.execute(sa.select(endpoint_variants).where(v.endpoint == name).order_by(v.name))
    return _endpoint(head, [_variant(row) for row in rows])


def _endpoint(head: Any, variants: Sequence[Variant]) -> Endpoint:
    return Endpoint(**head._mapping, variants=tuple(variants))


def _read_deployment(conn: sa.Connection, deployment_id: str) -> Deployment:
    row = conn.execute(sa.select(deployments).where(deployments.c.id == deployment_id)).first()
    if row is None:
        raise NotFound(
            f"Deployment {deployment_id!r} does not exist.",
            hint="List an endpoint's deployments to find its id.",
        )
    return Deployment(**row._mapping)


def _variant(row: Any) -> Variant:
    data = row._mapping
    return Variant(
        name=data["name"],
        model=data["model"],
        version=data["version"],
        weight=data["weight"],
        role=data["role"],
        spec=data["spec"],
    )


def _variant_rows(endpoint: str, variants: Sequence[Variant]) -> list[dict[str, Any]]:
    """The variants as rows, each checked; names unique within the endpoint."""
    if isinstance(variants, str | bytes | Mapping) or not isinstance(variants, Sequence):
        raise InvalidInput(f"An endpoint's variants are a list of Variant, got {variants!r:.80}.")
    rows: list[dict[str, Any]] = []
    for variant in variants:
        if not isinstance(variant, Variant):
            raise InvalidInput(f"Expected a Variant, got {type(variant).__name__}.")
        check_name(variant.name, "Variant name")
        if len(variant.name) > 64:
            raise InvalidInput(f"Variant name {variant.name!r} is longer than 64 characters.")
        if any(row["name"] == variant.name for row in rows):
            raise InvalidInput(
                f"Endpoint {endpoint!r} names variant {variant.name!r} twice.",
                hint="Give each variant its own name.",
            )
        check_name(variant.model, "Model name")
        if variant.role not in ROLES:
            raise InvalidInput(
                f"Variant {variant.name!r} has role {variant.role!r}.",
                hint="A variant is 'primary' (answers requests) or 'shadow' (sees a copy).",
            )
        rows.append(
            {
                "endpoint": endpoint,
                "name": variant.name,
                "model": variant.model,
                "version": checks.whole(variant.version, f"Variant {variant.name!r}'s version", 1),
                "weight": checks.weight(variant.weight, f"Variant {variant.name!r}'s weight"),
                "role": variant.role,
                "spec": checks.json_mapping(variant.spec, f"Variant {variant.name!r}'s spec"),
            }
        )
    return rows


def _variant_detail(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: row[key] for key in ("name", "model", "version", "weight", "role")}


def _check_id(deployment_id: object) -> None:
    if not isinstance(deployment_id, str) or not 1 <= len(deployment_id) <= 32:
        raise NotFound(
            f"Deployment {deployment_id!r} does not exist.",
            hint="A deployment id is the 32-character id create_deployment returned.",
        )


def _principal(by: object) -> str:
    return checks.label(by, "Principal", 128)
