"""The ends no worker writes: a job that expired in the queue, or whose last worker died.

A worker writes the failure record and notifies when a try fails for good. A job that
expires before any worker claims it, or whose lease runs out on its last attempt, ends
in the job store alone; the sweep (run by the elastic workers' supervisor) writes its
failure record and queues its error webhook, once: the record's presence is the mark.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from fsspec.core import url_to_fs

from shipyard.jobs.webhooks import notify
from shipyard.serving.asynchronous.outputs import write_json

if TYPE_CHECKING:
    from shipyard.runtime import Runtime
    from shipyard.stores.jobs import Job

log = logging.getLogger(__name__)
LOOKED_AT = 50  # newest failed and expired jobs per kind checked each sweep


def sweep(runtime: Runtime, kinds: Iterable[str], seen: set[int]) -> int:
    """Expire what is due, then record each unrecorded end; how many were recorded.
    ``seen`` holds the jobs already settled in this process (so each is looked at once)."""
    runtime.jobs.expire()
    recorded = 0
    for kind in kinds:
        for state in ("failed", "expired"):
            for job in runtime.jobs.list(kind=kind, state=state, limit=LOOKED_AT):
                if job.id in seen:
                    continue
                try:
                    recorded += _settle(runtime, job)
                    seen.add(job.id)
                except Exception:  # the store is away: the next sweep tries again
                    log.warning("could not record the end of job %s", job.id, exc_info=True)
    return recorded


def _settle(runtime: Runtime, job: Job) -> int:
    payload: Any = job.payload
    location = payload.get("failure_location")
    if not location:
        return 0
    fs, path = url_to_fs(location)
    if fs.exists(path):
        return 0
    reason = "it expired before a worker took it" if job.state == "expired" else job.error
    document = {
        "job_id": job.id,
        "state": job.state,
        "endpoint": payload.get("endpoint"),
        "inference_id": payload.get("inference_id"),
        "request_id": payload.get("request_id"),
        "output_location": None,
        "failure_location": location,
        "rows": None,
        "time": (job.finished_at or job.created_at).isoformat(),
        "error": {"error": job.state, "message": reason or job.state, "hint": None},
    }
    write_json(location, document)
    notify(runtime, payload.get("notify_error"), document, payload)
    return 1
