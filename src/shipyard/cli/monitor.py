"""`shipyard monitor`: baselines, monitoring runs, ground truth, outcomes, plots, schedules."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer
from rich.table import Table

from shipyard.cli.context import console, workspace
from shipyard.cli.engine_options import engine_option, scheduler_option, workers_option
from shipyard.errors import GateFailed, InvalidInput

app = typer.Typer(
    help="Monitoring: compare an endpoint's traffic, quality and outcomes with the model's "
    "training baseline, window by window.",
    no_args_is_help=True,
    epilog="Example: shipyard monitor run delay --window 1h",
)


@app.command(
    epilog="Example: shipyard monitor baseline model:delay@3 --data train.parquet "
    "--validation valid.parquet --target late"
)
def baseline(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="model:NAME@VERSION (or NAME@VERSION)."),
    data: str = typer.Option(..., "--data", help="Its training data: a dataset or Parquet."),
    validation: str | None = typer.Option(
        None, "--validation", help="Validation data with the target: quality's reference."
    ),
    target: str | None = typer.Option(None, "--target", help="The label column of --validation."),
    trust: bool = typer.Option(False, "--trust", help="Load a pickled model (it runs code)."),
) -> None:
    """Attach a monitoring baseline to a model version registered by hand (the pipeline
    makes one for its own versions)."""
    made = workspace(ctx).monitoring.baseline(
        model, data, validation=validation, target=target, trust=trust
    )
    outputs = f", outputs {made.outputs.ref}" if made.outputs else ""
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in sorted(made.metrics.items()))
    console.print(f"model:{made.model}@{made.version}: inputs {made.input.ref}{outputs}")
    if metrics:
        console.print(f"validation: {metrics}")


@app.command(
    epilog="Example: shipyard monitor run delay --window 1h --start 2013-07-01T00:00Z "
    "--end 2013-08-01T00:00Z --engine dask --json"
)
def run(
    ctx: typer.Context,
    endpoint: str = typer.Argument(..., help="The endpoint to check."),
    window: str = typer.Option("1h", help="Window length, whole hours: 1h, 6h, 1d."),
    start: str | None = typer.Option(None, help="First window's start (ISO 8601, UTC)."),
    end: str | None = typer.Option(
        None, help="Last window's end (default: one window after --start, or this hour's end)."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the result, violations as constraint_violations.json."
    ),
    engine: str = engine_option(),
    scheduler: str | None = scheduler_option(),
    workers: int | None = workers_option(),
) -> None:
    """Check the captured windows against each model version's baseline; exits 6 when a
    violation is found. --engine dask profiles the hours not profiled yet on a cluster."""
    found = workspace(ctx).monitoring.run(
        endpoint, window=_duration(window, "--window"), start=_time(start, "--start"),
        end=_time(end, "--end"), engine=engine, scheduler=scheduler, workers=workers,
    )  # fmt: skip
    if as_json:
        typer.echo(json.dumps(found.to_dict(), indent=2, default=str))
    else:
        for result in found.windows:
            console.print(
                f"{result.start:%Y-%m-%d %H:%M}..{result.end:%H:%M}  {result.requests:,} "
                f"requests  {len(result.violations)} violation(s)"
            )
            for v in result.violations:
                console.print(f"  {v.variant}/{v.stage} {v.feature_name or '(table)'}: "
                              f"{v.constraint_check_type}: {v.description}")  # fmt: skip
            for note in result.notes:
                console.print(f"  note: {note}")
        for change in found.alarms:
            console.print(f"alarm {change.alarm}: {change.old_state} -> {change.new_state}: "
                          f"{change.reason}")  # fmt: skip
    if not found.ok:
        raise GateFailed(
            f"{len(found.violations)} violation(s) in {endpoint}'s monitored windows.",
            hint="--json prints them as constraint_violations.json.",
        )


@app.command(
    name="ground-truth",
    epilog="Example: shipyard monitor ground-truth labels.csv --endpoint delay   "
    "(columns request_id or key, label, time)",
)
def ground_truth(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="CSV, Parquet, JSON or JSONL records."),
    endpoint: str = typer.Option(..., "--endpoint", help="The endpoint the requests went to."),
) -> None:
    """Post labels for earlier requests (by request_id, or by routing key)."""
    from shipyard.monitoring.feedback import read_records_file

    count = workspace(ctx).monitoring.ground_truth(endpoint, read_records_file(file))
    console.print(f"{count:,} label(s) stored for {endpoint}")


@app.command(
    epilog="Example: shipyard monitor outcomes clicks.jsonl --endpoint delay   "
    "(request_id or key, event, value, time)"
)
def outcomes(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="CSV, Parquet, JSON or JSONL records."),
    endpoint: str = typer.Option(..., "--endpoint", help="The endpoint the requests went to."),
) -> None:
    """Post business outcomes (an event and a value) for earlier requests."""
    from shipyard.monitoring.feedback import read_records_file

    count = workspace(ctx).monitoring.outcomes(endpoint, read_records_file(file))
    console.print(f"{count:,} outcome(s) stored for {endpoint}")


@app.command(epilog="Example: shipyard monitor points delay --stage input --metric ks")
def points(
    ctx: typer.Context,
    endpoint: str = typer.Argument(..., help="The endpoint."),
    stage: str | None = typer.Option(
        None, help="input, enriched, scores, output, schema, quality, estimated or outcome."
    ),
    metric: str | None = typer.Option(None, help="ks, psi, js, chi2, roc_auc, an event..."),
    feature: str | None = typer.Option(None, help="Only this feature's."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Stored series points, oldest window first."""
    from shipyard.api.schemas.monitoring import Point

    found = workspace(ctx).monitoring.points(endpoint, stage=stage, metric=metric, feature=feature)
    if as_json:
        typer.echo(json.dumps([Point.from_domain(p).model_dump(mode="json") for p in found]))
        return
    table = Table("window", "variant", "stage", "metric", "feature", "value", "p", "rows", "flag")
    for p in found:
        table.add_row(f"{p.start:%Y-%m-%d %H:%M}", p.variant, p.stage, p.metric, p.feature,
                      _number(p.value), _number(p.p_value), f"{p.rows:,}",
                      "[red]yes[/]" if p.flagged else "")  # fmt: skip
    console.print(table)


