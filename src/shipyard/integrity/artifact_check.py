"""Verify stored artifacts and say which refs each bad one breaks.

Without a target every object in the store is hashed, and every digest a
record names is looked for (a named object that is gone is as broken as a
corrupt one). With a target (``dataset:flights@2``, ``model:delay`` for every
version, ``run:ID``) only what that target names is checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shipyard.errors import IntegrityError, InvalidInput, NotFound
from shipyard.integrity.references import RUN_REF_KIND, Uses, collect_uses
from shipyard.stores.artifacts import ArtifactStore, ObjectState
from shipyard.stores.metadata.base import MetadataStore, VersionRecord
from shipyard.stores.metadata.inventory import all_run_artifacts, all_versions
from shipyard.stores.metadata.sql import SqlMetadataStore
from shipyard.types import Ref


@dataclass(frozen=True)
class Finding:
    """An object that does not verify, and the refs that need it."""

    digest: str
    state: ObjectState  # "corrupt" or "missing"
    refs: tuple[str, ...]


@dataclass
class ArtifactReport:
    """What a check looked at and what it found."""

    checked: int
    findings: list[Finding]
    # Records that could not be read, or lack a digest their kind always has.
    damaged: list[IntegrityError] = field(default_factory=list)


def sql_store(metadata: MetadataStore) -> SqlMetadataStore:
    """The SQL store behind ``metadata``: the whole-database reads need one."""
    if not isinstance(metadata, SqlMetadataStore):
        raise InvalidInput(f"Cannot scan a {type(metadata).__name__} for artifact references.")
    return metadata


def find_uses(
    metadata: SqlMetadataStore, artifacts: ArtifactStore, target: Ref | None = None
) -> tuple[Uses, list[IntegrityError]]:
    """The refs that need each digest (only ``target``'s, when given), and damaged records."""
    if target is None:
        records, unreadable = all_versions(metadata)
        uses, incomplete = collect_uses(records, all_run_artifacts(metadata), artifacts)
        return uses, unreadable + incomplete
    if target.kind == RUN_REF_KIND:
        logged = [a for a in all_run_artifacts(metadata) if a.run == target.name]
        if not logged:
            raise NotFound(f"No artifacts are recorded for {target}.", hint="Check the run id.")
        return collect_uses([], logged, artifacts)
    return collect_uses(_records_of(metadata, target), [], artifacts)


def _records_of(metadata: SqlMetadataStore, target: Ref) -> list[VersionRecord]:
    if target.version is not None:
        return [metadata.get_version(target.kind, target.name, target.version)]
    records = metadata.list_versions(target.kind, target.name)
    if not records:
        raise NotFound(f"Nothing is recorded as {target}.", hint="Check the kind and the name.")
    return records


def check_artifacts(
    metadata: SqlMetadataStore, artifacts: ArtifactStore, target: Ref | None = None
) -> ArtifactReport:
    """Hash every object in scope; report the corrupt and missing ones with their refs."""
    uses, damaged = find_uses(metadata, artifacts, target)
    scope = set(uses) if target is not None else set(uses) | set(artifacts.digests())
    return ArtifactReport(len(scope), verify_digests(artifacts, scope, uses), damaged)


def verify_digests(artifacts: ArtifactStore, digests: set[str], uses: Uses) -> list[Finding]:
    """A finding for each of ``digests`` that is not stored intact, in digest order."""
    findings = []
    for digest in sorted(digests):
        state = artifacts.verify(digest)
        if state != "ok":
            findings.append(Finding(digest, state, tuple(uses.get(digest, ()))))
    return findings
