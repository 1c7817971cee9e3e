"""Tags, approvals and descriptions of model versions, each change kept.

Reviews are rows of the control store (``model_approvals``, one per review, ``by``
= the reviewer); each review rewrites the version's lineage record in the same
transaction, so ``shipyard lineage`` shows who approved or rejected it. Tag records
hold changes (``set``/``remove``) and are replayed in order, so concurrent taggers
lose nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput, NotFound
from shipyard.registry.core import RegistryCore, model_resource
from shipyard.registry.provenance import LINEAGE_KEYS, lineage_record
from shipyard.registry.records import (
    DESCRIPTION_KIND,
    TAGS_KIND,
    Approval,
    check_tag,
    check_version,
    record_name,
)

if TYPE_CHECKING:
    from shipyard.stores.control import Review
    from shipyard.stores.metadata import VersionRecord


class ReviewOperations(RegistryCore):
    """Tags, approvals and descriptions of versions."""

    def set_tag(self, name: str, version: int, key: str, value: Any) -> dict[str, str]:
        """Set one tag on a version; returns the version's tags."""
        self._authorize("models:Write", model_resource(name))
        self._record(name, check_version(version))
        checked_key, text = check_tag(key, value)
        self._write_tags(name, version, {checked_key: text}, [])
        return self.tags(name, version)

    def remove_tag(self, name: str, version: int, key: str) -> dict[str, str]:
        """Remove one tag from a version; returns the version's tags."""
        self._authorize("models:Write", model_resource(name))
        if key not in self.tags(name, version):
            raise NotFound(f"{name}@{version} has no tag {key!r}.")
        self._write_tags(name, version, {}, [key])
        return self.tags(name, version)

    def tags(self, name: str, version: int) -> dict[str, str]:
        """A version's tags: every recorded change replayed in order."""
        self._authorize("models:Read", model_resource(name))
        self._record(name, check_version(version))
        return self._tags(name, version)

    def _tags(self, name: str, version: int) -> dict[str, str]:
        changes = self._metadata.list_versions(TAGS_KIND, record_name(name, version))
        return replay_tags(r.attributes for r in changes)

    def approve(self, name: str, version: int, comment: str = "") -> Approval:
        """Record that this principal approves the version for production."""
        return self._review(name, version, "approved", comment)

    def reject(self, name: str, version: int, comment: str = "") -> Approval:
        """Record that this principal rejects the version."""
        return self._review(name, version, "rejected", comment)

    def approval(self, name: str, version: int) -> Approval:
        """The version's latest review (``pending`` if nobody has reviewed it)."""
        self._authorize("models:Read", model_resource(name))
        self._record(name, check_version(version))
        return self._approval(name, version)

    def approval_history(self, name: str, version: int) -> list[Approval]:
        """Every review of the version, oldest first."""
        self._authorize("models:Read", model_resource(name))
        self._record(name, check_version(version))
        return self._reviews(name, version)

    def _approval(self, name: str, version: int) -> Approval:
        history = self._reviews(name, version)
        return history[-1] if history else Approval()

    def _reviews(self, name: str, version: int) -> list[Approval]:
        return [to_approval(r) for r in self._control.reviews(name, version)]

    def _review(self, name: str, version: int, status: str, comment: str) -> Approval:
        self._authorize("models:Approve", model_resource(name))
        if not isinstance(comment, str):
            raise InvalidInput("The comment must be text.")
        with self._metadata.transaction():  # the review and the lineage that shows it
            record = self._record(name, check_version(version))
            stored = self._control.add_review(name, version, status, comment, by=self.principal)
            self._refresh_lineage(record)
        return to_approval(stored)

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
        """Record one tag change (the caller checked access)."""
        self._metadata.create_version(
            TAGS_KIND,
            record_name(name, version),
            created_by=self.principal,
            attributes={"model": name, "version": version, "set": set_, "remove": remove},
        )

    def _description(self, record: VersionRecord) -> str:
        key = record_name(record.name, record.version)
        changes = self._metadata.list_versions(DESCRIPTION_KIND, key)
        return current_description(record, [c.attributes for c in changes])


def replay_tags(changes: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """A version's tags from its tag change records, oldest first."""
    tags: dict[str, str] = {}
    for change in changes:
        tags.update(change.get("set", {}))
        for key in change.get("remove", []):
            tags.pop(key, None)
    return dict(sorted(tags.items()))


def current_description(record: VersionRecord, changes: Sequence[Mapping[str, Any]]) -> str:
    """The latest description change, else the one given at registration."""
    if changes:
        return str(changes[-1].get("description", ""))
    return str(record.attributes.get("description", record.description))


def to_approval(review: Review) -> Approval:
    return Approval(review.status, review.by, review.comment, review.at)
