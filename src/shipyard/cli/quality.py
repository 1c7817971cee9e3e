"""`shipyard data profile|baseline|check`: data quality commands (registered on `data`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from shipyard.cli.context import console, workspace
from shipyard.cli.engine_options import engine_option, scheduler_option, workers_option
from shipyard.errors import InvalidInput


def profile(
    ctx: typer.Context,
    dataset: str = typer.Argument(..., help="NAME or NAME@VERSION."),
    as_json: bool = typer.Option(False, "--json", help="Print the profile document."),
    engine: str = engine_option(),
    scheduler: str | None = scheduler_option(),
    workers: int | None = workers_option(),
) -> None:
    """Profile a dataset version (once; later calls reuse the stored profile); --engine
    dask profiles its row groups in parallel and merges them."""
    result = workspace(ctx).quality.profile(
        dataset, engine=engine, scheduler=scheduler, workers=workers
    )
    if as_json:
        from shipyard.api.schemas import to_json
        from shipyard.api.schemas.quality import Profile

        typer.echo(to_json(Profile.from_domain(result)))
        return
    table = Table(title=f"Profile of {dataset}: {result.rows:,} rows", header_style="bold")
    for column in ("column", "kind", "missing", "mean", "min", "max", "distinct", "top values"):
        table.add_column(column, overflow="fold", no_wrap=column in ("column", "kind"))
    for col in result:
        top = (
            ", ".join(f"{v} ({n:,})" for v, n in col.frequent_items(3))
            if col.path == "categorical"
            else ""
        )
        table.add_row(
            col.name,
            col.kind,
            f"{col.missing:,}",
            _number(col.mean) if col.path == "numeric" else "",
            _number(col.min) if col.path == "numeric" else "",
            _number(col.max) if col.path == "numeric" else "",
            f"~{col.distinct():,.0f}" if col.n else "0",
            top,
        )
    console.print(table)


def baseline(
    ctx: typer.Context,
    dataset: str = typer.Argument(..., help="NAME or NAME@VERSION of the reference data."),
    constraints: Path | None = typer.Option(
        None, help="Edited constraints (JSON or YAML) to store instead of suggested ones."
    ),
    out: Path | None = typer.Option(
        None, help="Also write statistics.json and constraints.json here."
    ),
    engine: str = engine_option(),
    scheduler: str | None = scheduler_option(),
    workers: int | None = workers_option(),
) -> None:
    """Store a baseline: the dataset's profile plus suggested (or edited) constraints."""
    quality = workspace(ctx).quality
    before = _latest_baseline(quality, dataset)
    stored = quality.baseline(
        dataset, constraints=constraints, engine=engine, scheduler=scheduler, workers=workers
    )
    how = "edited" if stored.edited else "suggested"
    if before is not None and before.ref == stored.ref:  # the latest already held it
        console.print(f"Already stored as [bold]{stored.ref}[/bold] ({how} constraints)")
    else:
        console.print(
            f"Stored [bold]{stored.ref}[/bold] of {stored.dataset}: "
            f"{len(stored.constraints.features)} columns, {how} constraints"
        )
    latest = _latest_baseline(quality, dataset)
    if latest is not None:
        replaced = (
            f"; it replaces {before.ref} (edited) as the one checks use"
            if before is not None and before.edited and before.ref != latest.ref
            else ""
        )
        console.print(f"Latest baseline of {stored.dataset.name}: {latest.ref}{replaced}")
    if out is not None:
        statistics, rules = stored.write(out)
        console.print(f"Wrote {statistics} and {rules}")


def _latest_baseline(quality: Any, dataset: str) -> Any:
    """The latest baseline of the dataset named (None when it has none or does not exist)."""
    from shipyard.errors import NotFound

    try:
        return quality.get_baseline(f"baseline:{dataset.removeprefix('dataset:').split('@')[0]}")
    except NotFound:
        return None


def check(
    ctx: typer.Context,
    data: str = typer.Argument(..., help="NAME[@VERSION] of a dataset, or a Parquet file."),
    baseline_ref: str = typer.Option(
        ..., "--baseline", help="baseline:NAME[@V], or dataset:NAME[@V] for its latest baseline."
    ),
    unique: list[str] = typer.Option(
        [], "--unique", help="Key that must be unique: COL or COL1,COL2 (repeatable)."
    ),
    sql: list[str] = typer.Option(
        [], "--sql", help="NAME=PREDICATE every row must satisfy, in DuckDB SQL (repeatable)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    all_results: bool = typer.Option(False, "--all", help="Also list the checks that passed."),
) -> None:
    """Check data against a baseline; exits 6 when a check fails."""
    from shipyard.data.checks import SqlCheck

    sql_checks = []
    for item in sql:
        name, sep, predicate = item.partition("=")
        if not sep or not name.strip() or not predicate.strip():
            raise InvalidInput(f"--sql {item!r} is not NAME=PREDICATE.",
                               hint='Example: --sql "positive_distance=distance > 0".')  # fmt: skip
        sql_checks.append(SqlCheck(name.strip(), predicate.strip()))
    keys = [[c.strip() for c in key.split(",") if c.strip()] for key in unique]
    report = workspace(ctx).quality.check(data, baseline=baseline_ref, unique=keys, sql=sql_checks)
    if as_json:
        from shipyard.api.schemas import to_json
        from shipyard.api.schemas.quality import CheckReport

        typer.echo(to_json(CheckReport.from_domain(report)))
    else:
        console.print(report.table(show_passed=all_results))
    report.raise_for_failures()


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"
