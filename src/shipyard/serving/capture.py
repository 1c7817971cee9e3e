"""Capture of sampled invocations to Parquet, off the request path.

A request is sampled by hashing its request id against the endpoint's ``capture_rate``
(:func:`sampled`), so a replay with the same ids samples the same requests. The handler
hands a :class:`CaptureRecord` to :meth:`CaptureWriter.offer`, which never blocks: the
record goes on a bounded queue, or is dropped and counted
(``shipyard_capture_dropped_total``) when the queue is full (``queue_size`` records, or
``queue_bytes`` of encoded records: a record holds its request's input). A background thread
batches records into Parquet files, one per endpoint, variant and hour::

    <home>/capture/endpoint=NAME/variant=V/date=YYYY-MM-DD/hour=HH/part-<uuid>.parquet

flushing every ``flush_records`` records, every ``flush_seconds`` and at
:meth:`CaptureWriter.close`. The model's scores (``predict_proba`` when the model has
it) are computed on that thread too, so a captured request costs the caller nothing
but the ``offer``. :func:`read_capture` reads an endpoint's files back as one table.

Columns: ``request_id``, ``time`` (UTC: when the request was made, which a replay
states with ``X-Shipyard-Event-Time``; it also picks the hour partition),
``replayed`` (whether the caller stated that time), ``arrived`` (when the request
reached the server: ``time`` unless replayed; null in files written before it; what a
deployment's guards read, so a replay can drive a deployment), ``endpoint``, ``variant``,
``key``, ``model`` (``MODEL@VERSION`` that answered; null in files written before it),
``status``, the latency of each stage (``parse_seconds``: parse and check,
``enrich_seconds``: online features, ``model_seconds``: the model and its
postprocess step, ``total_seconds``) and, as JSON text (the input of a refused request
may hold any JSON value, so no one Arrow type fits): ``input`` (the raw input: the
parsed columns, name -> values), ``enriched`` (the columns the online store filled,
name -> values), ``statuses`` (their statuses, name -> one per row: present, missing,
outside_ttl, future), ``scores`` (the model's scores before the lossy step:
probabilities per row when the model has them, else the raw predictions), ``output``
(the answer the caller got) and ``error`` (the error body, with its ``problems``).
Beside the text, each file keeps the ``input``, ``enriched``, ``scores`` and ``output``
JSON parsed into Arrow types (``parsed_input`` ...; their types vary from file to file,
so :func:`read_capture` leaves them out): what monitoring reads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from prometheus_client import CollectorRegistry, Counter

log = logging.getLogger(__name__)

QUEUE_SIZE = 10_000
# The queue's bound in bytes of encoded text: a record holds its request's input, which
# may be a megabyte, so a count alone would not bound the memory the queue takes.
QUEUE_BYTES = 64 << 20
FLUSH_RECORDS = 1_000
FLUSH_SECONDS = 2.0
POLL_SECONDS = 0.1  # how often the writer looks for new records
_SCALE = float(1 << 64)


def sampled(request_id: str, rate: float) -> bool:
    """Whether ``request_id`` falls in the ``rate`` fraction captured (stable per id)."""
    if rate <= 0:
        return False
    if rate >= 1:
        return True
    digest = hashlib.blake2b(request_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE < rate


def capture_rate(spec: Mapping[str, Any]) -> float:
    """The endpoint spec's capture rate (1 when the spec predates the setting)."""
    return float(spec.get("capture_rate", 1.0))


def capture_parsed(spec: Mapping[str, Any]) -> bool:
    """Whether the endpoint keeps its captured JSON parsed too (off by default)."""
    return bool(spec.get("capture_parsed", False))


