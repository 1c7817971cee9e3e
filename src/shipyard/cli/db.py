"""`shipyard db`: the metadata database's schema, migrated only on request."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from shipyard.cli.context import console, settings

if TYPE_CHECKING:
    from shipyard.stores.metadata.sql import SqlMetadataStore

app = typer.Typer(
    help="Manage the metadata database schema.",
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


def _open_store(ctx: typer.Context) -> SqlMetadataStore:
    from shipyard.stores.metadata import open_metadata_store
    from shipyard.workspace import prepare_home

    selected = settings(ctx)
    if selected.is_embedded:  # the SQLite file lives in the home: make sure it can
        prepare_home(selected.home)
    return open_metadata_store(selected.metadata_url)
