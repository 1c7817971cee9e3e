"""The point-in-time join, rule by rule: matching, ttl, tie-breaks, as_of, time zones,
entity rows in and out, several views, Parquet in and out, and every refusal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipyard.errors import InvalidInput
from shipyard.features.pit import point_in_time_join
from shipyard.features.source import FeatureSource

T = datetime(2024, 5, 1, 12, 0)  # naive: UTC


def at(hours: float = 0, seconds: float = 0) -> datetime:
    return T + timedelta(hours=hours, seconds=seconds)


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


def register(con: duckdb.DuckDBPyConnection, name: str, rows: list[dict[str, Any]]) -> str:
    con.register(name, pd.DataFrame(rows))
    return name


def source(relation: str, **overrides: Any) -> FeatureSource:
    fields: dict[str, Any] = {
        "view": "driver",
        "relation": relation,
        "join_keys": ("driver_id",),
        "event_timestamp": "ts",
        "features": ("rate",),
    }
    fields.update(overrides)
    return FeatureSource(**fields)


def entities(*rows: tuple[Any, datetime], **extra: list[Any]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {"driver_id": [k for k, _ in rows], "event_timestamp": [t for _, t in rows]}
    )
    for name, values in extra.items():
        frame[name] = values
    return frame


def join(con: duckdb.DuckDBPyConnection, rows: Any, *sources: FeatureSource, **kw: Any) -> Any:
    result = point_in_time_join(rows, list(sources), connection=con, **kw)
    assert result is not None
    return result.to_pandas()


def values(frame: pd.DataFrame, column: str = "driver__rate") -> list[Any]:
    return [None if pd.isna(v) else v for v in frame[column]]


# --- which row ----------------------------------------------------------------------------------


def test_latest_row_at_or_before_the_row_time(con: duckdb.DuckDBPyConnection) -> None:
    rel = register(
        con,
        "f",
        [
            {"driver_id": 1, "ts": at(-2), "rate": 1.0},
            {"driver_id": 1, "ts": at(0), "rate": 2.0},  # exactly at the row time: seen
            {"driver_id": 1, "ts": at(seconds=1), "rate": 3.0},  # one second later: not seen
            {"driver_id": 2, "ts": at(-1), "rate": 9.0},
        ],
    )
    rows = entities((1, at(0)), (1, at(-1)), (1, at(-3)), (2, at(0)))
    assert values(join(con, rows, source(rel))) == [2.0, 1.0, None, 9.0]


@pytest.mark.parametrize(
    ("ttl", "expected"),
    [
        (None, [1.0, 1.0, 1.0]),
        (timedelta(hours=2), [1.0, 1.0, None]),  # the edge is inclusive, one second past is not
        (timedelta(0), [None, None, None]),
    ],
)
def test_ttl_bounds_the_lookback_inclusively(
    con: duckdb.DuckDBPyConnection, ttl: timedelta | None, expected: list[Any]
) -> None:
    rel = register(con, "f", [{"driver_id": 1, "ts": at(-2), "rate": 1.0}])
    rows = entities((1, at(-1)), (1, at(0)), (1, at(0, seconds=1)))
    assert values(join(con, rows, source(rel, ttl=ttl))) == expected


def test_zero_ttl_sees_only_the_same_instant(con: duckdb.DuckDBPyConnection) -> None:
    rel = register(con, "f", [{"driver_id": 1, "ts": at(0), "rate": 1.0}])
    rows = entities((1, at(0)), (1, at(seconds=1)))
    assert values(join(con, rows, source(rel, ttl=timedelta(0)))) == [1.0, None]


def test_expired_latest_row_does_not_fall_back_to_nothing_newer(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # A newer row outside the window beside an older one also outside: nulls.
    rel = register(
        con,
        "f",
        [{"driver_id": 1, "ts": at(-5), "rate": 1.0}, {"driver_id": 1, "ts": at(-3), "rate": 2.0}],
    )
    rows = entities((1, at(0)), (1, at(-2.5)))
    assert values(join(con, rows, source(rel, ttl=timedelta(hours=1)))) == [None, 2.0]


def test_equal_event_times_take_the_latest_created(con: duckdb.DuckDBPyConnection) -> None:
    rel = register(
        con,
        "f",
        [
            {"driver_id": 1, "ts": at(-1), "created": at(1), "rate": 2.0},
            {"driver_id": 1, "ts": at(-1), "created": at(0), "rate": 1.0},
            {"driver_id": 1, "ts": at(-1), "created": None, "rate": 0.0},  # null loses
            {"driver_id": 1, "ts": at(-2), "created": at(5), "rate": 7.0},  # older event
        ],
    )
    rows = entities((1, at(0)))
    assert values(join(con, rows, source(rel, created_timestamp="created"))) == [2.0]


def test_ingestion_order_breaks_created_ties(con: duckdb.DuckDBPyConnection) -> None:
    rel = register(
        con,
        "f",
        [
            {"driver_id": 1, "ts": at(-1), "created": at(0), "seq": 3, "rate": 3.0},
            {"driver_id": 1, "ts": at(-1), "created": at(0), "seq": 5, "rate": 5.0},
            {"driver_id": 1, "ts": at(-1), "created": at(0), "seq": None, "rate": 9.0},
            {"driver_id": 1, "ts": at(-1), "created": at(-1), "seq": 8, "rate": 8.0},
        ],
    )
    src = source(rel, created_timestamp="created", ingestion_order="seq")
    assert values(join(con, entities((1, at(0))), src)) == [5.0]


def test_ingestion_order_is_an_expression(con: duckdb.DuckDBPyConnection) -> None:
    rel = register(
        con,
        "f",
        [
            {"driver_id": 1, "ts": at(-1), "seq": 3, "rate": 3.0},
            {"driver_id": 1, "ts": at(-1), "seq": 5, "rate": 5.0},
        ],
    )
    src = source(rel, ingestion_order="-seq")  # smaller seq arrived later
    assert values(join(con, entities((1, at(0))), src)) == [3.0]


def test_full_ties_are_broken_the_same_way_whatever_the_order(
    con: duckdb.DuckDBPyConnection,
) -> None:
    rows = [{"driver_id": 1, "ts": at(-1), "rate": float(i), "other": i % 3} for i in range(20)]
    picked = set()
    for shuffle in range(4):
        name = f"f{shuffle}"
        con.register(name, pd.DataFrame(rows).sample(frac=1.0, random_state=shuffle))
        both = join(con, entities((1, at(0))), source(name, features=("rate", "other")))
        alone = join(con, entities((1, at(0))), source(name))
        # The same row whichever features are asked for.
        assert both["driver__rate"][0] == alone["driver__rate"][0]
        picked.add(both["driver__rate"][0])
    assert len(picked) == 1


def test_the_connections_null_order_does_not_matter(con: duckdb.DuckDBPyConnection) -> None:
    rel = register(
        con,
        "f",
        [
            {"driver_id": 1, "ts": at(-1), "created": None, "seq": None, "rate": 1.0},
            {"driver_id": 1, "ts": at(-1), "created": at(0), "seq": None, "rate": 2.0},
            {"driver_id": 1, "ts": at(0), "created": at(0), "seq": 1, "rate": 3.0},
            {"driver_id": 1, "ts": at(1), "created": None, "seq": None, "rate": 4.0},
        ],
    )
    src = source(rel, created_timestamp="created", ingestion_order="seq")
    rows = entities((1, at(-0.5)), (1, at(0)), (1, at(0.5)))
    expected = [2.0, 3.0, 3.0]
    for order in ("nulls_first", "nulls_last"):
        con.execute(f"SET default_null_order = '{order}'")
        assert values(join(con, rows, src)) == expected, order


# --- as_of --------------------------------------------------------------------------------------


def test_as_of_hides_rows_created_later(con: duckdb.DuckDBPyConnection) -> None:
    rel = register(
        con,
        "f",
        [
            {"driver_id": 1, "ts": at(-2), "created": at(-2), "rate": 1.0},
            {"driver_id": 1, "ts": at(-1), "created": at(3), "rate": 2.0},  # backfilled later
            {"driver_id": 1, "ts": at(-2), "created": at(2), "rate": 3.0},  # a correction
            {"driver_id": 1, "ts": at(-1.5), "created": None, "rate": 4.0},  # event time decides
        ],
    )
    src = source(rel, created_timestamp="created")
    rows = entities((1, at(0)))
    assert values(join(con, rows, src)) == [2.0]
    assert values(join(con, rows, src, as_of=at(2.5))) == [4.0]
    assert values(join(con, rows, src, as_of=at(-1.6))) == [1.0]
    assert values(join(con, rows, src, as_of=at(-3))) == [None]


def test_as_of_without_created_timestamp_uses_event_time(con: duckdb.DuckDBPyConnection) -> None:
    rel = register(
        con,
        "f",
        [{"driver_id": 1, "ts": at(-2), "rate": 1.0}, {"driver_id": 1, "ts": at(-1), "rate": 2.0}],
    )
    rows = entities((1, at(0)))
    assert values(join(con, rows, source(rel), as_of=at(-1))) == [2.0]  # inclusive
    assert values(join(con, rows, source(rel), as_of=at(-1, seconds=-1))) == [1.0]


def test_as_of_in_another_zone_is_the_same_instant(con: duckdb.DuckDBPyConnection) -> None:
    rel = register(con, "f", [{"driver_id": 1, "ts": at(-1), "created": at(1), "rate": 1.0}])
    src = source(rel, created_timestamp="created")
    tokyo = timezone(timedelta(hours=9))
    rows = entities((1, at(0)))
    known = at(1).replace(tzinfo=UTC).astimezone(tokyo)
    assert values(join(con, rows, src, as_of=known)) == [1.0]
    assert values(join(con, rows, src, as_of=known - timedelta(seconds=1))) == [None]


# --- entity rows in and out ---------------------------------------------------------------------


def test_every_entity_row_once_in_order_with_its_columns(con: duckdb.DuckDBPyConnection) -> None:
    rel = register(
        con,
        "f",
        [{"driver_id": 1, "ts": at(-1), "rate": 1.0}, {"driver_id": 2, "ts": at(-1), "rate": 2.0}],
    )
    rows = entities(
        (2, at(0)),
        (7, at(0)),  # no feature rows: nulls
        (1, at(0)),
        (2, at(0)),  # a duplicate of the first row: two output rows
        (1, at(-5)),
        label=["a", None, "c", "a", "e"],
        weight=pd.array([1, None, 3, 1, 5], dtype="Int64"),
        kind=pd.Categorical(["x", "y", "x", "x", "y"]),
    )
    out = join(con, rows, source(rel))
    assert list(out.columns) == [
        "driver_id",
        "event_timestamp",
        "label",
        "weight",
        "kind",
        "driver__rate",
    ]
    assert values(out) == [2.0, None, 1.0, 2.0, None]
    assert list(out["driver_id"]) == [2, 7, 1, 2, 1]
    assert values(out, "label") == ["a", None, "c", "a", "e"]
    assert values(out, "weight") == [1, None, 3, 1, 5]
    assert list(out["kind"]) == ["x", "y", "x", "x", "y"]


def test_pass_through_columns_keep_their_arrow_types(con: duckdb.DuckDBPyConnection) -> None:
    rel = register(con, "f", [{"driver_id": 1, "ts": at(-1), "rate": 1.0}])
    rows = pa.table(
        {
            "driver_id": pa.array([1, 1], pa.int32()),
            "event_timestamp": pa.array([at(0), at(1)], pa.timestamp("ns")),
            "tags": pa.array([["a"], []], pa.list_(pa.string())),
            "code": pa.array(["p", "q"]).dictionary_encode(),
            "local": pa.array([at(0), at(1)], pa.timestamp("us", "Europe/Paris")),
        }
    )
    result = point_in_time_join(rows, [source(rel)], connection=con)
    assert result is not None
    assert result.schema.field("driver_id").type == pa.int32()
    assert result.schema.field("event_timestamp").type == pa.timestamp("ns", "UTC")
    assert result.column("tags").to_pylist() == [["a"], []]
    assert result.column("code").type == rows.column("code").type
    assert result.schema.field("local").type == pa.timestamp("us", "Europe/Paris")  # untouched
    assert result.column("driver__rate").to_pylist() == [1.0, 1.0]


def test_null_keys_get_nulls(con: duckdb.DuckDBPyConnection) -> None:
    rel = register(
        con,
        "f",
        [
            {"driver_id": None, "ts": at(-1), "rate": 5.0},
            {"driver_id": 1, "ts": at(-1), "rate": 1.0},
        ],
    )
    rows = pd.DataFrame(
        {"driver_id": pd.array([None, 1], dtype="Int64"), "event_timestamp": [at(0), at(0)]}
    )
    assert values(join(con, rows, source(rel))) == [None, 1.0]


def test_no_entity_rows_give_an_empty_result(con: duckdb.DuckDBPyConnection) -> None:
    rel = register(con, "f", [{"driver_id": 1, "ts": at(-1), "rate": 1.0}])
    rows = pd.DataFrame(
        {
            "driver_id": pd.Series([], dtype="int64"),
            "event_timestamp": pd.Series([], dtype="datetime64[us]"),
        }
    )
    out = join(con, rows, source(rel))
    assert len(out) == 0
    assert list(out.columns) == ["driver_id", "event_timestamp", "driver__rate"]


def test_no_sources_returns_the_entity_rows(con: duckdb.DuckDBPyConnection) -> None:
    rows = entities((1, at(0)), label=["a"])
    out = join(con, rows)
    assert list(out.columns) == ["driver_id", "event_timestamp", "label"]
    assert str(out["event_timestamp"].dt.tz) == "UTC"


def test_a_key_column_of_nulls_only_joins_nothing(con: duckdb.DuckDBPyConnection) -> None:
    rel = register(con, "f", [{"driver_id": "a", "ts": at(-1), "rate": 1.0}])
    rows = pa.table({"driver_id": pa.nulls(2), "event_timestamp": pa.array([at(0), at(1)])})
    assert values(join(con, rows, source(rel))) == [None, None]


def test_a_dataframes_index_is_ignored_and_order_kept(con: duckdb.DuckDBPyConnection) -> None:
    rel = register(
        con,
        "f",
        [{"driver_id": 1, "ts": at(-1), "rate": 1.0}, {"driver_id": 2, "ts": at(-1), "rate": 2.0}],
    )
    rows = entities((2, at(0)), (1, at(0)), (2, at(-2)))
    rows.index = [10, 5, 7]
    out = join(con, rows, source(rel))
    assert values(out) == [2.0, 1.0, None]
    assert list(out.index) == [0, 1, 2]


def test_record_batches_and_a_single_source_are_accepted(con: duckdb.DuckDBPyConnection) -> None:
    rel = register(con, "f", [{"driver_id": 1, "ts": at(-1), "rate": 1.0}])
    batch = pa.RecordBatch.from_pydict({"driver_id": [1], "event_timestamp": [at(0)]})
    result = point_in_time_join(batch, source(rel), connection=con)  # type: ignore[arg-type]
    assert result is not None
    assert result.column("driver__rate").to_pylist() == [1.0]


def test_keys_of_related_types_join(con: duckdb.DuckDBPyConnection) -> None:
    con.register(
        "f",
        pa.table(
            {
                "driver_id": pa.array([1, 2], pa.int64()),
                "city": pa.array(["x", "y"]),
                "ts": pa.array([at(-1), at(-1)]),
                "rate": [1.0, 2.0],
            }
        ),
    )
    rows = pa.table(
        {
            "driver_id": pa.array([2, 1], pa.int32()),
            "city": pa.array(["y", "x"]).dictionary_encode(),
            "event_timestamp": pa.array([at(0), at(0)]),
        }
    )
    out = join(con, rows, source("f", join_keys=("driver_id", "city")))
    assert values(out) == [2.0, 1.0]


def test_a_query_as_the_source_and_an_unbounded_huge_ttl(con: duckdb.DuckDBPyConnection) -> None:
    register(con, "raw", [{"id": 1, "ts": datetime(1900, 1, 1), "r": 3.0}])
    src = source(
        "(SELECT id AS driver_id, ts, r * 2 AS rate FROM raw)", ttl=timedelta.max
    )  # no overflow: the ttl is clamped
    assert values(join(con, entities((1, at(0))), src)) == [6.0]


def test_times_compare_at_microsecond_precision(con: duckdb.DuckDBPyConnection) -> None:
    con.register(
        "f",
        pa.table(
            {
                "driver_id": [1, 1],
                "ts": pa.array([1_000, 2_900], pa.timestamp("ns")),  # 1.0 µs and 2.9 µs
                "rate": [1.0, 2.0],
            }
        ),
    )
    rows = pa.table(
        {"driver_id": [1, 1], "event_timestamp": pa.array([2_000, 1_999], pa.timestamp("ns"))}
    )
    # 2.9 µs counts as 2 µs, so the row at 2.0 µs sees it; 1.999 µs counts as 1 µs.
    assert values(join(con, rows, source("f"))) == [2.0, 1.0]


# --- several views ------------------------------------------------------------------------------


def test_several_views_with_their_own_keys_and_ttls(con: duckdb.DuckDBPyConnection) -> None:
    drivers = register(
        con,
        "drivers",
        [{"driver_id": 1, "ts": at(-3), "rate": 1.0}, {"driver_id": 2, "ts": at(-1), "rate": 2.0}],
    )
    trips = register(
        con,
        "trips",
        [
            {"driver_id": 1, "city": "x", "ts": at(-1), "count": 10},
            {"driver_id": 1, "city": "y", "ts": at(-1), "count": 20},
        ],
    )
    market = register(con, "market", [{"ts": at(-10), "index": 0.5}])  # no join keys
    sources = [
        source(drivers, ttl=timedelta(hours=2)),
        source(trips, view="trips", join_keys=("driver_id", "city"), features=("count",)),
        source(market, view="market", join_keys=(), features=("index",)),
    ]
    rows = entities((1, at(0)), (2, at(0)), (1, at(0)), city=["y", "x", "x"])
    out = join(con, rows, *sources)
    assert values(out) == [None, 2.0, None]  # driver 1's rate is 3 hours old: past its ttl
    assert values(out, "trips__count") == [20, None, 10]
    assert values(out, "market__index") == [0.5, 0.5, 0.5]


def test_the_same_view_may_be_joined_from_two_sources_with_other_features(
    con: duckdb.DuckDBPyConnection,
) -> None:
    rel = register(con, "f", [{"driver_id": 1, "ts": at(-1), "rate": 1.0, "trips": 4}])
    out = join(
        con,
        entities((1, at(0))),
        source(rel),
        source(rel, view="driver_trips", features=("trips",), ttl=timedelta(minutes=30)),
    )
    assert values(out) == [1.0]
    assert values(out, "driver_trips__trips") == [None]


# --- time zones ---------------------------------------------------------------------------------


def test_time_zones_are_converted_and_output_is_utc(con: duckdb.DuckDBPyConnection) -> None:
    utc_source = pd.DataFrame(
        {
            "driver_id": [1, 1],
            "ts": pd.to_datetime([at(-1), at(1)]).tz_localize("UTC").tz_convert("America/Chicago"),
            "seen": pd.to_datetime([at(-1), at(1)]),  # a naive timestamp feature
            "rate": [1.0, 2.0],
        }
    )
    con.register("f", utc_source)
    rows = pd.DataFrame(
        {
            "driver_id": [1, 1],
            # 21:00 in Tokyo is 12:00 UTC: after the first value, before the second.
            "event_timestamp": pd.to_datetime(["2024-05-01 21:00", "2024-05-01 22:30"]).tz_localize(
                "Asia/Tokyo"
            ),
        }
    )
    out = join(con, rows, source("f", features=("rate", "seen")))
    assert values(out) == [1.0, 2.0]
    assert str(out["event_timestamp"].dt.tz) == "UTC"
    assert out["event_timestamp"][0] == pd.Timestamp(at(0), tz="UTC")
    assert str(out["driver__seen"].dt.tz) == "UTC"
    assert out["driver__seen"][0] == pd.Timestamp(at(-1), tz="UTC")


def test_timestamp_features_come_out_utc_whatever_the_sessions_zone(
    con: duckdb.DuckDBPyConnection,
) -> None:
    con.execute("SET TimeZone = 'America/New_York'")
    frame = pd.DataFrame(
        {"driver_id": [1], "ts": pd.to_datetime([at(-1)]).tz_localize("Europe/Berlin")}
    )
    con.register("f", frame)
    out = join(con, entities((1, at(0))), source("f", features=("ts",)))
    assert str(out["driver__ts"].dt.tz) == "UTC"
    assert out["driver__ts"][0] == pd.Timestamp(at(-1), tz="Europe/Berlin").tz_convert("UTC")


def test_date_entity_times_are_midnight_utc(con: duckdb.DuckDBPyConnection) -> None:
    rel = register(
        con,
        "f",
        [
            {"driver_id": 1, "ts": datetime(2024, 5, 1), "rate": 1.0},
            {"driver_id": 1, "ts": datetime(2024, 5, 1, 0, 0, 1), "rate": 2.0},
        ],
    )
    rows = pa.table({"driver_id": [1], "event_timestamp": pa.array([datetime(2024, 5, 1).date()])})
    result = point_in_time_join(rows, [source(rel)], connection=con)
    assert result is not None
    assert result.column("driver__rate").to_pylist() == [1.0]
    assert result.schema.field("event_timestamp").type == pa.timestamp("us", "UTC")


# --- Parquet in and out, connections, odd names ---------------------------------------------------


def test_parquet_in_and_parquet_out(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    features = tmp_path / "features.parquet"
    pq.write_table(
        pa.table(
            {
                "driver_id": [1, 1, 2],
                "ts": [at(-2), at(-1), at(-1)],
                "rate": [1.0, 2.0, 3.0],
            }
        ),
        features,
    )
    src = source(
        f"read_parquet('{features}', file_row_number=true)",
        ingestion_order="file_row_number",
        readable=(str(features),),
    )
    n = 300_000  # more than two batches, so zipping crosses batch edges
    rows = pa.table(
        {
            "driver_id": pa.array([1 + (i % 3) for i in range(n)]),
            "event_timestamp": pa.array([at(-1.5 + (i % 2)) for i in range(n)], pa.timestamp("us")),
            "rid": pa.array(range(n)),
        }
    )
    entity_file = tmp_path / "entities.parquet"
    pq.write_table(rows, entity_file, row_group_size=70_000)
    in_memory = point_in_time_join(rows, [src], connection=con)
    assert in_memory is not None
    assert in_memory.column("rid").to_pylist() == list(range(n))
    assert in_memory.column("driver__rate").to_pylist()[:6] == [1.0, 3.0, None, 2.0, None, None]

    for given in (entity_file, str(entity_file), rows):
        out = tmp_path / "out" / "joined.parquet"
        assert point_in_time_join(given, [src], connection=con, output=out) is None
        assert pq.read_table(out).equals(in_memory)
        assert sorted(p.name for p in out.parent.iterdir()) == ["joined.parquet"]  # no leftovers
    from_file = point_in_time_join(entity_file, [src])  # its own connection
    assert from_file is not None and from_file.equals(in_memory)


def test_names_with_quotes_and_spaces(con: duckdb.DuckDBPyConnection) -> None:
    con.register(
        "odd table",
        pd.DataFrame(
            {
                'driver "id"': [1],
                "event time": [at(-1)],
                "it's a rate": [1.5],
                "created at": [at(0)],
            }
        ),
    )
    src = FeatureSource(
        view='my "view"',
        relation='"odd table"',
        join_keys=('driver "id"',),
        event_timestamp="event time",
        features=("it's a rate",),
        created_timestamp="created at",
    )
    rows = pd.DataFrame({'driver "id"': [1], "when it's": [at(0)]})
    out = join(con, rows, src, timestamp_column="when it's", as_of=at(1))
    assert values(out, """my "view"__it's a rate""") == [1.5]