@app.command(epilog="Example: shipyard monitor plot delay --html drift.html --png drift.png")
def plot(
    ctx: typer.Context,
    endpoint: str = typer.Argument(..., help="The endpoint."),
    html: Path | None = typer.Option(None, "--html", help="Write the interactive plot here."),
    png: Path | None = typer.Option(None, "--png", help="Write a PNG here."),
    start: str | None = typer.Option(None, help="From this time (ISO 8601)."),
    end: str | None = typer.Option(None, help="Until this time (ISO 8601)."),
) -> None:
    """Drift, quality and outcomes over time, with deployments and alarms marked."""
    if html is None and png is None:
        html = Path(f"{endpoint}-monitoring.html")
    written = workspace(ctx).monitoring.plot(
        endpoint, html=html, png=png, start=_time(start, "--start"), end=_time(end, "--end")
    )
    for path in written:
        console.print(f"wrote {path}")


@app.command(epilog="Example: shipyard monitor profile delay --png drift-profile.png")
def profile(
    ctx: typer.Context,
    endpoint: str = typer.Argument(..., help="The endpoint."),
    png: Path | None = typer.Option(None, "--png", help="Also draw it here."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """How often, how fast and how abruptly the endpoint's data drifts: a guide to how
    often to retrain."""
    found = workspace(ctx).monitoring.drift_profile(endpoint, png=png)
    if as_json:
        typer.echo(json.dumps(found, indent=2, default=str))
        return
    table = Table("feature", "windows", "drifted", "share", "episodes (onset)")
    for f in found["features"]:
        onsets = ", ".join(e["onset"] for e in f["episodes"])
        table.add_row(f"{f['stage']}/{f['feature']}", str(f["windows"]), str(f["drifted"]),
                      f"{f['share_drifted']:.0%}", onsets)  # fmt: skip
    console.print(table)
    console.print(found["summary"]["advice"])


@app.command(
    epilog="Example: shipyard monitor schedule delay --every 1h --lookback 48h "
    "--engine dask --scheduler tcp://10.0.0.5:8786"
)
def schedule(
    ctx: typer.Context,
    endpoint: str = typer.Argument(..., help="The endpoint to monitor."),
    every: str = typer.Option("1h", "--every", help="How often: 15m, 1h, 1d."),
    window: str = typer.Option("1h", help="Window length, whole hours."),
    lookback: str = typer.Option(
        "24h", help="How far back each run looks (late labels update those windows)."
    ),
    engine: str = engine_option(),
    scheduler: str | None = scheduler_option(),
    workers: int | None = workers_option(),
) -> None:
    """Run the endpoint's monitoring on a schedule, from `shipyard server`. --engine dask
    profiles each run's new hours on a cluster (--scheduler), opened at each run."""
    from shipyard.cli.schedules import parse_interval
    from shipyard.monitoring.job import JOB_KIND, payload

    ws = workspace(ctx)
    ws.authorize("monitoring:Write", f"shipyard:endpoint:{endpoint}")
    ws.endpoints.get(endpoint)
    body = payload(endpoint, _duration(window, "--window"), _duration(lookback, "--lookback"),
                   ws.principal, engine=engine, scheduler=scheduler, workers=workers)  # fmt: skip
    seconds = parse_interval(every)
    stored = ws.runtime.control.put_schedule(
        f"monitor-{endpoint}", JOB_KIND, body, seconds, by=ws.principal,
        first_fire_at=datetime.now(UTC),
    )  # fmt: skip
    where = (
        "" if engine == "local" else f", on {engine}" + (f" at {scheduler}" if scheduler else "")
    )
    console.print(f"schedule {stored.name}: monitor {endpoint} every {every}, "
                  f"looking back {lookback}{where}")  # fmt: skip


def _duration(text: str, option: str) -> timedelta:
    from shipyard.cli.schedules import parse_interval

    try:
        return timedelta(seconds=parse_interval(text))
    except InvalidInput as exc:
        raise InvalidInput(f"{option}: {exc.message}", hint="Write 1h, 6h or 1d.") from None


def _time(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{option} {text!r} is not an ISO 8601 time.", hint="Write 2024-03-01T10:00Z."
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"
