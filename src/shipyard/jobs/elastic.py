"""Async inference workers that follow the queue: none when it is empty, up to ``most``
while jobs wait.

Each endpoint's async invocations are jobs of kind ``inference:NAME``. A supervisor
thread looks at the queues every ``poll`` seconds (and at the endpoints every
``refresh`` seconds, to pick up new ones), and starts worker threads until there are as
many as waiting and running jobs, at most ``most``; a thread ends when it has found no
job for ``linger`` seconds, so a job arriving soon after another starts at once.
Webhook notifications are served by the same threads. Every ``SWEEP`` seconds it also
expires what is due and records the ends no worker wrote (:mod:`shipyard.serving.
asynchronous.sweep`).

>>> with ElasticWorkers(runtime, most=4):     # doctest: +SKIP
...     uvicorn.run(app)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING

from shipyard.jobs.handlers import JobHandlers
from shipyard.jobs.webhooks import JOB_KIND as WEBHOOK
from shipyard.jobs.webhooks import LEASE as WEBHOOK_LEASE
from shipyard.jobs.webhooks import run_webhook
from shipyard.jobs.worker import WorkerPool

if TYPE_CHECKING:
    from shipyard.runtime import Runtime

log = logging.getLogger(__name__)

LINGER = 5.0  # seconds an idle thread keeps looking (every 0.05 s) before it ends
REFRESH = 30.0  # seconds between looks at the list of endpoints
SWEEP = 10.0  # seconds between sweeps for jobs that ended with no worker (expired, died)


def async_handlers(
    runtime: Runtime, endpoints: Sequence[str] | None, *, lease: timedelta | None = None
) -> JobHandlers:
    """Handlers for ``endpoints``' async invocations (every endpoint's when None) and for
    webhooks."""
    handlers = JobHandlers()
    handlers.register(WEBHOOK, run_webhook, lease=WEBHOOK_LEASE)
    add_endpoints(runtime, handlers, endpoints, lease=lease)
    return handlers


def add_endpoints(
    runtime: Runtime,
    handlers: JobHandlers,
    endpoints: Sequence[str] | None,
    *,
    lease: timedelta | None = None,
) -> None:
    """Register the async handler for each of ``endpoints`` (every endpoint when None)."""
    from shipyard.serving.asynchronous.config import job_kind
    from shipyard.serving.asynchronous.job import LEASE, run_async_inference

    names = endpoints if endpoints is not None else _endpoint_names(runtime)
    for name in names:
        if job_kind(name) not in handlers:
            handlers.register(job_kind(name), run_async_inference, lease=lease or LEASE)


def _endpoint_names(runtime: Runtime) -> list[str]:
    return [endpoint.name for endpoint in runtime.control.endpoints()]


class ElasticWorkers:
    """Between 0 and ``most`` worker threads for async invocations, as the queue needs."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        most: int = 4,
        endpoints: Sequence[str] | None = None,
        poll: float = 1.0,
        refresh: float = REFRESH,
        lease: timedelta | None = None,
        linger: float = LINGER,
    ) -> None:
        self.runtime = runtime
        self.linger = linger
        self.most = max(int(most), 0)
        self.endpoints = None if endpoints is None else list(endpoints)
        self.poll = poll
        self.refresh = refresh
        self.lease = lease
        self.handlers = async_handlers(runtime, self.endpoints, lease=lease)
        self.pool = WorkerPool(runtime, self.handlers, threads=0, poll=timedelta(seconds=poll))
        self._settled: set[int] = set()  # jobs whose end the sweep has recorded
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._supervise, name="shipyard-elastic", daemon=True
        )

    def start(self) -> None:
        if self.most:
            self._thread.start()

    def stop(self, grace: float = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=grace)
        self.pool.stop(grace=grace)

    def waiting(self) -> int:
        """Jobs of this pool's kinds queued or running now."""
        total = 0
        for kind in self.handlers.kinds:
            counts = self.runtime.jobs.stats(kind).counts
            total += counts.get("queued", 0) + counts.get("running", 0)
        return total

    def _supervise(self) -> None:
        from shipyard.serving.asynchronous.sweep import sweep

        looked = swept = time.monotonic() - SWEEP
        while not self._stop.is_set():
            try:
                if self.endpoints is None and time.monotonic() - looked > self.refresh:
                    add_endpoints(self.runtime, self.handlers, None, lease=self.lease)
                    looked = time.monotonic()
                if time.monotonic() - swept > SWEEP:
                    kinds = [k for k in self.handlers.kinds if k != WEBHOOK]
                    sweep(self.runtime, kinds, self._settled)
                    swept = time.monotonic()
                wanted = min(self.most, self.waiting())
                if wanted > self.pool.live:
                    self.pool.grow(wanted - self.pool.live, linger=self.linger)
            except Exception:  # the database is away: look again after the pause
                log.warning("scaling the async workers failed", exc_info=True)
            self._stop.wait(self.poll)

    def __enter__(self) -> ElasticWorkers:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
