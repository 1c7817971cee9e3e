"""Run a check suite: a table (or its profile) against a baseline's constraints and profile."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shipyard.data.checks.constraint_checks import Unexpected, column_checks, schema_checks
from shipyard.data.checks.custom import (
    PythonCheck,
    SqlCheck,
    python_checks,
    sql_checks,
    uniqueness_checks,
)
from shipyard.data.checks.distribution import distribution_checks
from shipyard.data.checks.result import CheckReport, CheckResult
from shipyard.data.rows import is_pandas_index
from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    from shipyard.data.drift import DriftThresholds
    from shipyard.data.profiles import Constraints, TableProfile


def run_checks(
    current: Any,
    *,
    constraints: Constraints | None = None,
    reference: TableProfile | None = None,
    unique: Sequence[str | Sequence[str]] = (),
    sql: Sequence[SqlCheck] = (),
    python: Sequence[PythonCheck] = (),
    unexpected_columns: Unexpected = "warn",
    thresholds: DriftThresholds | None = None,
    alpha: float = 0.05,
) -> CheckReport:
    """Check ``current`` (a table, a Parquet path, or a TableProfile) and report every result.

    Constraint checks (schema, missing fraction, ranges, categories, distinct
    counts) read the current profile; distribution checks compare it with the
    reference profile by :mod:`shipyard.data.drift`'s rule; uniqueness, SQL and
    Python checks need the rows, so they need a table rather than a profile.

    >>> report = run_checks(table, constraints=baseline.constraints,
    ...                     reference=baseline.statistics)       # doctest: +SKIP
    >>> report.raise_for_failures()                             # doctest: +SKIP
    """
    from shipyard.data.profiles import TableProfile, profile_table

    if constraints is None and reference is None and not (unique or sql or python):
        raise InvalidInput(
            "run_checks was given nothing to check against.",
            hint="Pass constraints=, reference=, or unique=/sql=/python= checks.",
        )
    if unexpected_columns not in ("ignore", "warn", "fail"):
        raise InvalidInput(
            f"unexpected_columns must be 'ignore', 'warn' or 'fail', got {unexpected_columns!r}."
        )
    table = None if isinstance(current, TableProfile) else _as_table(current)
    kinds = reference.kinds if reference is not None else None
    if isinstance(current, TableProfile):
        profile = current
    else:
        assert table is not None
        profile = profile_table(table, kinds=known_kinds(kinds, table))
    results: list[CheckResult] = []
    if constraints is not None:
        _check_names(constraints, profile, unexpected_columns)
        results += schema_checks(profile, constraints, unexpected_columns)
        results += column_checks(profile, constraints)
    drift: dict[str, Any] = {}
    if reference is not None:
        found, verdict = distribution_checks(
            reference, profile, constraints=constraints, thresholds=thresholds, alpha=alpha
        )
        results += found
        drift = verdict.to_dict() if verdict is not None else {}
    if unique or sql or python:
        if table is None:
            raise InvalidInput(
                "Uniqueness, SQL and Python checks need the rows, not a profile.",
                hint="Pass the table (or its Parquet path) as `current`.",
            )
        keys = [[k] if isinstance(k, str) else list(k) for k in unique]
        results += uniqueness_checks(table, keys)
        results += sql_checks(table, sql)
        results += python_checks(table, python)
    return CheckReport(tuple(results), drift)


def _as_table(data: Any) -> Any:
    """Any accepted input as one Arrow table (rows are needed for custom checks)."""
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, str | os.PathLike):
        try:
            table = pq.read_table(data)
        except (OSError, pa.ArrowInvalid) as exc:
            raise InvalidInput(f"Cannot read {data} as Parquet: {exc}") from None
        return table.drop_columns([c for c in table.column_names if is_pandas_index(c)])
    module = type(data).__module__
    if module.startswith("pandas"):
        return pa.Table.from_pandas(data, preserve_index=False)
    if module.startswith("polars"):
        return data.to_arrow()
    raise InvalidInput(
        f"Cannot check a {type(data).__name__}.",
        hint="Pass a pandas or polars DataFrame, a pyarrow Table, a Parquet path or a profile.",
    )


def known_kinds(kinds: dict[str, Any] | None, table: Any) -> dict[str, Any] | None:
    """The reference's kinds for the current columns whose type still allows them.

    A column whose type changed is profiled as what it now is, so the schema check can
    report the change instead of the profiler refusing the table.
    """
    if kinds is None:
        return None
    from shipyard.data.profiles.kinds import family_of, resolve_kind

    usable = {}
    for field in table.schema:
        if field.name not in kinds:
            continue
        try:
            resolve_kind(field.name, family_of(field.type), kinds[field.name])
        except InvalidInput:
            continue
        usable[field.name] = kinds[field.name]
    return usable


def _check_names(constraints: Constraints, profile: TableProfile, unexpected: Unexpected) -> None:
    if not constraints.features:
        raise InvalidInput("The constraints name no columns; nothing to check.")