@dataclass
class CaptureRecord:
    """One captured request, as the handler knows it; turned into a row off the path."""

    request_id: str
    endpoint: str
    variant: str
    key: str | None
    status: int
    parse_seconds: float | None
    model_seconds: float | None
    total_seconds: float
    enrich_seconds: float | None = None
    columns: Mapping[str, Any] | None = None  # the parsed input
    arrays: Mapping[str, np.ndarray] | None = None  # the model's input, for the scores
    enriched: Mapping[str, np.ndarray] | None = None
    statuses: Mapping[str, list[str]] | None = None
    predictor: Any = None
    scores: Any = None  # when the postprocess step computed them on the request path
    predictions: Any = None  # the final output
    error: Mapping[str, Any] | None = None
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    replayed: bool = False
    arrived: datetime | None = None  # when it reached the server, if not at ``time``
    model: str | None = None  # MODEL@VERSION that answered
    parsed: bool = False  # keep its JSON parsed too (the endpoint's capture_parsed)
    # Set by encode(): the JSON columns of the row, and what its scores are computed from.
    texts: dict[str, str | None] | None = field(default=None, repr=False)
    score_input: Any = field(default=None, repr=False)
    size: int = field(default=0, repr=False)  # bytes held once encoded

    def encode(self) -> None:
        """Turn the request into what its row needs, on the offering thread: a few JSON
        strings, and one float matrix to score when the model takes one. A record then
        holds no dict of arrays while it waits for the writer: holding the request's
        objects for a tenth of a second cost the requests more than encoding them."""
        if self.texts is not None:
            return
        self.score_input = _score_input(self)
        scores = self.scores
        if scores is None and self.score_input is None and self.predictions is not None:
            scores = self.predictions  # nothing to score: a model's predictions are its scores
        self.texts = {
            "input": _json(self.columns),
            "enriched": _json(self.enriched),
            "statuses": _json(self.statuses),
            "output": _json(self.predictions),
            "scores": _json(scores),
            "error": _json(self.error),
        }
        self.columns = self.arrays = self.enriched = self.statuses = None
        self.scores = self.predictions = self.error = None
        if self.score_input is None:
            self.predictor = None
        self.size = sum(len(t) for t in self.texts.values() if t) + _nbytes(self.score_input)


