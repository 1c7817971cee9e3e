"""Durable jobs over HTTP: ``GET /jobs``, ``GET /jobs/{id}`` (an async invocation's
status), ``POST /jobs/{id}/cancel`` and ``/retry``; and the queues' metrics.

Access is the job service's: ``jobs:Read`` / ``jobs:Write`` on ``shipyard:job:KIND``
(an endpoint's async invocations are kind ``inference:NAME``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from shipyard.api.deps import WorkspaceDep
from shipyard.api.metrics import WorkspaceSource
from shipyard.api.schemas.jobs import Job

router = APIRouter(tags=["jobs"])

State = Literal["queued", "running", "succeeded", "failed", "cancelled", "expired"]
FIXED_KINDS = ("webhook", "pipeline_run", "deployment", "monitor_run")


@router.get("/jobs", summary="Jobs the caller may read, newest first.", response_model=list[Job])
def list_jobs(
    workspace: WorkspaceDep,
    kind: str | None = None,
    state: State | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[Job]:
    return [Job.from_domain(j) for j in workspace.jobs.list(kind=kind, state=state, limit=limit)]


@router.get(
    "/jobs/{job_id}",
    summary="One job: its state, attempts, progress, and result or error.",
    response_model=Job,
)
def get_job(job_id: int, workspace: WorkspaceDep) -> Job:
    return Job.from_domain(workspace.jobs.get(job_id))


@router.post("/jobs/{job_id}/cancel", summary="Cancel a queued or running job.", response_model=Job)
def cancel_job(job_id: int, workspace: WorkspaceDep) -> Job:
    return Job.from_domain(workspace.jobs.cancel(job_id))


@router.post(
    "/jobs/{job_id}/retry",
    summary="Queue a failed, cancelled or expired job again.",
    response_model=Job,
)
def retry_job(job_id: int, workspace: WorkspaceDep) -> Job:
    return Job.from_domain(workspace.jobs.retry(job_id))


class JobQueueCollector:
    """Per job kind, read at each scrape: jobs waiting, running, the oldest wait, the
    dead letters (failed for good) and the retries. Kinds: each endpoint's async
    invocations and the server's own kinds."""

    def __init__(self, workspace: WorkspaceSource) -> None:
        self._workspace = workspace

    def _families(self) -> dict[str, GaugeMetricFamily | CounterMetricFamily]:
        labels = ["kind"]
        return {
            "queued": GaugeMetricFamily(
                "shipyard_job_queue_depth", "Jobs waiting to be claimed.", labels=labels
            ),
            "running": GaugeMetricFamily(
                "shipyard_job_running", "Jobs being worked on now.", labels=labels
            ),
            "oldest": GaugeMetricFamily(
                "shipyard_job_oldest_queued_seconds",
                "How long the oldest waiting job has waited.",
                labels=labels,
            ),
            "failed": GaugeMetricFamily(
                "shipyard_job_dead_letters",
                "Jobs failed for good (the dead letter).",
                labels=labels,
            ),
            "retries": CounterMetricFamily(
                "shipyard_job_retries", "Tries beyond each job's first.", labels=labels
            ),
        }

    def describe(self) -> Iterator[Metric]:
        yield from self._families().values()  # names only: nothing is read from the stores

    def collect(self) -> Iterator[Metric]:
        from shipyard.serving.asynchronous.config import job_kind

        families = self._families()
        runtime = self._workspace().runtime
        kinds = [*FIXED_KINDS, *(job_kind(e.name) for e in runtime.control.endpoints())]
        for kind in kinds:
            stats = runtime.jobs.stats(kind)
            families["queued"].add_metric([kind], stats.counts.get("queued", 0))
            families["running"].add_metric([kind], stats.counts.get("running", 0))
            families["oldest"].add_metric([kind], stats.oldest_queued_seconds or 0.0)
            families["failed"].add_metric([kind], stats.counts.get("failed", 0))
            families["retries"].add_metric([kind], stats.retries)
        yield from families.values()
