"""A pool of worker threads: claim a job, keep its lease alive, run its handler, end it.

Each thread claims the next job of the kinds there are handlers for (a kind at its
``concurrency`` limit in this process is left to others), runs the handler while a
:class:`~shipyard.stores.jobs.lease.LeaseKeeper` sends heartbeats, then completes the
job with the handler's result or fails it with the error. A failure that is the
caller's (bad input, not found, denied: a 4xx error) is final; others are retried
while attempts remain, unless the handler says ``retry=False``. A job claimed again
after its process died mid-run is failed at once when its handler is not
``repeatable``.

On :meth:`WorkerPool.stop` the threads claim nothing more and finish what they run,
for up to ``grace`` seconds; a job still running then is failed ("the server shut
down"), retried later if its handler allows, rather than left to its lease.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError
from shipyard.jsonsafe import jsonable
from shipyard.stores.jobs.lease import LeaseKeeper

if TYPE_CHECKING:
    from shipyard.jobs.handlers import JobHandler, JobHandlers
    from shipyard.runtime import Runtime
    from shipyard.stores.jobs import Job

log = logging.getLogger(__name__)

SHUTDOWN = "the server shut down while the job ran"
IDLE_POLL = 0.05  # seconds between claims of a lingering elastic thread


class WorkerPool:
    """``threads`` workers over ``runtime.jobs`` for the kinds in ``handlers``.

    >>> pool = WorkerPool(runtime, default_handlers(), threads=2)   # doctest: +SKIP
    >>> pool.start(); ...; pool.stop(grace=30)                     # doctest: +SKIP
    """

    def __init__(
        self,
        runtime: Runtime,
        handlers: JobHandlers,
        *,
        threads: int = 2,
        poll: timedelta = timedelta(seconds=2),
        name: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.handlers = handlers
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._threads_wanted = max(int(threads), 0)
        self._poll = poll.total_seconds()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # claims, and the counts of running jobs per kind
        self._running: Counter[str] = Counter()
        self._current: dict[int, tuple[Job, JobHandler, LeaseKeeper]] = {}
        self._threads: list[threading.Thread] = []
        self._started = self._threads_wanted  # numbers the threads grow() adds

    def start(self) -> None:
        for number in range(self._threads_wanted):
            thread = threading.Thread(
                target=self._loop, args=(number,), name=f"shipyard-worker-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def grow(self, count: int, *, linger: float = 0.0) -> None:
        """Start ``count`` more threads that end once they have found no job for ``linger``
        seconds (looking every ``IDLE_POLL``): an elastic pool (:mod:`shipyard.jobs.elastic`)
        adds them as the queue deepens, and a job arriving meanwhile starts at once."""
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            for _ in range(count):
                self._started += 1
                thread = threading.Thread(
                    target=self._loop,
                    args=(self._started, linger),
                    name=f"shipyard-worker-{self._started}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)

    @property
    def live(self) -> int:
        """Threads running now."""
        with self._lock:
            return sum(t.is_alive() for t in self._threads)

    def stop(self, grace: float = 30.0) -> None:
        """Claim nothing more; wait up to ``grace`` seconds for running jobs, then fail them."""
        self._stop.set()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=grace)
        with self._lock:
            left = list(self._current.values())
        for job, handler, keeper in left:
            keeper.stop()
            try:
                self.runtime.jobs.fail(keeper.job, SHUTDOWN, retry=handler.retry)
            except Exception:  # the lease's expiry will tell instead
                log.warning("could not release job %s on shutdown", job.id, exc_info=True)

    def run_once(self) -> Job | None:
        """Claim one job and run it here; the job as it ended (None when there was none)."""
        claimed = self._claim(f"{self.name}/once")
        if claimed is None:
            return None
        self._run(claimed)
        return self.runtime.jobs.get(claimed.id)

    def _loop(self, number: int, linger: float | None = None) -> None:
        """Claim and run jobs until stopped, or (``linger`` given) until idle that long."""
        worker = f"{self.name}/{number}"
        idle_since = time.monotonic()
        while not self._stop.is_set():
            try:
                job = self._claim(worker)
            except Exception:  # the database is away: try again after the pause
                log.warning("claiming a job failed", exc_info=True)
                job = None
            if job is None:
                if linger is not None and time.monotonic() - idle_since >= linger:
                    return
                self._stop.wait(self._poll if linger is None else IDLE_POLL)
                continue
            self._run(job)
            idle_since = time.monotonic()

    def _claim(self, worker: str) -> Job | None:
        with self._lock:
            kinds = [k for k in self.handlers.kinds if self._has_room(k)]
            if not kinds:
                return None
            longest = max(self.handlers.get(k).lease for k in kinds)  # type: ignore[union-attr]
            job = self.runtime.jobs.claim(kinds, worker=worker, lease=longest)
            if job is not None:
                self._running[job.kind] += 1
            return job

    def _has_room(self, kind: str) -> bool:
        handler = self.handlers.get(kind)
        return handler is not None and (
            handler.concurrency is None or self._running[kind] < handler.concurrency
        )

    def _run(self, job: Job) -> None:
        handler = self.handlers.get(job.kind)
        assert handler is not None  # only handled kinds are claimed
        try:
            if job.attempts > 1 and not handler.repeatable:
                self.runtime.jobs.fail(job, _not_repeated(job), retry=False)
                return
            self._run_handler(job, handler)
        finally:
            with self._lock:
                self._running[job.kind] -= 1

    def _run_handler(self, job: Job, handler: JobHandler) -> None:
        jobs = self.runtime.jobs
        with LeaseKeeper(jobs, job, lease=handler.lease) as keeper:
            with self._lock:
                self._current[job.id] = (job, handler, keeper)
            try:
                result = handler.run(self.runtime, job)
            except Exception as exc:
                log.info("job %s (%s) failed: %s", job.id, job.kind, exc)
                keeper.stop()
                jobs.fail(keeper.job, _describe(exc), retry=handler.retry and not _final(exc))
                return
            finally:
                with self._lock:
                    self._current.pop(job.id, None)
        if not jobs.complete(keeper.job, _result(result)):
            log.warning("job %s finished after its claim was lost; result dropped", job.id)


def _not_repeated(job: Job) -> str:
    return (
        f"attempt {job.attempts - 1} of this {job.kind} job stopped when the process running "
        "it died; a job of this kind is not run twice automatically (`shipyard jobs retry "
        f"{job.id}` runs it again)"
    )


def _final(exc: Exception) -> bool:
    """The caller's mistake (4xx): trying again gives the same answer."""
    return isinstance(exc, ShipyardError) and 400 <= exc.http_status < 500


def _describe(exc: Exception) -> str:
    if isinstance(exc, ShipyardError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _result(value: Any) -> Any:
    return jsonable(value)
