"""`shipyard policies`: store IAM-style policies, attach them, manage groups, check access."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from shipyard.cli.context import console, workspace
from shipyard.errors import AccessDenied
from shipyard.security.names import group_name, principal_name

if TYPE_CHECKING:
    from shipyard.security.service import SecurityService

app = typer.Typer(
    help="IAM-style access policies: put, show, list, attach, detach, groups, history, "
    "check, actions.",
    no_args_is_help=True,
    epilog="Example: shipyard policies put analysts policy.json && "
    "shipyard policies attach analysts --group analysts",
)


def _security(ctx: typer.Context) -> SecurityService:
    return workspace(ctx).security


@app.command(epilog="Example: shipyard policies put pii-guard pii-guard.json")
def put(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Policy name, such as pii-guard."),
    file: Path = typer.Argument(..., help="The policy document: .json, or .yaml/.yml."),
) -> None:
    """Validate a policy file and store it as the next version of policy NAME."""
    from shipyard.security.policies import load_policy_file

    policy = load_policy_file(file)
    security = _security(ctx)
    before = _latest_version(security, name)
    version = security.put_policy(name, policy)
    verb = "Unchanged:" if version == before else "Stored"
    console.print(
        f"{verb} [bold]policy:{name}@{version}[/bold] ({len(policy.statements)} statement(s))"
    )


@app.command(epilog="Example: shipyard policies show pii-guard --version 2 --json")
def show(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Policy name."),
    version: int | None = typer.Option(None, help="A version (default: the latest)."),
    as_json: bool = typer.Option(False, "--json", help="Print only the JSON document."),
) -> None:
    """Show a policy's document, with who stored that version and when."""
    stored = _security(ctx).get_policy(name, version)
    text = json.dumps(stored.document, indent=2)
    if as_json:
        typer.echo(text)
        return
    console.print(
        f"[bold]policy:{stored.name}@{stored.version}[/bold] stored by {stored.created_by} "
        f"at {stored.created_at:%Y-%m-%d %H:%M:%S} UTC, sha256 {stored.content_hash[:12]}"
    )
    typer.echo(text)


