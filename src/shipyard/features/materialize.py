"""Materialization: copy each entity's latest feature row in an interval to the online store.

For one view and an interval [start, end] of event time (both ends included),
DuckDB reduces the source to one row per entity key: the row with the latest
event time; ties go to the larger created timestamp (a row without one loses),
then to the larger ``ingestion_order``, then to the larger feature values, so
the choice is always the same. The reduction is a hash aggregate (``arg_max``
over a struct), so DuckDB holds one row per entity, never the interval's rows;
its result, sorted by the join-key columns, is streamed in Arrow batches of at
most ``chunk_rows`` rows. Memory therefore grows with the number of entities
(and DuckDB spills its aggregate and sort to disk when it must), not with the
length of the interval.

Each chunk is written together with a checkpoint (the interval, the encoded key
of the chunk's last row and the rows written so far) in one atomic store write.
A run that stops part way leaves that checkpoint; the next run of the same
view and interval reads only keys after the checkpoint's key (in the same
join-key order), so no row is lost and none is written twice. Completing
records the interval, which is what ``materialized_until`` reports and where
:func:`materialize_incremental` starts next time. Store writes are "newer wins",
so even redoing work from scratch would leave the same values.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput
from shipyard.features.source import FeatureSource
from shipyard.stores.online.base import (
    MaterializeCheckpoint,
    OnlineStore,
    decode_entity_key,
    table_entity_keys,
)

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

Progress = Callable[[int, int | None], None]

EVENT_COLUMN = "__shipyard_event_ts"
CREATED_COLUMN = "__shipyard_created_ts"
_TZ_TYPES = ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")
_BEST = "__shipyard_best"


@dataclass(frozen=True)
class MaterializeResult:
    """What one materialization did.

    ``rows`` counts the entity rows written for the interval, including those an
    interrupted earlier run wrote; ``rows_this_run`` only this call's.
    ``resumed_after`` is the encoded key this call continued after, if it resumed.
    """

    view: str
    start: datetime
    end: datetime
    rows: int
    rows_this_run: int
    chunks: int
    resumed_after: str | None
    seconds: float


def materialize(
    source: FeatureSource,
    store: OnlineStore,
    *,
    start: datetime,
    end: datetime,
    chunk_rows: int = 50_000,
    connection: duckdb.DuckDBPyConnection | None = None,
    progress: Progress | None = None,
) -> MaterializeResult:
    """Write each entity's latest row with event time in [start, end] to ``store``.

    Naive ``start``/``end`` are taken as UTC. ``progress(rows_written, None)``
    is called after each chunk (the total is not known while streaming).
    Rerunning an interrupted materialization of the same interval resumes it.
    """
    began = time.monotonic()
    start, end = _interval(start, end)
    if chunk_rows < 1:
        raise InvalidInput(f"chunk_rows must be at least 1, got {chunk_rows}.")
    checkpoint = store.get_checkpoint(source.view)
    if checkpoint is not None and (checkpoint.start, checkpoint.end) != (start, end):
        checkpoint = None  # another interval's leftovers: start over (newer-wins makes it safe)
    done = 0 if checkpoint is None else checkpoint.rows
    chunks = 0
    with _duckdb(connection, source) as conn:
        types = column_types(conn, source)
        for batch in _latest_rows(conn, source, types, start, end, checkpoint, chunk_rows):
            done += batch.num_rows
            chunks += 1
            [last_key] = table_entity_keys(batch.slice(batch.num_rows - 1), source.join_keys)
            _write_chunk(store, source, batch, MaterializeCheckpoint(start, end, last_key, done))
            if progress is not None:
                progress(done, None)
        # Over the whole interval, so a resumed run knows what the first part wrote too.
        last_event = _last_event(conn, source, types, start, end)
    store.finish_materialization(source.view, start, end, done, last_event)
    return MaterializeResult(
        view=source.view,
        start=start,
        end=end,
        rows=done,
        rows_this_run=done - (0 if checkpoint is None else checkpoint.rows),
        chunks=chunks,
        resumed_after=None if checkpoint is None else checkpoint.last_key,
        seconds=time.monotonic() - began,
    )


def materialize_incremental(
    source: FeatureSource,
    store: OnlineStore,
    *,
    end: datetime,
    chunk_rows: int = 50_000,
    connection: duckdb.DuckDBPyConnection | None = None,
    progress: Progress | None = None,
) -> MaterializeResult:
    """Materialize from where the view was last materialized (or its first event) up to ``end``.

    The interval starts at ``materialized_until`` itself: rows at that instant
    are written again, which changes nothing. An interrupted earlier run that
    started at the same point is finished first, then the rest up to ``end``.
    """
    end = _utc(end, "end")
    start = store.materialized_until(source.view)
    if start is not None and start > end:
        raise InvalidInput(
            f"Feature view {source.view!r} is materialized until {start.isoformat()}, "
            f"after end {end.isoformat()}.",
            hint="Pass a later end, or materialize(start=..., end=...) to redo an interval.",
        )
    with _duckdb(connection, source) as conn:
        if start is None:  # never materialized: from the first event (none: nothing to do)
            start = min(_first_event(conn, source) or end, end)
        pending = store.get_checkpoint(source.view)
        if pending is None or pending.start != start or not start <= pending.end < end:
            return materialize(
                source,
                store,
                start=start,
                end=end,
                chunk_rows=chunk_rows,
                connection=conn,
                progress=progress,
            )
        first = materialize(
            source,
            store,
            start=start,
            end=pending.end,
            chunk_rows=chunk_rows,
            connection=conn,
            progress=progress,
        )
        rest = materialize(
            source,
            store,
            start=pending.end,
            end=end,
            chunk_rows=chunk_rows,
            connection=conn,
            progress=_offset(progress, first.rows),
        )
        return _combined(first, rest)


def _offset(progress: Progress | None, rows: int) -> Progress | None:
    """``progress`` counting on from ``rows`` already done."""
    if progress is None:
        return None
    return lambda done, total: progress(rows + done, total)


def _combined(first: MaterializeResult, rest: MaterializeResult) -> MaterializeResult:
    return MaterializeResult(
        view=first.view,
        start=first.start,
        end=rest.end,
        rows=first.rows + rest.rows,
        rows_this_run=first.rows_this_run + rest.rows_this_run,
        chunks=first.chunks + rest.chunks,
        resumed_after=first.resumed_after,
        seconds=first.seconds + rest.seconds,
    )


# -- input checks --------------------------------------------------------------------


def _utc(value: datetime, name: str) -> datetime:
    """``value`` as aware UTC; naive means UTC already."""
    if not isinstance(value, datetime):
        raise InvalidInput(f"{name} must be a datetime, got {value!r}.")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _interval(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = _utc(start, "start"), _utc(end, "end")
    if start > end:
        raise InvalidInput(
            f"start {start.isoformat()} is after end {end.isoformat()}.",
            hint="Materialize an interval whose start is not after its end.",
        )
    return start, end


def column_types(conn: duckdb.DuckDBPyConnection, source: FeatureSource) -> dict[str, str]:
    """The DuckDB type of each column the view reads; InvalidInput when one is missing."""
    from shipyard.features.resolve import describe_source

    types = describe_source(conn, source.view, source.relation)
    times = [source.event_timestamp]
    if source.created_timestamp is not None:
        times.append(source.created_timestamp)
    missing = [c for c in [*source.join_keys, *times, *source.features] if c not in types]
    if missing:
        raise InvalidInput(
            f"Feature view {source.view!r}: its source has no column(s) {', '.join(missing)}.",
            hint=f"The source's columns: {', '.join(types)}.",
        )
    for column in times:
        if not types[column].startswith(("TIMESTAMP", "DATE")):
            raise InvalidInput(
                f"Feature view {source.view!r}: {column!r} must be a timestamp column, "
                f"is {types[column]}."
            )
    overlap = set(source.features) & {*source.join_keys, EVENT_COLUMN, CREATED_COLUMN}
    if overlap or not source.join_keys:
        raise InvalidInput(
            f"Feature view {source.view!r} needs join keys, and features that are not "
            f"join keys: {sorted(overlap)}."
        )
    return types


# -- the query -----------------------------------------------------------------------


def quote(name: str) -> str:
    """A SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def _time_expression(column: str, types: dict[str, str]) -> str:
    # DATE is compared and written as midnight UTC; timestamps stay as they are.
    if types[column] == "DATE":
        return f"CAST({quote(column)} AS TIMESTAMP)"
    return quote(column)


