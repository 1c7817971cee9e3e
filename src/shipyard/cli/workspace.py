"""`shipyard init` and `shipyard info`: create a workspace, and say where everything is."""

from __future__ import annotations

import typer
from rich.table import Table

from shipyard.cli.context import console, workspace
from shipyard.workspace import WorkspaceInfo


def init(ctx: typer.Context) -> None:
    """Create the workspace (home folder, metadata database, artifact store)."""
    ws = workspace(ctx)
    console.print(f"Initialised Shipyard workspace in [bold]{ws.settings.home}[/bold]")
    _print_info(ws.info())
    console.print("Next: [bold]shipyard info[/bold] shows this again at any time.")


def info(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show where each store is, its schema version and what it holds."""
    details = workspace(ctx).info()
    if as_json:
        from shipyard.api.schemas import to_json
        from shipyard.api.schemas.workspace import WorkspaceInfo as InfoSchema

        typer.echo(to_json(InfoSchema.from_domain(details)))
    else:
        _print_info(details)


def _print_info(details: WorkspaceInfo) -> None:
    meta = details.metadata
    table = Table(title="Shipyard workspace", show_header=True, header_style="bold")
    table.add_column("store")
    table.add_column("where", overflow="fold")
    table.add_column("state", overflow="fold")
    schema = meta.schema
    schema_text = (
        f"schema {schema.current} (up to date)"
        if schema and schema.up_to_date
        else f"schema {schema.current if schema else '?'}, needs {schema.head if schema else '?'}"
    )
    counts = ", ".join(f"{name}: {count}" for name, count in meta.counts.items())
    table.add_row("home", str(details.home), f"principal {details.principal}")
    table.add_row(f"metadata ({meta.backend})", meta.location, f"{schema_text}; {counts}")
    table.add_row(
        "artifacts",
        details.artifact_url,
        f"{details.artifact_objects} objects, {details.artifact_bytes:,} bytes",
    )
    table.add_row("online features", details.online_url, "")
    if details.config_file:
        table.add_row("config file", str(details.config_file), "")
    console.print(table)
