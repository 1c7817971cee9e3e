"""`shipyard runs`: list, show, compare and end tracked runs.

A run whose process died without ending it (killed, crashed, machine gone) reads
as ``killed`` once its heartbeat has stopped for a few intervals; ``runs end``
records a final status for it.
"""

from __future__ import annotations

import typer
from rich.table import Table

from shipyard.cli.context import console, workspace
from shipyard.cli.options import limit_option

app = typer.Typer(
    help="Tracked runs: list, show, compare, end.",
    no_args_is_help=True,
    epilog='Example: shipyard runs list --filter "metrics.validation_roc_auc > 0.7"',
)


@app.command(
    name="list",
    epilog="Example: shipyard runs list --experiment flights "
    '--filter "params.model = \'hgb\'" --order-by "metrics.validation_roc_auc DESC"',
)
def list_runs(
    ctx: typer.Context,
    experiment: str | None = typer.Option(None, help="Only this experiment."),
    filter: str = typer.Option("", "--filter", help="Search filter, e.g. metrics.x > 0.8."),
    order_by: list[str] = typer.Option([], "--order-by", help="Such as 'metrics.x DESC'."),
    metric: list[str] = typer.Option(
        [], "--metric", help="A metric column to show (repeatable; default: up to 4)."
    ),
    limit: int = limit_option(50),
) -> None:
    """List runs, newest first, filtered and ordered like ws.runs.search().

    A metric named in --order-by is always shown, as the first metric column.
    """
    from shipyard.training.tracking.search import parse_order_by

    runs = workspace(ctx).runs.search(
        filter, order_by or None, max_results=limit, experiment=experiment
    )
    ordered = [t.key for t in parse_order_by(order_by or None) if t.source == "metrics"]
    chosen = metric or sorted({k for r in runs[:limit] for k in r.metrics})[:4]
    shown = list(dict.fromkeys([*ordered, *chosen]))
    table = Table(header_style="bold")
    for column in ("run", "experiment", "name", "status", "started", *shown):
        table.add_column(column, overflow="fold", no_wrap=column == "run")
    for run in runs:
        values = [_number(run.metrics.get(m)) for m in shown]
        started = f"{run.start_time:%Y-%m-%d %H:%M}"
        table.add_row(run.uid[:12], run.experiment, run.name, run.status, started, *values)
    console.print(table)


@app.command(epilog="Example: shipyard runs show 3f9a1c2b7d4e --json")
def show(
    ctx: typer.Context,
    run: str = typer.Argument(..., help="Run id (the full id, or its first 12 characters)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one run: params, latest metrics, tags, artifacts, notes and its record."""
    info = workspace(ctx).runs.get_run(_full_id(ctx, run))
    if as_json:
        from shipyard.api.schemas import to_json
        from shipyard.api.schemas.runs import Run

        typer.echo(to_json(Run.from_domain(info)))
        return
    console.print(
        f"[bold]{info.name}[/bold] ({info.uid}) in {info.experiment}: {info.status}, "
        f"started {info.start_time:%Y-%m-%d %H:%M:%S} by {info.created_by}"
        + (f", ended {info.end_time:%Y-%m-%d %H:%M:%S}" if info.end_time else "")
    )
    if info.status == "running" and info.heartbeat is not None:
        console.print(f"last heartbeat {info.heartbeat:%Y-%m-%d %H:%M:%S}")
    elif info.status == "killed" and info.heartbeat is not None:
        console.print("killed: its process stopped sending heartbeats (it died)")
    for title, values in (("params", info.params), ("metrics", info.metrics),
                          ("tags", info.tags), ("artifacts", info.artifacts)):  # fmt: skip
        if values:
            table = Table(title=title, show_header=False)
            table.add_column("key", no_wrap=True)
            table.add_column("value", overflow="fold")
            for key, value in values.items():
                table.add_row(key, _number(value) if isinstance(value, float) else str(value))
            console.print(table)
    record = info.record
    if record:
        code = record.get("code", {})
        console.print(
            f"record: seed {record.get('seed')}, python {record.get('python')}, "
            f"code {code.get('commit') or 'not in git'}{' (dirty)' if code.get('dirty') else ''}, "
            f"data {', '.join(record.get('datasets', [])) or 'none'}, split {record.get('split')}"
        )
    if info.notes:
        console.print(f"notes:\n{info.notes}")


@app.command(epilog="Example: shipyard runs compare 3f9a1c2b7d4e 8c21d0e5a9b7")
def compare(
    ctx: typer.Context,
    runs: list[str] = typer.Argument(..., help="Two or more run ids."),
) -> None:
    """Compare runs side by side: the params that differ and every metric."""
    ids = [_full_id(ctx, r) for r in runs]
    result = workspace(ctx).runs.compare(ids)
    table = Table(header_style="bold", show_lines=False)
    table.add_column("", no_wrap=True)
    for uid in result.runs:
        table.add_column(f"{result.names[uid]}\n{uid[:12]}", overflow="fold")
    for key, params in result.params.items():
        table.add_row(f"param {key}", *[str(params[uid]) for uid in result.runs])
    for key, metrics in result.metrics.items():
        table.add_row(f"metric {key}", *[_number(metrics[uid]) for uid in result.runs])
    console.print(table)
    if result.same_params:
        same = ", ".join(f"{k}={v}" for k, v in result.same_params.items())
        console.print(f"same in all: {same}")


@app.command(
    epilog="Example: shipyard runs end 3f9a1c2b7d4e --status killed",
)
def end(
    ctx: typer.Context,
    run: str = typer.Argument(..., help="Run id (the full id, or its first 12 characters)."),
    status: str = typer.Option("killed", help="The final status: killed, failed or finished."),
) -> None:
    """End a run that is still running, or whose process died, with a final status.

    A run that reads as killed is recorded as ended at its last heartbeat.
    Ending a run that has already ended is refused.
    """
    info = workspace(ctx).runs.end_run(_full_id(ctx, run), status)  # type: ignore[arg-type]
    console.print(f"Ended run {info.name} ({info.uid}) as {info.status}.")


def _full_id(ctx: typer.Context, prefix: str) -> str:
    """Accept a unique prefix of a run id, as git does for commits."""
    if len(prefix) >= 32:
        return prefix
    from shipyard.errors import InvalidInput, NotFound

    tracker = workspace(ctx).runs
    matches = [
        r.uid
        for r in tracker.search(f"attributes.run_id LIKE '{prefix}%'", max_results=2)
    ] if prefix.isalnum() else []  # fmt: skip
    if not matches:
        raise NotFound(f"No run whose id starts with {prefix!r}.", hint="See `shipyard runs list`.")
    if len(matches) > 1:
        raise InvalidInput(f"More than one run id starts with {prefix!r}; give more characters.")
    return matches[0]


def _number(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@app.command(
    name="import-mlflow",
    epilog="Example: shipyard runs import-mlflow sqlite:///mlflow.db",
)
def import_mlflow(
    ctx: typer.Context,
    tracking_uri: str = typer.Argument(..., help="An MLflow tracking URI."),
) -> None:
    """Import MLflow experiments and runs (params, metric histories, tags, times, status)."""
    from shipyard.training.tracking.mlflow_import import import_mlflow as run_import

    summary = run_import(workspace(ctx).runs, tracking_uri)
    console.print(
        f"Imported {summary.runs} run(s) with {summary.metric_values:,} metric values from "
        f"{len(summary.experiments)} experiment(s); skipped {summary.skipped} already imported."
    )
