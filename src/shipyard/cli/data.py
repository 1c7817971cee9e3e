"""`shipyard data`: register, list and show versioned datasets."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from shipyard.cli import quality
from shipyard.cli.context import console, workspace
from shipyard.errors import InvalidInput

app = typer.Typer(
    help="Versioned datasets: register, list, show, split, leakage, profile, baseline, check.",
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
    forget_declarations: bool = typer.Option(
        False,
        "--forget-declarations",
        help="Do not carry the latest version's --known-after columns over to this one.",
    ),
) -> None:
    """Register a file as the next version of dataset NAME (same content: same version).

    Columns declared known-after on the latest version stay declared unless
    --forget-declarations is given.
    """
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
        keep_declarations=not forget_declarations,
    )
    verb = "Already registered as" if dataset.version in before else "Registered"
    console.print(
        f"{verb} [bold]{dataset.ref}[/bold]: {dataset.rows:,} rows, "
        f"{len(dataset.columns)} columns, sha256 {dataset.content_hash[:12]}"
    )
    kept = [c for c in dataset.known_after if c not in known_after]
    if kept:
        console.print(
            f"Kept from the previous version: known-after {', '.join(kept)} "
            "(--forget-declarations drops them)"
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
        from shipyard.api.schemas import to_json
        from shipyard.api.schemas.datasets import DatasetDetails

        typer.echo(to_json(DatasetDetails.from_domain(details)))
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


@app.command(epilog="Example: shipyard data split flights@1 --plan plan.yaml")
def split(
    ctx: typer.Context,
    dataset: str = typer.Argument(..., help="NAME or NAME@VERSION of the dataset."),
    plan: Path = typer.Option(..., "--plan", help="YAML split plan (sets, seed, stratify, ...)."),
    name: str | None = typer.Option(None, help="Name of the split (default: the dataset's)."),
) -> None:
    """Split a dataset version by a plan; store it so it can be reproduced exactly."""
    if not plan.is_file():
        raise InvalidInput(f"No plan file at {plan}.", hint="Write the plan as YAML first.")
    created = workspace(ctx).splits.create(dataset, plan, name=name)
    console.print(f"Stored [bold]{created.ref}[/bold] of {created.dataset}")
    table = Table(show_header=True, header_style="bold")
    table.add_column("set")
    table.add_column("rows", justify="right")
    table.add_column("row ids sha256")
    slices = created.summary.get("slices", {}).get("slices", {})
    for slice_name in slices:
        table.add_column(f"slice {slice_name}", justify="right")
    for set_name in created.set_names:
        cells = [str(slices[s]["rows"].get(set_name, 0)) for s in slices]
        table.add_row(
            set_name, f"{created.counts[set_name]:,}", created.row_ids_hash[set_name][:12], *cells
        )
    console.print(table)
    for warning in created.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")


@app.command(epilog="Example: shipyard data leakage split:flights@1 --json")
def leakage(
    ctx: typer.Context,
    split_ref: str = typer.Argument(..., help="split:NAME[@VERSION] (or NAME[@VERSION])."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    fail: bool = typer.Option(True, "--fail/--no-fail", help="Exit 6 on an error finding."),
) -> None:
    """Check a stored split for leaks: duplicates, shared groups, time, late-known features."""
    report = workspace(ctx).splits.leakage_report(split_ref)
    if as_json:
        from shipyard.api.schemas import to_json
        from shipyard.api.schemas.quality import LeakageReport

        typer.echo(to_json(LeakageReport.from_domain(report)))
    else:
        console.print(report.table())
    if fail:
        report.raise_for_errors()


app.command(epilog="Example: shipyard data profile flights@1")(quality.profile)
app.command(epilog="Example: shipyard data baseline flights@1 --out baseline/")(quality.baseline)
CHECK_EXAMPLE = (
    "Example: shipyard data check flights@2 --baseline dataset:flights@1 "
    '--unique carrier,flight,time_hour --sql "positive=distance > 0"'
)
app.command(epilog=CHECK_EXAMPLE)(quality.check)
