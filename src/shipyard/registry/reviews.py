"""Tags, approvals and descriptions of model versions, each change kept.

Approvals (``model_approval``, one record per review, created_by = the reviewer)
are replayed into the version's lineage record, so ``shipyard lineage`` shows
who approved or rejected it. Tag records hold changes (``set``/``remove``) and
are replayed in order, so concurrent taggers lose nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput, NotFound
from shipyard.registry.core import RegistryCore
from shipyard.registry.provenance import LINEAGE_KEYS, lineage_record
from shipyard.registry.records import (
    APPROVAL_KIND,
    DESCRIPTION_KIND,
    TAGS_KIND,
    Approval,
    check_tag,
    check_version,
    record_name,
)

if TYPE_CHECKING:
    from shipyard.stores.metadata import VersionRecord


class ReviewOperations(RegistryCore):
    """Tags, approvals and descriptions of versions."""

    def set_tag(self, name: str, version: int, key: str, value: Any) -> dict[str, str]:
        """Set one tag on a version; returns the version's tags."""
        self._record(name, check_version(version))
        checked_key, text = check_tag(key, value)
        self._write_tags(name, version, {checked_key: text}, [])
        return self.tags(name, version)

    def remove_tag(self, name: str, version: int, key: str) -> dict[str, str]:
        """Remove one tag from a version; returns the version's tags."""
        if key not in self.tags(name, version):
            raise NotFound(f"{name}@{version} has no tag {key!r}.")
        self._write_tags(name, version, {}, [key])
        return self.tags(name, version)

    def tags(self, name: str, version: int) -> dict[str, str]:
        """A version's tags: every recorded change replayed in order."""
        self._record(name, check_version(version))
        return self._tags(name, version)

    def _tags(self, name: str, version: int) -> dict[str, str]:
        tags: dict[str, str] = {}
        for record in self._metadata.list_versions(TAGS_KIND, record_name(name, version)):
            tags.update(record.attributes.get("set", {}))
            for key in record.attributes.get("remove", []):
                tags.pop(key, None)
        return dict(sorted(tags.items()))

    def approve(self, name: str, version: int, comment: str = "") -> Approval:
        """Record that this principal approves the version for production."""
        return self._review(name, version, "approved", comment)

    def reject(self, name: str, version: int, comment: str = "") -> Approval:
        """Record that this principal rejects the version."""
        return self._review(name, version, "rejected", comment)

    def approval(self, name: str, version: int) -> Approval:
        """The version's latest review (``pending`` if nobody has reviewed it)."""
        self._record(name, check_version(version))
        return self._approval(name, version)

    def approval_history(self, name: str, version: int) -> list[Approval]:
        """Every review of the version, oldest first."""
        self._record(name, check_version(version))
        return self._reviews(name, version)

    def _approval(self, name: str, version: int) -> Approval:
        history = self._reviews(name, version)
        return history[-1] if history else Approval()

    def _reviews(self, name: str, version: int) -> list[Approval]:
        records = self._metadata.list_versions(APPROVAL_KIND, record_name(name, version))
        return [_to_approval(r) for r in records]

    def _review(self, name: str, version: int, status: str, comment: str) -> Approval:
        record = self._record(name, check_version(version))
        if not isinstance(comment, str):
            raise InvalidInput("The comment must be text.")
        stored, _ = self._metadata.create_version(
            APPROVAL_KIND,
            record_name(name, version),
            created_by=self.principal,
            attributes={"model": name, "version": version, "status": status, "comment": comment},
        )
        self._refresh_lineage(record)
        return _to_approval(stored)

    def _refresh_lineage(self, record: VersionRecord) -> None:
        """Rewrite the version's lineage with every review so far (replayed, never lost)."""
        reviews = self._reviews(record.name, record.version)
        approvals = [
            f"{a.status} by {a.by} at {a.at.isoformat() if a.at else '?'}"
            + (f": {a.comment}" if a.comment else "")
            for a in reviews
        ]
        facts = {k: record.attributes.get(k) for k in LINEAGE_KEYS}
        lineage = lineage_record(
            facts,
            package=str(record.attributes["package"]),
            flavor=str(record.attributes["flavor"]),
            approvals=approvals,
        )
        self._metadata.put_lineage(record.ref, lineage)

    def _write_tags(self, name: str, version: int, set_: dict[str, str], remove: list[str]) -> None:
        self._metadata.create_version(
            TAGS_KIND,
            record_name(name, version),
            created_by=self.principal,
            attributes={"model": name, "version": version, "set": set_, "remove": remove},
        )

    def _description(self, record: VersionRecord) -> str:
        key = record_name(record.name, record.version)
        changes = self._metadata.list_versions(DESCRIPTION_KIND, key)
        if changes:
            return str(changes[-1].attributes.get("description", ""))
        return str(record.attributes.get("description", record.description))


def _to_approval(record: VersionRecord) -> Approval:
    attrs = record.attributes
    return Approval(
        str(attrs.get("status")), record.created_by, str(attrs.get("comment") or ""),
        record.created_at,
    )  # fmt: skip
