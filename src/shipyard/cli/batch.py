"""`shipyard batch-transform`: a registered model over a whole input, into Parquet."""

from __future__ import annotations

import json

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shipyard.cli.context import console, workspace

EPILOG = (
    "Example: shipyard batch-transform model:delay@3 --input flights.parquet --output "
    "preds/ --join-source --engine dask"
)


def batch_transform(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="model:NAME@VERSION (or NAME@VERSION)."),
    input: str = typer.Option(
        ..., "--input", help="A Parquet file or folder (a path or fsspec URL), or dataset:NAME@V."
    ),
    output: str = typer.Option(
        ..., "--output", help="The output folder (a path or fsspec URL): part files, manifest."
    ),
    engine: str = typer.Option("local", "--engine", help="local or dask."),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="A Dask scheduler's address (default: a local cluster)."
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Local processes, or the local Dask cluster's workers."
    ),
    batch_rows: int = typer.Option(
        64 * 1024, "--batch-rows", min=1, help="Rows sent to the model at a time."
    ),
    input_filter: str | None = typer.Option(
        None,
        "--input-filter",
        help="Input columns sent to the model, comma-separated (default: those it takes).",
    ),
    join_source: bool = typer.Option(
        False, "--join-source", help="Output rows carry the input's columns too."
    ),
    output_filter: str | None = typer.Option(
        None, "--output-filter", help="Output columns kept, comma-separated."
    ),
    proba: bool | None = typer.Option(
        None, "--proba/--no-proba", help="Class probabilities (default: for a classifier)."
    ),
    timestamp_column: str | None = typer.Option(
        None,
        "--timestamp-column",
        help="For a model trained on feature views: the input's time column for the "
        "point-in-time join (default: the one it was trained with, if recorded).",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace another transform's output in --output."
    ),
    trust: bool = typer.Option(False, "--trust", help="Load a pickled model (it runs code)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Predict every row of the input with a model version and write Parquet part files;
    a rerun after a failure resumes from the parts already written."""
    ws = workspace(ctx)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    bar = Progress(*columns, console=console, disable=as_json)
    task = bar.add_task("rows", total=None)

    def progress(done: int, total: int) -> None:  # shown once the checks passed and work began
        if not bar.live.is_started:
            bar.start()
        bar.update(task, completed=done, total=total)

    try:
        result = ws.batch.transform(
            model, input, output, engine=engine, scheduler=scheduler, workers=workers,
            batch_rows=batch_rows, input_filter=_names(input_filter), join_source=join_source,
            output_filter=_names(output_filter), proba=proba, timestamp_column=timestamp_column,
            overwrite=overwrite, trust=trust,
            progress=progress,
        )  # fmt: skip
    finally:
        if bar.live.is_started:
            bar.stop()
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    resumed = f" ({result.resumed} found done)" if result.resumed else ""
    console.print(
        f"{result.rows:,} rows in {result.parts} part(s){resumed} to {result.output}\n"
        f"digest sha256:{result.digest}  run {result.run}"
    )


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [c.strip() for c in text.split(",") if c.strip()]
