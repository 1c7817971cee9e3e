"""Audit log entries (``audit --json``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, JsonValue

from shipyard.api.schemas.base import Schema, Timestamp

if TYPE_CHECKING:
    from shipyard.stores.control import AuditEntry as StoredEntry


class AuditEntry(Schema):
    """Who tried what on which resource, when, from where, and the outcome."""

    id: int
    at: Timestamp
    principal: str
    action: str
    resource: str
    outcome: Literal["allowed", "denied", "failed"]
    source: str = Field(description="Where the call came from: python, cli, api HOST.")
    detail: dict[str, JsonValue]

    @classmethod
    def from_domain(cls, entry: StoredEntry) -> AuditEntry:
        return cls(
            id=entry.id,
            at=entry.at,
            principal=entry.principal,
            action=entry.action,
            resource=entry.resource,
            outcome=entry.outcome,  # type: ignore[arg-type]
            source=entry.source,
            detail=dict(entry.detail),
        )
