"""Which callable runs a job of which kind, and how its failures are treated.

A handler is ``callable(runtime, job) -> result``: it does the job's work (acting as
whichever principal the work needs, through ``runtime.workspace(name)``) and returns
a JSON-able result; raising fails the job. The worker pool claims only the kinds it
has handlers for.

>>> handlers = JobHandlers()
>>> _ = handlers.register("echo", lambda runtime, job: dict(job.payload))
>>> handlers.kinds
('echo',)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    from shipyard.runtime import Runtime
    from shipyard.stores.jobs import Job

Handler = Callable[["Runtime", "Job"], Any]


@dataclass(frozen=True)
class JobHandler:
    """How to run one kind of job.

    ``retry``: a failure is tried again while attempts remain (bad input never is).
    ``repeatable``: the work may run again after the process running it died mid-way;
    a handler whose work is not idempotent says False, and such a job is failed instead.
    ``concurrency``: at most this many of the kind at once in one process (None: any).
    ``lease``: how long the job stays claimed without a heartbeat.
    """

    kind: str
    run: Handler
    retry: bool = True
    repeatable: bool = True
    concurrency: int | None = None
    lease: timedelta = timedelta(seconds=60)


class JobHandlers:
    """The registry: kind -> :class:`JobHandler`."""

    def __init__(self) -> None:
        self._by_kind: dict[str, JobHandler] = {}

    def register(
        self,
        kind: str,
        run: Handler,
        *,
        retry: bool = True,
        repeatable: bool = True,
        concurrency: int | None = None,
        lease: timedelta = timedelta(seconds=60),
    ) -> JobHandler:
        """Add (or replace) the handler of ``kind``."""
        if concurrency is not None and concurrency < 1:
            raise InvalidInput(f"A handler's concurrency is 1 or more, got {concurrency}.")
        handler = JobHandler(kind, run, retry, repeatable, concurrency, lease)
        self._by_kind[kind] = handler
        return handler

    def get(self, kind: str) -> JobHandler | None:
        return self._by_kind.get(kind)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self._by_kind)

    def __contains__(self, kind: object) -> bool:
        return kind in self._by_kind


def default_handlers() -> JobHandlers:
    """The handlers ``shipyard server`` runs."""
    from shipyard.deploy.job import JOB_KIND as DEPLOYMENT
    from shipyard.deploy.job import LEASE as DEPLOYMENT_LEASE
    from shipyard.deploy.job import run_deployment
    from shipyard.jobs.pipelines import run_scheduled_pipeline
    from shipyard.jobs.webhooks import JOB_KIND as WEBHOOK
    from shipyard.jobs.webhooks import LEASE as WEBHOOK_LEASE
    from shipyard.jobs.webhooks import run_webhook
    from shipyard.monitoring.job import JOB_KIND as MONITOR
    from shipyard.monitoring.job import run_job as run_monitor
    from shipyard.pipeline.live import RUN_JOB_KIND, RUN_LEASE

    handlers = JobHandlers()
    handlers.register(
        RUN_JOB_KIND,
        run_scheduled_pipeline,
        retry=False,  # a failed run failed: its record says why; the next interval runs anew
        repeatable=False,  # a run registers models and moves aliases: never twice by itself
        concurrency=1,  # a step's log capture redirects this process's stdout and logging
        lease=RUN_LEASE,
    )
    handlers.register(  # its state is stored: another worker resumes where it stopped
        DEPLOYMENT, run_deployment, retry=True, repeatable=True, lease=DEPLOYMENT_LEASE
    )
    handlers.register(  # a run stores what it computes by key: running it again is harmless
        MONITOR, run_monitor, retry=True, repeatable=True, concurrency=1
    )
    handlers.register(WEBHOOK, run_webhook, lease=WEBHOOK_LEASE)  # alarms' and async's
    return handlers
