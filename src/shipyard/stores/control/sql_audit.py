"""The audit log and interval schedules in their tables.

Firing a schedule is a compare-and-set on its revision: ``UPDATE schedules SET
next_fire_at = :next, ..., revision = revision + 1 WHERE name = :n AND revision =
:seen``, and the job is enqueued in the same transaction only when that update took
the row. Several servers calling :meth:`fire_due` at once therefore fire each due
interval exactly once: the others' updates find the row moved on and do nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from shipyard.errors import InvalidInput, NotFound
from shipyard.stores.control import checks
from shipyard.stores.control.base import AuditEntry, Schedule
from shipyard.stores.control.sql_common import SqlPart, now
from shipyard.stores.metadata.schema import audit_log, schedules
from shipyard.types import check_name

OUTCOMES = ("allowed", "denied", "failed")


class AuditScheduleSql(SqlPart):
    """``audit_log`` and ``schedules`` (whose firings are jobs in the job store)."""

    # -- audit log ----------------------------------------------------------------------

    def audit(
        self,
        principal: str,
        action: str,
        resource: str,
        outcome: str,
        *,
        source: str = "python",
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        if outcome not in OUTCOMES:
            raise InvalidInput(
                f"An audit outcome is one of {', '.join(OUTCOMES)}, got {outcome!r}."
            )
        values = {
            "at": now(),
            "principal": checks.label(principal, "Principal", 256),
            "action": checks.label(action, "Action", 64),
            "resource": checks.label(resource, "Resource", 400),
            "outcome": outcome,
            "source": checks.text(source, "Source", 200),
            "detail": checks.json_mapping(detail or {}, "An audit entry's detail"),
        }
        with self._meta.transaction() as conn:
            conn.execute(sa.insert(audit_log).values(**values))

    def audit_log(
        self,
        *,
        principal: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        checks.limit(limit)
        c = audit_log.c
        query = sa.select(audit_log).order_by(c.at.desc(), c.id.desc()).limit(limit)
        if principal is not None:
            query = query.where(c.principal == principal)
        if action is not None:
            query = query.where(c.action == action)
        if since is not None:
            query = query.where(c.at >= checks.aware(since, "since"))
        with self._meta.reading() as conn:
            return [AuditEntry(**row._mapping) for row in conn.execute(query)]

    # -- schedules ----------------------------------------------------------------------

    def put_schedule(
        self,
        name: str,
        job_kind: str,
        payload: Mapping[str, Any],
        interval_seconds: int,
        *,
        by: str,
        first_fire_at: datetime | None = None,
        enabled: bool = True,
    ) -> Schedule:
        check_name(name, "Schedule name")
        if not isinstance(enabled, bool):
            raise InvalidInput(f"enabled must be True or False, got {enabled!r}.")
        at = now()
        values = {
            "job_kind": checks.label(job_kind, "Job kind", 64),
            "payload": checks.json_mapping(payload, "A schedule's payload"),
            "interval_seconds": checks.whole(interval_seconds, "interval_seconds", 1),
            "next_fire_at": at
            if first_fire_at is None
            else checks.aware(first_fire_at, "first_fire_at"),
            "enabled": enabled,
        }
        by = checks.label(by, "Principal", 128)
        c = schedules.c
        with self._meta.transaction() as conn:
            # Replace if it is there (a new revision, so a firing that read the old one
            # does nothing), else create; an insert that lost a race replaces instead.
            for _ in range(2):
                replaced = conn.execute(
                    sa.update(schedules)
                    .where(c.name == name)
                    .values(revision=c.revision + 1, **values)
                ).rowcount
                if (
                    replaced
                    or conn.execute(  # RETURNING: psycopg's rowcount here is -1
                        self._meta.insert_ignoring_conflicts(schedules)
                        .values(
                            name=name,
                            revision=1,
                            last_fired_at=None,
                            last_job_id=None,
                            created_at=at,
                            created_by=by,
                            **values,
                        )
                        .returning(c.name)
                    ).first()
                ):
                    break
            row = conn.execute(sa.select(schedules).where(c.name == name)).one()
        return Schedule(**row._mapping)

    def schedules(self) -> list[Schedule]:
        with self._meta.reading() as conn:
            rows = conn.execute(sa.select(schedules).order_by(schedules.c.name))
            return [Schedule(**row._mapping) for row in rows]

    def delete_schedule(self, name: str) -> None:
        with self._meta.transaction() as conn:
            gone = conn.execute(sa.delete(schedules).where(schedules.c.name == name)).rowcount
        if gone != 1:
            raise NotFound(f"No schedule {name!r}.", hint="List the schedules to see names.")

    def fire_due(self, now: datetime, *, by: str) -> list[tuple[Schedule, int]]:
        from shipyard.stores.jobs import job_store_for

        checks.aware(now, "now")
        by = checks.label(by, "Principal", 128)
        c = schedules.c
        due_query = (
            sa.select(schedules)
            .where(c.enabled == sa.true(), c.next_fire_at <= now)
            .order_by(c.next_fire_at, c.name)
        )
        with self._meta.reading() as conn:
            due = [Schedule(**row._mapping) for row in conn.execute(due_query)]
        jobs = job_store_for(self._meta)
        fired: list[tuple[Schedule, int]] = []
        for seen in due:
            following = _next_fire(seen.next_fire_at, seen.interval_seconds, now)
            with self._meta.transaction() as conn:
                took = conn.execute(
                    sa.update(schedules)
                    .where(c.name == seen.name, c.revision == seen.revision)
                    .values(next_fire_at=following, last_fired_at=now, revision=c.revision + 1)
                ).rowcount
                if took != 1:
                    continue  # another process fired this interval, or the schedule changed
                job = jobs.enqueue(seen.job_kind, seen.payload, created_by=by)
                conn.execute(
                    sa.update(schedules).where(c.name == seen.name).values(last_job_id=job.id)
                )
            fired.append(
                (
                    Schedule(
                        **{
                            **seen.__dict__,
                            "next_fire_at": following,
                            "last_fired_at": now,
                            "last_job_id": job.id,
                            "revision": seen.revision + 1,
                        }
                    ),
                    job.id,
                )
            )
        return fired


def _next_fire(scheduled: datetime, interval_seconds: int, now: datetime) -> datetime:
    """The first ``scheduled + k * interval`` strictly after ``now``: intervals missed while
    nothing fired are skipped, not fired in a burst.

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> _next_fire(t, 60, t).isoformat()
    '2026-01-01T00:01:00+00:00'
    >>> _next_fire(t, 60, t + timedelta(seconds=150)).isoformat()
    '2026-01-01T00:03:00+00:00'
    """
    interval = timedelta(seconds=interval_seconds)
    missed = (now - scheduled) // interval
    return scheduled + (missed + 1) * interval
