"""`shipyard deploy` (roll a model version out on an endpoint behind guard alarms) and
`shipyard deployments` (list, show, rollback)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from shipyard.cli.context import console, workspace
from shipyard.errors import GateFailed
from shipyard.jsonsafe import jsonable

if TYPE_CHECKING:
    from shipyard.stores.control import Deployment

app = typer.Typer(
    help="Deployments: roll-outs of a model version on an endpoint: list, show, rollback, "
    "promote, report.",
    no_args_is_help=True,
    epilog="Example: shipyard deployments list --endpoint delay-api",
)


def deploy(
    ctx: typer.Context,
    endpoint: str = typer.Argument(..., help="The endpoint to deploy to."),
    model: str = typer.Argument(..., help="model:NAME@VERSION, NAME@VERSION or NAME@ALIAS."),
    strategy: str = typer.Option("canary", help="canary, linear, blue-green, shadow or ab."),
    steps: str | None = typer.Option(
        None,
        help="Percents for canary and blue-green (default 10,50,100 and 100); "
        "a count for linear (default 4).",
    ),
    bake: str = typer.Option("5m", help="How long each step runs before the next: 30s, 5m."),
    warm: str = typer.Option("5s", help="How long the candidate warms at weight 0 first."),
    sample: float = typer.Option(
        1.0, help="shadow: the share of requests the shadow gets a copy of (0 to 1)."
    ),
    weight: float | None = typer.Option(
        None, help="ab: the candidate's percent of traffic, sticky by X-Shipyard-Key."
    ),
    alarm: list[str] | None = typer.Option(
        None,
        "--alarm",
        help="A guard alarm KIND>THRESHOLD (repeatable; replaces the defaults "
        "error_rate>0.01, p99_ratio>2, prediction_drift>0.2).",
    ),
    min_requests: int = typer.Option(
        20, "--min-requests", min=1, help="Candidate requests a step needs before it ends."
    ),
    force: bool = typer.Option(False, "--force", help="Allow a deployment with no alarm."),
    wait: bool = typer.Option(
        False, "--wait", help="Run it here until it ends: exit 0 promoted, 6 rolled back."
    ),
) -> None:
    """Roll MODEL out on ENDPOINT step by step; a guard alarm rolls it back.

    Without --wait the deployment is queued for a `shipyard server`'s job workers.
    """
    from shipyard.deploy.job import launch

    ws = workspace(ctx)
    found = ws.deployments.start(
        endpoint,
        model,
        strategy=strategy,
        steps=steps,
        bake=bake,
        warm=warm,
        sample=sample,
        weight=weight,
        alarms=alarm or None,
        min_requests=min_requests,
        force=force,
    )
    console.print(f"deployment {found.id}: {found.spec['model']} on {endpoint} ({strategy})")
    if strategy in ("shadow", "ab"):
        console.print(
            f"running until ended: shipyard deployments report {found.id}; "
            f"shipyard deployments {'promote or ' if strategy == 'ab' else ''}rollback "
            f"{found.id} ends it"
        )
        if strategy == "ab":  # its job moves it past the warm-up and watches the alarms
            launch(ws.runtime, found.id, ws.principal, wait=False)
        return
    if not wait:
        launch(ws.runtime, found.id, ws.principal, wait=False)
        console.print(f"queued; follow it with: shipyard deployments show {found.id}")
        return
    ended = launch(ws.runtime, found.id, ws.principal, wait=True)
    reason = ended.status.get("reason", "")
    if ended.state != "promoted":
        raise GateFailed(
            f"Deployment {ended.id} was {ended.state.replace('_', ' ')}: {reason}",
            hint=f"shipyard deployments show {ended.id} has the values.",
        )
    console.print(f"promoted: {reason}")


@app.command(name="list", epilog="Example: shipyard deployments list --endpoint delay-api")
def list_deployments(
    ctx: typer.Context,
    endpoint: str | None = typer.Option(None, help="Only this endpoint's."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Deployments, newest first: endpoint, model, strategy, state, step."""
    found = workspace(ctx).deployments.list(endpoint)
    if as_json:
        typer.echo(json.dumps([_dict(d) for d in found], indent=2))
        return
    table = Table("id", "endpoint", "model", "strategy", "state", "step", "started", "by")
    for d in found:
        table.add_row(d.id, d.endpoint, str(d.spec.get("model")), d.strategy, d.state,
                      _step(d), f"{d.created_at:%Y-%m-%d %H:%M:%S}", d.created_by)  # fmt: skip
    console.print(table)


