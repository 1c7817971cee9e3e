"""`shipyard data`: register, list and show versioned datasets."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from shipyard.cli.context import console, workspace

app = typer.Typer(
    help="Versioned datasets: register, list, show.",
    no_args_is_help=True,
    epilog="Example: shipyard data register flights flights.parquet --time-column time_hour",
)


@app.command(epilog="Example: shipyard data register flights flights.parquet "
             "--time-column time_hour --target late --known-after dep_delay")  # fmt: skip
def register(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Dataset name, such as flights."),
    path: Path = typer.Argument(..., help="A .parquet, .csv or .csv.gz file."),
    time_column: str | None = typer.Option(None, help="Event-time column (timestamp)."),
    target: str | None = typer.Option(None, help="The label column."),
    id_column: list[str] = typer.Option([], "--id-column", help="An id column (repeatable)."),
    known_after: list[str] = typer.Option(
        [], "--known-after", help="A column known only after the event (repeatable)."
    ),
    description: str = typer.Option("", help="What the data is."),
) -> None:
    """Register a file as the next version of dataset NAME (same content: same version)."""
    ws = workspace(ctx)
    before = {v.version for v in ws.datasets.versions(name)}
    dataset = ws.datasets.register(
        name,
        path,
        time_column=time_column,
        id_columns=id_column,
        target=target,
        known_after=known_after,
        description=description,
    )
    verb = "Already registered as" if dataset.version in before else "Registered"
    console.print(
        f"{verb} [bold]{dataset.ref}[/bold]: {dataset.rows:,} rows, "
        f"{len(dataset.columns)} columns, sha256 {dataset.content_hash[:12]}"
    )


@app.command(name="list", epilog="Example: shipyard data list")
def list_datasets(ctx: typer.Context) -> None:
    """List datasets with their latest version."""
    table = Table(show_header=True, header_style="bold")
    for column in ("dataset", "latest", "rows", "columns", "target", "time column", "created"):
        table.add_column(column)
    for dataset in workspace(ctx).datasets.list():
        table.add_row(
            dataset.name,
            str(dataset.version),
            f"{dataset.rows:,}",
            str(len(dataset.columns)),
            dataset.target or "",
            dataset.time_column or "",
            f"{dataset.created_at:%Y-%m-%d %H:%M} by {dataset.created_by}",
        )
    console.print(table)


@app.command(epilog="Example: shipyard data show flights@2 --json")
def show(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME or NAME@VERSION."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a dataset version: roles, hashes and per-column statistics."""
    details = workspace(ctx).datasets.describe(ref)
    if as_json:
        typer.echo(json.dumps(details, indent=2, default=str))
        return
    console.print(
        f"[bold]{details['ref']}[/bold]  {details['rows']:,} rows  "
        f"sha256 {details['content_hash'][:12]}  by {details['created_by']}"
    )
    for role in ("time_column", "target", "id_columns", "known_after", "description"):
        if details[role]:
            console.print(f"  {role}: {details[role]}")
    table = Table(show_header=True, header_style="bold")
    for column in ("column", "type", "nulls", "min", "max"):
        table.add_column(column, overflow="fold")
    for column in details["columns"]:
        table.add_row(
            column["name"], column["type"], str(column["nulls"]),
            str(column["min"]), str(column["max"]),
        )  # fmt: skip
    console.print(table)
