"""Checks that need the rows themselves: key uniqueness, SQL predicates, Python functions.

SQL runs in DuckDB over the Arrow table, in memory and without copying it to pandas, on a
connection that can read nothing else (:mod:`shipyard.sql_guard`); a predicate is checked to be
one expression over the columns before it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.data.checks.result import CheckResult, Status
from shipyard.errors import InvalidInput
from shipyard.sql_guard import check_predicate

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class SqlCheck:
    """Every row must satisfy ``predicate`` (DuckDB SQL over the columns), up to ``max_failing``.

    >>> SqlCheck("delay_sane", "dep_delay IS NULL OR dep_delay BETWEEN -120 AND 1440")
    SqlCheck(name='delay_sane', predicate='dep_delay IS NULL OR dep_delay BETWEEN -120 AND 1440', max_failing=0)
    """  # noqa: E501

    name: str
    predicate: str
    max_failing: int = 0


@dataclass(frozen=True)
class PythonCheck:
    """``function(table) -> bool`` or ``(bool, observed)``: True passes.

    >>> PythonCheck("enough_rows", lambda t: (t.num_rows >= 1000, t.num_rows))  # doctest: +ELLIPSIS
    PythonCheck(name='enough_rows', function=<function <lambda> at ...>)
    """

    name: str
    function: Callable[[pa.Table], Any]


def uniqueness_checks(table: pa.Table, keys: Sequence[Sequence[str]]) -> Iterator[CheckResult]:
    """Exact: each key (one or several columns) identifies at most one row."""
    for key in keys:
        columns = list(key)
        missing = [c for c in columns if c not in table.column_names]
        label = ", ".join(columns)
        if missing:  # a mistake in the request, not a failing check of the data
            raise InvalidInput(
                f"Uniqueness key column(s) {', '.join(missing)} are not in the table.",
                hint=f"The table has: {', '.join(table.column_names)}.",
            )
        quoted = ", ".join(_quote(c) for c in columns)
        sql = f"SELECT COUNT(*) FROM (SELECT {quoted} FROM data GROUP BY ALL HAVING COUNT(*) > 1)"
        repeated = _run(table, sql)
        status: Status = "pass" if repeated == 0 else "fail"
        why = (
            "Every key is unique."
            if status == "pass"
            else (
                f"{repeated:,} key value(s) appear on more than one row: duplicated records, "
                "or a key that is not one."
            )
        )
        yield CheckResult("unique", label, status, repeated, 0, why)


def sql_checks(table: pa.Table, checks: Sequence[SqlCheck]) -> Iterator[CheckResult]:
    """Count the rows failing each predicate (a NULL result counts as failing)."""
    import duckdb

    for check in checks:
        predicate = check_predicate(check.predicate, f"SQL check {check.name!r}")
        sql = f"SELECT COUNT(*) FROM data WHERE NOT COALESCE(({predicate}), FALSE)"
        try:
            failing = _run(table, sql)
        except duckdb.Error as exc:
            raise InvalidInput(
                f"SQL check {check.name!r} cannot run: {str(exc).splitlines()[0]}",
                hint=f"The predicate must be a DuckDB boolean expression over the columns "
                f"{', '.join(table.column_names)}.",
            ) from None
        status: Status = "pass" if failing <= check.max_failing else "fail"
        why = (
            "Every row satisfies it." if failing == 0 else f"{failing:,} row(s) do not satisfy it."
        )
        yield CheckResult(check.name, None, status, failing, f"<= {check.max_failing}", why)


def python_checks(table: pa.Table, checks: Sequence[PythonCheck]) -> Iterator[CheckResult]:
    """Run each function on the table; an exception is reported as a failure, not raised."""
    for check in checks:
        try:
            outcome = check.function(table)
        except Exception as exc:  # a user's function: report it, keep checking the rest
            yield CheckResult(
                check.name,
                None,
                "fail",
                f"{type(exc).__name__}: {exc}",
                "True",
                "The check raised an exception.",
            )
            continue
        passed, observed = outcome if isinstance(outcome, tuple) else (outcome, outcome)
        yield CheckResult(
            check.name,
            None,
            "pass" if passed else "fail",
            observed,
            True,
            "Passed." if passed else "The function returned False.",
        )


def _run(table: pa.Table, sql: str) -> int:
    from shipyard.sql_guard import connect

    connection = connect()
    try:
        connection.register("data", table)
        row = connection.execute(sql).fetchone()
    finally:
        connection.close()
    return int(row[0]) if row else 0


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
