"""The job queue in the metadata database (SQLite or PostgreSQL), one transaction a call.

A claim selects the next job and takes it in the same transaction. On
PostgreSQL the select is ``FOR UPDATE SKIP LOCKED``: concurrent workers skip the
rows another claim holds instead of waiting for it, so 8 workers each get a
different job at once. SQLite has one writer at a time (``BEGIN IMMEDIATE``),
which serialises claims the same way. Every change after the claim names the
claim's token, so a worker that lost its lease changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.stores.jobs.base import (
    DIED,
    STATES,
    Backoff,
    Job,
    JobState,
    JobStore,
    QueueStats,
)
from shipyard.stores.metadata.schema import jobs

if TYPE_CHECKING:
    from shipyard.stores.metadata.sql import SqlMetadataStore

MAX_KIND = 64


def _claim_statement() -> Any:
    """The claim, built once with bound parameters (building it per call cost more CPU than
    the database spends running it)."""
    c = jobs.c
    kinds: Any = sa.bindparam("kinds", expanding=True)
    now: Any = sa.bindparam("now", type_=jobs.c.available_at.type)
    # Two picks, each an index range in claim order: a job whose worker died first (there
    # are at most as many running jobs as workers), else the next queued one.
    abandoned = (
        sa.select(c.id)
        .where(
            c.kind.in_(kinds), c.state == "running", c.lease_expires_at < now,
            c.attempts < c.max_attempts,
        )
        .limit(1)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite serialises writers
    )  # fmt: skip
    waiting = (
        sa.select(c.id)
        .where(
            c.kind.in_(kinds), c.state == "queued", c.available_at <= now,
            sa.or_(c.expires_at.is_(None), c.expires_at > now),
        )
        .order_by(c.priority.desc(), c.available_at, c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )  # fmt: skip
    # One statement, one round trip: the first pick, else the second, taken at once.
    chosen = sa.func.coalesce(abandoned.scalar_subquery(), waiting.scalar_subquery())
    return (
        sa.update(jobs)
        .where(c.id == chosen)
        .values(
            state="running",
            attempts=c.attempts + 1,
            lease_owner=sa.bindparam("worker"),
            lease_token=sa.bindparam("token"),
            lease_expires_at=sa.bindparam("until", type_=jobs.c.lease_expires_at.type),
            heartbeat_at=now,
            started_at=sa.func.coalesce(c.started_at, now),
            progress=sa.null(),  # what an earlier attempt said is stale now
        )
        .returning(*jobs.c)
    )


_CLAIM = _claim_statement()


class SqlJobStore(JobStore):
    """Jobs in the ``jobs`` table of ``metadata``'s database (revision 0005)."""

    def __init__(self, metadata: SqlMetadataStore) -> None:
        self._meta = metadata

    def enqueue(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        created_by: str,
        priority: int = 0,
        max_attempts: int = 3,
        delay: timedelta = timedelta(0),
        ttl: timedelta | None = None,
    ) -> Job:
        _check_new(kind, payload, max_attempts)
        if delay < timedelta(0) or (ttl is not None and ttl <= timedelta(0)):
            raise InvalidInput("A job's delay must be >= 0 and its ttl > 0.")
        now = _now()
        values = {
            "kind": kind,
            "state": "queued",
            "payload": dict(payload),
            "priority": int(priority),
            "attempts": 0,
            "max_attempts": max_attempts,
            "available_at": now + delay,
            "expires_at": None if ttl is None else now + ttl,
            "created_at": now,
            "created_by": created_by,
        }
        with self._meta.transaction() as conn:
            row = conn.execute(sa.insert(jobs).values(**values).returning(*jobs.c)).one()
        return _job(row)

    def start(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        created_by: str,
        worker: str,
        lease: timedelta,
        max_attempts: int = 1,
        progress: Any = None,
        now: datetime | None = None,
    ) -> Job:
        _check_new(kind, payload, max_attempts)
        if lease <= timedelta(0):
            raise InvalidInput("A lease must be longer than zero.")
        now = now or _now()
        values = {
            "kind": kind,
            "state": "running",
            "payload": dict(payload),
            "priority": 0,
            "attempts": 1,  # this one, under way
            "max_attempts": max_attempts,
            "available_at": now,
            "created_at": now,
            "created_by": created_by,
            "lease_owner": worker,
            "lease_token": uuid.uuid4().hex,
            "lease_expires_at": now + lease,
            "heartbeat_at": now,
            "started_at": now,
            "progress": progress,
        }
        with self._meta.transaction() as conn:
            row = conn.execute(sa.insert(jobs).values(**values).returning(*jobs.c)).one()
        return _job(row)

    def claim(
        self,
        kinds: Sequence[str],
        *,
        worker: str,
        lease: timedelta,
        now: datetime | None = None,
    ) -> Job | None:
        if isinstance(kinds, str) or not kinds:
            raise InvalidInput("Claim from a list of one or more job kinds.")
        if lease <= timedelta(0):
            raise InvalidInput("A lease must be longer than zero.")
        now = now or _now()
        with self._meta.one_statement() as conn:  # one atomic UPDATE: no BEGIN/COMMIT trips
            row = conn.execute(
                _CLAIM,
                {"kinds": list(kinds), "now": now, "until": now + lease, "worker": worker,
                 "token": uuid.uuid4().hex},
            ).one_or_none()  # fmt: skip
        if row is None:
            return None
        return _job(row)

    def heartbeat(self, job: Job, *, lease: timedelta, now: datetime | None = None) -> Job:
        now = now or _now()
        with self._meta.transaction() as conn:
            row = conn.execute(
                sa.update(jobs)
                .where(*_owned(job))
                .values(lease_expires_at=now + lease, heartbeat_at=now)
                .returning(*jobs.c)
            ).one_or_none()
        if row is None:
            raise Conflict(
                f"Job {job.id} is no longer this worker's claim (its lease ran out and it was "
                "claimed again, or it was cancelled or finished).",
                hint="Stop working on it; whoever holds it now will finish it.",
            )
        return _job(row)

    def report_progress(self, job: Job, progress: Any, *, now: datetime | None = None) -> Job:
        with self._meta.transaction() as conn:
            row = conn.execute(
                sa.update(jobs).where(*_owned(job)).values(progress=progress).returning(*jobs.c)
            ).one_or_none()
        if row is None:
            raise Conflict(
                f"Job {job.id} is no longer this worker's claim (its lease ran out, or it was "
                "cancelled or finished), so its progress was not recorded.",
                hint="Stop working on it; whoever holds it now will finish it.",
            )
        return _job(row)

    def complete(self, job: Job, result: Any = None, *, now: datetime | None = None) -> bool:
        now = now or _now()
        with self._meta.transaction() as conn:
            changed = conn.execute(
                sa.update(jobs)
                .where(*_owned(job))
                .values(
                    state="succeeded", result=result, error=None, finished_at=now, **_released()
                )
            ).rowcount
        return bool(changed)

    def fail(
        self,
        job: Job,
        error: str,
        *,
        retry: bool = True,
        backoff: Backoff | None = None,
        now: datetime | None = None,
    ) -> Job | None:
        now = now or _now()
        c = jobs.c
        again = retry and job.attempts < job.max_attempts
        values: dict[str, Any] = {"error": str(error)[:10_000], **_released()}
        if again:
            values |= {"state": "queued", "available_at": now + (backoff or Backoff()).delay(
                job.attempts
            )}  # fmt: skip
        else:
            values |= {"state": "failed", "finished_at": now}
        with self._meta.transaction() as conn:
            row = conn.execute(
                sa.update(jobs).where(*_owned(job), c.id == job.id).values(**values)
                .returning(*jobs.c)
            ).one_or_none()  # fmt: skip
        return None if row is None else _job(row)

    def cancel(self, job_id: int, *, now: datetime | None = None) -> Job:
        now = now or _now()
        c = jobs.c
        with self._meta.transaction() as conn:
            row = conn.execute(
                sa.update(jobs)
                .where(c.id == job_id, c.state.in_(["queued", "running"]))
                .values(state="cancelled", finished_at=now, **_released())
                .returning(*jobs.c)
            ).one_or_none()
        if row is None:
            current = self.get(job_id)
            raise Conflict(f"Job {job_id} is {current.state} already; only queued or running "
                           "jobs can be cancelled.")  # fmt: skip
        return _job(row)

    def retry(self, job_id: int, *, now: datetime | None = None) -> Job:
        now = now or _now()
        c = jobs.c
        with self._meta.transaction() as conn:
            row = conn.execute(
                sa.update(jobs)
                .where(c.id == job_id, c.state.in_(["failed", "cancelled", "expired"]))
                .values(state="queued", attempts=0, available_at=now, expires_at=None,
                        finished_at=None, **_released())
                .returning(*jobs.c)
            ).one_or_none()  # fmt: skip
        if row is None:
            current = self.get(job_id)
            raise Conflict(f"Job {job_id} is {current.state}; only failed, cancelled or "
                           "expired jobs can be retried.")  # fmt: skip
        return _job(row)

    def get(self, job_id: int) -> Job:
        if isinstance(job_id, bool) or not isinstance(job_id, int):
            raise InvalidInput(f"A job id is a whole number, got {job_id!r}.")
        with self._meta.reading() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).one_or_none()
        if row is None:
            raise NotFound(f"No job {job_id}.", hint="List jobs with `shipyard jobs list`.")
        return _job(row)

    def list(
        self, *, kind: str | None = None, state: JobState | None = None, limit: int = 100
    ) -> list[Job]:
        if state is not None and state not in STATES:
            raise InvalidInput(f"Unknown job state {state!r}.", hint=f"Use {', '.join(STATES)}.")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise InvalidInput(f"limit must be a whole number from 1 to 10,000, got {limit!r}.")
        query = sa.select(jobs).order_by(jobs.c.id.desc()).limit(limit)
        if kind is not None:
            query = query.where(jobs.c.kind == kind)
        if state is not None:
            query = query.where(jobs.c.state == state)
        with self._meta.reading() as conn:
            return [_job(row) for row in conn.execute(query)]

    def expire(self, *, now: datetime | None = None) -> int:
        now = now or _now()
        c = jobs.c
        with self._meta.transaction() as conn:
            expired = conn.execute(
                sa.update(jobs)
                .where(c.state == "queued", c.expires_at <= now)
                .values(state="expired", finished_at=now)
            ).rowcount
            exhausted = conn.execute(
                sa.update(jobs)
                .where(c.state == "running", c.lease_expires_at < now,
                       c.attempts >= c.max_attempts)
                .values(state="failed", finished_at=now, error=DIED, **_released())
            ).rowcount  # fmt: skip
        return int(expired) + int(exhausted)

    def stats(self, kind: str, *, now: datetime | None = None) -> QueueStats:
        now = now or _now()
        c = jobs.c
        with self._meta.reading() as conn:
            counts: dict[str, int] = dict(
                conn.execute(
                    sa.select(c.state, sa.func.count()).where(c.kind == kind).group_by(c.state)
                ).all()
            )
            oldest = conn.execute(
                sa.select(sa.func.min(c.available_at)).where(c.kind == kind, c.state == "queued")
            ).scalar_one_or_none()
            # A queued job has not started its next try yet: its attempts so far count.
            retries = conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(c.attempts - 1), 0)).where(
                    c.kind == kind, c.attempts > 1
                )
            ).scalar_one()
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        age = None if oldest is None else max((now - oldest).total_seconds(), 0.0)
        return QueueStats(kind, {s: int(counts.get(s, 0)) for s in STATES}, age, int(retries))


def _owned(job: Job) -> tuple[Any, ...]:
    c = jobs.c
    return (c.id == job.id, c.state == "running", c.lease_token == job.lease_token)


def _released() -> dict[str, Any]:
    return {"lease_owner": None, "lease_token": None, "lease_expires_at": None}


def _check_new(kind: str, payload: Mapping[str, Any], max_attempts: int) -> None:
    _check_kind(kind)
    if not isinstance(payload, Mapping):
        raise InvalidInput(f"A job's payload is a mapping, got {type(payload).__name__}.")
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise InvalidInput(f"max_attempts must be a whole number >= 1, got {max_attempts!r}.")


def _check_kind(kind: str) -> None:
    if not isinstance(kind, str) or not kind or len(kind) > MAX_KIND or not kind.isprintable():
        raise InvalidInput(f"A job kind is a short printable name, got {kind!r}.")


def _now() -> datetime:
    return datetime.now(UTC)


def _job(row: Any) -> Job:
    data = row._mapping
    return Job(**{column.name: data[column.name] for column in jobs.c})
