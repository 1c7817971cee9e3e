"""The server's background work: the scheduler and the worker pool, started and stopped
together around the HTTP server.

>>> with BackgroundWork(runtime, workers=2):   # doctest: +SKIP
...     uvicorn.run(app)
"""

from __future__ import annotations

from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING

from shipyard.jobs.handlers import JobHandlers, default_handlers
from shipyard.jobs.scheduler import TICK, Scheduler
from shipyard.jobs.worker import WorkerPool

if TYPE_CHECKING:
    from shipyard.runtime import Runtime


class BackgroundWork:
    """A scheduler (unless ``scheduler=False``) and ``workers`` worker threads (0: none)."""

    def __init__(
        self,
        runtime: Runtime,
        handlers: JobHandlers | None = None,
        *,
        workers: int = 2,
        scheduler: bool = True,
        tick: timedelta = TICK,
        grace: float = 30.0,
    ) -> None:
        self.scheduler = Scheduler(runtime.control, runtime.jobs, every=tick) if scheduler else None
        self.pool = WorkerPool(runtime, handlers or default_handlers(), threads=workers)
        self.grace = grace

    def start(self) -> None:
        if self.scheduler is not None:
            self.scheduler.start()
        self.pool.start()

    def stop(self) -> None:
        """Stop firing, stop claiming, let running jobs finish for ``grace`` seconds."""
        if self.scheduler is not None:
            self.scheduler.stop()
        self.pool.stop(grace=self.grace)

    def __enter__(self) -> BackgroundWork:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
