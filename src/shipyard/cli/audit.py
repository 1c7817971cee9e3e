"""`shipyard audit`: read the audit log (who tried what, when, from where, the outcome)."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.table import Table

from shipyard.cli.context import console, workspace
from shipyard.cli.options import limit_option
from shipyard.errors import InvalidInput


def audit(
    ctx: typer.Context,
    principal: str | None = typer.Option(None, help="Only what this principal did."),
    action: str | None = typer.Option(None, help="Only this action, e.g. models:SetAlias."),
    since: str | None = typer.Option(
        None, help="Only entries at or after this UTC time (ISO 8601, e.g. 2026-12-01T00:00)."
    ),
    limit: int = limit_option(100, "entries"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """The audit log, newest first: every access denied, and every allowed change of
    data, features, models, policies, pipelines, endpoints and jobs (needs audit:Read)."""
    entries = workspace(ctx).audit_log(
        principal=principal, action=action, since=_since(since), limit=limit
    )
    if as_json:
        from shipyard.api.schemas import to_json
        from shipyard.api.schemas.audit import AuditEntry

        typer.echo(to_json([AuditEntry.from_domain(e) for e in entries]))
        return
    table = Table(header_style="bold")
    for column in ("at (UTC)", "principal", "action", "resource", "outcome", "source"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(f"{e.at:%Y-%m-%d %H:%M:%S}", e.principal, e.action, e.resource,
                      e.outcome, e.source)  # fmt: skip
    console.print(table)


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"--since {text!r} is not a time.", hint="Use ISO 8601, e.g. 2026-12-01T09:30."
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
