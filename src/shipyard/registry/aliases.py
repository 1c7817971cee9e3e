"""Model aliases (``production``, ``challenger``...): where each points, every move kept.

Each move is a new ``model_alias`` record named ``MODEL.ALIAS`` holding the
version (or null once removed), so the history answers who moved an alias when,
and which version it pointed to at any past moment. Only the ``pipeline``
principal may move or remove a protected alias.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING

from shipyard.errors import AccessDenied, InvalidInput, NotFound
from shipyard.registry.core import RegistryCore
from shipyard.registry.records import (
    ALIAS_KIND,
    PIPELINE_PRINCIPAL,
    PROTECTED_ALIASES,
    AliasChange,
    check_alias,
    check_version,
    record_name,
)

if TYPE_CHECKING:
    from shipyard.stores.metadata import VersionRecord


class AliasOperations(RegistryCore):
    """Set, remove, list and trace aliases."""

    def set_alias(self, name: str, alias: str, version: int) -> AliasChange:
        """Point ``alias`` at ``version`` (only the pipeline may move ``production``)."""
        self._require_alias_access(name, check_alias(alias))
        self._record(name, check_version(version))
        history = self._alias_records(name, alias)
        if history and history[-1].attributes.get("version") == version:
            return _change(history[-1])  # already there: no new record
        return _change(self._write_alias(name, alias, version))

    def remove_alias(self, name: str, alias: str) -> AliasChange:
        """Stop ``alias`` pointing anywhere (the history keeps where it pointed)."""
        self._require_alias_access(name, check_alias(alias))
        self._record(name, None)
        if self.aliases(name).get(alias) is None:
            raise NotFound(
                f"Model {name!r} has no alias {alias!r} to remove.",
                hint=self._aliases_hint(name, alias),
            )
        return _change(self._write_alias(name, alias, None))

    def aliases(self, name: str) -> dict[str, int]:
        """Where each alias of ``name`` points now (removed aliases are left out)."""
        prefix = f"{name}."
        current: dict[str, int] = {}
        for record_key in self._metadata.list_names(ALIAS_KIND):
            alias = record_key[len(prefix) :]
            if not record_key.startswith(prefix) or "." in alias:
                continue  # another model's alias (aliases never contain '.')
            version = self._metadata.get_version(ALIAS_KIND, record_key).attributes.get("version")
            if version is not None:
                current[alias] = int(version)
        return dict(sorted(current.items()))

    def alias_history(self, name: str, alias: str) -> list[AliasChange]:
        """Every move of ``alias``, oldest first: (version or None, set_at, set_by)."""
        self._record(name, None)
        history = self._alias_records(name, check_alias(alias))
        if not history:
            raise NotFound(
                f"Model {name!r} has never had alias {alias!r}.",
                hint=self._aliases_hint(name, alias),
            )
        return [_change(r) for r in history]

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

    def _require_alias_access(self, name: str, alias: str) -> None:
        if alias in PROTECTED_ALIASES and self.principal != PIPELINE_PRINCIPAL:
            raise AccessDenied(
                f"Only the {PIPELINE_PRINCIPAL!r} principal may change the {alias!r} alias "
                f"of model {name!r}; you are {self.principal!r}.",
                hint=f"People approve instead: `shipyard models approve {name} VERSION "
                "--comment ...`; the pipeline promotes approved versions that pass the gate.",
            )

    def _write_alias(self, name: str, alias: str, version: int | None) -> VersionRecord:
        record, _ = self._metadata.create_version(
            ALIAS_KIND,
            record_name(name, alias),
            created_by=self.principal,
            attributes={"model": name, "alias": alias, "version": version},
        )
        return record

    def _alias_records(self, name: str, alias: str) -> list[VersionRecord]:
        return self._metadata.list_versions(ALIAS_KIND, record_name(name, alias))

    def _aliases_hint(self, name: str, alias: str | None = None) -> str:
        current = self.aliases(name)
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


def _change(record: VersionRecord) -> AliasChange:
    version = record.attributes.get("version")
    return AliasChange(None if version is None else int(version), record.created_at,
                       record.created_by)  # fmt: skip


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
