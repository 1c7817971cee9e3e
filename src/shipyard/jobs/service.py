"""The job service (``ws.jobs``): the durable queue as people see it, with access checks.

Workers and the scheduler use the job store directly (they are the system). A person
reading or changing jobs acts through this service: ``jobs:Read`` to list and show,
``jobs:Write`` to cancel or retry, on ``shipyard:job:<kind>``.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from shipyard.security.filtering import permitted

if TYPE_CHECKING:
    from shipyard.stores.jobs import Job, JobState, JobStore

Authorize = Callable[[str, "str | Sequence[str]"], None]


def job_resource(kind: str) -> str:
    """The policy resource of the jobs of one kind."""
    return f"shipyard:job:{kind}"


class JobService:
    """List, show, cancel and retry jobs as a principal."""

    def __init__(self, store: JobStore, *, authorize: Authorize) -> None:
        self._store = store
        self._authorize = authorize

    def list(
        self, *, kind: str | None = None, state: JobState | None = None, limit: int = 50
    ) -> builtins.list[Job]:
        """Jobs, newest first: of ``kind`` (AccessDenied if this principal may not read it),
        or of every kind it may read. A job whose lease ran out on its last attempt is
        shown failed (its process died)."""
        if kind is not None:
            self._authorize("jobs:Read", job_resource(kind))
        self._store.expire()
        found = self._store.list(kind=kind, state=state, limit=limit)
        if kind is None:
            readable = {k for k in {j.kind for j in found} if self._may_read(k)}
            found = [j for j in found if j.kind in readable]
        return found

    def _may_read(self, kind: str) -> bool:
        return permitted(self._authorize, "jobs:Read", job_resource(kind))

    def get(self, job_id: int) -> Job:
        """One job (NotFound if there is none)."""
        self._store.expire()
        job = self._store.get(job_id)
        self._authorize("jobs:Read", job_resource(job.kind))
        return job

    def cancel(self, job_id: int) -> Job:
        """Cancel a queued or running job."""
        self._authorize("jobs:Write", job_resource(self._store.get(job_id).kind))
        return self._store.cancel(job_id)

    def retry(self, job_id: int) -> Job:
        """Queue a failed, cancelled or expired job again."""
        self._authorize("jobs:Write", job_resource(self._store.get(job_id).kind))
        return self._store.retry(job_id)
