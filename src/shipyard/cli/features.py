"""`shipyard features`: apply definitions, find and inspect views, materialize, read online."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shipyard.cli.context import console, workspace
from shipyard.errors import InvalidInput

app = typer.Typer(
    help="The feature store: definitions, time travel, online values.",
    no_args_is_help=True,
    epilog="Example: shipyard features apply features/ && shipyard features list --tag team=ops",
)


@app.command(epilog="Example: shipyard features apply ./features --force")
def apply(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="A folder (or file) of YAML and Python definitions."),
    force: bool = typer.Option(False, "--force", help="Allow breaking changes to views."),
) -> None:
    """Register entities, feature views and feature services as new versions."""
    applied = workspace(ctx).features.apply(path, force=force)
    table = Table(header_style="bold")
    table.add_column("definition")
    table.add_column("status")
    for item in applied:
        table.add_row(str(item.ref), item.status)
    console.print(table)


@app.command(
    name="list", epilog="Example: shipyard features list --tag domain=weather --search wind"
)
def list_views(
    ctx: typer.Context,
    tag: str | None = typer.Option(None, help="KEY or KEY=VALUE."),
    owner: str | None = typer.Option(None, help="Only views owned by this team or person."),
    search: str | None = typer.Option(None, help="Text in names and descriptions."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Find feature views to reuse, by tag, owner or text."""
    found = workspace(ctx).features.list_views(tag=tag, owner=owner, search=search)
    if as_json:
        from shipyard.api.schemas import to_json
        from shipyard.api.schemas.features import FeatureView

        typer.echo(to_json([FeatureView.from_domain(stored) for stored in found]))
        return
    table = Table(header_style="bold")
    for column in ("view", "version", "entities", "features", "owner", "tags", "description"):
        table.add_column(column, overflow="fold")
    for stored in found:
        view = stored.definition
        tags = ", ".join(f"{k}={v}" for k, v in view.tags.items())
        table.add_row(
            view.name,
            str(stored.version),
            ", ".join(view.entities),
            ", ".join(view.feature_names),
            view.owner,
            tags,
            view.description,
        )
    console.print(table if found else "No feature views match.")


@app.command(epilog="Example: shipyard features show weather --json")
def show(
    ctx: typer.Context,
    view: str = typer.Argument(..., help="The feature view's name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A view's schema, source, owner, freshness, and the services and models that use it."""
    info = workspace(ctx).features.describe(view)
    if as_json:
        from shipyard.api.schemas import to_json
        from shipyard.api.schemas.features import FeatureViewDetails

        typer.echo(to_json(FeatureViewDetails.from_domain(info)))
        return
    console.print(
        f"[bold]{info['name']}[/bold] v{info['version']} by {info['created_by']} "
        f"({info['versions']} version(s)); owner {info['owner'] or '-'}; "
        f"ttl {info['ttl'] or 'none'}"
    )
    console.print(f"source: {info['source']}; event time {info['event_timestamp']}")
    console.print(f"entities: {info['entities']}")
    table = Table(header_style="bold")
    for column in ("feature", "type", "description"):
        table.add_column(column, overflow="fold")
    for feature in info["features"]:
        table.add_row(feature["name"], feature["dtype"], feature["description"])
    console.print(table)
    lag = info["lag_seconds"]
    console.print(
        f"materialized until: {info['materialized_until'] or 'never'}"
        + ("" if lag is None else f" (lag {lag:,.0f} s)")
    )
    console.print(f"used by services: {', '.join(info['services']) or 'none'}")
    console.print(f"used by models: {', '.join(info['models']) or 'none'}")


@app.command(
    epilog="Example: shipyard features materialize weather --start 2013-01-01 --end 2013-12-31"
)
def materialize(
    ctx: typer.Context,
    views: list[str] = typer.Argument(..., help="Feature view names."),
    start: str | None = typer.Option(None, help="Start of the event-time interval (ISO 8601)."),
    end: str = typer.Option(..., help="End of the event-time interval (ISO 8601, UTC if no zone)."),
    incremental: bool = typer.Option(
        False, "--incremental", help="Start where the last materialization ended."
    ),
    chunk_rows: int = typer.Option(
        50_000, "--chunk-rows", min=1, help="Rows per write (5,000-10,000 on a busy Redis)."
    ),
) -> None:
    """Write each entity's latest values to the online store, in chunks, with a progress bar."""
    store = workspace(ctx).features
    until = _when(end, "--end")
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        for view in views:
            task = bar.add_task(f"materializing {view}", total=None)

            def advance(done: int, total: int | None, task: Any = task) -> None:
                bar.update(task, completed=done, total=total)

            if incremental:
                store.materialize_incremental(
                    [view], until, progress=advance, chunk_rows=chunk_rows
                )
            elif start is None:
                raise InvalidInput("Give --start, or --incremental to continue from the last run.")
            else:
                store.materialize(
                    [view], _when(start, "--start"), until, progress=advance, chunk_rows=chunk_rows
                )
    for fresh in store.freshness(views):
        console.print(f"{fresh.view}: materialized until {fresh.materialized_until}")


@app.command(
    epilog='Example: shipyard features online --entity \'{"origin": "JFK"}\' --feature weather/temp'
)
def online(
    ctx: typer.Context,
    entity: list[str] = typer.Option(..., help="A JSON object of join keys; repeat for more."),
    feature: list[str] = typer.Option(..., help="VIEW/FEATURE or VIEW/*; repeat for more."),
) -> None:
    """Read the latest values of features for entities from the online store (as JSON, the
    same as the API's POST /features/online)."""
    try:
        keys = [json.loads(text) for text in entity]
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"--entity must be a JSON object: {exc}") from None
    result = workspace(ctx).features.get_online(keys, feature)
    from shipyard.api.schemas import to_json
    from shipyard.api.schemas.features import OnlineRead

    typer.echo(to_json(OnlineRead.from_domain(result)))


@app.command(
    epilog="Example: shipyard features historical rows.parquet --feature 'weather/*' "
    "--output train.parquet"
)
def historical(
    ctx: typer.Context,
    entity_rows: Path = typer.Argument(..., help="Parquet or CSV file of entity rows."),
    feature: list[str] = typer.Option([], help="VIEW/FEATURE or VIEW/*; repeat for more."),
    service: str | None = typer.Option(None, help="A feature service instead of --feature."),
    output: Path = typer.Option(..., help="Parquet file to write the joined rows to."),
    timestamp_column: str = typer.Option("event_timestamp", help="The entity rows' time column."),
    as_of: str | None = typer.Option(None, help="Only what was known at this time (ISO 8601)."),
) -> None:
    """Join entity rows with feature values as of each row's time (time travel)."""
    if bool(feature) == bool(service):
        raise InvalidInput("Give either --feature (one or more) or --service.")
    rows: Any = entity_rows
    if entity_rows.suffix.lower() == ".csv":
        import pandas as pd

        rows = pd.read_csv(entity_rows, parse_dates=[timestamp_column])
    written = workspace(ctx).features.get_historical(
        rows,
        service or feature,
        timestamp_column=timestamp_column,
        as_of=None if as_of is None else _when(as_of, "--as-of"),
        output=output,
    )
    console.print(f"Wrote {written}")


def _when(text: str, option: str) -> datetime:
    from datetime import UTC

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{option} {text!r} is not an ISO 8601 time.",
            hint="Write 2013-06-01 or 2013-06-01T12:00.",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
