"""The monitoring store on the metadata database (SQLite or PostgreSQL).

A point or a profile is replaced by an upsert on its key (``INSERT ... ON CONFLICT DO
UPDATE``, which both SQLite and PostgreSQL have), so two writers of one window never
collide; a PostgreSQL deadlock between two multi-row upserts is retried. An alarm's
state moves by a compare-and-set on its revision (``UPDATE ... WHERE revision =
:seen``), and the event is written in the same transaction, so two evaluators never both
record one change.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from shipyard.errors import InvalidInput, NotFound
from shipyard.stores.control import checks
from shipyard.stores.metadata.schema import alarm_events, alarms, monitor_points, monitor_profiles
from shipyard.stores.metadata.sql import SqlMetadataStore
from shipyard.stores.monitoring.base import (
    ALARM_STATES,
    Alarm,
    AlarmEvent,
    MonitorStore,
    SeriesPoint,
    WindowProfile,
)
from shipyard.types import check_name

RETRIES = 5
_RETRYABLE = ("40P01", "40001")  # PostgreSQL: deadlock detected, serialization failure
_POINT_KEY = ("endpoint", "variant", "stage", "metric", "feature", "window_start", "window_end")


class SqlMonitorStore(MonitorStore):
    def __init__(self, metadata: SqlMetadataStore) -> None:
        self._meta = metadata

    # -- window profiles -------------------------------------------------------------------

    def profile(
        self, endpoint: str, variant: str, stage: str, hour: datetime
    ) -> WindowProfile | None:
        c = monitor_profiles.c
        query = sa.select(monitor_profiles).where(
            c.endpoint == endpoint, c.variant == variant, c.stage == stage, c.hour == hour
        )
        with self._meta.reading() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        return WindowProfile(**{**row, "files": tuple(row["files"])})

    def put_profile(self, profile: WindowProfile) -> None:
        values = {**profile.__dict__, "files": list(profile.files)}

        def write(conn: sa.Connection) -> None:
            _upsert(conn, monitor_profiles, [values])

        self._write(write)

    # -- series ----------------------------------------------------------------------------

    def put_points(self, points: Sequence[SeriesPoint]) -> None:
        if not points:
            return
        rows = {key: row for row, key in map(_point_row, points)}  # the last of a key wins
        computed = datetime.now(UTC)

        def write(conn: sa.Connection) -> None:
            # One order for every writer: two writers lock the same rows in the same order.
            ordered = [dict(rows[key], computed_at=computed) for key in sorted(rows, key=repr)]
            _upsert(conn, monitor_points, ordered)

        self._write(write)

    def _write(self, write: Callable[[sa.Connection], None]) -> None:
        """Run an upsert in a transaction of its own. Two processes writing the same
        window's rows at once can lock them in each other's way on PostgreSQL (its
        deadlock detector aborts one): the aborted one writes again."""
        for attempt in range(RETRIES):
            try:
                with self._meta.transaction() as conn:
                    write(conn)
                return
            except OperationalError as exc:
                if _sqlstate(exc) not in _RETRYABLE or attempt == RETRIES - 1:
                    raise
                time.sleep(0.01 * (attempt + 1))

    def points(
        self,
        endpoint: str,
        *,
        stage: str | None = None,
        metric: str | None = None,
        feature: str | None = None,
        variant: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[SeriesPoint]:
        c = monitor_points.c
        query = sa.select(monitor_points).where(c.endpoint == endpoint)
        for column, value in (
            (c.stage, stage),
            (c.metric, metric),
            (c.feature, feature),
            (c.variant, variant),
        ):
            if value is not None:
                query = query.where(column == value)
        if start is not None:
            query = query.where(c.window_start >= start)
        if end is not None:
            query = query.where(c.window_start < end)
        query = query.order_by(c.window_start, c.window_end, c.stage, c.metric, c.feature)
        with self._meta.reading() as conn:
            rows = conn.execute(query).mappings().all()
        return [_point(dict(row)) for row in rows]

    # -- alarms ----------------------------------------------------------------------------

    def put_alarm(self, name: str, endpoint: str, spec: Mapping[str, Any], *, by: str) -> Alarm:
        check_name(name, "Alarm name")
        values = {
            "endpoint": checks.label(endpoint, "Endpoint", 128),
            "spec": checks.json_mapping(spec, "An alarm's spec"),
        }
        now = datetime.now(UTC)
        with self._meta.transaction() as conn:
            found = conn.execute(sa.select(alarms.c.name).where(alarms.c.name == name)).first()
            if found is None:
                conn.execute(
                    sa.insert(alarms).values(
                        name=name,
                        state="INSUFFICIENT_DATA",
                        reason="Not evaluated yet.",
                        revision=1,
                        state_changed_at=now,
                        created_at=now,
                        created_by=checks.label(by, "Principal", 128),
                        **values,
                    )
                )
            else:
                conn.execute(
                    sa.update(alarms)
                    .where(alarms.c.name == name)
                    .values(revision=alarms.c.revision + 1, **values)
                )
        return self.alarm(name)

    def alarm(self, name: str) -> Alarm:
        with self._meta.reading() as conn:
            row = conn.execute(sa.select(alarms).where(alarms.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(
                f"No alarm named {name!r}.", hint="`shipyard alarms list` shows the alarms."
            )
        return Alarm(**row)

    def alarms(self, endpoint: str | None = None) -> list[Alarm]:
        query = sa.select(alarms).order_by(alarms.c.name)
        if endpoint is not None:
            query = query.where(alarms.c.endpoint == endpoint)
        with self._meta.reading() as conn:
            return [Alarm(**row) for row in conn.execute(query).mappings()]

    def delete_alarm(self, name: str) -> None:
        with self._meta.transaction() as conn:
            gone = conn.execute(sa.delete(alarms).where(alarms.c.name == name)).rowcount
            conn.execute(sa.delete(alarm_events).where(alarm_events.c.alarm == name))
        if not gone:
            raise NotFound(f"No alarm named {name!r}.")

    def set_alarm_state(
        self,
        name: str,
        state: str,
        reason: str,
        *,
        expected_revision: int,
        detail: Mapping[str, Any] | None = None,
    ) -> Alarm | None:
        if state not in ALARM_STATES:
            raise InvalidInput(
                f"An alarm state is one of {', '.join(ALARM_STATES)}, got {state!r}."
            )
        now = datetime.now(UTC)
        c = alarms.c
        with self._meta.transaction() as conn:
            old = conn.execute(sa.select(c.state).where(c.name == name)).scalar_one_or_none()
            if old is None:
                raise NotFound(f"No alarm named {name!r}.")
            changes: dict[str, Any] = {"reason": reason, "revision": c.revision + 1}
            if old != state:
                changes.update(state=state, state_changed_at=now)
            took = conn.execute(
                sa.update(alarms)
                .where(c.name == name, c.revision == expected_revision)
                .values(**changes)
            ).rowcount
            if not took:
                return None
            if old != state:
                conn.execute(
                    sa.insert(alarm_events).values(
                        alarm=name,
                        at=now,
                        old_state=old,
                        new_state=state,
                        reason=reason,
                        detail=checks.json_mapping(detail or {}, "An alarm event's detail"),
                    )
                )
        return self.alarm(name)

    def alarm_history(self, name: str, *, limit: int = 100) -> list[AlarmEvent]:
        query = (
            sa.select(alarm_events)
            .where(alarm_events.c.alarm == name)
            .order_by(alarm_events.c.at.desc(), alarm_events.c.id.desc())
            .limit(checks.limit(limit))
        )
        with self._meta.reading() as conn:
            rows = conn.execute(query).mappings().all()
        return [AlarmEvent(**{k: v for k, v in row.items() if k != "id"}) for row in rows]


def _point_row(point: SeriesPoint) -> tuple[dict[str, Any], tuple[Any, ...]]:
    row = {
        "endpoint": point.endpoint,
        "variant": point.variant,
        "stage": point.stage,
        "metric": point.metric,
        "feature": point.feature,
        "window_start": point.start,
        "window_end": point.end,
        "value": _finite(point.value),
        "p_value": _finite(point.p_value),
        "flagged": bool(point.flagged),
        "rows": int(point.rows),
        "detail": checks.json_mapping(dict(point.detail), "A series point's detail"),
    }
    return row, tuple(row[k] for k in _POINT_KEY)


def _point(row: Mapping[str, Any]) -> SeriesPoint:
    return SeriesPoint(
        endpoint=row["endpoint"],
        variant=row["variant"],
        stage=row["stage"],
        metric=row["metric"],
        feature=row["feature"],
        start=row["window_start"],
        end=row["window_end"],
        value=row["value"],
        p_value=row["p_value"],
        flagged=row["flagged"],
        rows=row["rows"],
        detail=row["detail"],
    )


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None


def _sqlstate(exc: OperationalError) -> str | None:
    return getattr(exc.orig, "sqlstate", None)


def _upsert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows``, replacing those whose primary key exists, in one statement."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    keys = [c.name for c in table.primary_key.columns]
    others = {c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys}
    conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=others), rows)
