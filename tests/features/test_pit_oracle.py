"""The point-in-time join against a brute-force oracle, on random small tables.

Times come from a small set (whole hours, and one second past them), so equal
event times, values exactly at the row time, exactly at the ttl edge and one
second past it are common; keys come from a small set with one value no
feature row has. Every feature row carries a unique id as a feature, so the
oracle can say which rows were acceptable: the unique best one, or, when
several tie on event time, created time and ingestion order, any of them, and
then the same one whatever the order of the source's rows.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.features.pit import point_in_time_join
from shipyard.features.source import FeatureSource

T0 = datetime(2024, 3, 1)  # naive: UTC
ZONES = [None, "UTC", "Asia/Tokyo", "America/New_York"]
KEY_SETS = [("a",), ("b",), ("a", "b"), ()]
PROPERTY = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

_counter = itertools.count()


def moments() -> st.SearchStrategy[datetime]:
    """Whole hours 0..4 after T0, sometimes one second later."""
    return st.builds(
        lambda h, s: T0 + timedelta(hours=h, seconds=s),
        st.integers(0, 4),
        st.sampled_from([0, 0, 0, 1]),
    )


@dataclass
class View:
    name: str
    keys: tuple[str, ...]
    ttl: timedelta | None
    created: bool
    ordered: bool
    zone: str | None
    rows: list[dict[str, Any]]  # a, b, t, c, seq, id (UTC-naive times)


@st.composite
def views(draw: st.DrawFn, index: int) -> View:
    keys = draw(st.sampled_from(KEY_SETS))
    created = draw(st.booleans())
    ordered = draw(st.booleans())
    n = draw(st.integers(0, 16))
    rows = []
    for i in range(n):
        t = draw(moments())
        c = t + timedelta(hours=draw(st.sampled_from([0, 0, 1, 2]))) if created else None
        if created and draw(st.integers(0, 3)) == 0:
            c = None  # a null created time loses ties
        seq = draw(st.sampled_from([0, 1, 1, None])) if ordered else None
        rows.append(
            {
                "a": draw(st.integers(0, 1)),
                "b": draw(st.sampled_from(["x", "y"])),
                "t": t,
                "c": c,
                "seq": seq,
                "id": index * 1000 + i,
            }
        )
    ttl = draw(st.sampled_from([None, timedelta(0), timedelta(hours=1), timedelta(hours=2)]))
    return View(f"v{index}", keys, ttl, created, ordered, draw(st.sampled_from(ZONES)), rows)


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[View], pd.DataFrame, datetime | None, str | None]:
    n_views = draw(st.integers(1, 3))
    all_views = [draw(views(i)) for i in range(n_views)]
    n = draw(st.integers(0, 12))
    entity = pd.DataFrame(
        {
            "a": pd.Series(  # 2: no feature rows
                draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), dtype="int64"
            ),
            "b": pd.Series(
                draw(st.lists(st.sampled_from(["x", "y", "z"]), min_size=n, max_size=n)),
                dtype="string",
            ),
            "event_timestamp": pd.Series(
                draw(st.lists(moments(), min_size=n, max_size=n)), dtype="datetime64[us]"
            ),
            "rid": range(n),
        }
    )
    as_of = draw(st.one_of(st.none(), moments()))
    zone = draw(st.sampled_from(ZONES))
    return all_views, entity, as_of, zone


def _in_zone(times: pd.Series, zone: str | None) -> pd.Series:
    """UTC-naive times, shown in ``zone`` (None: left naive)."""
    series = pd.Series(times, dtype="datetime64[us]")
    return series if zone is None else series.dt.tz_localize("UTC").dt.tz_convert(zone)


def source_table(view: View, rows: list[dict[str, Any]]) -> pa.Table:
    frame = pd.DataFrame(rows, columns=["a", "b", "t", "c", "seq", "id"])
    frame["t"] = _in_zone(frame["t"], view.zone)
    frame["c"] = _in_zone(frame["c"], view.zone)
    frame["seq"] = frame["seq"].astype("Int64")
    frame["a"] = frame["a"].astype("int64")
    frame["b"] = frame["b"].astype("string")
    frame["id"] = frame["id"].astype("int64")
    return pa.Table.from_pandas(frame, preserve_index=False)


def feature_source(view: View, relation: str) -> FeatureSource:
    return FeatureSource(
        view=view.name,
        relation=relation,
        join_keys=view.keys,
        event_timestamp="t",
        features=("id", "b"),
        created_timestamp="c" if view.created else None,
        ttl=view.ttl,
        ingestion_order="seq" if view.ordered else None,
    )


def acceptable(view: View, key: dict[str, Any], at: datetime, as_of: datetime | None) -> set[Any]:
    """The ids the join may give: every best candidate (a set of one unless tied), or {None}."""
    low = datetime.min

    def visible(row: dict[str, Any]) -> bool:
        if as_of is None:
            return True
        known = row["c"] if view.created and row["c"] is not None else row["t"]
        return bool(known <= as_of)

    candidates = [
        r
        for r in view.rows
        if all(r[k] == key[k] for k in view.keys)
        and r["t"] <= at
        and (view.ttl is None or r["t"] >= at - view.ttl)
        and visible(r)
    ]
    if not candidates:
        return {None}

    def rank(row: dict[str, Any]) -> tuple[Any, ...]:
        created = row["c"] if view.created and row["c"] is not None else low
        seq = row["seq"] if view.ordered and row["seq"] is not None else -1
        return (row["t"], created, seq)

    best = max(rank(r) for r in candidates)
    return {r["id"] for r in candidates if rank(r) == best}


def run_join(
    con: duckdb.DuckDBPyConnection,
    all_views: list[View],
    entity: pd.DataFrame,
    as_of: datetime | None,
    *,
    reverse: bool = False,
) -> pd.DataFrame:
    names = []
    try:
        sources = []
        for view in all_views:
            name = f"oracle_{view.name}_{next(_counter)}"
            rows = view.rows[::-1] if reverse else view.rows
            con.register(name, source_table(view, rows))
            names.append(name)
            sources.append(feature_source(view, name))
        return point_in_time_join(entity, sources, as_of=as_of, connection=con).to_pandas()
    finally:
        for name in names:
            con.unregister(name)


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    yield connection
    connection.close()


@PROPERTY
@given(case=cases())
def test_matches_the_oracle(con: duckdb.DuckDBPyConnection, case: Any) -> None:
    all_views, entity, as_of, zone = case
    entity_in = entity.copy()
    entity_in["event_timestamp"] = _in_zone(entity["event_timestamp"], zone)
    as_of_in = (
        as_of
        if as_of is None or zone is None
        else pd.Timestamp(as_of, tz="UTC").tz_convert(zone).to_pydatetime()
    )

    result = run_join(con, all_views, entity_in, as_of_in)

    assert list(result["rid"]) == list(entity["rid"])  # one row per entity row, in order
    assert list(result["a"]) == list(entity["a"])
    assert str(result["event_timestamp"].dt.tz) == "UTC"
    assert list(result["event_timestamp"].dt.tz_localize(None)) == list(entity["event_timestamp"])
    for view in all_views:
        got = result[f"{view.name}__id"]
        for i, row in entity.iterrows():
            allowed = acceptable(view, row.to_dict(), row["event_timestamp"], as_of)
            value = None if pd.isna(got[i]) else int(got[i])
            assert value in allowed, (view, row.to_dict(), value, allowed)
            # The second feature comes from the same row as the first.
            other = result[f"{view.name}__b"][i]
            expected_b = next((r["b"] for r in view.rows if r["id"] == value), None)
            assert (None if pd.isna(other) else other) == expected_b

    # Ties are broken by the rows' contents, not by their order.
    again = run_join(con, all_views, entity_in, as_of_in, reverse=True)
    pd.testing.assert_frame_equal(result, again)