def test_the_callers_connection_is_left_as_it_was(con: duckdb.DuckDBPyConnection) -> None:
    rel = register(con, "f", [{"driver_id": 1, "ts": at(-1), "rate": 1.0}])
    con.execute("SET memory_limit = '512MB'")

    def state() -> list[Any]:
        tables = con.sql("SELECT name FROM (SHOW ALL TABLES) ORDER BY name").fetchall()
        settings = con.sql(
            "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
        ).fetchall()
        return [tables, settings]

    before = state()
    join(con, entities((1, at(0))), source(rel))
    assert state() == before


def test_spills_under_a_small_memory_limit(tmp_path: Path) -> None:
    # One thread: DuckDB's per-thread buffers would otherwise eat most of so small a limit.
    config = {"memory_limit": "64MB", "threads": "1", "temp_directory": str(tmp_path / "spill")}
    con = duckdb.connect(config=config)
    n = 400_000  # the feature rows alone are about 100 MB in the sort
    con.execute(
        "CREATE TABLE f AS SELECT (i % 5000)::BIGINT AS driver_id, "
        "TIMESTAMP '2024-01-01' + to_seconds(i) AS ts, i::DOUBLE AS rate, "
        "repeat('x', 200) AS pad FROM range($n) t(i)",
        {"n": n},
    )
    rows = con.sql(
        "SELECT (i * 7 % 5000)::BIGINT AS driver_id, TIMESTAMP '2024-01-01' + to_seconds(i) "
        "AS event_timestamp FROM range($n) t(i)",
        params={"n": n},
    ).to_arrow_table()
    out = tmp_path / "out.parquet"
    point_in_time_join(rows, [source("f", features=("rate", "pad"))], connection=con, output=out)
    result = pq.read_table(out, columns=["driver__rate"]).column(0).to_pylist()
    assert len(result) == n
    # Row i (driver 7i mod 5000, time i) sees the latest j <= i with j = 7i mod 5000 (mod 5000).
    for i in (0, 1, 4999, 123_456, n - 1):
        j = max(j for j in range((7 * i) % 5000, i + 1, 5000)) if (7 * i) % 5000 <= i else None
        assert result[i] == (None if j is None else float(j))
    con.close()


