"""`shipyard models`: the model registry: list, show, aliases and their history, reviews."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from shipyard.cli.context import console, workspace
from shipyard.errors import InvalidInput

if TYPE_CHECKING:  # the registry imports pandas: only when a models command runs
    from shipyard.registry.records import ModelVersion
    from shipyard.registry.service import ModelRegistry

app = typer.Typer(
    help="Registered models: versions, aliases, approvals.",
    no_args_is_help=True,
    epilog="Example: shipyard models show delay@production",
)


def registry(ctx: typer.Context) -> ModelRegistry:
    """The registry of the selected workspace."""
    return workspace(ctx).models


@app.command(name="list", epilog="Example: shipyard models list --json")
def list_models(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List registered models: latest version, flavor and where each alias points."""
    models = registry(ctx).list()
    if as_json:
        from shipyard.api.schemas import to_json
        from shipyard.api.schemas.models import ModelSummary

        typer.echo(to_json([ModelSummary.from_domain(m) for m in models]))
        return
    table = Table(header_style="bold")
    for column in ("model", "latest", "flavor", "aliases", "updated"):
        table.add_column(column, overflow="fold")
    for m in models:
        aliases = ", ".join(f"{a}@{v}" for a, v in m.aliases.items())
        table.add_row(m.name, str(m.latest), m.flavor, aliases, f"{m.updated_at:%Y-%m-%d %H:%M}")
    console.print(table)


@app.command(epilog="Example: shipyard models show delay@3 --json   (or delay@production)")
def show(
    ctx: typer.Context,
    model: str = typer.Argument(..., metavar="MODEL", help="NAME, NAME@VERSION or NAME@ALIAS."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a version: flavor, signature, aliases, approval, tags and lineage, and whether
    loading it runs code (a pickled model)."""
    name, version, alias = _parse(model)
    found = registry(ctx).get(name, version, alias=alias)
    if as_json:
        from shipyard.api.schemas import to_json
        from shipyard.api.schemas.models import ModelVersion

        typer.echo(to_json(ModelVersion.from_domain(found)))
        return
    _print_version(found)


@app.command(epilog="Example: shipyard models alias delay challenger 4")
def alias(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="Model name."),
    alias_name: str = typer.Argument(..., metavar="ALIAS", help="Alias, such as challenger."),
    version: int = typer.Argument(
        ..., metavar="VERSION", help="Version the alias should point to."
    ),
) -> None:
    """Point an alias at a version (only the pipeline may move 'production')."""
    change = registry(ctx).set_alias(name, alias_name, version)
    console.print(f"{name}@{alias_name} -> version {change.version} (set by {change.set_by})")


@app.command(epilog="Example: shipyard models unalias delay challenger")
def unalias(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="Model name."),
    alias_name: str = typer.Argument(..., metavar="ALIAS", help="Alias to remove."),
) -> None:
    """Remove an alias (its history is kept; only the pipeline may remove 'production')."""
    registry(ctx).remove_alias(name, alias_name)
    console.print(f"{name}@{alias_name} removed")


@app.command(epilog="Example: shipyard models history delay production --at 2026-03-01")
def history(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="Model name."),
    alias_name: str = typer.Argument(..., metavar="ALIAS", help="Alias, such as production."),
    at: str | None = typer.Option(
        None, "--at", help="Only say which version it pointed to at this date or ISO time (UTC)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show every move of an alias: version, when, by whom."""
    models = registry(ctx)
    if at is not None:
        version = models.version_at(name, alias_name, _when(at))
        if as_json:
            from shipyard.api.schemas import to_json
            from shipyard.api.schemas.models import AliasAt

            typer.echo(to_json(AliasAt.from_domain(name, alias_name, at, version)))
        else:
            console.print(f"{name}@{alias_name} at {at}: {version or 'not set'}")
        return
    changes = models.alias_history(name, alias_name)
    if as_json:
        from shipyard.api.schemas import to_json
        from shipyard.api.schemas.models import AliasChange

        typer.echo(to_json([AliasChange.from_domain(c) for c in changes]))
        return
    table = Table(header_style="bold", title=f"{name}@{alias_name}")
    for column in ("version", "set at (UTC)", "set by"):
        table.add_column(column)
    for change in changes:
        shown = "removed" if change.version is None else str(change.version)
        table.add_row(shown, f"{change.set_at:%Y-%m-%d %H:%M:%S}", change.set_by)
    console.print(table)


@app.command(epilog='Example: shipyard models approve delay 4 --comment "Beats v3 on every slice."')
def approve(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="Model name."),
    version: int = typer.Argument(..., metavar="VERSION", help="Version to approve."),
    comment: str = typer.Option("", "--comment", help="Why (kept with the approval)."),
) -> None:
    """Approve a version for production (you are recorded as the approver)."""
    review = registry(ctx).approve(name, version, comment)
    console.print(f"{name}@{version} approved by {review.by}")


@app.command(epilog='Example: shipyard models reject delay 4 --comment "Worse on night flights."')
def reject(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="Model name."),
    version: int = typer.Argument(..., metavar="VERSION", help="Version to reject."),
    comment: str = typer.Option("", "--comment", help="Why (kept with the rejection)."),
) -> None:
    """Reject a version (you are recorded as the reviewer)."""
    review = registry(ctx).reject(name, version, comment)
    console.print(f"{name}@{version} rejected by {review.by}")


