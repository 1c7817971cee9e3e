"""`shipyard endpoints`: serving endpoints: create, show (with the effective split), list,
change weights, read the history, delete."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from shipyard.cli.context import console, workspace
from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    from shipyard.stores.control import Endpoint

app = typer.Typer(
    help="Endpoints: serve registered models (variants, weights, capture): create, show, list, "
    "weights, history, delete.",
    no_args_is_help=True,
    epilog="Example: shipyard endpoints create delay-api --model delay@champion",
)


@app.command(
    epilog="Example: shipyard endpoints create delay-api --model model:delay@3 --capture-rate "
    "0.1 --postprocess threshold:0.3 --on-missing weather__precip=default:0\n\n"
    "Example: shipyard endpoints create many --models 'delay-*' --memory-budget 512\n\n"
    "Example: shipyard endpoints create delay-async --model delay@3 --async-config "
    '\'{"timeout_seconds": 600, "notify_error": "https://hooks.example/err"}\''
)
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The endpoint's name."),
    model: str | None = typer.Option(
        None,
        "--model",
        help="model:MODEL@VERSION, MODEL@VERSION or MODEL@ALIAS (an alias is resolved now).",
    ),
    models: str | None = typer.Option(
        None,
        "--models",
        help="A multi-model endpoint instead: a glob of the model names it serves, each at "
        "POST /endpoints/NAME/models/MODEL@VERSION/invocations.",
    ),
    memory_budget: float = typer.Option(
        1024.0, "--memory-budget", help="A multi-model endpoint's memory for models, in MB."
    ),
    postprocess: str = typer.Option(
        "predict",
        "--postprocess",
        help="The lossy step: predict, argmax, threshold:T (binary) or top_k:K.",
    ),
    on_missing: list[str] = typer.Option(
        [],
        "--on-missing",
        help="An online feature's policy when missing or outside its ttl: "
        "COLUMN=missing (the default), COLUMN=refuse or COLUMN=default:VALUE; COLUMN * "
        "means every feature. Repeat for more.",
    ),
    capture_rate: float = typer.Option(
        1.0, "--capture-rate", help="The fraction of requests captured, 0 to 1."
    ),
    capture_parsed: bool = typer.Option(
        False,
        "--capture-parsed",
        help="Keep the captured JSON parsed into typed columns too (in a helper process): "
        "monitoring runs read them about 3x faster, at some serving throughput.",
    ),
    batching: bool = typer.Option(
        False,
        "--batching/--no-batching",
        help="Micro-batch concurrent requests (off by default: it does not raise throughput yet).",
    ),
    production: bool = typer.Option(
        False, "--production", help="Mark it production: only the pipeline may change it."
    ),
    async_config: str | None = typer.Option(
        None,
        "--async-config",
        help="Async invocations' settings, a JSON object: max_attempts, timeout_seconds, "
        "ttl_seconds, output_path, notify_success, notify_error, secret_env.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create an endpoint serving one model version as its `primary` variant at weight 1,
    or, with --models, a multi-model endpoint."""
    created = workspace(ctx).endpoints.create(
        name,
        model,
        capture_rate=capture_rate,
        capture_parsed=capture_parsed,
        batching=batching,
        production=production,
        postprocess=postprocess,
        on_missing=on_missing,
        models=models,
        memory_budget_mb=memory_budget,
        async_config=_json_object(async_config, "--async-config"),
    )
    if as_json:
        _print_json(created)
        return
    if not created.variants:
        console.print(
            f"multi-model endpoint {created.name} created: serves models matching "
            f"{created.spec['multi_model']['models']!r} within "
            f"{created.spec['multi_model']['memory_budget_mb']:g} MB"
        )
        return
    variant = created.variants[0]
    console.print(
        f"endpoint {created.name} created (revision {created.revision}): "
        f"{variant.name} -> model:{variant.model}@{variant.version}"
    )


