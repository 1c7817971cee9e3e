"""The heartbeat: while a tracker has open runs, a thread tells the store they are alive.

Every ``interval`` seconds the thread writes, for every open run of its tracker,
the time and a deadline ``MISSED_BEATS`` intervals later. A run still running past
its deadline reads as killed (:mod:`shipyard.stores.tracking.liveness`), so a
process that dies without ending its runs (SIGKILL, out of memory, power loss)
leaves them reading as killed a few intervals later instead of running forever.

A failed beat is retried at the next interval: a short database outage costs
nothing, a long one makes the runs read as killed until the beats resume. The
thread runs while there are open runs, and exits at the first beat that finds
none (so a loop of short runs reuses one thread). After ``os.fork`` the child
starts with no runs and no thread: the parent's runs are the parent's to keep alive.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from datetime import UTC, datetime, timedelta

from shipyard.stores.tracking.base import TrackingStore

HEARTBEAT_INTERVAL = 30.0  # seconds between beats
# Beats a run may miss before it reads as killed: a busy database or a process that
# holds the GIL for a while delays a beat or two without killing the run.
MISSED_BEATS = 4


class Heartbeat:
    """Keeps the runs it is given alive in ``store`` until they are discarded.

    >>> from shipyard.stores.metadata import open_metadata_store
    >>> from shipyard.stores.tracking import tracking_store_for
    >>> meta = open_metadata_store("sqlite://"); _ = meta.upgrade()
    >>> Heartbeat(tracking_store_for(meta), interval=30).lifetime
    datetime.timedelta(seconds=120)
    """

    def __init__(self, store: TrackingStore, *, interval: float = HEARTBEAT_INTERVAL) -> None:
        self._store = store
        self.interval = interval
        self.lifetime = timedelta(seconds=interval * MISSED_BEATS)
        self.last_error: BaseException | None = None  # of the last beat, None once one succeeds
        self._runs: set[int] = set()
        self._reset_sync()
        os.register_at_fork(after_in_child=lambda ref=weakref.ref(self): _reset_in_child(ref))

    def _reset_sync(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def deadline(self, at: datetime) -> datetime:
        """Until when a run that beat at ``at`` counts as alive."""
        return at + self.lifetime

    def add(self, run_id: int) -> None:
        """Keep ``run_id`` alive (its row may still be queued: its start is its first beat)."""
        with self._lock:
            self._runs.add(run_id)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="shipyard-tracking-heartbeat", daemon=True
                )
                self._thread.start()

    def discard(self, run_id: int) -> None:
        """Stop beating for ``run_id`` (it ended)."""
        with self._lock:
            self._runs.discard(run_id)

    def _loop(self) -> None:
        while True:
            time.sleep(self.interval)
            with self._lock:
                ids = sorted(self._runs)
                if not ids:
                    self._thread = None
                    return
            self._beat(ids)

    def _beat(self, ids: list[int]) -> None:
        now = datetime.now(UTC)
        try:
            self._store.heartbeat(ids, now, self.deadline(now))
        except Exception as exc:  # retried at the next interval; see the module docstring
            self.last_error = exc
        else:
            self.last_error = None

    def _after_fork(self) -> None:
        self._runs = set()
        self._reset_sync()


def _reset_in_child(ref: weakref.ref[Heartbeat]) -> None:
    heartbeat = ref()
    if heartbeat is not None:
        heartbeat._after_fork()
