"""Keep a claimed job's lease alive from a background thread while its work runs.

Work that takes longer than a lease (a pipeline step, a batch transform) cannot send
heartbeats itself: it is busy in a library call. A :class:`LeaseKeeper` sends them
from a daemon thread, every third of the lease, so one missed heartbeat (a slow
database) does not lose the claim. When the store says the claim is gone (cancelled,
or expired and taken), ``lost`` is set and the work can stop at its next chance.

>>> with LeaseKeeper(store, job, lease=timedelta(seconds=60)) as keeper:  # doctest: +SKIP
...     for part in parts:
...         if keeper.lost.is_set():
...             break
...         keeper.report_progress({"part": part})
...         work(part)
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from types import TracebackType
from typing import Any

from shipyard.errors import Conflict
from shipyard.stores.jobs.base import Job, JobStore

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Heartbeats for ``job`` every ``lease / 3`` (or ``every``) until the block ends."""

    def __init__(
        self, store: JobStore, job: Job, *, lease: timedelta, every: timedelta | None = None
    ) -> None:
        self.store = store
        self.lease = lease
        self.lost = threading.Event()
        self._job = job
        self._every = (every or lease / 3).total_seconds()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._beat, name=f"shipyard-lease-{job.id}", daemon=True
        )

    @property
    def job(self) -> Job:
        """The job as last written (its lease token does not change while it is held)."""
        with self._lock:
            return self._job

    def report_progress(self, progress: Any) -> None:
        """Record what the work is doing now; a lost claim sets ``lost`` instead of raising."""
        if self.lost.is_set():
            return
        try:
            updated = self.store.report_progress(self.job, progress)
        except Conflict:
            self.lost.set()
            return
        with self._lock:
            self._job = updated

    def _beat(self) -> None:
        while not self._stop.wait(self._every):
            try:
                updated = self.store.heartbeat(self.job, lease=self.lease)
            except Conflict:
                self.lost.set()
                return
            except Exception:  # a database hiccup: the next beat may get through in time
                log.warning("heartbeat for job %s failed", self._job.id, exc_info=True)
                continue
            with self._lock:
                self._job = updated

    def stop(self) -> None:
        """Stop sending heartbeats (the job's owner completes or fails it next)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
