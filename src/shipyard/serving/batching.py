"""Adaptive micro-batching: concurrent requests for one variant share one predict call.

A model predicts 32 rows in little more time than one, so under load the data plane
stacks the checked arrays of requests that arrive together, predicts once and gives each
request its own slice of the result. It must cost nothing at one connection, so batching
is adaptive:

* a request that finds nothing queued and no predict running for its variant is
  dispatched at once (on the next turn of the event loop: requests that became ready in
  the same turn join it, but none is waited for);
* requests arriving while a predict runs are queued; the queue is dispatched when that
  predict ends, when it holds ``max_rows`` rows, or ``max_wait`` after its first request
  arrived, whichever comes first.

A batch never exceeds ``max_rows`` rows, except a single request larger than that, which
goes alone. If the batched predict fails (one request's values refused by the model, say),
each request of the batch is predicted alone, so only the offending one gets the error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shipyard.errors import BackendUnavailable

MAX_ROWS = 64  # rows per batch
MAX_WAIT = 0.002  # seconds the first queued request of a batch waits for others

Arrays = Mapping[str, np.ndarray]
PredictFn = Callable[[Arrays, int], Awaitable[Any]]


@dataclass
class _Request:
    arrays: Arrays
    rows: int
    result: asyncio.Future[Any] = field(repr=False)


class Batcher:
    """Combines concurrent :meth:`submit` calls into calls of ``predict(arrays, rows)``.

    ``predict`` is awaited with the stacked arrays and must return one prediction per row
    (along the first axis); ``on_batch(requests, rows)`` is told each batch's size. One
    batcher belongs to one event loop and one variant.
    """

    def __init__(
        self,
        predict: PredictFn,
        *,
        max_rows: int = MAX_ROWS,
        max_wait: float = MAX_WAIT,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> None:
        self._predict = predict
        self.max_rows = max_rows
        self.max_wait = max_wait
        self._on_batch = on_batch
        self._pending: list[_Request] = []
        self._pending_rows = 0
        self._running = 0  # batches whose predict has not ended
        self._dispatch_at: float | None = None  # loop time a dispatch is scheduled for
        self._handle: asyncio.TimerHandle | asyncio.Handle | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # strong references while they run

    async def submit(self, arrays: Arrays, rows: int) -> Any:
        """The predictions for ``arrays`` (``rows`` rows), predicted with whatever else
        is submitted meanwhile; raises what predicting this request alone raises."""
        loop = asyncio.get_running_loop()
        request = _Request(arrays, rows, loop.create_future())
        self._pending.append(request)
        self._pending_rows += rows
        idle = self._running == 0 and len(self._pending) == 1
        self._schedule(0.0 if idle or self._pending_rows >= self.max_rows else self.max_wait)
        return await request.result

    def _schedule(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        if self._dispatch_at is not None and self._dispatch_at <= when:
            return  # a dispatch at least as soon is already scheduled
        if self._handle is not None:
            self._handle.cancel()
        self._dispatch_at = when
        if delay <= 0:
            self._handle = loop.call_soon(self._dispatch)
        else:
            self._handle = loop.call_later(delay, self._dispatch)

    def _dispatch(self) -> None:
        self._handle = None
        self._dispatch_at = None
        pending = [r for r in self._pending if not r.result.done()]  # drop cancelled callers
        if not pending:
            self._pending, self._pending_rows = [], 0
            return
        batch, rows = [pending[0]], pending[0].rows
        for request in pending[1:]:
            if rows + request.rows > self.max_rows:
                break
            batch.append(request)
            rows += request.rows
        self._pending = pending[len(batch) :]
        self._pending_rows = sum(r.rows for r in self._pending)
        self._running += 1
        task = asyncio.get_running_loop().create_task(self._run(batch, rows))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if self._pending_rows >= self.max_rows:
            self._schedule(0.0)  # a full batch more: no reason to wait
        elif self._pending:
            self._schedule(self.max_wait)

    async def _run(self, batch: list[_Request], rows: int) -> None:
        try:
            if self._on_batch is not None:
                self._on_batch(len(batch), rows)
            if len(batch) == 1:
                await self._alone(batch[0])
            else:
                await self._together(batch, rows)
        finally:
            self._running -= 1
            if self._pending:
                self._schedule(0.0)  # they waited for this predict already

    async def _together(self, batch: list[_Request], rows: int) -> None:
        try:
            stacked = {
                name: np.concatenate([r.arrays[name] for r in batch]) for name in batch[0].arrays
            }
            predictions = await self._predict(stacked, rows)
            if len(predictions) != rows:
                raise ValueError(f"{len(predictions)} predictions for {rows} rows")
        except BackendUnavailable as exc:  # too slow or busy: alone would be no better
            for request in batch:
                _settle(request, exc=exc)
            return
        except Exception:  # a bad request among them: each alone, so only it fails
            for request in batch:
                await self._alone(request)
            return
        start = 0
        for request in batch:
            _settle(request, value=predictions[start : start + request.rows])
            start += request.rows

    async def _alone(self, request: _Request) -> None:
        if request.result.done():
            return
        try:
            value = await self._predict(request.arrays, request.rows)
        except Exception as exc:
            _settle(request, exc=exc)
        else:
            _settle(request, value=value)


def _settle(request: _Request, *, value: Any = None, exc: BaseException | None = None) -> None:
    if request.result.done():  # the caller went away (a cancelled request)
        return
    if exc is not None:
        request.result.set_exception(exc)
    else:
        request.result.set_result(value)
