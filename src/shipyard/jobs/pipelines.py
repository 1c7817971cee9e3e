"""The ``pipeline_run`` handler: run a scheduled pipeline as the ``pipeline`` principal.

The job's payload names the pipeline file (an absolute path the server can read) and
its parameters, as ``shipyard schedules add`` stores them::

    {"path": "/srv/pipelines/train.yaml", "params": {"threshold": 0.7},
     "schedule": "nightly", "requested_by": "alice"}

The run reports its steps on the job the worker claimed (no second job), and its
record says it was triggered by ``schedule:NAME``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    from shipyard.runtime import Runtime
    from shipyard.stores.jobs import Job


def run_scheduled_pipeline(runtime: Runtime, job: Job) -> dict[str, Any]:
    """Load the pipeline file, run it on ``job``, and fail the job unless every step passed."""
    from shipyard.pipeline import PIPELINE_PRINCIPAL, load_pipeline

    payload = job.payload
    path = payload.get("path")
    if not isinstance(path, str) or not path:
        raise InvalidInput(
            f"Job {job.id} ({job.kind}) names no pipeline file ('path' in its payload).",
            hint="Schedule pipelines with `shipyard schedules add NAME --pipeline FILE`.",
        )
    params = payload.get("params") or {}
    if not isinstance(params, Mapping):
        raise InvalidInput(f"Job {job.id}: 'params' is not a mapping of parameter values.")
    pipeline = load_pipeline(path)
    schedule = payload.get("schedule")
    who = f"schedule:{schedule}" if schedule else job.created_by
    ws = runtime.workspace(PIPELINE_PRINCIPAL)
    run = ws.pipelines.run(pipeline, dict(params), job=job, triggered_by=who)
    run.check()  # GateFailed or PipelineFailed: the worker fails the job with that line
    return {
        "pipeline": run.pipeline,
        "version": run.version,
        "build_id": run.build_id,
        "status": str(run.status),
    }
