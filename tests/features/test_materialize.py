"""Materialization: the latest row per entity in an interval, chunked, resumable, incremental.

Memory is bounded by design rather than measured here: DuckDB reduces the
interval with a hash aggregate (one row per entity) and the result is streamed
in Arrow batches of at most ``chunk_rows`` rows (see the module's docstring).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipyard.errors import InvalidInput
from shipyard.features.materialize import (
    MaterializeResult,
    materialize,
    materialize_incremental,
)
from shipyard.features.source import FeatureSource
from shipyard.stores.online import OnlineStore, open_online_store

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


@pytest.fixture
def store(online_url: str) -> Iterator[OnlineStore]:
    with open_online_store(online_url) as opened:
        yield opened


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[OnlineStore]:
    with open_online_store(f"sqlite:///{tmp_path / 'online.db'}") as opened:
        yield opened


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


def events(rows: list[tuple[Any, ...]]) -> pa.Table:
    """(driver, day, speed) rows, with naive UTC event times."""
    return pa.table(
        {
            "driver": [r[0] for r in rows],
            "ts": pa.array([day(r[1]).replace(tzinfo=None) for r in rows], pa.timestamp("us")),
            "speed": [float(r[2]) for r in rows],
        }
    )


def registered(con: duckdb.DuckDBPyConnection, data: pa.Table, **options: Any) -> FeatureSource:
    con.register("events", data)
    fields: dict[str, Any] = {
        "view": "trips",
        "relation": "events",
        "join_keys": ("driver",),
        "event_timestamp": "ts",
        "features": ("speed",),
    }
    return FeatureSource(**{**fields, **options})


def speeds(store: OnlineStore, keys: list[Any], view: str = "trips") -> list[Any]:
    return [None if r is None else r.values["speed"] for r in store.read(view, keys, ["speed"])]


def snapshot(store: OnlineStore, keys: list[Any], features: list[str]) -> list[Any]:
    """What the store holds for ``keys``, without the write times."""
    rows = store.read("trips", keys, features)
    return [None if r is None else (r.values, r.event_timestamp, r.created_timestamp) for r in rows]


# -- what gets written ------------------------------------------------------------------


def test_the_latest_row_per_key_in_the_interval_is_written(
    store: OnlineStore, con: duckdb.DuckDBPyConnection
) -> None:
    data = events([(1, 0, 10), (1, 2, 12), (1, 9, 19), (2, 1, 21), (3, 8, 38), (4, -1, 41)])
    result = materialize(registered(con, data), store, start=day(0), end=day(5), connection=con)
    assert speeds(store, [1, 2, 3, 4]) == [12.0, 21.0, None, None]
    assert (result.rows, result.rows_this_run, result.chunks, result.resumed_after) == (
        2,
        2,
        1,
        None,
    )
    row = store.read("trips", [1], ["speed"])[0]
    assert row is not None and row.event_timestamp == day(2)
    assert store.materialized_until("trips") == day(5)
    assert store.get_checkpoint("trips") is None


def test_both_ends_of_the_interval_are_included(
    sqlite_store: OnlineStore, con: duckdb.DuckDBPyConnection
) -> None:
    data = events([(1, 1, 11), (2, 3, 23), (3, 0.999, 3), (4, 3.001, 4)])
    materialize(registered(con, data), sqlite_store, start=day(1), end=day(3), connection=con)
    assert speeds(sqlite_store, [1, 2, 3, 4]) == [11.0, 23.0, None, None]


def test_materialize_reads_a_parquet_file_with_its_row_order_as_ingestion_order(
    sqlite_store: OnlineStore, tmp_path: Path
) -> None:
    path = tmp_path / "trips.parquet"
    # Same event time for driver 1: the row written later to the file wins.
    pq.write_table(events([(1, 1, 100), (1, 1, 200), (2, 1, 5), (1, 0, 1)]), path)
    source = FeatureSource(
        view="trips",
        relation=f"read_parquet('{path}', file_row_number=true)",
        join_keys=("driver",),
        event_timestamp="ts",
        features=("speed",),
        ingestion_order="file_row_number",
        readable=(str(path),),  # a connection Shipyard opens reads only what a source declares
    )
    result = materialize(source, sqlite_store, start=day(0), end=day(1))
    assert result.rows == 2
    assert speeds(sqlite_store, [1, 2]) == [200.0, 5.0]


def test_ties_go_to_the_larger_created_time_then_the_ingestion_order(
    store: OnlineStore, con: duckdb.DuckDBPyConnection
) -> None:
    data = pa.table(
        {
            "driver": [1, 1, 1, 2, 2, 2, 3, 3],
            "ts": pa.array([day(1)] * 8, pa.timestamp("us", "UTC")),
            "created": pa.array(
                [day(3), day(5), None, day(2), day(2), None, None, None], pa.timestamp("us", "UTC")
            ),
            "seq": [1, 0, 9, 1, 2, 9, 4, 3],
            "speed": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        }
    )
    source = registered(con, data, created_timestamp="created", ingestion_order="seq")
    materialize(source, store, start=day(0), end=day(2), connection=con)
    # 1: the larger created time beats the order; 2: equal created, larger seq wins;
    # 3: no created times, larger seq wins.
    assert speeds(store, [1, 2, 3]) == [2.0, 5.0, 7.0]
    row = store.read("trips", [1], ["speed"])[0]
    assert row is not None and row.created_timestamp == day(5)


def test_without_an_ingestion_order_full_ties_are_still_decided_the_same_way(
    sqlite_store: OnlineStore, con: duckdb.DuckDBPyConnection
) -> None:
    rows = [(1, 1, 5), (1, 1, 9), (1, 1, 7), (2, 1, 3), (2, 1, 4)]
    for ordering in (rows, rows[::-1]):
        source = registered(con, events(ordering))
        materialize(source, sqlite_store, start=day(0), end=day(2), connection=con)
        assert speeds(sqlite_store, [1, 2]) == [9.0, 4.0]
        sqlite_store.delete_view("trips")


def test_composite_and_oddly_named_keys_are_quoted_and_null_keys_skipped(
    sqlite_store: OnlineStore, con: duckdb.DuckDBPyConnection
) -> None:
    data = pa.table(
        {
            'city "name"': ["NYC", "NYC", "SF", None],
            "driver id": [1, 2, 1, 1],
            "event time": pa.array([day(1)] * 4, pa.timestamp("us")),
            "top speed": [1.0, 2.0, 3.0, 4.0],
        }
    )
    con.register("events", data)
    source = FeatureSource(
        view="trips",
        relation="events",
        join_keys=('city "name"', "driver id"),
        event_timestamp="event time",
        features=("top speed",),
    )
    result = materialize(
        source, sqlite_store, start=day(0), end=day(2), connection=con, chunk_rows=1
    )
    assert result.rows == 3 and result.chunks == 3
    rows = sqlite_store.read("trips", [("SF", 1), ("NYC", 2), (None, 1)], ["top speed"])
    assert [None if r is None else r.values["top speed"] for r in rows] == [3.0, 2.0, None]


def test_a_timestamptz_event_column_and_a_date_column_work(
    sqlite_store: OnlineStore, con: duckdb.DuckDBPyConnection
) -> None:
    tz = timezone(timedelta(hours=-5))
    data = pa.table(
        {
            "driver": [1, 2],
            "ts": pa.array([day(1).astimezone(tz), day(4)], pa.timestamp("us", "America/New_York")),
            "speed": [1.0, 2.0],
        }
    )
    materialize(registered(con, data), sqlite_store, start=day(1), end=day(2), connection=con)
    row = sqlite_store.read("trips", [1], ["speed"])[0]
    assert row is not None and row.event_timestamp == day(1)
    assert speeds(sqlite_store, [2]) == [None]

    dated = pa.table({"driver": [3], "ts": [day(1).date()], "speed": [3.0]})
    materialize(registered(con, dated), sqlite_store, start=day(1), end=day(1), connection=con)
    row = sqlite_store.read("trips", [3], ["speed"])[0]
    assert row is not None and row.event_timestamp == day(1)


# -- chunks and resuming ------------------------------------------------------------------


def test_small_chunks_write_everything_and_report_progress(
    store: OnlineStore, con: duckdb.DuckDBPyConnection
) -> None:
    data = events([(k, k % 3, k) for k in range(10)])
    seen: list[tuple[int, int | None]] = []
    result = materialize(
        registered(con, data),
        store,
        start=day(0),
        end=day(2),
        connection=con,
        chunk_rows=3,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert (result.rows, result.chunks) == (10, 4)
    assert seen == [(3, None), (6, None), (9, None), (10, None)]
    assert speeds(store, list(range(10))) == [float(k) for k in range(10)]


class Interrupt(Exception):
    pass


def test_an_interrupted_run_resumes_after_its_last_key_and_equals_an_uninterrupted_one(
    online_url: str, tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    rows = [(k, d, k * 10 + d) for k in range(23) for d in (0, 1, 2)]
    source = registered(con, events(rows))
    keys = list(range(23))

    with open_online_store(f"sqlite:///{tmp_path / 'reference.db'}") as reference:
        full = materialize(
            source, reference, start=day(0), end=day(1), connection=con, chunk_rows=5
        )
        expected = snapshot(reference, keys, ["speed"])

    with open_online_store(online_url) as store:
        written: list[int] = []
        original = store.write

        def counting_write(*args: Any, **kwargs: Any) -> int:
            written.append(len(args[1]))
            return original(*args, **kwargs)

        store.write = counting_write  # type: ignore[method-assign]

        def stop_after_two_chunks(done: int, total: int | None) -> None:
            if done >= 10:
                raise Interrupt

        with pytest.raises(Interrupt):
            materialize(
                source,
                store,
                start=day(0),
                end=day(1),
                connection=con,
                chunk_rows=5,
                progress=stop_after_two_chunks,
            )
        checkpoint = store.get_checkpoint("trips")
        assert checkpoint is not None and (checkpoint.last_key, checkpoint.rows) == ("[9]", 10)
        assert store.materialized_until("trips") is None

        resumed = materialize(source, store, start=day(0), end=day(1), connection=con, chunk_rows=5)
        assert resumed.resumed_after == "[9]"
        assert (resumed.rows, resumed.rows_this_run, resumed.chunks) == (full.rows, 13, 3)
        assert sum(written) == full.rows == 23  # no row lost, none written twice
        assert snapshot(store, keys, ["speed"]) == expected
        assert store.get_checkpoint("trips") is None
        assert store.materialized_until("trips") == day(1)


def test_a_checkpoint_of_another_interval_is_not_resumed(
    sqlite_store: OnlineStore, con: duckdb.DuckDBPyConnection
) -> None:
    source = registered(con, events([(k, 1, k) for k in range(6)]))

    def stop(done: int, total: int | None) -> None:
        raise Interrupt

    with pytest.raises(Interrupt):
        materialize(
            source,
            sqlite_store,
            start=day(0),
            end=day(1),
            connection=con,
            chunk_rows=2,
            progress=stop,
        )
    result = materialize(
        source, sqlite_store, start=day(0), end=day(2), connection=con, chunk_rows=2
    )
    assert (result.rows, result.resumed_after) == (6, None)
    assert speeds(sqlite_store, list(range(6))) == [float(k) for k in range(6)]


def test_resuming_with_composite_keys_of_mixed_types(
    sqlite_store: OnlineStore, con: duckdb.DuckDBPyConnection
) -> None:
    data = pa.table(
        {
            "city": [c for c in ("LA", "NYC", "SF") for _ in range(4)],
            "driver": [d for _ in range(3) for d in (4, 1, 3, 2)],
            "ts": pa.array([day(1)] * 12, pa.timestamp("us")),
            "speed": [float(i) for i in range(12)],
        }
    )
    source = registered(con, data, join_keys=("city", "driver"))

    def stop(done: int, total: int | None) -> None:
        if done >= 5:
            raise Interrupt

    with pytest.raises(Interrupt):
        materialize(
            source,
            sqlite_store,
            start=day(0),
            end=day(1),
            connection=con,
            chunk_rows=5,
            progress=stop,
        )
    checkpoint = sqlite_store.get_checkpoint("trips")
    assert checkpoint is not None and checkpoint.last_key == '["NYC",1]'
    result = materialize(
        source, sqlite_store, start=day(0), end=day(1), connection=con, chunk_rows=5
    )
    assert (result.rows, result.rows_this_run) == (12, 7)
    found = sqlite_store.read(
        "trips", [(c, d) for c in ("LA", "NYC", "SF") for d in (4, 1, 3, 2)], ["speed"]
    )
    assert [r.values["speed"] if r else None for r in found] == [float(i) for i in range(12)]


# -- incremental ---------------------------------------------------------------------------


def test_incremental_starts_at_the_first_event_then_where_the_last_run_ended(
    store: OnlineStore, con: duckdb.DuckDBPyConnection
) -> None:
    first = events([(1, 1, 11), (2, 2, 22)])
    result = materialize_incremental(registered(con, first), store, end=day(3), connection=con)
    assert (result.start, result.end, result.rows) == (day(1), day(3), 2)
    assert store.materialized_until("trips") == day(3)

    later = events([(1, 1, 11), (2, 2, 22), (1, 4, 14), (3, 5, 35), (2, 9, 29)])
    result = materialize_incremental(registered(con, later), store, end=day(6), connection=con)
    assert (result.start, result.end, result.rows) == (day(3), day(6), 2)
    assert speeds(store, [1, 2, 3]) == [14.0, 22.0, 35.0]
    assert store.materialized_until("trips") == day(6)
    assert [(i.start, i.end) for i in store.materialized_intervals("trips")] == [
        (day(1), day(3)),
        (day(3), day(6)),
    ]
    with pytest.raises(InvalidInput, match="materialized until"):
        materialize_incremental(registered(con, later), store, end=day(5), connection=con)


def test_incremental_on_an_empty_source_records_an_empty_interval(
    sqlite_store: OnlineStore, con: duckdb.DuckDBPyConnection
) -> None:
    result = materialize_incremental(
        registered(con, events([])), sqlite_store, end=day(2), connection=con
    )
    assert (result.start, result.end, result.rows) == (day(2), day(2), 0)
    assert sqlite_store.materialized_until("trips") == day(2)


def test_incremental_before_the_first_event_writes_nothing_and_waits_there(
    sqlite_store: OnlineStore, con: duckdb.DuckDBPyConnection
) -> None:
    source = registered(con, events([(1, 5, 15)]))
    result = materialize_incremental(source, sqlite_store, end=day(2), connection=con)
    assert (result.start, result.end, result.rows) == (day(2), day(2), 0)
    result = materialize_incremental(source, sqlite_store, end=day(6), connection=con)
    assert (result.start, result.rows) == (day(2), 1)
    assert speeds(sqlite_store, [1]) == [15.0]


def test_incremental_finishes_an_interrupted_run_before_going_further(
    sqlite_store: OnlineStore, con: duckdb.DuckDBPyConnection
) -> None:
    source = registered(con, events([(k, 1, k) for k in range(6)] + [(9, 4, 9)]))
    materialize(source, sqlite_store, start=day(0), end=day(0), connection=con)

    def stop(done: int, total: int | None) -> None:
        raise Interrupt

    with pytest.raises(Interrupt):
        materialize_incremental(
            source, sqlite_store, end=day(2), connection=con, chunk_rows=2, progress=stop
        )
    seen: list[int] = []
    result = materialize_incremental(
        source,
        sqlite_store,
        end=day(5),
        connection=con,
        chunk_rows=2,
        progress=lambda done, total: seen.append(done),
    )
    assert result.resumed_after == "[1]"
    assert (result.rows_this_run, result.start, result.end) == (5, day(0), day(5))
    assert seen == [4, 6, 7]  # counts on across both intervals
    assert speeds(sqlite_store, [0, 5, 9]) == [0.0, 5.0, 9.0]
    assert [(i.start, i.end) for i in sqlite_store.materialized_intervals("trips")] == [
        (day(0), day(0)),
        (day(0), day(2)),
        (day(2), day(5)),
    ]


# -- bad input -----------------------------------------------------------------------------


def test_naive_bounds_are_utc_and_equal_aware_ones(
    sqlite_store: OnlineStore, con: duckdb.DuckDBPyConnection
) -> None:
    source = registered(con, events([(1, 1, 1)]))
    naive = materialize(
        source, sqlite_store, start=datetime(2024, 5, 2), end=day(1), connection=con
    )
    assert (naive.start, naive.rows) == (day(1), 1)
    tokyo = timezone(timedelta(hours=9))
    aware = materialize(
        source, sqlite_store, start=day(1).astimezone(tokyo), end=day(1), connection=con
    )
    assert aware.start == day(1) and aware.start.tzinfo == UTC


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"start": day(2), "end": day(1)}, "is after end"),
        ({"start": "2024-05-01", "end": day(1)}, "start must be a datetime"),
        ({"start": day(0), "end": day(1), "chunk_rows": 0}, "chunk_rows must be at least 1"),
    ],
)
def test_bad_arguments_are_invalid_input(
    sqlite_store: OnlineStore, con: duckdb.DuckDBPyConnection, options: dict[str, Any], message: str
) -> None:
    source = registered(con, events([(1, 1, 1)]))
    with pytest.raises(InvalidInput, match=message):
        materialize(source, sqlite_store, connection=con, **options)


def test_sources_that_do_not_fit_the_view_are_invalid_input(
    sqlite_store: OnlineStore, con: duckdb.DuckDBPyConnection
) -> None:
    data = events([(1, 1, 1)]).append_column("label", pa.array(["x"]))
    with pytest.raises(InvalidInput, match="no column"):
        materialize(
            registered(con, data, features=("missing",)),
            sqlite_store,
            start=day(0),
            end=day(1),
            connection=con,
        )
    with pytest.raises(InvalidInput, match="must be a timestamp"):
        materialize(
            registered(con, data, event_timestamp="label"),
            sqlite_store,
            start=day(0),
            end=day(1),
            connection=con,
        )
    with pytest.raises(InvalidInput, match="cannot be read"):
        materialize(
            registered(con, data, relation="nowhere"),
            sqlite_store,
            start=day(0),
            end=day(1),
            connection=con,
        )
    with pytest.raises(InvalidInput, match="cannot be materialized"):
        materialize(
            registered(con, data, ingestion_order="no_such_column"),
            sqlite_store,
            start=day(0),
            end=day(1),
            connection=con,
        )


def test_the_result_says_what_was_done(
    sqlite_store: OnlineStore, con: duckdb.DuckDBPyConnection
) -> None:
    data = events([(1, 1, 1), (2, 0, 2), (2, 0.5, 3), (3, 2, 4)])  # driver 3 is after the end
    began = time.monotonic()
    result = materialize(
        registered(con, data), sqlite_store, start=day(0), end=day(1), connection=con
    )
    elapsed = time.monotonic() - began
    assert isinstance(result, MaterializeResult)
    assert (result.view, result.start, result.end) == ("trips", day(0), day(1))
    assert (result.rows, result.rows_this_run, result.chunks, result.resumed_after) == (
        2,
        2,
        1,
        None,
    )
    assert 0 < result.seconds <= elapsed  # this call's duration, not a clock reading
    assert speeds(sqlite_store, [1, 2, 3]) == [1.0, 3.0, None]
