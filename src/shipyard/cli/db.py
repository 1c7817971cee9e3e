"""`shipyard db`: the metadata database's schema (migrated only on request), integrity
checks and backups."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from shipyard.cli.context import console, settings
from shipyard.errors import IntegrityError

if TYPE_CHECKING:
    from shipyard.stores.metadata.sql import SqlMetadataStore

app = typer.Typer(
    help="Manage the metadata database: schema, integrity checks, backups.",
    no_args_is_help=True,
    epilog="Example: SHIPYARD_METADATA_URL=postgresql+psycopg://u:p@db:5432/shipyard "
    "shipyard db upgrade",
)


@app.command(epilog="Example: shipyard db upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Apply pending migrations to the metadata database (safe to run twice)."""
    store = _open_store(ctx)
    try:
        before = store.schema_status()
        after = store.upgrade()
    finally:
        store.close()
    if before.current == after.current:
        console.print(f"{store.location}: schema already at {after.current}.")
    else:
        console.print(f"{store.location}: schema {before.current or 'none'} -> {after.current}.")


@app.command(epilog="Example: shipyard db status")
def status(ctx: typer.Context) -> None:
    """Show the schema revision of the metadata database and the one this Shipyard needs."""
    store = _open_store(ctx)
    try:
        current = store.schema_status()
    finally:
        store.close()
    state = "up to date" if current.up_to_date else "out of date: run `shipyard db upgrade`"
    console.print(
        f"{store.location}: schema {current.current or 'none'}, needs {current.head} ({state})."
    )


@app.command(epilog="Example: shipyard db check")
def check(ctx: typer.Context) -> None:
    """Check the metadata database and the artifacts its records name (exit 9 on a problem).

    Runs SQLite's PRAGMA integrity_check (skipped on PostgreSQL), then checks that every
    record's JSON parses and that every artifact a record names is stored and verifies.
    """
    from shipyard.integrity.database_check import check_database
    from shipyard.stores.artifacts import ArtifactStore

    artifacts = ArtifactStore(settings(ctx).artifact_url)
    store = _open_store(ctx)
    try:
        report = check_database(store, artifacts)
    finally:
        store.close()
    typer.echo(f"{store.location}:")
    for line in report.checked:
        typer.echo(f"  {line}")
    for problem in report.problems:
        typer.echo(f"  problem: {problem}")
    if report.problems:
        raise IntegrityError(
            f"{len(report.problems)} problem(s) in the metadata database or the artifacts "
            "its records name.",
            hint="Restore the database from a backup (`shipyard db backup` makes one); repair "
            "artifacts with `shipyard artifacts verify --repair-from PATH`.",
        )
    typer.echo("No problems found.")


@app.command(epilog="Example: shipyard db backup backups/   (or: shipyard db backup meta.db)")
def backup(
    ctx: typer.Context,
    path: str = typer.Argument(
        ...,
        help="The new file, or a folder (existing, or named with a trailing /) to write "
        "metadata-<UTC time>.db into.",
    ),
) -> None:
    """Copy the SQLite metadata database consistently, even while others write to it.

    Uses SQLite's online backup API. PostgreSQL is refused: use pg_dump.
    """
    target = Path(path)
    if path.endswith(("/", os.sep)):  # a folder that does not exist yet: make it
        target.mkdir(parents=True, exist_ok=True)
    store = _open_store(ctx)
    try:
        written = store.backup(target)
    finally:
        store.close()
    typer.echo(f"Backed up {store.location} to {written}.")


def _open_store(ctx: typer.Context) -> SqlMetadataStore:
    from shipyard.stores.metadata import open_metadata_store
    from shipyard.workspace import prepare_home

    selected = settings(ctx)
    if selected.is_embedded:  # the SQLite file lives in the home: make sure it can
        prepare_home(selected.home)
    return open_metadata_store(selected.metadata_url)