@app.command(epilog="Example: shipyard deployments show 3f2a... --follow")
def show(
    ctx: typer.Context,
    deployment: str = typer.Argument(..., help="The deployment's id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    follow: bool = typer.Option(
        False, "--follow", help="Keep printing each new step until the deployment ends."
    ),
) -> None:
    """A deployment: plan, alarms, state, each step, and why it ended."""
    import time

    ws = workspace(ctx)
    found = ws.deployments.get(deployment)
    if as_json:
        typer.echo(json.dumps({**_dict(found), "events": _events(ws, found)}, indent=2))
        return
    spec = found.spec
    console.print(
        f"{found.id}: {spec.get('model')} on {found.endpoint}, {found.strategy} "
        f"(steps {', '.join(f'{s:.0%}' for s in spec.get('shares', []))}, bake "
        f"{spec.get('bake_seconds'):g} s)"
    )
    console.print(f"alarms: {', '.join(spec.get('alarms', [])) or 'none'}")
    shown = 0
    while True:
        events = _events(ws, found)
        for event in events[shown:]:
            console.print(f"  {event['at']}  {event['event']}  {json.dumps(event['detail'])}")
        shown = len(events)
        if not follow or found.state != "running":
            break
        time.sleep(1.0)
        found = ws.deployments.get(deployment)
    console.print(f"{found.state}, step {_step(found)}")
    if found.status.get("reason"):
        console.print(f"reason: {found.status['reason']}")


@app.command(epilog="Example: shipyard deployments rollback 3f2a...")
def rollback(
    ctx: typer.Context,
    deployment: str = typer.Argument(..., help="The deployment's id."),
    reason: str = typer.Option("rolled back by hand", help="Why, for the record."),
) -> None:
    """Send all traffic back to the stable variant now and end the deployment."""
    ended = workspace(ctx).deployments.rollback(deployment, reason)
    console.print(f"deployment {ended.id} rolled back: {reason}")


@app.command(epilog="Example: shipyard deployments promote 3f2a...")
def promote(
    ctx: typer.Context,
    deployment: str = typer.Argument(..., help="The deployment's id."),
    reason: str = typer.Option("promoted by hand", help="Why, for the record."),
) -> None:
    """Send all traffic to the candidate now and end the deployment (an A/B test won)."""
    ended = workspace(ctx).deployments.promote(deployment, reason)
    console.print(f"deployment {ended.id} promoted: {reason}")


@app.command(epilog="Example: shipyard deployments report 3f2a... --json")
def report(
    ctx: typer.Context,
    deployment: str = typer.Argument(..., help="The deployment's id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The candidate beside the stable variant since the deployment started.

    Requests, errors and latency of each; for a shadow, agreement and score differences
    on the same requests."""
    found = workspace(ctx).deployments.report(deployment)
    if as_json:
        typer.echo(json.dumps(jsonable(found), indent=2))
        return
    table = Table("variant", "model", "requests", "errors", "p50 ms", "p99 ms")
    for side in ("stable", "candidate"):
        row = found[side]
        table.add_row(
            f"{row['name']} ({side})", f"{row['model']}@{row['version']}", str(row["requests"]),
            str(row["errors"]), _ms(row["p50_ms"]), _ms(row["p99_ms"]),
        )  # fmt: skip
    console.print(table)
    pairs = found.get("paired")
    if pairs and pairs.get("requests"):
        scores = pairs["score_difference"]
        console.print(
            f"paired requests {pairs['requests']}: agreement {pairs['agreement']:.1%}; "
            f"largest score difference per request: mean {scores.get('mean', 0):.4f}, "
            f"p95 {scores.get('p95', 0):.4f}, max {scores.get('max', 0):.4f} "
            f"({scores.get('max_request_id', '-')}); model time difference p50 "
            f"{pairs['model_ms_difference']['p50']:+.2f} ms"
        )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _step(found: Deployment) -> str:
    step = int(found.status.get("step", -1))
    shares = found.spec.get("shares", [])
    if found.strategy == "shadow":
        return f"shadow ({float(found.spec.get('sample', 1.0)):.0%} of requests)"
    if step < 0:
        return "warming"
    return f"{step + 1}/{len(shares)} ({shares[step]:.0%})"


def _dict(found: Deployment) -> dict[str, Any]:
    return jsonable(
        {
            "id": found.id,
            "endpoint": found.endpoint,
            "strategy": found.strategy,
            "state": found.state,
            "revision": found.revision,
            "spec": dict(found.spec),
            "status": dict(found.status),
            "created_at": found.created_at,
            "created_by": found.created_by,
            "updated_at": found.updated_at,
        }
    )


def _events(ws: Any, found: Deployment) -> list[dict[str, Any]]:
    return [
        jsonable({"at": e.at, "event": e.event, "by": e.by, "detail": dict(e.detail)})
        for e in ws.deployments.history(found.id)
    ]
