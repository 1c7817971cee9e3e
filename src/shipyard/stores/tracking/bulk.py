"""Moving tracking rows in bulk: statements compiled once and run on the driver's cursor.

The tracking store's hot paths (writing a batch, loading the runs a search found)
skip SQLAlchemy's per-statement execution: they are a handful of fixed statements,
compiled once per store for its dialect, whose rows go to and come from the DBAPI
cursor as plain tuples. SQLAlchemy still builds and compiles them (so each dialect
gets its own spelling), opens the connections and runs everything else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from shipyard.errors import BackendUnavailable
from shipyard.stores.tracking.base import MetricRow, RunInfo
from shipyard.stores.tracking.liveness import KILLED, status_as_read

# Keeps IN lists well under every database's limit on bound parameters.
CHUNK = 5000


class DriverStatement:
    """A Core statement compiled once for the dialect, executed on a DBAPI cursor.

    Rows are tuples in ``columns`` order. Core's executemany rebuilds every row's
    parameters, which costs more than the insert itself; these statements' values
    are converted by the caller where a type needs it (times, JSON), so rows can go
    to the driver as they are.
    """

    def __init__(
        self, statement: sa.ClauseElement, dialect: sa.Dialect, columns: Sequence[str]
    ) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.columns = tuple(columns)
        order = getattr(compiled, "positiontup", None)
        self.named = order is None  # pyformat (psycopg) takes a dict per row
        positions = [self.columns.index(name) for name in order or ()]
        self.reorder = None if positions == list(range(len(columns))) else positions

    def params(self, row: Sequence[Any]) -> Any:
        if self.named:
            return dict(zip(self.columns, row, strict=True))
        if self.reorder is not None:
            return tuple(row[i] for i in self.reorder)
        return row

    def execute(self, cursor: Any, row: Sequence[Any]) -> Any:
        cursor.execute(self.sql, self.params(row))
        return cursor

    def __call__(self, cursor: Any, rows: Sequence[Sequence[Any]]) -> None:
        """executemany ``rows``."""
        if self.named:
            cursor.executemany(self.sql, [dict(zip(self.columns, r, strict=True)) for r in rows])
        elif self.reorder is not None:
            cursor.executemany(self.sql, [tuple(r[i] for i in self.reorder) for r in rows])
        else:
            cursor.executemany(self.sql, rows)


METRIC_COLUMNS = ("run_id", "key", "step", "value", "timestamp")
KEY_VALUE = ("run_id", "key", "value")
RUN_COLUMNS = (
    "id",
    "uid",
    "experiment_id",
    "name",
    "parent_id",
    "status",
    "start_time",
    "end_time",
    "created_by",
    "notes",
    "record",
    "heartbeat_at",
    "alive_until",
)


def latest_of(rows: Sequence[MetricRow]) -> list[MetricRow]:
    """Per (run, key), the row the stored latest value should become (highest step, last).

    >>> latest_of([(1, "m", 0, 0.5, 0.0), (1, "m", 2, 0.7, 1.0), (1, "m", 1, 0.6, 2.0)])
    [(1, 'm', 2, 0.7, 1.0)]
    """
    last = {(row[0], row[1]): row for row in rows}
    if len(last) == 1:
        # One metric of one run, the common batch of a training loop: the last row is the
        # latest unless an earlier one has a higher step (C-speed checks, no tuple keys).
        steps = [row[2] for row in rows]
        if steps[-1] >= max(steps):
            return list(last.values())
    best: dict[tuple[int, str], MetricRow] = {}
    for row in rows:
        seen = best.get((row[0], row[1]))
        if seen is None or row[2] >= seen[2]:
            best[row[0], row[1]] = row
    return list(best.values())


def chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def sqlite_time_in(value: datetime | None) -> str | None:
    """A time as SQLAlchemy stores it on SQLite (naive UTC text), without its overhead."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the metadata store; use UTC-aware times")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_time(value: str | None) -> datetime | None:
    # SQLAlchemy stores SQLite times as naive UTC text, "2026-11-27 10:00:00.123456";
    # parsing it with its zone is four times faster than parsing it and then replacing it.
    return None if value is None else datetime.fromisoformat(value + "+00:00")


