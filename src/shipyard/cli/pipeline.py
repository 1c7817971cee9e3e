"""`shipyard pipeline`: run a pipeline file, list runs, show one run's steps."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from shipyard.cli.context import console, workspace
from shipyard.cli.options import limit_option
from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from shipyard.pipeline import LiveRun, Pipeline, PipelineRun, PipelineService, StepRecord

app = typer.Typer(
    help="Pipelines: run a pipeline file, list its runs, show a run's steps.",
    no_args_is_help=True,
    epilog="Example: shipyard pipeline run pipeline.py --param threshold=0.7",
)

_STYLE = {
    "succeeded": "green",
    "cached": "cyan",
    "failed": "red",
    "gate-failed": "red",
    "interrupted": "yellow",
    "not-run": "dim",
    "running": "blue",
    "queued": "dim",
}


@app.command(
    epilog="Example: shipyard pipeline run train.py --param threshold=0.7 --no-cache "
    "(exit 0 only if every step passed; 6 when a gate failed)"
)
def run(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="A .py file defining `pipeline`, or a pipeline.yaml."),
    param: list[str] = typer.Option([], "--param", help="KEY=VALUE; repeat for more."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every step, even unchanged."),
) -> None:
    """Run a pipeline; print each step's status; exit non-zero naming the failing step."""
    from shipyard.pipeline import load_pipeline

    pipeline = load_pipeline(path)
    params = parse_params(param, pipeline)
    ws = workspace(ctx)
    # Bound now: steps' own prints are captured, not shown.
    out = Console(file=sys.stdout, soft_wrap=True)
    with StepDisplay(out, len(pipeline.order)) as display:
        result = ws.pipelines.run(pipeline, params, cache=not no_cache, observer=display)
    _summary(out, result)
    result.check()


@app.command(name="runs", epilog="Example: shipyard pipeline runs train --limit 10")
def list_runs(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="Only runs of this pipeline."),
    limit: int = limit_option(20),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List pipeline runs, newest first: build id, status, failing step, timing.

    Runs still going are listed first, as `running` with the step they are on; a run
    whose process died shows as `failed` once its lease ran out (about a minute)."""
    service = workspace(ctx).pipelines
    live = service.live_runs(name, limit=limit)
    runs = service.list_runs(name, limit=limit)
    if as_json:
        rows = [r.to_dict() for r in live] + [_run_summary(r) for r in runs]
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    table = Table(header_style="bold")
    for column in ("build", "pipeline", "run", "status", "failed step", "started", "duration"):
        table.add_column(column, overflow="fold", no_wrap=column in ("build", "status"))
    for current in live:
        table.add_row(*_live_row(current))
    for item in runs:
        table.add_row(
            item.build_id,
            item.pipeline,
            str(item.version),
            _status(item.status),
            item.failed_step or "",
            f"{item.started:%Y-%m-%d %H:%M}",
            _seconds(item.duration),
        )
    console.print(table)


def _live_row(item: LiveRun) -> tuple[str, ...]:
    """A run without a record yet: its job's state and step (or why it failed)."""
    status = _status(item.state)
    if item.state == "running" and item.where:
        status += f" ({item.where})"
    failed = ""
    if item.state == "failed":
        failed = f"{item.step or ''} ({item.error})" if item.step else str(item.error or "")
    return (
        item.build_id or f"job {item.job_id}",
        item.pipeline,
        "",
        status,
        failed,
        f"{item.started:%Y-%m-%d %H:%M}",
        "" if item.state == "failed" else _seconds(item.elapsed()),
    )


