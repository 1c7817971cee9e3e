"""The audit log: who tried what on which resource, when, from where, and whether it was
allowed.

Every service checks access through one callable per workspace (``ws.authorize``);
this module wraps the security service's ``require`` so that the decisions worth
keeping are written to the control store's ``audit_log`` table:

- every **denial** (any action), and
- every **allowed change** of something other people rely on: the actions in
  :data:`AUDITED`. Reads, and the high-rate writes of tracking (``runs:Write``,
  once per logged run) are not entries: their own records say who wrote them.

An entry is written in the caller's transaction when there is one (so a denial
raised inside a unit of work that then rolls back leaves no entry; services check
access before they open one). ``shipyard audit`` and ``ws.audit_log()`` read it,
under the action ``audit:Read`` on ``shipyard:audit:<resource type>``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from shipyard.errors import AccessDenied

if TYPE_CHECKING:
    from shipyard.stores.control import ControlStore

# Allowed changes that are written to the audit log (denials always are).
AUDITED = frozenset(
    {
        "datasets:Write",
        "splits:Write",
        "quality:Write",
        "features:Apply",
        "features:Write",
        "models:Write",
        "models:Approve",
        "models:SetAlias",
        "pipeline:Run",
        "policies:Put",
        "policies:Attach",
        "policies:Detach",
        "groups:AddMember",
        "groups:RemoveMember",
        "endpoints:Write",
        "deployments:Write",
        "jobs:Write",
    }
)

Require = Callable[[str, "str | Sequence[str]"], None]


class AuditedAuthorize:
    """``authorize(action, resources)``: the security check, with its audit entries."""

    def __init__(
        self, require: Require, control: ControlStore, *, principal: str, source: str
    ) -> None:
        self._require = require
        self._control = control
        self._principal = principal
        self._source = source

    def __call__(self, action: str, resources: str | Sequence[str]) -> None:
        items = [resources] if isinstance(resources, str) else list(resources)
        try:
            self._require(action, resources)
        except AccessDenied as denied:
            self._write(action, items, "denied", {"reason": denied.message})
            raise
        if action in AUDITED:
            self._write(action, items, "allowed", {})

    def allows(self, action: str, resources: str | Sequence[str]) -> bool:
        """Whether the check passes, without an audit entry: for filtering what a list
        shows (a list leaving out what one may not read is not an attempt to read it)."""
        try:
            self._require(action, resources)
        except AccessDenied:
            return False
        return True

    def _write(
        self, action: str, resources: list[str], outcome: str, detail: dict[str, str]
    ) -> None:
        if not resources:
            shown = "-"
        elif len(resources) == 1:
            shown = resources[0]
        else:
            shown = f"{resources[0]} (+{len(resources) - 1} more)"
            detail = {**detail, "resources": ", ".join(resources[:50])}
        self._control.audit(
            self._principal, action, shown[:400], outcome, source=self._source, detail=detail
        )
