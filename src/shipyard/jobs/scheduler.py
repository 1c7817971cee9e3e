"""The scheduler: every few seconds, fire the interval schedules that are due.

Schedules live in the control store (``shipyard schedules add``). A tick asks the
store to fire what is due now: each due schedule enqueues one job and moves to its
next interval in one compare-and-set, so when several servers tick at once each
interval is fired by exactly one of them. The jobs are then run by whichever
server's workers claim them.

A tick also expires the job queue: queued jobs past their time-to-live, and running
jobs whose lease ran out on their last attempt (a pipeline run whose process died
shows as failed from then on).

A tick that fails (the database is away) is logged and the next one tries again;
a schedule missed meanwhile fires once when the store is back, not once per missed
interval.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipyard.stores.control import ControlStore, Schedule
    from shipyard.stores.jobs import JobStore

log = logging.getLogger(__name__)

TICK = timedelta(seconds=5)


class Scheduler:
    """Fires due schedules every ``every`` from a daemon thread (or on :meth:`tick`).

    >>> scheduler = Scheduler(runtime.control, runtime.jobs)   # doctest: +SKIP
    >>> scheduler.start(); ...; scheduler.stop()               # doctest: +SKIP
    """

    def __init__(
        self,
        control: ControlStore,
        jobs: JobStore,
        *,
        every: timedelta = TICK,
        by: str | None = None,
    ) -> None:
        self.control = control
        self.jobs = jobs
        self.every = every
        self.by = by or f"scheduler@{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self, now: datetime | None = None) -> list[tuple[Schedule, int]]:
        """Fire what is due at ``now`` and expire the queue; the (schedule, job id) fired."""
        now = now or datetime.now(UTC)
        fired = self.control.fire_due(now, by=self.by)
        for schedule, job_id in fired:
            log.info("schedule %s fired job %s", schedule.name, job_id)
        self.jobs.expire(now=now)
        return fired

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="shipyard-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.warning("scheduler tick failed; trying again in %s", self.every, exc_info=True)
            self._stop.wait(self.every.total_seconds())
