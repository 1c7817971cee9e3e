"""`shipyard alarms`: rules on monitored series, their states and history."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from shipyard.cli.context import console, workspace
from shipyard.errors import InvalidInput

app = typer.Typer(
    help="Alarms: rules on an endpoint's monitored series (drift, quality, outcomes) that "
    "log, call a webhook, start a pipeline run or roll back a deployment.",
    no_args_is_help=True,
    epilog="Example: shipyard alarms list --endpoint delay",
)


@app.command(
    name="set",
    epilog="Example: shipyard alarms set temp-drift --endpoint delay --stage input "
    "--metric ks --feature temp --n 2 --m 3 --action log --action pipeline=retrain.yaml",
)
def set_alarm(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The alarm's name (setting it again replaces it)."),
    endpoint: str = typer.Option(..., "--endpoint", help="The endpoint whose series it watches."),
    stage: str = typer.Option(
        ..., help="input, enriched, scores, output, schema, quality, estimated or outcome."
    ),
    metric: str = typer.Option(..., help="ks, js, chi2, refused_share, roc_auc, an event..."),
    feature: str = typer.Option("*", help="One feature, or * for any."),
    variant: str = typer.Option("*", help="One variant, or * for any."),
    rule: str = typer.Option("flagged", help="flagged, above, below or change."),
    threshold: float | None = typer.Option(None, help="The value above/below/change uses."),
    n: int = typer.Option(1, "--n", help="Breaching windows needed..."),
    m: int = typer.Option(1, "--m", help="...among the latest this many windows."),
    action: list[str] = typer.Option(
        [], "--action", help="log, rollback, webhook=URL or pipeline=FILE (repeatable)."
    ),
    secret_env: str | None = typer.Option(
        None, "--secret-env", help="Sign webhook bodies with the secret in this variable."
    ),
) -> None:
    """Create or replace an alarm on an endpoint's monitored series."""
    actions = [_action(a, secret_env) for a in action] or [{"kind": "log"}]
    series = {"stage": stage, "metric": metric, "feature": feature, "variant": variant}
    spec = {"series": series, "rule": rule, "n": n, "m": m, "actions": actions}
    if threshold is not None:
        spec["threshold"] = threshold
    stored = workspace(ctx).monitoring.put_alarm(name, endpoint, spec)
    console.print(f"alarm {stored.name} on {stored.endpoint}: {stored.state}")


@app.command(name="list", epilog="Example: shipyard alarms list --endpoint delay")
def list_alarms(
    ctx: typer.Context,
    endpoint: str | None = typer.Option(None, help="Only this endpoint's."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Alarms with their state and why."""
    from shipyard.api.schemas.monitoring import Alarm

    found = workspace(ctx).monitoring.alarms(endpoint)
    if as_json:
        typer.echo(json.dumps([Alarm.from_domain(a).model_dump(mode="json") for a in found]))
        return
    table = Table("alarm", "endpoint", "state", "since", "reason")
    for a in found:
        style = {"ALARM": "bold red", "OK": "green"}.get(a.state, "yellow")
        table.add_row(a.name, a.endpoint, f"[{style}]{a.state}[/]",
                      f"{a.state_changed_at:%Y-%m-%d %H:%M}", a.reason)  # fmt: skip
    console.print(table)


@app.command(epilog="Example: shipyard alarms show temp-drift")
def show(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The alarm."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """An alarm: its rule, actions and state."""
    from shipyard.api.schemas.monitoring import Alarm

    found = Alarm.from_domain(workspace(ctx).monitoring.alarm(name))
    if as_json:
        typer.echo(found.model_dump_json(indent=2))
        return
    console.print(f"{found.name} on {found.endpoint}: {found.state} since "
                  f"{found.state_changed_at:%Y-%m-%d %H:%M:%S} UTC")  # fmt: skip
    console.print(f"reason: {found.reason}")
    console.print(f"spec: {json.dumps(found.spec)}")


@app.command(epilog="Example: shipyard alarms history temp-drift")
def history(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The alarm."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """An alarm's state changes, newest first."""
    from shipyard.api.schemas.monitoring import AlarmEvent

    found = [AlarmEvent.from_domain(e) for e in workspace(ctx).monitoring.alarm_history(name)]
    if as_json:
        typer.echo(json.dumps([e.model_dump(mode="json") for e in found]))
        return
    table = Table("at", "from", "to", "reason")
    for e in found:
        table.add_row(f"{e.at:%Y-%m-%d %H:%M:%S}", e.old_state, e.new_state, e.reason)
    console.print(table)


@app.command(epilog="Example: shipyard alarms delete temp-drift")
def delete(ctx: typer.Context, name: str = typer.Argument(..., help="The alarm.")) -> None:
    """Remove an alarm and its history."""
    workspace(ctx).monitoring.delete_alarm(name)
    console.print(f"alarm {name} deleted")


def _action(text: str, secret_env: str | None) -> dict[str, str]:
    kind, sep, value = text.partition("=")
    if kind in ("log", "rollback") and not sep:
        return {"kind": kind}
    if kind == "webhook" and value:
        found = {"kind": "webhook", "url": value}
        return {**found, "secret_env": secret_env} if secret_env else found
    if kind == "pipeline" and value:
        return {"kind": "pipeline", "path": value}
    raise InvalidInput(
        f"--action {text!r} is not one of log, rollback, webhook=URL, pipeline=FILE.",
        hint="Example: --action webhook=https://hooks.example.com/shipyard",
    )