# --- refusals -----------------------------------------------------------------------------------


@pytest.fixture
def rel(con: duckdb.DuckDBPyConnection) -> str:
    return register(
        con, "f", [{"driver_id": 1, "ts": at(-1), "created": at(-1), "rate": 1.0, "name": "a"}]
    )


@pytest.mark.parametrize(
    ("rows", "change", "message"),
    [
        (entities((1, at(0))), {"timestamp_column": "ts"}, "no timestamp column 'ts'"),
        (pd.DataFrame({"driver_id": [1], "event_timestamp": [at(0)]}).drop(columns="driver_id"),
         {}, "lack join key(s) ['driver_id']"),
        (pd.DataFrame({"driver_id": [1, 2], "event_timestamp": [at(0), None]}), {},
         "1 entity row(s) have no time"),
        (pd.DataFrame({"driver_id": [1], "event_timestamp": ["2024-05-01"]}), {},
         "holds VARCHAR, not timestamps"),
        (pd.DataFrame({"driver_id": ["1"], "event_timestamp": [at(0)]}), {},
         "Join key 'driver_id' is VARCHAR in the entity rows but BIGINT"),
        (entities((1, at(0)), driver__rate=[0.0]), {}, "already have column(s) ['driver__rate']"),
        (entities((1, at(0))), {"as_of": "2024-05-01"}, "as_of must be a datetime"),
        ([{"driver_id": 1}], {}, "entity_rows must be a pandas DataFrame"),
        ("/no/such/file.parquet", {}, "does not exist"),
    ],
)  # fmt: skip
def test_bad_entity_rows_are_refused(
    con: duckdb.DuckDBPyConnection, rel: str, rows: Any, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        point_in_time_join(rows, [source(rel)], connection=con, **change)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"join_keys": ("driver_id", "city")}, "no join key column(s) ['city']"),
        ({"features": ("rate", "speed")}, "no feature column(s) ['speed']"),
        ({"features": ()}, "names no features"),
        ({"event_timestamp": "when"}, "no event timestamp column 'when'"),
        ({"event_timestamp": "rate"}, "holds DOUBLE, not timestamps"),
        ({"created_timestamp": "made"}, "no created timestamp column 'made'"),
        ({"created_timestamp": "name"}, "The created timestamp column 'name'"),
        ({"ttl": timedelta(hours=-1)}, "it must be a timedelta >= 0"),
        ({"ingestion_order": "no_such_column +"}, "Cannot read the ingestion order"),
        ({"relation": "read_parquet('/no/such.parquet')"}, "Cannot read the rows of feature view"),
    ],
)
def test_bad_sources_are_refused(
    con: duckdb.DuckDBPyConnection, rel: str, change: dict[str, Any], message: str
) -> None:
    relation = change.pop("relation", rel)
    rows = entities((1, at(0)), city=["x"])
    with pytest.raises(InvalidInput) as err:
        point_in_time_join(rows, [source(relation, **change)], connection=con)
    assert message in str(err.value)
    assert err.value.hint or "DuckDB" not in str(err.value)