@app.command(
    epilog="Example: shipyard pipeline show build-20261127T021500Z-3f9a1c --log train "
    "(or: shipyard pipeline show train@3)"
)
def show(
    ctx: typer.Context,
    build: str = typer.Argument(..., help="A build id, or PIPELINE@VERSION."),
    log: str | None = typer.Option(None, "--log", help="Print this step's captured log."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole record as JSON."),
) -> None:
    """Show one run: each step's status, start, duration, cache key and outputs (for a
    run still going: its state and the step it is on)."""
    from shipyard.errors import NotFound

    service = workspace(ctx).pipelines
    try:
        result = _find(service, build)
    except NotFound:
        live = next((r for r in service.live_runs(limit=200) if r.build_id == build), None)
        if live is None or log is not None:
            raise
        _show_live(live, as_json)
        return
    if log is not None:
        typer.echo(result.log(log), nl=False)
        return
    if as_json:
        record = {**_run_summary(result), "steps": [s.to_dict() for s in result.steps]}
        typer.echo(json.dumps(record, indent=2, default=str))
        return
    console.print(
        f"[bold]{result.pipeline}[/bold] run {result.version}, build {result.build_id}: "
        f"{_status(result.status)} in {_seconds(result.duration)}, started "
        f"{result.started:%Y-%m-%d %H:%M:%S} by {result.triggered_by} as {result.principal}",
        soft_wrap=True,
    )
    console.print(_steps_table(result.steps))
    if result.error:
        console.print(f"failed step {result.failed_step}: {result.error.get('message')}")
    if result.params:
        console.print("params: " + ", ".join(f"{k}={v}" for k, v in result.params.items()))


def _show_live(item: LiveRun, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(item.to_dict(), indent=2, default=str))
        return
    where = f" at step {item.where}" if item.where else ""
    console.print(
        f"[bold]{item.pipeline}[/bold] build {item.build_id} (job {item.job_id}): "
        f"{_status(item.state)}{where}, started {item.started:%Y-%m-%d %H:%M:%S} by "
        f"{item.triggered_by}",
        soft_wrap=True,
    )
    if item.error:
        console.print(f"error: {item.error}", soft_wrap=True)


def parse_params(items: list[str], pipeline: Pipeline) -> dict[str, Any]:
    """KEY=VALUE pairs, each converted to the type of the parameter's declared value."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--param {item!r} is not KEY=VALUE.", hint="Example: --param k=3")
        key = key.strip()
        params[key] = _convert(text, pipeline.params.get(key), key)
    pipeline.resolve_params(params)  # refuses unknown keys now, naming the known ones
    return params


def _convert(text: str, declared: Any, key: str) -> Any:
    """Typed like the declared default; a declared str stays text; else JSON, else text."""
    if isinstance(declared, str):
        return text
    if isinstance(declared, bool):
        lowered = text.strip().lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise InvalidInput(f"--param {key} needs true or false, got {text!r}.")
        return lowered in ("true", "1", "yes")
    if isinstance(declared, int | float):
        try:
            return type(declared)(text)
        except ValueError:
            kind = type(declared).__name__
            raise InvalidInput(f"--param {key} needs a number ({kind}), got {text!r}.") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _find(service: PipelineService, build: str) -> PipelineRun:
    """A build id, or NAME@VERSION."""
    name, at, version = build.rpartition("@")
    if at and name and version.isdigit():
        return service.get_version(name, int(version))
    return service.get_run(build)


def _steps_table(steps: tuple[StepRecord, ...]) -> Table:
    table = Table(header_style="bold")
    for column in ("step", "status", "started", "duration", "cache key", "outputs"):
        table.add_column(column, overflow="fold", no_wrap=column in ("step", "cache key"))
    for item in steps:
        outputs = ", ".join(f"{k} ({v.format}, {v.digest[:12]})" for k, v in item.outputs.items())
        table.add_row(
            item.name,
            _status(item.status) + (f" from {item.cached_from}" if item.cached_from else ""),
            f"{item.started:%H:%M:%S}" if item.started else "",
            _seconds(item.duration),
            (item.cache_key or "")[:12],
            outputs,
        )
    return table


def _run_summary(item: PipelineRun) -> dict[str, Any]:
    return {
        "pipeline": item.pipeline,
        "version": item.version,
        "build_id": item.build_id,
        "status": str(item.status),
        "failed_step": item.failed_step,
        "error": item.error,
        "started": item.started.isoformat(),
        "duration": item.duration,
        "params": item.params,
        "principal": item.principal,
        "triggered_by": item.triggered_by,
        "code_version": item.code_version,
    }


def _summary(out: Console, result: PipelineRun) -> None:
    ran = sum(s.status == "succeeded" for s in result.steps)
    cached = sum(s.status == "cached" for s in result.steps)
    out.print(
        f"{result.pipeline}: {_status(result.status)} ({ran} ran, {cached} cached) in "
        f"{_seconds(result.duration)}; build {result.build_id}",
        soft_wrap=True,
    )


def _status(status: str) -> str:
    style = _STYLE.get(str(status), "")
    return f"[{style}]{status}[/{style}]" if style else str(status)


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}s"


class StepDisplay:
    """A spinner for the running step and one line per finished step."""

    def __init__(self, out: Console, total: int) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._out = out
        self._total = total
        self._progress: Progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=out,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._task: TaskID | None = None
        self._index = 0

    def __enter__(self) -> StepDisplay:
        if self._out.is_terminal:  # elsewhere (CI logs) a spinner is noise: lines only
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._out.is_terminal:
            self._progress.stop()

    def step_started(self, step: str, index: int, total: int) -> None:
        self._index = index
        self._task = self._progress.add_task(f"[{index + 1}/{total}] {step}", total=None)

    def step_finished(self, record: StepRecord) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None
        took = "" if record.status == "cached" else f" {_seconds(record.duration)}"
        self._out.print(
            f"[{self._index + 1}/{self._total}] {record.name}: {_status(record.status)}{took}"
        )