class CaptureWriter:
    """A bounded queue of records and the thread writing them to Parquet under ``root``."""

    def __init__(
        self,
        root: str | Path,
        registry: CollectorRegistry | None = None,
        *,
        queue_size: int = QUEUE_SIZE,
        queue_bytes: int = QUEUE_BYTES,
        flush_records: int = FLUSH_RECORDS,
        flush_seconds: float = FLUSH_SECONDS,
        autostart: bool = True,
    ) -> None:
        self.root = Path(root)
        self.flush_records = flush_records
        self.flush_seconds = flush_seconds
        self.queue_size = queue_size
        self.queue_bytes = queue_bytes
        self._bytes = 0  # of the records queued; changed under _counting
        self._counting = threading.Lock()
        # A deque the writer polls, not a queue.Queue: a put on a Queue wakes the waiting
        # writer for each record, and those wake-ups cost the requests the interpreter
        # lock (a fifth of the throughput with every request captured).
        self._queue: deque[CaptureRecord] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._flushed = threading.Condition()
        self._requested = self._served = 0  # flushes asked for, and done
        self._thread = threading.Thread(target=self._run, name="shipyard-capture", daemon=True)
        self.dropped = Counter(
            "shipyard_capture_dropped",
            "Captured requests dropped because the capture queue was full.",
            ["endpoint"],
            registry=registry,
        )
        self.written = 0
        self.autostart = autostart  # False: nothing is written until flush or close
        # Called with (endpoint, variant, table) after each file is written: monitoring's
        # schema rules, which must see a broken caller at once (set by the serving app).
        self.on_write: Callable[[str, str, Any], Any] | None = None
        self._starting = threading.Lock()

    def start(self) -> None:
        """Start the writing thread (the first :meth:`offer` does)."""
        with self._starting:
            if not self._thread.is_alive() and not self._stop.is_set():
                self._thread.start()

    def offer(self, record: CaptureRecord) -> bool:
        """Queue ``record`` for writing; never blocks (False, and counted, when full)."""
        if self.autostart and not self._thread.is_alive():
            self.start()
        if len(self._queue) >= self.queue_size:
            self.dropped.labels(record.endpoint).inc()
            return False
        record.encode()
        with self._counting:
            if self._bytes + record.size > self.queue_bytes and self._queue:
                self.dropped.labels(record.endpoint).inc()
                return False
            self._bytes += record.size
        self._queue.append(record)  # atomic; the writer finds it on its next poll
        if len(self._queue) >= self.flush_records:
            self._wake.set()
        return True

    def flush(self, timeout: float = 10.0) -> None:
        """Write every record offered before this call, and wait until it is written."""
        if not self._thread.is_alive():
            self._write(_Pending.of(self._drain([])))
            return
        with self._flushed:
            self._requested += 1
            wanted = self._requested
            self._wake.set()
            self._flushed.wait_for(lambda: self._served >= wanted, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread after writing every record queued."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        else:
            self._write(_Pending.of(self._drain([])))

    def _drain(self, records: list[CaptureRecord]) -> list[CaptureRecord]:
        taken = 0
        while True:
            try:
                record = self._queue.popleft()
            except IndexError:
                break
            records.append(record)
            taken += record.size
        with self._counting:
            self._bytes -= taken
        return records

    def _run(self) -> None:
        pending = _Pending()
        while not self._stop.is_set():
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
            wanted = self._requested  # flushes asked for before this drain
            pending.add(self._drain([]))  # converted now: a little work at each poll
            asked = wanted > self._served
            due = pending.rows and time.monotonic() - pending.oldest >= self.flush_seconds
            if asked or due or pending.rows >= self.flush_records:
                self._write(pending)
                pending = _Pending()
            if asked:
                with self._flushed:
                    self._served = wanted
                    self._flushed.notify_all()
        pending.add(self._drain([]))
        self._write(pending)

    def _write(self, pending: _Pending) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        files = {where: pa.concat_tables(tables) for where, tables in pending.tables.items()}
        parse = [where for where in files if where in pending.parsed]
        files.update(zip(parse, with_parsed([files[where] for where in parse]), strict=True))
        for (endpoint, variant, date, hour), table in files.items():
            folder = (
                self.root / f"endpoint={endpoint}" / f"variant={variant}" / f"date={date}"
            ) / f"hour={hour}"
            try:
                folder.mkdir(parents=True, exist_ok=True)
                pq.write_table(table, folder / f"part-{uuid.uuid4().hex}.parquet")
                self.written += table.num_rows
            except Exception:  # a full disk must not stop serving; the log says what failed
                log.exception("Could not write %d captured requests to %s", len(table), folder)
                continue
            if self.on_write is not None:
                self.on_write(endpoint, variant, table)


def with_parsed(tables: list[Any], *, apart: bool = True) -> list[Any]:
    """The tables of one flush (a file each) with their JSON columns parsed beside the
    text, as monitoring reads them (:func:`shipyard.monitoring.capture_tables.
    parsed_parts`, all at once), in the helper process (:mod:`.capture_parse`; here with
    ``apart=False``): a monitoring run then need not parse an hour of JSON at once. A
    parse that fails leaves the text alone, for monitoring to parse."""
    from concurrent.futures.process import BrokenProcessPool

    from shipyard.monitoring.capture_tables import parsed_parts
    from shipyard.serving import capture_parse

    if not tables:
        return tables
    try:
        parsed = capture_parse.parsed_parts_apart(tables) if apart else parsed_parts(tables)
    except Exception as exc:
        if isinstance(exc, BrokenProcessPool):
            capture_parse.stop()  # the next flush starts a fresh one
        log.debug("Captured JSON left unparsed", exc_info=True)
        return tables
    out = []
    for table, columns in zip(tables, parsed, strict=True):
        for name, column in columns.items():
            table = table.append_column(name, column)
        out.append(table)
    return out


Partition = tuple[str, str, str, str]  # endpoint, variant, date, hour


class _Pending:
    """Captured rows not yet written, as Arrow tables per partition. Records are
    converted as they are drained (every poll), so the work that holds the interpreter
    lock comes in small pieces between requests, not all at once when a file is written."""

    def __init__(self) -> None:
        self.tables: dict[Partition, list[Any]] = {}
        self.parsed: set[Partition] = set()  # partitions whose endpoint keeps parsed JSON
        self.rows = 0
        self.oldest = time.monotonic()  # when the oldest row was added

    @classmethod
    def of(cls, records: list[CaptureRecord]) -> _Pending:
        pending = cls()
        pending.add(records)
        return pending

    def add(self, records: list[CaptureRecord]) -> None:
        if not records:
            return
        import pyarrow as pa

        if not self.rows:
            self.oldest = time.monotonic()
        _fill_scores(records)
        hours: dict[tuple[str, str, int, int, int, int], list[CaptureRecord]] = {}
        for record in records:  # by the hour as numbers: formatting each time costs more
            at = record.time
            if at.tzinfo is not UTC:
                at = at.astimezone(UTC)
            key = (record.endpoint, record.variant, at.year, at.month, at.day, at.hour)
            hours.setdefault(key, []).append(record)
        for (endpoint, variant, year, month, day, hour), group in hours.items():
            where = (endpoint, variant, f"{year:04d}-{month:02d}-{day:02d}", f"{hour:02d}")
            try:
                table = pa.Table.from_pydict(_columns(group), schema=ROW_SCHEMA)
            except Exception:  # never stop the writer: the log says what was lost
                log.exception("Could not convert %d captured requests for %s", len(group), where)
                continue
            self.tables.setdefault(where, []).append(table)
            self.rows += len(group)
            if group[0].parsed:
                self.parsed.add(where)


class RequestCapture:
    """What one request's handler notes as it goes; :meth:`done` offers it if sampled."""

    def __init__(self, writer: CaptureWriter, request_id: str, key: str | None) -> None:
        self.writer = writer
        self.request_id = request_id
        self.key = key
        self.started = time.perf_counter()
        self.rate = 0.0  # until the endpoint is known: an unknown endpoint is not captured
        self.parsed = False
        self.at: datetime | None = None  # a time the caller stated (a replay)
        self.columns: Mapping[str, Any] | None = None
        self.error: Mapping[str, Any] | None = None
        self.model: str | None = None  # MODEL@VERSION, once the route is chosen
        self._arrays: Mapping[str, np.ndarray] | None = None
        self._enriched: Any = None
        self._predictor: Any = None
        self._scores: Any = None
        self._predictions: Any = None
        self._marks: dict[str, float] = {}  # stage -> when it ended (perf_counter)
        # The model's time measured apart (a shadow batch's copy predicted alone): then
        # the request's time is its own stages', not the time since it was made.
        self.model_time: float | None = None

    def endpoint(self, spec: Mapping[str, Any]) -> None:
        self.rate = capture_rate(spec)
        self.parsed = capture_parsed(spec)

    def parsing(self) -> None:
        self._marks["start"] = time.perf_counter()

    def checked(self, arrays: Mapping[str, np.ndarray]) -> None:
        self._marks["checked"] = time.perf_counter()
        self._arrays = arrays

    def enriched(self, enriched: Any, arrays: Mapping[str, np.ndarray]) -> None:
        """The enrich stage's result (``serving.enrich.Enriched``) and the model's input."""
        self._marks["enriched"] = time.perf_counter()
        self._enriched = enriched
        self._arrays = arrays

    def predicted(self, predictor: Any, predictions: Any, scores: Any = None) -> None:
        self._marks["predicted"] = time.perf_counter()
        self._predictor = predictor
        self._predictions = predictions
        self._scores = scores

    def stages(self, now: float) -> tuple[float | None, float | None, float | None]:
        """Seconds spent parsing and checking, enriching and in the model (with its
        postprocess), each None when the request never reached that stage."""
        marks = self._marks
        checked = marks.get("checked")
        enriched = marks.get("enriched")
        ready = enriched or checked  # when the model's input was ready
        parse = None if "start" not in marks else (checked or now) - marks["start"]
        enrich = None if checked is None or self._enriched is None else (enriched or now) - checked
        model = None if ready is None else marks.get("predicted", now) - ready
        if self.model_time is not None and model is not None:
            model = self.model_time
        return parse, enrich, model

    def own_seconds(self, now: float) -> float:
        """The request's time: since it was made, or the sum of its stages when its
        model time was measured apart."""
        if self.model_time is None:
            return now - self.started
        return sum(s for s in self.stages(now) if s is not None)

    def done(self, endpoint: str, variant: str, status: int, now: float | None = None) -> None:
        if not sampled(self.request_id, self.rate):
            return
        now = time.perf_counter() if now is None else now
        parse, enrich, model = self.stages(now)
        record = CaptureRecord(
            request_id=self.request_id,
            endpoint=endpoint,
            variant=variant,
            key=self.key,
            status=status,
            parse_seconds=parse,
            model_seconds=model,
            total_seconds=self.own_seconds(now),
            enrich_seconds=enrich,
            columns=self.columns,
            arrays=self._arrays,
            enriched=None if self._enriched is None else self._enriched.arrays,
            statuses=None if self._enriched is None else self._enriched.statuses,
            predictor=self._predictor,
            scores=self._scores,
            predictions=self._predictions,
            error=self.error,
            model=self.model,
            parsed=self.parsed,
        )
        if self.at is not None:
            record.arrived, record.time, record.replayed = record.time, self.at, True
        self.writer.offer(record)


def close_on_shutdown(
    app: Any, writer: CaptureWriter, before: Callable[[], Awaitable[Any]] | None = None
) -> None:
    """Close ``writer`` (writing what is queued) when ``app``'s lifespan ends, after
    awaiting ``before`` (the shadow copies still queued, which the writer then captures).

    The lifespan, not code after ``uvicorn.run``: on SIGTERM uvicorn shuts the app down
    and then raises the signal again, which ends the process before that code runs."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async with inner(app) as state:
            try:
                yield state
            finally:
                if before is not None:
                    await before()
                writer.close()

    app.router.lifespan_context = lifespan


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("request_id", pa.string()),
            ("time", pa.timestamp("us", tz="UTC")),
            ("replayed", pa.bool_()),
            ("arrived", pa.timestamp("us", tz="UTC")),
            ("key", pa.string()),
            ("model", pa.string()),
            ("status", pa.int32()),
            ("parse_seconds", pa.float64()),
            ("enrich_seconds", pa.float64()),
            ("model_seconds", pa.float64()),
            ("total_seconds", pa.float64()),
            ("input", pa.string()),
            ("enriched", pa.string()),
            ("statuses", pa.string()),
            ("output", pa.string()),
            ("scores", pa.string()),
            ("error", pa.string()),
        ]
    )


ROW_SCHEMA = _schema()


def _columns(records: list[CaptureRecord]) -> dict[str, list[Any]]:
    """Encoded records (:meth:`CaptureRecord.encode`) as the columns of
    :data:`ROW_SCHEMA`, built a column at a time."""
    for record in records:
        record.encode()  # offered records are; a record written directly may not be
    texts = [r.texts or {} for r in records]
    return {
        "request_id": [r.request_id for r in records],
        "time": [r.time for r in records],
        "replayed": [r.replayed for r in records],
        "arrived": [r.time if r.arrived is None else r.arrived for r in records],
        "key": [r.key for r in records],
        "model": [r.model for r in records],
        "status": [r.status for r in records],
        "parse_seconds": [r.parse_seconds for r in records],
        "enrich_seconds": [r.enrich_seconds for r in records],
        "model_seconds": [r.model_seconds for r in records],
        "total_seconds": [r.total_seconds for r in records],
        **{name: [t.get(name) for t in texts] for name in TEXT_COLUMNS},
    }


TEXT_COLUMNS = ("input", "enriched", "statuses", "output", "scores", "error")


def _nbytes(score_input: Any) -> int:
    if score_input is None:
        return 0
    if isinstance(score_input, np.ndarray):
        return int(score_input.nbytes)
    return sum(int(getattr(a, "nbytes", 0)) for a in score_input.values())


def _score_input(record: CaptureRecord) -> Any:
    """What the writer computes the record's scores from: the model's float matrix when
    it takes one, else its arrays; None when there is nothing to compute (the request
    failed, its scores came with it, or its model has no probabilities)."""
    predictor, arrays = record.predictor, record.arrays
    if record.scores is not None or record.predictions is None or predictor is None:
        return None
    if not arrays or not predictor.loaded.supports_proba:
        return None
    matrix = predictor.proba_matrix(arrays)
    return arrays if matrix is None else matrix


def _fill_scores(records: list[CaptureRecord]) -> None:
    """The scores of the records that wait for them, one model call per model for the
    lot: scikit-learn validates its input on every call (about 0.25 ms, for one row),
    and this thread shares the interpreter with the requests. A call that fails (a row
    the model refuses) leaves its records to be scored one at a time."""
    groups: dict[int, list[CaptureRecord]] = {}
    for record in records:
        if record.score_input is not None and record.texts is not None:
            groups.setdefault(id(record.predictor), []).append(record)
    for group in groups.values():
        predictor = group[0].predictor
        try:
            scores = _model_scores(predictor, _stacked([r.score_input for r in group]))
        except Exception:
            log.debug("Scoring %d captured requests together failed", len(group), exc_info=True)
            for record in group:
                _score_alone(record)
            continue
        start = 0
        for record in group:
            rows = _rows(record.score_input)
            _set_scores(record, scores[start : start + rows])
            start += rows


def _stacked(inputs: list[Any]) -> Any:
    """The records' score inputs as one: matrices stacked, or arrays by name (raises
    when they are not of one shape: then each is scored alone)."""
    if all(isinstance(i, np.ndarray) for i in inputs):
        return np.concatenate(inputs)
    names = list(inputs[0])
    if any(isinstance(i, np.ndarray) or list(i) != names for i in inputs):
        raise ValueError("score inputs of different shapes")
    return {n: np.concatenate([i[n] for i in inputs]) for n in names}


def _rows(score_input: Any) -> int:
    if isinstance(score_input, np.ndarray):
        return len(score_input)
    return len(next(iter(score_input.values())))


def _score_alone(record: CaptureRecord) -> None:
    try:
        _set_scores(record, _model_scores(record.predictor, record.score_input))
    except Exception:  # scores are a best effort: the prediction itself was served
        log.debug("No scores for request %s", record.request_id, exc_info=True)
        _set_scores(record, None)


def _set_scores(record: CaptureRecord, scores: Any) -> None:
    texts = record.texts or {}
    texts["scores"] = texts.get("output") if scores is None else _json(scores)
    record.score_input = record.predictor = None


def _model_scores(predictor: Any, model_input: Any) -> Any:
    """The predictor's class probabilities (by the same call its predictions took) for
    its float matrix or its arrays (:func:`_score_input` picks only models that have them)."""
    if isinstance(model_input, np.ndarray):
        return predictor.predict_proba_matrix(model_input)
    return predictor.predict_proba(model_input)


def _json(value: Any) -> str | None:
    """``value`` as JSON text: NaN and infinities as null (JSON has neither), NumPy arrays
    and scalars as their values, anything else as its text."""
    if value is None:
        return None
    try:  # orjson: NumPy arrays natively, NaN as null, no walk in Python
        return orjson.dumps(value, option=_NUMPY).decode()
    except TypeError:  # a non-contiguous array, a key that is not text, an odd object
        return json.dumps(_plain(value), default=str, allow_nan=False)


_NUMPY = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):  # through the list: a NaN in it must become null
        return _plain(value.tolist()) if value.dtype.kind in "fcO" else value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN and infinities: JSON has none
    return value


def read_capture(
    home: str | Path,
    endpoint: str,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    columns: list[str] | None = None,
    arrived_since: datetime | None = None,
) -> Any:
    """Every captured row of ``endpoint`` under ``home`` with ``start <= time < end``
    (and, with ``arrived_since``, that reached the server since then), as a
    ``pyarrow.Table`` (with the ``endpoint``, ``variant``, ``date`` and ``hour``
    partition columns; only ``columns`` of them, plus ``time``, when given); an empty
    table when nothing was captured."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    folder = Path(home) / "capture" / f"endpoint={endpoint}"
    partitions = pa.schema([("variant", pa.string()), ("date", pa.string()), ("hour", pa.string())])
    empty = pa.schema([("endpoint", pa.string()), *partitions, *ROW_SCHEMA])
    wanted = None if columns is None else list(dict.fromkeys(["time", *columns]))
    if not folder.is_dir():
        table = empty.empty_table()
        return table if wanted is None else table.select(wanted)
    dataset = ds.dataset(
        folder,
        schema=pa.schema([*ROW_SCHEMA, *partitions]),
        format="parquet",
        partitioning=ds.partitioning(partitions, flavor="hive"),
    )
    condition = None
    for bound, op in ((start, "ge"), (end, "lt")):
        if bound is not None:
            at = pa.scalar(bound.astimezone(UTC), type=pa.timestamp("us", tz="UTC"))
            test = ds.field("time") >= at if op == "ge" else ds.field("time") < at
            condition = test if condition is None else condition & test
    if arrived_since is not None:  # files before the column: their time is their arrival
        at = pa.scalar(arrived_since.astimezone(UTC), type=pa.timestamp("us", tz="UTC"))
        arrived = ds.field("arrived")
        test = (arrived >= at) | (arrived.is_null() & (ds.field("time") >= at))
        condition = test if condition is None else condition & test
    read = None if wanted is None else [c for c in wanted if c != "endpoint"]
    table = dataset.to_table(filter=condition, columns=read)
    if wanted is None or "endpoint" in wanted:
        endpoints = pa.array([endpoint] * table.num_rows, pa.string())
        table = table.append_column("endpoint", endpoints)
    return table.sort_by("time")
