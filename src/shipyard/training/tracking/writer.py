"""The background writer: logging calls queue rows; a thread writes them in batches.

A logging call appends a tuple to a deque and returns: no lock, no I/O. The
first row of a batch wakes the writer thread, which waits up to ``interval``
seconds (less once ``batch_size`` rows are queued) and then writes everything
queued in one transaction. ``flush()`` writes synchronously from the caller's
thread; a lock keeps batches in the order they were queued.

New runs are queued too (``add_run``): a run's row is written with the first
batch after it started, at the latest ``interval`` seconds later, or with the
run's end if that comes first, so a short run costs one transaction. Rows are
drained runs last, so a batch never holds a row of a run that it does not
create or that an earlier batch did not.

The thread is started on demand and exits after a few idle seconds, so an idle
tracker costs no thread. If a write fails, its rows go back to the front of
the queue and the error is raised by the next ``flush()`` (``end()`` flushes),
so nothing is dropped silently. After ``os.fork`` the child starts afresh with
an empty queue: what was queued before the fork is the parent's to write.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import deque
from collections.abc import Sequence
from typing import Any

from shipyard.stores.tracking.base import (
    MetricRow,
    NewRun,
    ParamRow,
    RunEnd,
    TagRow,
    TrackingStore,
)

IDLE_EXIT_SECONDS = 2.0


class BatchWriter:
    """Batches new runs, params, metrics and tags for one tracking store.

    >>> from shipyard.stores.metadata import open_metadata_store
    >>> from shipyard.stores.tracking import tracking_store_for
    >>> meta = open_metadata_store("sqlite://"); _ = meta.upgrade()
    >>> writer = BatchWriter(tracking_store_for(meta))
    >>> writer.flush()  # nothing queued: nothing written
    """

    def __init__(
        self,
        store: TrackingStore,
        *,
        interval: float = 0.1,
        batch_size: int = 1000,
        max_pending: int = 200_000,
        background: bool = True,
    ) -> None:
        self._store = store
        self.interval = interval
        self.batch_size = batch_size
        self.max_pending = max_pending
        # A shared single-connection database (in-memory SQLite) cannot take a
        # second thread's transactions: then batches are written by the caller.
        self.background = background
        self.metrics: deque[MetricRow] = deque()
        self.params: deque[ParamRow] = deque()
        self.tags: deque[TagRow] = deque()
        self.runs: deque[NewRun] = deque()
        # Ids of queued runs whose row is not committed yet (queued or being written).
        self.unwritten: set[int] = set()
        self.error: BaseException | None = None
        self._armed = False
        # add_metric takes its slow path once this many metric rows are queued: 0 while
        # disarmed (to arm), then batch_size (to wake the thread early), then max_pending
        # (to push back). One comparison per logged value instead of several.
        self._signal_at = 0
        self._reset_sync()
        # A forked child must not inherit the parent's queue, locks or (absent) thread.
        os.register_at_fork(after_in_child=lambda ref=weakref.ref(self): _reset_in_child(ref))

    def _reset_sync(self) -> None:
        self._wake = threading.Event()
        self._full = threading.Event()
        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- queueing (the hot path) -----------------------------------------------------

    def add_metric(self, row: MetricRow) -> None:
        """Queue one metric row."""
        metrics = self.metrics
        metrics.append(row)
        if len(metrics) >= self._signal_at:
            self._after_add(len(metrics))

    def add_metrics(self, rows: Sequence[MetricRow]) -> None:
        """Queue metric rows."""
        self.metrics.extend(rows)
        self._after_add(len(self.metrics))

    def add_params(self, rows: Sequence[ParamRow]) -> None:
        """Queue param rows."""
        self.params.extend(rows)
        self._after_add(len(self.params))

    def add_tags(self, rows: Sequence[TagRow]) -> None:
        """Queue tag rows."""
        self.tags.extend(rows)
        self._after_add(len(self.tags))

    def add_run(self, run: NewRun) -> None:
        """Queue a new run (with its reserved ``id``); its rows may be queued right after."""
        assert run.id is not None, "a queued run needs a reserved id"
        self.unwritten.add(run.id)
        self.runs.append(run)
        self._after_add(len(self.runs))

    def _after_add(self, queued: int) -> None:
        if not self._armed:
            self._arm()
        if queued >= self.batch_size:
            self._batch_ready()

    def _arm(self) -> None:
        self._signal_at = self.batch_size
        if not self.background:
            self._armed = True
            return
        with self._state_lock:
            self._armed = True
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="shipyard-tracking-writer", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def _batch_ready(self) -> None:
        if not self.background or self.pending() >= self.max_pending:
            self.flush()  # back-pressure: the caller writes when the thread falls behind
        else:
            self._signal_at = self.max_pending
            if not self._full.is_set():
                self._full.set()

    def _after_fork(self) -> None:
        self.metrics.clear()
        self.params.clear()
        self.tags.clear()
        self.runs.clear()
        self.unwritten.clear()
        self._armed = False
        self._signal_at = 0
        self._reset_sync()

    # -- writing ------------------------------------------------------------------------

    def flush(self, ends: Sequence[RunEnd] = ()) -> None:
        """Write everything queued now, with ``ends`` in the same transaction.

        Raises the store's error if the write fails (the rows stay queued).
        """
        if not self.background:
            self._armed = False
            self._signal_at = 0
        self._write_pending(ends)
        self.error = None

    def pending(self) -> int:
        """How many rows (and new runs) are queued and not yet written."""
        return len(self.metrics) + len(self.params) + len(self.tags) + len(self.runs)

    def _write_pending(self, ends: Sequence[RunEnd] = ()) -> None:
        with self._write_lock:
            # Runs last: every row drained belongs to a run queued before it.
            metrics, params, tags = _drain(self.metrics), _drain(self.params), _drain(self.tags)
            runs = _drain(self.runs)
            if not (metrics or params or tags or ends or runs):
                return
            try:
                self._store.log_batch(
                    params=params, metrics=metrics, tags=tags, ends=ends, runs=runs
                )
            except BaseException:
                # Back to the front of the queue, in order, ahead of rows queued since.
                self.metrics.extendleft(reversed(metrics))
                self.params.extendleft(reversed(params))
                self.tags.extendleft(reversed(tags))
                self.runs.extendleft(reversed(runs))
                raise
            if runs:
                self.unwritten.difference_update(run.id for run in runs)

    def _loop(self) -> None:
        while True:
            if not self._wake.wait(IDLE_EXIT_SECONDS):
                with self._state_lock:
                    if not self._armed:
                        self._thread = None
                        return
                continue
            self._full.wait(self.interval)
            self._wake.clear()
            self._full.clear()
            # Disarm before draining: a row queued after this re-arms and wakes us again.
            self._armed = False
            self._signal_at = 0
            try:
                self._write_pending()
            except Exception as exc:  # kept for the next flush(), which retries and raises
                self.error = exc


def _reset_in_child(ref: weakref.ref[BatchWriter]) -> None:
    writer = ref()
    if writer is not None:
        writer._after_fork()


def _drain(queue: deque[Any]) -> list[Any]:
    # popleft is atomic; swapping the deque would race with a concurrent append.
    return [queue.popleft() for _ in range(len(queue))]
