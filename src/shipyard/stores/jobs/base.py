"""Durable jobs: what a job is, the states it moves through, and the store's interface.

A job is enqueued ``queued``; a worker *claims* it, which makes it ``running``
under a lease (an owner, a random token, an expiry). While it works it sends
heartbeats that push the expiry on. It then *completes* it (``succeeded``) or
*fails* it: with attempts left the job is ``queued`` again after a backoff,
without (or when the failure is final) it is ``failed``, the dead-letter state.
A job whose lease runs out (its worker died or stalled) is claimed again by
another worker: delivery is at least once, so handlers must be idempotent.
The lease token makes the late worker's complete, fail or heartbeat a no-op.

``cancel`` stops a queued or running job (``cancelled``); a job past its
time-to-live before it ran is ``expired``; ``retry`` puts a finished
unsuccessful job back in the queue with its attempts reset.

Terminal states: succeeded, failed, cancelled, expired.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

# The error of a job whose lease ran out on its last attempt.
DIED = (
    "the process running it died or stopped sending heartbeats: its lease ran out on its "
    "last attempt, so it is not run again"
)

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled", "expired"]
STATES: tuple[JobState, ...] = ("queued", "running", "succeeded", "failed", "cancelled", "expired")
TERMINAL: tuple[JobState, ...] = ("succeeded", "failed", "cancelled", "expired")


@dataclass(frozen=True)
class Job:
    """One job as stored. ``lease_token`` identifies the current claim (None when idle)."""

    id: int
    kind: str
    state: JobState
    payload: Mapping[str, Any]
    priority: int
    attempts: int
    max_attempts: int
    available_at: datetime
    expires_at: datetime | None
    lease_owner: str | None
    lease_token: str | None
    lease_expires_at: datetime | None
    heartbeat_at: datetime | None
    result: Any
    error: str | None
    created_at: datetime
    created_by: str
    started_at: datetime | None
    finished_at: datetime | None
    progress: Any = None  # what a running job last said it is doing (a pipeline's step)

    @property
    def done(self) -> bool:
        return self.state in TERMINAL

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        from shipyard.jsonsafe import jsonable

        found: dict[str, Any] = jsonable(asdict(self))
        return found


@dataclass(frozen=True)
class Backoff:
    """Delay before attempt ``n + 1`` after ``n`` failures: ``base * factor ** (n - 1)``,
    at most ``cap``.

    >>> [Backoff(timedelta(seconds=1)).delay(n).total_seconds() for n in (1, 2, 3)]
    [1.0, 2.0, 4.0]
    """

    base: timedelta = timedelta(seconds=5)
    factor: float = 2.0
    cap: timedelta = timedelta(minutes=10)

    def delay(self, failures: int) -> timedelta:
        return min(self.cap, self.base * self.factor ** max(failures - 1, 0))


@dataclass(frozen=True)
class QueueStats:
    """Jobs of one kind per state, how long the oldest queued one has waited, and how
    many tries beyond the first the kind's jobs have taken (retries)."""

    kind: str
    counts: Mapping[str, int]
    oldest_queued_seconds: float | None
    retries: int = 0


class JobStore(abc.ABC):
    """The durable job queue. Every method is one transaction; times are UTC."""

    @abc.abstractmethod
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
        """Add a job, available after ``delay`` and expiring unclaimed after ``ttl``."""

    @abc.abstractmethod
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
        """Add a job already ``running`` under ``worker``'s claim, in one statement: work
        the caller does itself (a pipeline run started from a shell), visible and leased
        from its first moment, and never claimed by a worker polling for ``kind``."""

    @abc.abstractmethod
    def claim(
        self,
        kinds: Sequence[str],
        *,
        worker: str,
        lease: timedelta,
        now: datetime | None = None,
    ) -> Job | None:
        """Take the next available job of ``kinds`` (highest priority, then oldest), or
        one whose lease ran out; None when there is none. Concurrent claims never take
        the same job."""

    @abc.abstractmethod
    def heartbeat(self, job: Job, *, lease: timedelta, now: datetime | None = None) -> Job:
        """Extend ``job``'s lease; Conflict when the claim was lost (expired and taken,
        cancelled, or finished)."""

    @abc.abstractmethod
    def report_progress(self, job: Job, progress: Any, *, now: datetime | None = None) -> Job:
        """Record what the running ``job`` is doing now (JSON: a pipeline's current step);
        Conflict, as :meth:`heartbeat`, when the claim was lost."""

    @abc.abstractmethod
    def complete(self, job: Job, result: Any = None, *, now: datetime | None = None) -> bool:
        """Mark ``job`` succeeded with ``result``; False (nothing written) when the claim
        was lost: another worker owns the job now."""

    @abc.abstractmethod
    def fail(
        self,
        job: Job,
        error: str,
        *,
        retry: bool = True,
        backoff: Backoff | None = None,
        now: datetime | None = None,
    ) -> Job | None:
        """Record a failed attempt: queued again after the backoff while attempts remain
        (and ``retry``), else ``failed`` (the dead letter). None when the claim was lost."""

    @abc.abstractmethod
    def cancel(self, job_id: int, *, now: datetime | None = None) -> Job:
        """Cancel a queued or running job; Conflict when it has finished already."""

    @abc.abstractmethod
    def retry(self, job_id: int, *, now: datetime | None = None) -> Job:
        """Queue a failed, cancelled or expired job again with its attempts reset."""

    @abc.abstractmethod
    def get(self, job_id: int) -> Job:
        """One job; NotFound when there is none."""

    @abc.abstractmethod
    def list(
        self, *, kind: str | None = None, state: JobState | None = None, limit: int = 100
    ) -> list[Job]:
        """Jobs, newest first, optionally of one kind and state."""

    @abc.abstractmethod
    def expire(self, *, now: datetime | None = None) -> int:
        """Mark queued jobs past their time-to-live ``expired``, and running jobs whose
        lease ran out with no attempt left ``failed`` (their process died or stalled: a job
        with ``max_attempts=1`` is never run twice); return how many changed."""

    @abc.abstractmethod
    def stats(self, kind: str, *, now: datetime | None = None) -> QueueStats:
        """Counts per state and the oldest queued job's age, for metrics."""