def _bound(value: datetime, column: str, types: dict[str, str]) -> datetime:
    """A bound DuckDB compares with the column: aware for TIMESTAMPTZ, naive UTC otherwise."""
    return value if types[column] in _TZ_TYPES else value.replace(tzinfo=None)


def latest_rows_sql(source: FeatureSource, types: dict[str, str], *, resume: bool) -> str:
    """One row per entity key, the latest in the interval, ordered by the join keys.

    Parameters: the interval's start and end, then (when ``resume``) the
    lexicographic "key after" comparison's values (see :func:`_after_key_sql`).
    """
    keys = ", ".join(quote(k) for k in source.join_keys)
    event = _time_expression(source.event_timestamp, types)
    created = (
        _time_expression(source.created_timestamp, types)
        if source.created_timestamp is not None
        else "NULL::TIMESTAMP"
    )
    order = f"({source.ingestion_order})" if source.ingestion_order else "NULL::BIGINT"
    values = ", ".join(f"f{i} := {quote(f)}" for i, f in enumerate(source.features))
    # Struct comparison puts NULL above every value, so "has a value" comes first:
    # a row without a created time or an ingestion order loses the tie.
    rank = ", ".join(
        [
            f"ts := {event}",
            f"has_created := {created} IS NOT NULL",
            f"created := {created}",
            f"has_order := {order} IS NOT NULL",
            f"ord := {order}",
            *(f"f{i} := {quote(f)}" for i, f in enumerate(source.features)),
        ]
    )
    best = ", ".join([f"ts := {event}", f"created := {created}", *([values] if values else [])])
    picked = ", ".join(
        f"struct_extract({_BEST}, 'f{i}') AS {quote(f)}" for i, f in enumerate(source.features)
    )
    not_null = " AND ".join(f"{quote(k)} IS NOT NULL" for k in source.join_keys)
    where = f"{event} BETWEEN ? AND ? AND {not_null}"
    if resume:
        where += f" AND ({_after_key_sql(source.join_keys)})"
    return (
        f"SELECT {keys}, struct_extract({_BEST}, 'ts') AS {quote(EVENT_COLUMN)}, "
        f"struct_extract({_BEST}, 'created') AS {quote(CREATED_COLUMN)}"
        f"{', ' + picked if picked else ''} FROM ("
        f"SELECT {keys}, arg_max(struct_pack({best}), struct_pack({rank})) AS {_BEST} "
        f"FROM {source.relation} WHERE {where} GROUP BY {keys}"
        f") ORDER BY {keys}"
    )


