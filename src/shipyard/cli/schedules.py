"""`shipyard schedules`: run a pipeline every interval, from `shipyard server`.

A schedule is stored in the metadata database; every `shipyard server` on it runs a
scheduler that fires each due interval once (across servers) as a `pipeline_run` job,
which a server's job worker runs as the `pipeline` principal.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from shipyard.cli.context import console, workspace
from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    from shipyard.stores.control import Schedule

app = typer.Typer(
    help="Schedules: run a pipeline every interval from `shipyard server`.",
    no_args_is_help=True,
    epilog="Example: shipyard schedules add nightly --pipeline pipeline.yaml --every 24h",
)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+)\s*([smhd])")
MIN_INTERVAL = 1


@app.command(
    epilog="Example: shipyard schedules add retrain --pipeline train.py --every 1h "
    "--param threshold=0.7   (first run after one interval; --now: at the next tick)"
)
def add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The schedule's name (adding it again replaces it)."),
    pipeline: Path = typer.Option(
        ..., "--pipeline", help="A .py file defining `pipeline`, or a pipeline.yaml."
    ),
    every: str = typer.Option(..., "--every", help="Interval: 90s, 15m, 1h, 1h30m, 1d."),
    param: list[str] = typer.Option([], "--param", help="KEY=VALUE; repeat for more."),
    now: bool = typer.Option(False, "--now", help="Fire the first run at once."),
) -> None:
    """Run a pipeline every interval (from `shipyard server`), as the pipeline principal.

    The file is checked now (it loads, the parameters fit) and stored by its absolute
    path: the servers read it from there when each run starts."""
    from shipyard.cli.pipeline import parse_params
    from shipyard.pipeline import load_pipeline
    from shipyard.pipeline.live import RUN_JOB_KIND
    from shipyard.pipeline.runner import RUN_ACTION

    seconds = parse_interval(every)
    loaded = load_pipeline(pipeline)
    params = parse_params(param, loaded)
    ws = workspace(ctx)
    # Whoever schedules a pipeline must be allowed to run it.
    ws.authorize(RUN_ACTION, f"shipyard:pipeline:{loaded.name}")
    payload = {
        "path": str(pipeline.expanduser().resolve()),
        "pipeline": loaded.name,
        "params": params,
        "schedule": name,
        "requested_by": ws.principal,
    }
    first = datetime.now(UTC) + (timedelta(0) if now else timedelta(seconds=seconds))
    stored = ws.runtime.control.put_schedule(
        name, RUN_JOB_KIND, payload, seconds, by=ws.principal, first_fire_at=first
    )
    console.print(
        f"schedule {stored.name}: pipeline {loaded.name} every {format_interval(seconds)}, "
        f"next at {stored.next_fire_at:%Y-%m-%d %H:%M:%S} UTC",
        soft_wrap=True,
    )


@app.command(name="list", epilog="Example: shipyard schedules list --json")
def list_schedules(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List schedules: pipeline, interval, next and last firing, the last job."""
    found = workspace(ctx).runtime.control.schedules()
    if as_json:
        typer.echo(json.dumps([schedule_dict(s) for s in found], indent=2, default=str))
        return
    table = Table(header_style="bold")
    for column in ("name", "pipeline", "every", "next (UTC)", "last fired", "last job", "on"):
        table.add_column(column, overflow="fold")
    for item in found:
        table.add_row(
            item.name,
            str(item.payload.get("pipeline") or item.payload.get("path") or item.job_kind),
            format_interval(item.interval_seconds),
            f"{item.next_fire_at:%Y-%m-%d %H:%M:%S}",
            f"{item.last_fired_at:%Y-%m-%d %H:%M:%S}" if item.last_fired_at else "",
            str(item.last_job_id or ""),
            "yes" if item.enabled else "no",
        )
    console.print(table)


@app.command(epilog="Example: shipyard schedules remove nightly")
def remove(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The schedule to remove."),
) -> None:
    """Remove a schedule (runs it already started go on; their records stay)."""
    ws = workspace(ctx)
    control = ws.runtime.control
    existing = {s.name: s for s in control.schedules()}.get(name)
    pipeline = existing.payload.get("pipeline") if existing is not None else None
    if pipeline:
        from shipyard.pipeline.runner import RUN_ACTION

        ws.authorize(RUN_ACTION, f"shipyard:pipeline:{pipeline}")
    control.delete_schedule(name)
    console.print(f"removed schedule {name}")


def parse_interval(text: str) -> int:
    """``90s``, ``15m``, ``1h30m``, ``2d`` or plain seconds -> seconds.

    >>> parse_interval("1h30m"), parse_interval("45")
    (5400, 45)
    """
    cleaned = text.strip().lower()
    if cleaned.isdigit():
        seconds = int(cleaned)
    else:
        parts = _PART.findall(cleaned)
        if not parts or _PART.sub("", cleaned).strip():
            raise InvalidInput(
                f"--every {text!r} is not an interval.",
                hint="Write a number and a unit: 90s, 15m, 1h, 1h30m, 1d.",
            )
        seconds = sum(int(n) * _UNITS[unit] for n, unit in parts)
    if seconds < MIN_INTERVAL:
        raise InvalidInput(f"--every {text!r} is shorter than {MIN_INTERVAL} second.")
    return seconds


def format_interval(seconds: int) -> str:
    """5400 -> ``1h30m``.

    >>> format_interval(5400), format_interval(86400), format_interval(45)
    ('1h30m', '1d', '45s')
    """
    out = []
    for unit, size in sorted(_UNITS.items(), key=lambda item: -item[1]):
        count, seconds = divmod(seconds, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out) or "0s"


def schedule_dict(item: Schedule) -> dict[str, Any]:
    return {
        "name": item.name,
        "job_kind": item.job_kind,
        "payload": dict(item.payload),
        "interval_seconds": item.interval_seconds,
        "next_fire_at": item.next_fire_at.isoformat(),
        "last_fired_at": item.last_fired_at.isoformat() if item.last_fired_at else None,
        "last_job_id": item.last_job_id,
        "enabled": item.enabled,
        "revision": item.revision,
        "created_at": item.created_at.isoformat(),
        "created_by": item.created_by,
    }
