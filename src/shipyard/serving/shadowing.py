"""Shadow variants' copies of answered requests, run a batch at a time off the request path.

Once the primary has answered, a sampled copy of the request (the caller's columns,
its row count, request id, key and stated time) goes on a bounded queue, and the request
is done: its connection serves the next one at once. A task on the event loop takes the
queue every ``poll_seconds`` and, per shadow variant, checks (and enriches) each copy,
predicts the batch in one model call, and captures each copy under its request id as
the shadow variant, which only monitoring and ``deployments report`` ever see.

A model predicts many rows in little more time than one, so a batch's own time would
flatter the shadow: the first copy of each batch is predicted alone, and its model time
is the one every copy of the batch carries, beside the primary's own. A copy the model
refuses fails alone, as it would on the request path. A full queue (``queue_size``
copies, or ``queue_bytes`` of the bodies they came from) drops the copy and counts it
(``shipyard_shadow_dropped_total``): a shadow never slows the primary.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter

from shipyard.errors import ShipyardError
from shipyard.serving.capture import RequestCapture
from shipyard.stores.control.base import Endpoint, Variant

log = logging.getLogger(__name__)

QUEUE_SIZE = 10_000  # copies waiting, at most
QUEUE_BYTES = 64 << 20  # bytes of request bodies waiting, at most: a body may be a megabyte
POLL_SECONDS = 0.05  # how often the queue is taken
MAX_ROWS = 256  # rows per batched model call
MAX_COPIES = 256  # copies checked and predicted before the loop serves requests again
INLINE_ROWS = 256  # a matrix model predicts this many on the event loop


@dataclass
class ShadowCopy:
    """One answered request, as a shadow variant gets it."""

    endpoint: Endpoint
    variant: Variant
    request_id: str
    key: str | None
    sent: Mapping[str, Any]  # the caller's columns, as parsed
    rows: int
    at: datetime | None  # the time the caller stated (a replay)
    extra_columns: str | None
    # The primary's checked arrays and the schema that checked them: the same arrays
    # for a shadow of the same schema (most: a retrained model), so it skips the check.
    checked: tuple[Any, Mapping[str, np.ndarray]] | None = None
    size: int = 0  # the request body's bytes: what the copy's columns hold, about


@dataclass
class _Prepared:
    copy: ShadowCopy
    capture: RequestCapture
    arrays: Mapping[str, np.ndarray]


class Shadows:
    """The queue of shadow copies and the event-loop task that runs them. ``serving`` is
    the app's :class:`~shipyard.serving.app.Serving` (its models, enrich and predict
    calls, capture writer and metrics)."""

    def __init__(
        self,
        serving: Any,
        registry: CollectorRegistry | None,
        *,
        queue_size: int = QUEUE_SIZE,
        queue_bytes: int = QUEUE_BYTES,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.serving = serving
        self.queue_size = queue_size
        self.queue_bytes = queue_bytes
        self._bytes = 0  # of the copies queued (only the event loop changes it)
        self.poll_seconds = poll_seconds
        self._queue: deque[ShadowCopy] = deque()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.dropped = Counter(
            "shipyard_shadow_dropped",
            "Copies of requests for shadow variants dropped because their queue was full.",
            ["endpoint"],
            registry=registry,
        )

    def offer(self, copies: list[ShadowCopy]) -> None:
        """Queue ``copies`` (on the event loop); never waits."""
        if not self._closing and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._run())
        for copy in copies:
            full = self._bytes + copy.size > self.queue_bytes and self._queue
            if full or len(self._queue) >= self.queue_size:
                self.dropped.labels(copy.endpoint.name).inc()
            else:
                self._queue.append(copy)
                self._bytes += copy.size

    async def drain(self) -> None:
        """Stop the task once its batch is done (never mid-batch: the copies it took
        would be lost), then run every copy still queued (at shutdown)."""
        self._closing = True
        if self._task is not None:
            await self._task
            self._task = None
        await self._take()

    async def _run(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self._take()
            except Exception:  # a shadow's failure is its own: log it, keep serving
                log.exception("shadow copies failed")

    async def _take(self) -> None:
        groups: dict[tuple[str, str, str, int], list[ShadowCopy]] = {}
        while self._queue:
            copy = self._queue.popleft()
            self._bytes -= copy.size
            where = (copy.endpoint.name, copy.variant.name, copy.variant.model,
                     copy.variant.version)  # fmt: skip
            groups.setdefault(where, []).append(copy)
        for copies in groups.values():
            for first in range(0, len(copies), MAX_COPIES):  # a backlog in slices
                await self._batch(copies[first : first + MAX_COPIES])
                await asyncio.sleep(0)  # let requests in between slices

    async def _batch(self, copies: list[ShadowCopy]) -> None:
        variant = copies[0].variant
        try:
            predictor = await self.serving.loaded(variant)
        except Exception as exc:
            for copy in copies:
                self._failed(copy, self._capture(copy), exc)
            return
        prepared = []
        for copy in copies:
            capture = self._capture(copy)
            try:
                prepared.append(await self._check(copy, capture, predictor))
            except Exception as exc:
                self._failed(copy, capture, exc)
        if not prepared:
            return
        started = time.perf_counter()
        try:  # the first alone: the shadow's latency, as a caller would meet it
            first = await self._predict(predictor, prepared[0].arrays, prepared[0].copy.rows)
        except Exception as exc:
            self._failed(prepared[0].copy, prepared[0].capture, exc)
            first = None
        alone = time.perf_counter() - started
        if first is not None:
            self._predicted(prepared[0], predictor, first, alone)
        rest = prepared[1:]
        while rest:
            batch, rows = _batch_of(rest)
            rest = rest[len(batch) :]
            await self._together(batch, rows, predictor, alone)

    async def _together(
        self, batch: list[_Prepared], rows: int, predictor: Any, alone: float
    ) -> None:
        try:
            names = list(batch[0].arrays)
            stacked = {n: np.concatenate([p.arrays[n] for p in batch]) for n in names}
            predictions = await self._predict(predictor, stacked, rows)
            if len(predictions) != rows:
                raise ValueError(f"{len(predictions)} predictions for {rows} rows")
        except Exception:  # a copy the model refuses among them: each alone
            for one in batch:
                try:
                    found = await self._predict(predictor, one.arrays, one.copy.rows)
                except Exception as exc:
                    self._failed(one.copy, one.capture, exc)
                else:
                    self._predicted(one, predictor, found, alone)
            return
        start = 0
        for one in batch:
            end = start + one.copy.rows
            self._predicted(one, predictor, predictions[start:end], alone)
            start = end

    async def _predict(self, predictor: Any, arrays: Mapping[str, np.ndarray], rows: int) -> Any:
        """On the event loop for a matrix model (a batch costs it about one row's time,
        less than a hop to a worker thread, whose contention for the interpreter costs
        the requests more); else as the request path predicts."""
        if predictor.matrix and rows <= INLINE_ROWS:
            return predictor.predict(arrays)
        return await self.serving.predict(predictor, arrays, rows)

    def _capture(self, copy: ShadowCopy) -> RequestCapture:
        capture = RequestCapture(self.serving.capture, copy.request_id, copy.key)
        capture.at = copy.at
        capture.endpoint(copy.endpoint.spec)
        capture.model = f"{copy.variant.model}@{copy.variant.version}"
        capture.parsing()
        return capture

    async def _check(self, copy: ShadowCopy, capture: RequestCapture, predictor: Any) -> _Prepared:
        from shipyard.serving.app import taken

        columns = taken(dict(copy.sent), predictor, copy.extra_columns)
        capture.columns = columns
        schema = predictor.request_schema
        if copy.checked is not None and copy.checked[0] == schema:
            arrays = copy.checked[1]
        else:
            arrays = schema.convert(columns, copy.rows)
        capture.checked(arrays)
        if predictor.enrichment is not None:
            as_of = copy.at or datetime.now(UTC)
            enriched = await self.serving.enrich(copy.endpoint, predictor, arrays, copy.rows, as_of)
            arrays = {**arrays, **enriched.arrays}
            capture.enriched(enriched, arrays)
        return _Prepared(copy, capture, arrays)

    def _predicted(self, one: _Prepared, predictor: Any, predictions: Any, alone: float) -> None:
        one.capture.predicted(predictor, predictions)
        one.capture.model_time = alone
        self._finish(one.copy, one.capture, 200)

    def _failed(self, copy: ShadowCopy, capture: RequestCapture, exc: BaseException) -> None:
        if isinstance(exc, ShipyardError):
            capture.error = {**exc.to_dict(), "request_id": copy.request_id}
            status = exc.http_status
        else:
            log.error("shadow copy of %s failed", copy.request_id, exc_info=exc)
            status = 500
        self._finish(copy, capture, status)

    def _finish(self, copy: ShadowCopy, capture: RequestCapture, status: int) -> None:
        endpoint, variant = copy.endpoint.name, copy.variant.name
        ended = time.perf_counter()
        capture.done(endpoint, variant, status, ended)
        self.serving.requests.labels(endpoint, variant, str(status)).inc()
        self.serving.latency.labels(endpoint, variant).observe(capture.own_seconds(ended))


def _batch_of(prepared: list[_Prepared]) -> tuple[list[_Prepared], int]:
    """The longest run from the start of ``prepared`` of one shape within MAX_ROWS rows."""
    names = list(prepared[0].arrays)
    batch, rows = [prepared[0]], prepared[0].copy.rows
    for one in prepared[1:]:
        if rows + one.copy.rows > MAX_ROWS or list(one.arrays) != names:
            break
        batch.append(one)
        rows += one.copy.rows
    return batch, rows