def _after_key_sql(join_keys: Sequence[str]) -> str:
    """(k1, k2, ...) > (?, ?, ...) spelled out: k1 > ? OR (k1 = ? AND k2 > ?) OR ..."""
    terms = []
    for i, key in enumerate(join_keys):
        equal = [f"{quote(k)} = ?" for k in join_keys[:i]]
        terms.append("(" + " AND ".join([*equal, f"{quote(key)} > ?"]) + ")")
    return " OR ".join(terms)


def _after_key_params(last_key: str, join_keys: Sequence[str], types: dict[str, str]) -> list[Any]:
    values = list(decode_entity_key(last_key))
    if len(values) != len(join_keys):
        raise InvalidInput(
            f"The checkpoint's key {last_key} does not match the join keys {list(join_keys)}.",
            hint="Delete the view from the online store and materialize it again.",
        )
    for i, (key, value) in enumerate(zip(join_keys, values, strict=True)):
        if isinstance(value, datetime):
            values[i] = _bound(value, key, types)
    params: list[Any] = []
    for i in range(len(join_keys)):
        params.extend([*values[:i], values[i]])
    return params


def _latest_rows(
    conn: duckdb.DuckDBPyConnection,
    source: FeatureSource,
    types: dict[str, str],
    start: datetime,
    end: datetime,
    checkpoint: MaterializeCheckpoint | None,
    chunk_rows: int,
) -> Iterator[pa.RecordBatch]:
    """The reduced rows, streamed in batches of at most ``chunk_rows``."""
    import duckdb

    sql = latest_rows_sql(source, types, resume=checkpoint is not None)
    params: list[Any] = [
        _bound(start, source.event_timestamp, types),
        _bound(end, source.event_timestamp, types),
    ]
    if checkpoint is not None:
        params += _after_key_params(checkpoint.last_key, source.join_keys, types)
    try:
        relation = conn.sql(sql, params=params)
    except duckdb.Error as exc:
        raise InvalidInput(
            f"Feature view {source.view!r} cannot be materialized: {str(exc).splitlines()[0]}",
            hint="Check the view's columns and ingestion order against its source.",
        ) from None
    reader = _arrow_reader(relation, chunk_rows)
    for batch in reader:
        # DuckDB's batch size is a target; slicing makes chunk_rows a bound.
        for offset in range(0, batch.num_rows, chunk_rows):
            yield batch.slice(offset, chunk_rows)


