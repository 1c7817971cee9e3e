"""The durable job that runs a deployment: ``deployment`` jobs, claimed by any server's
job workers or started by ``shipyard deploy --wait`` in its own process.

The job ticks the stored state machine until the deployment ends (an A/B test or a
shadow, which end by hand, is checked again by a later job instead). It is repeatable: a
worker that dies mid-way leaves the lease to run out, and the next worker to claim the
job resumes at the stored step, bake time included.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.runtime import Runtime
    from shipyard.stores.jobs import Job

JOB_KIND = "deployment"
LEASE = timedelta(seconds=10)  # a worker that died hands the deployment on this soon
OPEN_ENDED_EVERY = timedelta(seconds=15)  # how often an A/B test's or shadow's guards run


def run_deployment(runtime: Runtime, job: Job) -> dict[str, Any]:
    """Tick the deployment of ``job.payload["deployment"]`` as the principal who started
    it, until it ends; the result says how. An A/B test or a shadow, once under way, runs
    until a person ends it: rather than hold a worker thread for days, the job hands on to
    a job of its own kind due in ``OPEN_ENDED_EVERY``, which checks the guards again."""
    from shipyard.deploy.service import RUNNING, TICK_SECONDS

    workspace = runtime.workspace(job.created_by)
    deployment_id = str(job.payload["deployment"])
    while True:
        found = workspace.deployments.tick(deployment_id)
        if found.state != RUNNING:
            return {"deployment": found.id, "state": found.state,
                    "reason": found.status.get("reason")}  # fmt: skip
        if open_ended(found):
            after = runtime.jobs.enqueue(
                JOB_KIND, {"deployment": deployment_id}, created_by=job.created_by,
                max_attempts=10, delay=OPEN_ENDED_EVERY,
            )  # fmt: skip
            return {"deployment": found.id, "state": found.state, "next_job": after.id}
        time.sleep(TICK_SECONDS)


def open_ended(found: Any) -> bool:
    """An A/B test past its warm-up, or a shadow: nothing moves until a person ends it."""
    step = int((found.status or {}).get("step", -1))
    return found.strategy == "shadow" or (found.strategy == "ab" and step >= 0)


def launch(runtime: Runtime, deployment_id: str, principal: str, *, wait: bool) -> Any:
    """Hand the deployment to a job: queued for a server's workers, or (``wait``) run
    here now, under a lease a heartbeat keeps, returning the ended deployment."""
    from shipyard.pipeline.live import this_process
    from shipyard.stores.jobs.lease import LeaseKeeper

    payload = {"deployment": deployment_id}
    store = runtime.jobs
    if not wait:
        return store.enqueue(JOB_KIND, payload, created_by=principal, max_attempts=10)
    job = store.start(
        JOB_KIND, payload, created_by=principal, worker=this_process(), lease=LEASE,
        max_attempts=10,
    )  # fmt: skip
    with LeaseKeeper(store, job, lease=LEASE) as keeper:
        try:
            result = run_deployment(runtime, job)
        except BaseException as exc:  # Ctrl-C too: the job is failed, a worker resumes it
            store.fail(keeper.job, f"{type(exc).__name__}: {exc}")
            raise
    store.complete(keeper.job, result)
    return runtime.workspace(principal).deployments.get(deployment_id)