@app.command(name="list", epilog="Example: shipyard policies list")
def list_policies(ctx: typer.Context) -> None:
    """List policies with their latest version."""
    table = Table(header_style="bold")
    for column in ("policy", "latest", "statements", "stored by", "stored at"):
        table.add_column(column, overflow="fold")
    for stored in _security(ctx).list_policies():
        table.add_row(
            stored.name,
            str(stored.version),
            str(len(stored.policy.statements)),
            stored.created_by,
            f"{stored.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@app.command(epilog="Example: shipyard policies attach pii-guard --group analysts")
def attach(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Policy name."),
    principal: str | None = typer.Option(None, help="Attach to this principal."),
    group: str | None = typer.Option(None, help="Attach to this group."),
) -> None:
    """Attach policy NAME to a principal or a group (give exactly one). Principal and
    group names are case-folded: ALICE is alice."""
    changed = _security(ctx).attach(name, principal=principal, group=group)
    target = _target(principal, group)
    console.print(
        f"Attached {name} to {target}." if changed else f"{name} was already attached to {target}."
    )


@app.command(epilog="Example: shipyard policies detach pii-guard --principal alice")
def detach(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Policy name."),
    principal: str | None = typer.Option(None, help="Detach from this principal."),
    group: str | None = typer.Option(None, help="Detach from this group."),
) -> None:
    """Detach policy NAME from a principal or a group (give exactly one)."""
    _security(ctx).detach(name, principal=principal, group=group)
    console.print(f"Detached {name} from {_target(principal, group)}.")


@app.command(name="add-member", epilog="Example: shipyard policies add-member analysts alice")
def add_member(
    ctx: typer.Context,
    group: str = typer.Argument(..., help="Group name."),
    principal: str = typer.Argument(..., help="The principal to add."),
) -> None:
    """Add PRINCIPAL to GROUP: it gets every policy attached to the group."""
    security = _security(ctx)
    changed = security.add_to_group(principal, group)
    principal, group = principal_name(principal), group_name(group)
    note = "" if _has_policies(security, group) else f" (group {group} has no policies yet)"
    verb = "Added" if changed else "Already a member:"
    console.print(f"{verb} {principal} in group {group}{note}.")


@app.command(name="remove-member", epilog="Example: shipyard policies remove-member analysts alice")
def remove_member(
    ctx: typer.Context,
    group: str = typer.Argument(..., help="Group name."),
    principal: str = typer.Argument(..., help="The principal to remove."),
) -> None:
    """Remove PRINCIPAL from GROUP."""
    _security(ctx).remove_from_group(principal, group)
    console.print(f"Removed {principal_name(principal)} from group {group_name(group)}.")


@app.command(epilog="Example: shipyard policies history --group analysts")
def history(
    ctx: typer.Context,
    principal: str | None = typer.Option(None, help="Only this principal's changes."),
    group: str | None = typer.Option(None, help="Only this group's changes (and members')."),
    as_json: bool = typer.Option(False, "--json", help="Print the events as JSON."),
) -> None:
    """Every change of access, oldest first: who joined or left which group, which policy
    was attached or detached where, when, and by whom."""
    events = _security(ctx).access_history(principal=principal, group=group)
    if as_json:
        rows = [
            {"change": e.change, "target_kind": e.target_kind, "target": e.target,
             "subject": e.subject, "at": e.at.isoformat(), "by": e.by}
            for e in events
        ]  # fmt: skip
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(header_style="bold")
    for column in ("at (UTC)", "change", "target", "group or policy", "by"):
        table.add_column(column, overflow="fold")
    for e in events:
        table.add_row(
            f"{e.at:%Y-%m-%d %H:%M:%S}", e.change, f"{e.target_kind} {e.target}", e.subject, e.by
        )
    console.print(table)


@app.command(
    epilog="Example: shipyard policies check features:ReadOnline "
    "shipyard:feature:customers/ssn --principal alice"
)
def check(
    ctx: typer.Context,
    action: str = typer.Argument(..., help="An action, such as features:ReadOnline."),
    resource: str = typer.Argument(..., help="A resource, such as shipyard:feature:VIEW/FEATURE."),
    principal: str | None = typer.Option(None, help="Who (default: the workspace's principal)."),
) -> None:
    """Print whether PRINCIPAL may do ACTION on RESOURCE, and the statement that decided.
    Exits with 5 when denied."""
    security = _security(ctx)
    who = principal_name(principal) if principal else security.principal
    decision = security.authorize(action, [resource], principal=who)[0]
    verdict = "[green]ALLOWED[/green]" if decision.allowed else "[red]DENIED[/red]"
    console.print(f"{verdict} {who} {decision.action} {decision.resource}")
    console.print(f"  {decision.explain()}")
    if decision.reason == "implicit_deny":
        names = ", ".join(name for name, _ in security.policies_for(who))
        console.print(f"  policies checked: {names}")
    if not decision.allowed:
        raise typer.Exit(AccessDenied.exit_code)


@app.command(
    name="actions",
    epilog="Example: shipyard policies actions --json | jq '.[] | select(.checked)'",
)
def actions(
    as_json: bool = typer.Option(False, "--json", help="Print the catalogue as JSON."),
) -> None:
    """List every action a policy may name: its resources and what it allows. Actions
    marked planned are accepted in policies but not checked yet."""
    from shipyard.security.actions import CATALOGUE, RESOURCE_TYPES
    from shipyard.security.policies import known_actions

    entries = [entry.to_dict() for entry in CATALOGUE]
    catalogued = {entry.name for entry in CATALOGUE}
    # Actions registered by extensions at run time have no catalogue entry.
    entries += [
        {"action": name, "resources": [], "description": "", "checked": True, "planned": None}
        for name in known_actions()
        if name not in catalogued
    ]
    if as_json:
        typer.echo(json.dumps(entries, indent=2))
        return
    table = Table(header_style="bold")
    table.add_column("action", no_wrap=True)
    table.add_column("resource", no_wrap=True)
    table.add_column("allows", overflow="fold")
    for entry in entries:
        note = "" if entry["checked"] else f" [dim](planned: {entry['planned']})[/dim]"
        table.add_row(
            str(entry["action"]), "\n".join(entry["resources"]), f"{entry['description']}{note}"
        )
    console.print(table)
    forms = ", ".join(t.form for t in RESOURCE_TYPES.values())
    console.print(f"Resources: {forms}. Patterns may use * and ?.", soft_wrap=True)


def _target(principal: str | None, group: str | None) -> str:
    """How a message names an attachment's target: as the security service spells it."""
    if principal is not None:
        return f"principal {principal_name(principal)}"
    return f"group {group_name(group or '')}"


def _has_policies(security: SecurityService, group: str) -> bool:
    """Whether ``group`` has policies; True when this principal may not read them (no
    note is better than a wrong one)."""
    try:
        return bool(security.group_policies(group))
    except AccessDenied:
        return True


def _latest_version(security: SecurityService, name: str) -> int | None:
    from shipyard.errors import NotFound

    try:
        return security.get_policy(name).version
    except (NotFound, AccessDenied):  # new, or one may put it without reading it
        return None