@app.command(epilog="Example: shipyard endpoints show delay-api --json")
def show(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The endpoint's name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show an endpoint: its revision, spec and variants with the effective split."""
    found = workspace(ctx).endpoints.get(name)
    if as_json:
        _print_json(found)
        return
    spec = found.spec
    flags = [f"capture {float(spec.get('capture_rate', 1.0)):.0%}",
             "batching" if spec.get("batching", False) else "no batching"]  # fmt: skip
    if spec.get("capture_parsed"):
        flags.append("capture parsed")
    if spec.get("production"):
        flags.append("production")
    step = spec.get("postprocess") or {"kind": "predict"}
    flags.append("postprocess " + ":".join(str(v) for v in step.values()))
    if spec.get("on_missing"):
        flags.append("on missing " + ", ".join(
            f"{c}={p['action']}" + (f":{p['value']}" if "value" in p else "")
            for c, p in spec["on_missing"].items()))  # fmt: skip
    multi = spec.get("multi_model")
    if multi:
        flags.append(f"multi-model {multi['models']!r} within {multi['memory_budget_mb']:g} MB")
    console.print(
        f"[bold]{found.name}[/bold] revision {found.revision} ({', '.join(flags)}); "
        f"updated {found.updated_at:%Y-%m-%d %H:%M:%S} by {found.updated_by}"
    )
    console.print(_variants_table(found))


@app.command(name="list", epilog="Example: shipyard endpoints list --json")
def list_endpoints(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List endpoints: revision, variants with their shares, who changed them last."""
    from shipyard.serving.endpoints import effective_split

    found = workspace(ctx).endpoints.list()
    if as_json:
        _print_json(found)
        return
    table = Table(header_style="bold")
    for column in ("endpoint", "revision", "split", "updated", "by"):
        table.add_column(column, overflow="fold")
    for endpoint in found:
        split = effective_split(endpoint)
        shares = ", ".join(f"{v} {s:.0%}" for v, s in split.items() if s > 0)
        table.add_row(endpoint.name, str(endpoint.revision), shares,
                      f"{endpoint.updated_at:%Y-%m-%d %H:%M:%S}", endpoint.updated_by)  # fmt: skip
    console.print(table)


@app.command(
    epilog="Example: shipyard endpoints weights delay-api primary=9 challenger=1 "
    "--expected-revision 4"
)
def weights(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The endpoint's name."),
    assignments: list[str] = typer.Argument(
        ..., metavar="VARIANT=WEIGHT...", help="New weights (ratios); others keep theirs."
    ),
    expected_revision: int | None = typer.Option(
        None,
        "--expected-revision",
        help="Change it only if it is still at this revision (from `endpoints show`).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Set variants' traffic weights in one change, then print the effective split."""
    changed = workspace(ctx).endpoints.set_weights(
        name, _weights(assignments), expected_revision=expected_revision
    )
    if as_json:
        _print_json(changed)
        return
    console.print(f"endpoint {changed.name} at revision {changed.revision}")
    console.print(_variants_table(changed))


@app.command(epilog="Example: shipyard endpoints history delay-api --json")
def history(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The endpoint's name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Every change of an endpoint, oldest first (kept after it is deleted)."""
    events = workspace(ctx).endpoints.history(name)
    if as_json:
        from shipyard.api.schemas import to_json
        from shipyard.api.schemas.endpoints import EndpointEvent

        typer.echo(to_json([EndpointEvent.from_domain(e) for e in events]))
        return
    table = Table(header_style="bold", title=name)
    for column in ("revision", "event", "at", "by", "detail"):
        table.add_column(column, overflow="fold")
    for event in events:
        detail = json.dumps(dict(event.detail), default=str, sort_keys=True)
        table.add_row(str(event.revision), event.event, f"{event.at:%Y-%m-%d %H:%M:%S}",
                      event.by, detail[:200])  # fmt: skip
    console.print(table)


@app.command(epilog="Example: shipyard endpoints delete delay-api")
def delete(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The endpoint's name."),
    expected_revision: int | None = typer.Option(
        None, "--expected-revision", help="Delete it only if it is still at this revision."
    ),
) -> None:
    """Delete an endpoint and its variants (its history stays)."""
    workspace(ctx).endpoints.delete(name, expected_revision=expected_revision)
    console.print(f"endpoint {name} deleted")


def _variants_table(endpoint: Endpoint) -> Table:
    from shipyard.serving.endpoints import effective_split

    split = effective_split(endpoint)
    table = Table(header_style="bold")
    for column in ("variant", "model", "role", "weight", "share"):
        table.add_column(column, overflow="fold")
    for v in endpoint.variants:
        share = "copies" if v.role == "shadow" else f"{split.get(v.name, 0.0):.1%}"
        table.add_row(v.name, f"model:{v.model}@{v.version}", v.role, f"{v.weight:g}", share)
    return table


def _weights(assignments: list[str]) -> dict[str, float]:
    """VARIANT=WEIGHT arguments as {variant: weight}."""
    found: dict[str, float] = {}
    for text in assignments:
        variant, equals, value = text.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = None
        if not equals or not variant or weight is None:
            raise InvalidInput(
                f"{text!r} is not VARIANT=WEIGHT.",
                hint="For example: shipyard endpoints weights delay-api primary=9 challenger=1",
            )
        if variant in found:
            raise InvalidInput(f"Variant {variant!r} is given twice.")
        found[variant] = weight
    return found


def _print_json(value: Endpoint | list[Endpoint]) -> None:
    from shipyard.api.schemas import to_json
    from shipyard.api.schemas.endpoints import Endpoint as EndpointSchema

    if isinstance(value, list):
        typer.echo(to_json([EndpointSchema.from_domain(e) for e in value]))
    else:
        typer.echo(to_json(EndpointSchema.from_domain(value)))


def _json_object(text: str | None, option: str) -> dict[str, object] | None:
    if text is None:
        return None
    try:
        found = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"{option} is not valid JSON: {exc}.") from None
    if not isinstance(found, dict):
        raise InvalidInput(f"{option} is a JSON object, got {text[:60]!r}.")
    return found