def _aware_time(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class RunLoader:
    """RunInfos for run ids, in two statements whatever the number of runs.

    The first reads the runs, with their experiment's name, their parent's uid and
    their params, tags and artifacts aggregated into one JSON object each (text
    round-trips exactly through JSON); the second reads their latest metrics as
    rows, so each value comes back as the database's own float (SQLite writes
    floats into JSON with 15 digits). One row per run instead of one per item is
    what makes loading fast: a row costs more to fetch than the SQL costs to run.

    The ids go in as one parameter, a JSON array that SQLite's ``json_each``
    unpacks or an array on PostgreSQL, so both statements are fixed text that
    the driver keeps prepared.
    """

    def __init__(self, dialect: sa.Dialect) -> None:
        self._time: Callable[[Any], datetime | None]
        self._ids: Callable[[list[int]], Any]
        if dialect.name == "sqlite":
            ids = "SELECT value FROM json_each(?1)"
            self._ids = lambda run_ids: (json.dumps(run_ids),)
            self._time = _sqlite_time

            def aggregate(key: str, value: str, table: str) -> str:
                return (
                    f"(SELECT json_group_object({key}, {value}) FROM {table} WHERE run_id = r.id)"
                )

        elif dialect.paramstyle in ("pyformat", "format"):
            ids = "SELECT unnest(CAST(%(ids)s AS BIGINT[]))"
            self._ids = lambda run_ids: {"ids": run_ids}
            self._time = _aware_time

            def aggregate(key: str, value: str, table: str) -> str:
                found = f"SELECT json_object_agg({key}, {value} ORDER BY {key}) FROM {table}"
                return f"COALESCE(({found} WHERE run_id = r.id), CAST('{{}}' AS JSON))"

        else:  # pragma: no cover - the supported drivers are sqlite3 and psycopg
            raise BackendUnavailable(
                f"The tracking store cannot run on the {dialect.name} driver "
                f"(paramstyle {dialect.paramstyle}).",
                hint="Use SQLite (the default) or PostgreSQL with psycopg 3.",
            )
        items = ", ".join(
            aggregate(key, value, table)
            for key, value, table in (
                ('"key"', "value", "params"),
                ('"key"', "value", "tags"),
                ("path", "digest", "run_artifacts"),
            )
        )
        self.runs_sql = (
            "SELECT r.id, r.uid, e.name, p.uid, r.name, r.status, r.start_time, r.end_time, "
            f"r.created_by, r.notes, r.record, {items}, r.heartbeat_at, r.alive_until "
            "FROM runs r "
            "JOIN experiments e ON e.id = r.experiment_id "
            "LEFT JOIN runs p ON p.id = r.parent_id "
            f"WHERE r.id IN ({ids})"
        )
        self.metrics_sql = (
            f'SELECT run_id, "key", value FROM latest_metrics WHERE run_id IN ({ids}) '
            'ORDER BY run_id, "key"'
        )

    def __call__(self, cursor: Any, ids: Sequence[int]) -> list[RunInfo]:
        """RunInfos for ``ids``, in that order (ids not found are left out).

        A running run past its deadline reads as killed, ended at its last heartbeat.
        """
        if not ids:
            return []
        wanted = list(ids)
        param = self._ids(wanted)
        time = self._time
        now = datetime.now(UTC)
        found: dict[int, list[Any]] = {}
        metrics: dict[int, dict[str, float]] = {}
        cursor.execute(self.runs_sql, param)
        for (
            rid, uid, exp, parent, name, status, start, end, by, notes, record,
            params, tags, artifacts, beat, until,
        ) in cursor.fetchall():  # fmt: skip
            metrics[rid] = {}
            beat = time(beat)
            if until is not None and status_as_read(status, time(until), now) == KILLED:
                status, end = KILLED, beat
            else:
                end = time(end)
            found[rid] = [uid, exp, name, parent, status, time(start), end, by,
                          _json(params), metrics[rid], _json(tags), _json(artifacts), notes,
                          _json(record), beat]  # fmt: skip
        cursor.execute(self.metrics_sql, param)
        for rid, key, value in cursor.fetchall():
            metrics[rid][key] = value
        return [RunInfo(*found[i]) for i in wanted if i in found]


def _json(value: Any) -> dict[str, Any]:
    """A JSON object column: text from SQLite, already decoded by psycopg."""
    if isinstance(value, dict):
        return dict(value)
    if value == "{}":
        return {}
    loaded: dict[str, Any] = json.loads(value)
    return loaded
