"""User SQL (check predicates, feature sources) is parsed first and runs on a locked-down
DuckDB connection: no file, no stacked statement, no way to unlock it."""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import shipyard
from shipyard.data.checks import SqlCheck, run_checks
from shipyard.errors import InvalidInput
from shipyard.features.definitions import Entity, Feature, FeatureView, Source
from shipyard.sql_guard import check_predicate, check_select, connect

TABLE = pa.table({"x": [1, 5, 2000, None], "name": ["a", "b", "c", "d"]})


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("x\nhunter2\n", encoding="utf-8")
    return path


# -- the connection is the boundary --------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM read_text('{secret}')",
        "SELECT * FROM read_csv('{secret}')",
        "SELECT * FROM glob('{folder}/*')",
        "COPY (SELECT 1) TO '{folder}/written.csv'",
        "ATTACH '{folder}/other.db'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET allowed_directories = ['/']",
        "RESET lock_configuration",
    ],
)
def test_a_guarded_connection_reads_and_writes_nothing_it_was_not_given(
    statement: str, secret: Path
) -> None:
    connection = connect()
    try:
        with pytest.raises(duckdb.Error):
            connection.execute(statement.format(secret=secret, folder=secret.parent))
    finally:
        connection.close()
    assert not (secret.parent / "written.csv").exists()
    assert not (secret.parent / "other.db").exists()


def test_a_guarded_connection_reads_exactly_the_files_it_is_entitled_to(
    tmp_path: Path, secret: Path
) -> None:
    data = tmp_path / "data" / "part.parquet"
    data.parent.mkdir()
    pq.write_table(TABLE, data)
    for entitled in ([data], [data.parent], [str(data.parent / "*.parquet")]):
        connection = connect(entitled)
        try:
            assert connection.execute(f"SELECT count(*) FROM '{data}'").fetchall() == [(4,)]
            with pytest.raises(duckdb.Error):
                connection.sql(f"SELECT * FROM read_text('{secret}')").fetchall()
            with pytest.raises(duckdb.Error):  # '..' does not escape the folder
                connection.sql(f"SELECT * FROM read_text('{data.parent}/../secret.txt')").fetchall()
        finally:
            connection.close()


# -- check predicates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("predicate", "says"),
    [
        ("x > 1000) OR (1=1", "closes a parenthesis"),
        ("x > 0; COPY (SELECT 1) TO 'out.csv'", "';'"),
        ("x > 0 -- and the rest", "comment"),
        ("x > 0 /* hidden */", "comment"),
        ("x IN (SELECT length(content) FROM read_text('/etc/hostname'))", "reads a table"),
        ("EXISTS (SELECT 1)", "reads a table"),
        ("(x > 1", "open"),
        ("", "non-empty"),
    ],
)
def test_a_predicate_that_is_not_one_expression_is_refused(predicate: str, says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        check_predicate(predicate, "check 'c'")


def test_an_injected_check_cannot_change_what_it_checks_or_write_a_file(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    injected = [
        SqlCheck("widened", "x > 1000) OR (1=1"),
        SqlCheck("stacked", f"x > 0), FALSE); COPY (SELECT 1) TO '{out}'; SELECT ((1"),
        SqlCheck("file", f"x < (SELECT count(*) FROM read_text('{tmp_path}/*'))"),
    ]
    for check in injected:
        with pytest.raises(InvalidInput):
            run_checks(TABLE, sql=[check])
    assert not out.exists()
    # Honest predicates still work, parentheses and strings included.
    report = run_checks(
        TABLE, sql=[SqlCheck("sane", "x IS NULL OR (x > 0 AND name <> ')')", max_failing=0)]
    )
    assert [r.status for r in report.results if r.check == "sane"] == ["pass"]


# Fragments an attacker would splice into a predicate.
_INJECTIONS = [
    ") OR (1=1",
    "); COPY (SELECT 1) TO 'pwned.csv'; SELECT (1",
    "; DROP TABLE data",
    " -- ",
    " /* ",
    "*/",
    " OR x IN (SELECT 1 FROM read_text('/etc/passwd'))",
    " OR EXISTS (SELECT * FROM glob('/*'))",
    " OR (SELECT count(*) FROM read_csv('/etc/hosts')) > 0",
    "' OR '1'='1",
    "\\'; ATTACH 'x.db'; --",
    ")",
    "((",
    ";",
]
_HONEST = ["x > 1", "name = 'a'", "x IS NULL", "(x BETWEEN 1 AND 10)", "name LIKE '%)%'"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(_HONEST + _INJECTIONS), min_size=1, max_size=4),
    st.lists(st.sampled_from([" AND ", " OR ", "", " "]), min_size=3, max_size=3),
)
def test_random_spliced_predicates_are_refused_or_stay_one_harmless_expression(
    parts: list[str], glue: list[str]
) -> None:
    text = "".join(p + g for p, g in zip(parts, glue, strict=False))
    try:
        checked = check_predicate(text, "check 'random'")
    except InvalidInput:
        return
    lowered = checked.lower()
    # What passes never reads a file or a table, and is one parenthesised expression.
    assert "read_" not in lowered and "glob(" not in lowered and "select" not in lowered
    connection = connect()
    try:
        connection.register("data", TABLE)
        # A type error or the like may be raised: still nothing ran but the one expression.
        with suppress(duckdb.Error):
            connection.sql(f"SELECT count(*) FROM data WHERE NOT COALESCE(({checked}), FALSE)")
    finally:
        connection.close()
    assert not Path("pwned.csv").exists()


# -- feature sources -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_text('{secret}')",
        "SELECT * FROM read_csv('{secret}')",
        "SELECT 1 AS origin; COPY (SELECT 1) TO '{folder}/applied.csv'",
        "COPY (SELECT 1) TO '{folder}/applied.csv'",
        "SELECT * FROM main.weather",
        "SELECT * FROM weather, (SELECT * FROM read_parquet('{folder}/*.parquet'))",
    ],
)
def test_a_sql_source_reads_only_what_it_declares(sql: str, secret: Path) -> None:
    with pytest.raises(InvalidInput):
        check_select(sql.format(secret=secret, folder=secret.parent), "view 'v'")
    assert not (secret.parent / "applied.csv").exists()


