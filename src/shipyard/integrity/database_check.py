"""``shipyard db check``: the database engine's own check, then Shipyard's.

1. SQLite's ``PRAGMA integrity_check`` (PostgreSQL: skipped, and said so).
2. Every stored JSON payload (records, lineage, runs) parses into an object.
3. Every artifact a record names is in the artifact store and verifies.

A database too damaged to read stops the check at the first step that fails,
reported as a problem like any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shipyard.errors import IntegrityError, SchemaOutOfDate
from shipyard.integrity.artifact_check import find_uses, verify_digests
from shipyard.stores.artifacts import ArtifactStore
from shipyard.stores.metadata.inventory import damaged_payloads
from shipyard.stores.metadata.sql import SqlMetadataStore


@dataclass
class DatabaseReport:
    """What was checked (one line per step) and every problem found."""

    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def check_database(metadata: SqlMetadataStore, artifacts: ArtifactStore) -> DatabaseReport:
    """Run every step; a database too damaged to read ends the check with that problem."""
    report = DatabaseReport()
    try:
        _check_schema(metadata)
        _check_engine(metadata, report)
        _check_payloads(metadata, report)
        _check_artifacts(metadata, artifacts, report)
    except IntegrityError as exc:  # the file itself: nothing further can be read
        report.problems.append(exc.message)
    return report


def _check_schema(metadata: SqlMetadataStore) -> None:
    status = metadata.schema_status()
    if not status.up_to_date:
        raise SchemaOutOfDate(
            f"The metadata database is at schema {status.current or 'none'}; "
            f"this Shipyard needs {status.head}.",
            hint="Run `shipyard db upgrade` first.",
        )


def _check_engine(metadata: SqlMetadataStore, report: DatabaseReport) -> None:
    found = metadata.integrity_check()
    if found is None:
        report.checked.append(
            f"integrity_check: skipped ({metadata.backend} has no PRAGMA integrity_check; "
            "use the server's own tools, such as the amcheck extension)"
        )
        return
    report.checked.append(f"integrity_check: {'ok' if not found else 'FAILED'}")
    report.problems.extend(f"integrity_check: {line}" for line in found)


def _check_payloads(metadata: SqlMetadataStore, report: DatabaseReport) -> None:
    count, damaged = damaged_payloads(metadata)
    report.checked.append(f"records: {count} JSON payloads, {len(damaged)} damaged")
    report.problems.extend(exc.message for exc in damaged)


def _check_artifacts(
    metadata: SqlMetadataStore, artifacts: ArtifactStore, report: DatabaseReport
) -> None:
    uses, damaged = find_uses(metadata, artifacts)
    # A payload that does not parse was reported above; one that lacks a digest is new here.
    report.problems.extend(exc.message for exc in damaged if exc.message not in report.problems)
    findings = verify_digests(artifacts, set(uses), uses)
    report.checked.append(
        f"artifacts: {len(uses)} named by records in {artifacts.url}, {len(findings)} bad"
    )
    report.problems.extend(
        f"artifact sha256:{f.digest} is {f.state}; needed by {', '.join(f.refs)}" for f in findings
    )
