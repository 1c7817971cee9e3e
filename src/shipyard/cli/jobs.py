"""`shipyard jobs`: the durable job queue: list, show, cancel, retry."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from shipyard.cli.context import console, workspace
from shipyard.cli.options import limit_option
from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    from shipyard.stores.jobs import Job, JobState

app = typer.Typer(
    help="Jobs: the durable queue (pipeline runs, scheduled work): list, show, cancel, retry.",
    no_args_is_help=True,
    epilog="Example: shipyard jobs list --kind pipeline_run --state running",
)

_STYLE = {"succeeded": "green", "failed": "red", "running": "blue", "cancelled": "yellow"}


@app.command(name="list", epilog="Example: shipyard jobs list --state failed --json")
def list_jobs(
    ctx: typer.Context,
    kind: str | None = typer.Option(None, "--kind", help="Only jobs of this kind."),
    state: str | None = typer.Option(
        None, "--state", help="Only jobs in this state (queued, running, failed, ...)."
    ),
    limit: int = limit_option(50, "jobs"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List jobs, newest first: kind, state, attempts, progress, lease, error."""
    from shipyard.stores.jobs import STATES

    if state is not None and state not in STATES:
        raise InvalidInput(
            f"--state {state!r} is not a job state.", hint=f"Use {', '.join(STATES)}."
        )
    # A job whose process died shows failed, not running.
    found = workspace(ctx).jobs.list(kind=kind, state=_state(state), limit=limit)
    if as_json:
        from shipyard.api.schemas import to_json
        from shipyard.api.schemas.jobs import Job as JobSchema

        typer.echo(to_json([JobSchema.from_domain(j) for j in found]))
        return
    table = Table(header_style="bold")
    for column in ("id", "kind", "state", "tries", "progress", "created", "by", "error"):
        table.add_column(column, overflow="fold", no_wrap=column in ("id", "state"))
    for job in found:
        table.add_row(
            str(job.id),
            job.kind,
            _status(job.state),
            f"{job.attempts}/{job.max_attempts}",
            _progress(job.progress),
            f"{job.created_at:%Y-%m-%d %H:%M:%S}",
            job.created_by,
            _first_line(job.error),
        )
    console.print(table)


@app.command(epilog="Example: shipyard jobs show 42 --json")
def show(
    ctx: typer.Context,
    job_id: int = typer.Argument(..., help="The job's id (from `shipyard jobs list`)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one job: payload, state, attempts, lease and heartbeat, progress, result, error."""
    job = workspace(ctx).jobs.get(job_id)
    if as_json:
        from shipyard.api.schemas import to_json
        from shipyard.api.schemas.jobs import Job as JobSchema

        typer.echo(to_json(JobSchema.from_domain(job)))
        return
    console.print(
        f"[bold]job {job.id}[/bold] {job.kind}: {_status(job.state)}, attempt "
        f"{job.attempts} of {job.max_attempts}, created {job.created_at:%Y-%m-%d %H:%M:%S} "
        f"by {job.created_by}",
        soft_wrap=True,
    )
    for label, value in _details(job):
        console.print(f"  {label}: {value}", soft_wrap=True, markup=False)


@app.command(epilog="Example: shipyard jobs cancel 42")
def cancel(
    ctx: typer.Context,
    job_id: int = typer.Argument(..., help="A queued or running job."),
) -> None:
    """Cancel a queued or running job (a running pipeline stops before its next step)."""
    job = workspace(ctx).jobs.cancel(job_id)
    console.print(f"job {job.id} ({job.kind}): {job.state}")


@app.command(epilog="Example: shipyard jobs retry 42")
def retry(
    ctx: typer.Context,
    job_id: int = typer.Argument(..., help="A failed, cancelled or expired job."),
) -> None:
    """Queue a failed, cancelled or expired job again (a server's workers run it)."""
    job = workspace(ctx).jobs.retry(job_id)
    console.print(f"job {job.id} ({job.kind}): {job.state} again")


def _details(job: Job) -> list[tuple[str, str]]:
    rows = [("payload", json.dumps(job.payload, default=str))]
    if job.state == "running":
        left = (
            (job.lease_expires_at - datetime.now(UTC)).total_seconds()
            if job.lease_expires_at
            else 0
        )
        rows.append(("lease", f"{job.lease_owner}, {max(left, 0):.0f}s left"))
    if job.heartbeat_at:
        rows.append(("last heartbeat", f"{job.heartbeat_at:%Y-%m-%d %H:%M:%S}"))
    if job.progress is not None:
        rows.append(("progress", _progress(job.progress) or json.dumps(job.progress, default=str)))
    if job.started_at:
        rows.append(("started", f"{job.started_at:%Y-%m-%d %H:%M:%S}"))
    if job.finished_at:
        rows.append(("finished", f"{job.finished_at:%Y-%m-%d %H:%M:%S}"))
    if job.result is not None:
        rows.append(("result", json.dumps(job.result, default=str)))
    if job.error:
        rows.append(("error", job.error))
    return rows


def _progress(progress: Any) -> str:
    """A pipeline's ``{pipeline, step, index, total}`` as ``demo 2/3 train``; else JSON."""
    if progress is None:
        return ""
    if isinstance(progress, dict) and "total" in progress:
        step = f" {progress.get('index')}/{progress.get('total')} {progress['step']}"
        return f"{progress.get('pipeline', '')}{step if progress.get('step') else ''}".strip()
    return json.dumps(progress, default=str)


def _state(state: str | None) -> JobState | None:
    return state  # type: ignore[return-value]  # checked against STATES above


def _status(state: str) -> str:
    style = _STYLE.get(state)
    return f"[{style}]{state}[/{style}]" if style else state


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0][:120] if text and text.strip() else ""