def _arrow_reader(relation: Any, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """A streaming Arrow reader, under either name DuckDB's versions give it."""
    if hasattr(relation, "to_arrow_reader"):
        reader: Iterator[pa.RecordBatch] = relation.to_arrow_reader(batch_rows)
    else:
        reader = relation.fetch_record_batch(batch_rows)
    return reader


def _first_event(conn: duckdb.DuckDBPyConnection, source: FeatureSource) -> datetime | None:
    """The earliest event time in the source, UTC (None when it has no rows)."""
    types = column_types(conn, source)
    event = _time_expression(source.event_timestamp, types)
    found = conn.sql(f"SELECT min({event}) FROM {source.relation}").fetchall()[0][0]
    return None if found is None else _utc(found, source.event_timestamp)


def _last_event(
    conn: duckdb.DuckDBPyConnection,
    source: FeatureSource,
    types: dict[str, str],
    start: datetime,
    end: datetime,
) -> datetime | None:
    """The latest event time in [start, end] (UTC), None when the interval has no rows."""
    event = _time_expression(source.event_timestamp, types)
    column = source.event_timestamp
    bounds = [_bound(start, column, types), _bound(end, column, types)]
    found = conn.execute(
        f"SELECT max({event}) FROM {source.relation} WHERE {event} BETWEEN ? AND ?", bounds
    ).fetchall()[0][0]
    return None if found is None else _utc(found, source.event_timestamp)


def _write_chunk(
    store: OnlineStore,
    source: FeatureSource,
    batch: pa.RecordBatch,
    checkpoint: MaterializeCheckpoint,
) -> None:
    store.write(
        source.view,
        batch,
        join_keys=source.join_keys,
        event_timestamp=EVENT_COLUMN,
        created_timestamp=CREATED_COLUMN if source.created_timestamp is not None else None,
        features=source.features,
        checkpoint=checkpoint,
    )


@contextmanager
def _duckdb(
    connection: duckdb.DuckDBPyConnection | None, source: FeatureSource
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The caller's connection, or a private guarded one (reading only the source's data)."""
    if connection is not None:
        yield connection
        return
    from shipyard.sql_guard import connect

    own = connect(source.readable)
    try:
        yield own
    finally:
        own.close()