def _parse(text: str) -> tuple[str, int | None, str | None]:
    """NAME, NAME@VERSION or NAME@ALIAS."""
    name, _, after = text.partition("@")
    if not after:
        return name, None, None
    if after.isdigit():
        return name, int(after), None
    return name, None, after


def _when(text: str) -> datetime | date:
    try:
        if "T" not in text and " " not in text:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{text!r} is not a date or time.", hint="Use 2026-03-01 or 2026-03-01T12:00:00Z."
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _print_version(found: ModelVersion) -> None:
    review = found.approval
    reviewed = f" by {review.by} at {review.at:%Y-%m-%d %H:%M}" if review.at else ""
    console.print(
        f"[bold]{found.ref}[/bold] ({found.flavor}), registered {found.created_at:%Y-%m-%d %H:%M} "
        f"by {found.created_by}\n"
        f"aliases: {', '.join(found.aliases) or 'none'}\n"
        f"approval: {review.status}{reviewed}{': ' + review.comment if review.comment else ''}\n"
        f"package: sha256:{found.package}"
    )
    if found.warning:
        console.print(f"[bold yellow]warning: {found.warning}[/bold yellow]", highlight=False)
    if found.description:
        console.print(f"description: {found.description}")
    if found.tags:
        console.print("tags: " + ", ".join(f"{k}={v}" for k, v in found.tags.items()))
    table = Table(title="signature", header_style="bold")
    for column in ("column", "type", "dtype", "side"):
        table.add_column(column)
    for spec in found.signature.inputs:
        table.add_row(spec.name, spec.type, spec.dtype, "input")
    for spec in found.signature.outputs:
        table.add_row(spec.name, spec.type, spec.dtype, "output")
    console.print(table)
    if found.signature.classes is not None:
        console.print(f"classes: {', '.join(map(str, found.signature.classes))}")
    lineage = found.lineage
    code = lineage.get("code") or {}
    console.print(
        f"lineage: data {', '.join(lineage.get('datasets') or []) or 'none'}; "
        f"features {', '.join(lineage.get('feature_views') or []) or 'none'}"
        f"{' via ' + lineage['feature_service'] if lineage.get('feature_service') else ''}; "
        f"split {lineage.get('split') or 'none'}; run {lineage.get('run') or 'none'}; "
        f"code {code.get('commit') or 'not in git'}{' (dirty)' if code.get('dirty') else ''}; "
        f"build {lineage.get('build_id') or 'none'}"
    )