def _weather(hours: int = 48) -> pd.DataFrame:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return pd.DataFrame(
        {
            "origin": ["JFK", "LGA"] * hours,
            "time_hour": [start + timedelta(hours=h) for h in range(hours) for _ in (0, 1)],
            "temp": [float(h) for h in range(hours) for _ in (0, 1)],
        }
    )


def _view(source: Source, name: str = "warm") -> FeatureView:
    return FeatureView(
        name,
        entities=("airport",),
        source=source,
        event_timestamp="time_hour",
        features=(Feature("temp_c", "float64"),),
    )


def test_a_sql_source_over_a_dataset_applies_joins_and_materializes(
    workspace: shipyard.Workspace,
) -> None:
    workspace.datasets.register("weather", _weather(), time_column="time_hour")
    sql = "SELECT origin, time_hour, (temp - 32) / 1.8 AS temp_c FROM w WHERE origin = 'JFK'"
    workspace.features.apply(
        [Entity("airport", ("origin",)), _view(Source(sql=sql, tables={"w": "dataset:weather"}))]
    )
    rows = pd.DataFrame(
        {"origin": ["JFK", "LGA"], "event_timestamp": [datetime(2024, 1, 2, tzinfo=UTC)] * 2}
    )
    joined: Any = workspace.features.get_historical(rows, ["warm/temp_c"])
    assert joined["warm__temp_c"].iloc[0] == pytest.approx((24 - 32) / 1.8)
    assert pd.isna(joined["warm__temp_c"].iloc[1])
    [result] = workspace.features.materialize(
        ["warm"], datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC)
    )
    assert result.rows == 1
    # An undeclared name is the registered dataset of that name.
    undeclared = _view(Source(sql="SELECT origin, time_hour, temp AS temp_c FROM weather"), "raw")
    workspace.features.apply([undeclared])


def test_apply_refuses_harmful_sources_and_writes_nothing(
    workspace: shipyard.Workspace, tmp_path: Path, secret: Path
) -> None:
    workspace.datasets.register("weather", _weather(), time_column="time_hour")
    written = tmp_path / "applied.csv"
    harmful = [
        Source(sql=f"SELECT * FROM read_text('{secret}')"),
        Source(sql=f"SELECT * FROM weather; COPY (SELECT 1) TO '{written}'"),
        Source(sql="SELECT * FROM nosuch"),
        Source(sql="SELECT * FROM w", tables={"w": "/etc/hostname"}),
        Source(parquet="/etc/*.parquet"),
    ]
    for source in harmful:
        with pytest.raises(InvalidInput):
            workspace.features.apply([Entity("airport", ("origin",)), _view(source)])
    assert not written.exists()
    assert workspace.features.list_views() == []


def test_a_parquet_source_must_lie_under_a_data_root(
    workspace: shipyard.Workspace, tmp_path: Path
) -> None:
    inside = tmp_path / "data" / "weather.parquet"  # the workspace's home is tmp_path/home
    inside.parent.mkdir()
    frame = _weather().rename(columns={"temp": "temp_c"})
    frame.to_parquet(inside)
    workspace.features.apply([Entity("airport", ("origin",)), _view(Source(parquet=str(inside)))])
    outside = Path("/tmp") / f"shipyard-outside-{tmp_path.name}.parquet"
    frame.to_parquet(outside)
    try:
        with pytest.raises(InvalidInput, match="outside the workspace's data roots"):
            workspace.features.apply([_view(Source(parquet=str(outside)), "other")])
    finally:
        outside.unlink()
