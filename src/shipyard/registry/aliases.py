"""Model aliases (``production``, ``challenger``...): where each points, every move kept.

An alias is a row of the control store (``model_aliases``: the current pointer, with a
revision) beside its history (``model_alias_events``), so finding where an alias points
is one indexed statement, and the history answers who moved it when and which version
it pointed to at any past moment.

A move can be a compare-and-set: ``expected=`` names the version the caller last saw
(None for "unset"), and the move fails with :class:`~shipyard.errors.Conflict` if
someone else moved the alias since. Moving an alias is the action ``models:SetAlias``
on ``shipyard:model_alias:MODEL/ALIAS``; by default only the ``pipeline`` principal
may do it for ``production`` (see :mod:`shipyard.security.service`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from shipyard.errors import InvalidInput, NotFound
from shipyard.registry.core import RegistryCore, alias_resource, model_resource
from shipyard.registry.records import (
    PIPELINE_PRINCIPAL,
    PROTECTED_ALIASES,
    AliasChange,
    check_alias,
    check_version,
)

SET_ALIAS = "models:SetAlias"
UNSET: Any = ...  # "no expectation": the move is not a compare-and-set


class AliasOperations(RegistryCore):
    """Set, remove, list and trace aliases."""

    def set_alias(
        self, name: str, alias: str, version: int, *, expected: int | None = UNSET
    ) -> AliasChange:
        """Point ``alias`` at ``version``. With ``expected`` (the version the caller saw,
        None for unset), only if the alias has not moved since (Conflict otherwise)."""
        self._authorize(SET_ALIAS, alias_resource(name, check_alias(alias)))
        with self._metadata.transaction():
            self._record(name, check_version(version))
            moved = self._control.move_alias(
                name, alias, version, by=self.principal, expected_version=expected
            )
        return AliasChange(moved.version, moved.updated_at, moved.updated_by)

    def remove_alias(self, name: str, alias: str, *, expected: int | None = UNSET) -> AliasChange:
        """Stop ``alias`` pointing anywhere (the history keeps where it pointed)."""
        self._authorize(SET_ALIAS, alias_resource(name, check_alias(alias)))
        with self._metadata.transaction():
            self._record(name, None)
            current = self._control.alias(name, alias)
            if current is None or current.version is None:
                raise NotFound(
                    f"Model {name!r} has no alias {alias!r} to remove.",
                    hint=self._aliases_hint(name, alias),
                )
            moved = self._control.move_alias(
                name, alias, None, by=self.principal, expected_version=expected
            )
        return AliasChange(None, moved.updated_at, moved.updated_by)

    def aliases(self, name: str) -> dict[str, int]:
        """Where each alias of ``name`` points now (removed aliases are left out)."""
        self._authorize("models:Read", model_resource(name))
        return self._control.aliases(name)

    def alias_history(self, name: str, alias: str) -> list[AliasChange]:
        """Every move of ``alias``, oldest first: (version or None, set_at, set_by)."""
        self._authorize("models:Read", model_resource(name))
        self._record(name, None)
        history = self._control.alias_history(name, check_alias(alias))
        if not history:
            raise NotFound(
                f"Model {name!r} has never had alias {alias!r}.",
                hint=self._aliases_hint(name, alias),
            )
        return [AliasChange(m.version, m.at, m.by) for m in history]

    def version_at(self, name: str, alias: str, when: datetime | date) -> int | None:
        """The version ``alias`` pointed to at ``when`` (a date means the end of that UTC
        day); None if it pointed nowhere then.

        >>> ws.models.version_at("delay", "production", date(2026, 3, 1))  # doctest: +SKIP
        4
        """
        moment = _moment(when)
        found: int | None = None
        for change in self.alias_history(name, alias):
            if change.set_at > moment:
                break
            found = change.version
        return found

    def _aliases_hint(self, name: str, alias: str | None = None) -> str:
        current = self._control.aliases(name)
        listed = ", ".join(f"{a} -> {v}" for a, v in current.items()) or "none"
        if alias in PROTECTED_ALIASES and self.principal != PIPELINE_PRINCIPAL:
            # Only the pipeline may set it: name what works, not a command that is refused.
            how = (
                f"Only a pipeline run sets {alias!r}: run `shipyard pipeline run pipeline.yaml` "
                "(its gate must pass), or load by version."
            )
        else:
            how = f"Set one with `shipyard models alias {name} ALIAS VERSION`."
        return f"Its aliases: {listed}. {how}"


def _moment(when: datetime | date) -> datetime:
    """An aware UTC datetime; a date is the end of that day in UTC."""
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise InvalidInput(
                f"{when.isoformat()} has no time zone.",
                hint="Pass an aware datetime, e.g. datetime(2026, 3, 1, tzinfo=UTC).",
            )
        return when.astimezone(UTC)
    if isinstance(when, date):
        return datetime.combine(when, time.max, tzinfo=UTC)
    raise InvalidInput(f"Expected a datetime or a date, got {type(when).__name__}.")