def test_two_features_with_one_output_name_are_refused(
    con: duckdb.DuckDBPyConnection, rel: str
) -> None:
    with pytest.raises(InvalidInput, match="would both be named 'driver__rate'"):
        point_in_time_join(entities((1, at(0))), [source(rel), source(rel)], connection=con)


def test_a_file_that_is_not_parquet_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    path.write_text("driver_id,event_timestamp\n1,2024-05-01\n")
    with pytest.raises(InvalidInput, match=r"Cannot read .* as Parquet"):
        point_in_time_join(path, [source("f")])


def test_parquet_entity_rows_with_null_times_are_refused(
    con: duckdb.DuckDBPyConnection, rel: str, tmp_path: Path
) -> None:
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"driver_id": [1, 1], "event_timestamp": [at(0), None]}), path)
    with pytest.raises(InvalidInput, match="1 entity row"):
        point_in_time_join(path, [source(rel)], connection=con)


def test_text_keys_against_number_keys_are_refused_even_when_empty(
    con: duckdb.DuckDBPyConnection,
) -> None:
    con.execute("CREATE TABLE g (driver_id VARCHAR, ts TIMESTAMP, rate DOUBLE)")
    rows = entities((1, at(0)))
    with pytest.raises(InvalidInput, match="cannot be compared") as err:
        point_in_time_join(rows, [source("g")], connection=con)
    assert err.value.hint is not None and "astype" in err.value.hint
