"""Durable jobs (``jobs list --json``, ``jobs show --json``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, JsonValue

from shipyard.api.schemas.base import Schema, Timestamp

if TYPE_CHECKING:
    from shipyard.stores.jobs import Job as StoredJob


class Job(Schema):
    """One job as stored: its state machine, its lease and what it reported."""

    id: int
    kind: str
    state: Literal["queued", "running", "succeeded", "failed", "cancelled", "expired"]
    payload: dict[str, JsonValue]
    priority: int
    attempts: int
    max_attempts: int
    available_at: Timestamp
    expires_at: Timestamp | None = Field(description="Expires unclaimed after this time.")
    lease_owner: str | None
    lease_expires_at: Timestamp | None
    heartbeat_at: Timestamp | None
    progress: JsonValue = Field(description="What a running job last said it is doing.")
    result: JsonValue
    error: str | None
    created_at: Timestamp
    created_by: str
    started_at: Timestamp | None
    finished_at: Timestamp | None

    @classmethod
    def from_domain(cls, job: StoredJob) -> Job:
        from shipyard.jsonsafe import jsonable

        return cls(
            id=job.id, kind=job.kind, state=job.state, payload=jsonable(dict(job.payload)),
            priority=job.priority, attempts=job.attempts, max_attempts=job.max_attempts,
            available_at=job.available_at, expires_at=job.expires_at,
            lease_owner=job.lease_owner, lease_expires_at=job.lease_expires_at,
            heartbeat_at=job.heartbeat_at, progress=jsonable(job.progress),
            result=jsonable(job.result), error=job.error, created_at=job.created_at,
            created_by=job.created_by, started_at=job.started_at, finished_at=job.finished_at,
        )  # fmt: skip
