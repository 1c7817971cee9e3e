"""Whole-database reads for integrity checks: every record, every payload, every run artifact.

Services read one name at a time through the store; ``shipyard db check`` and
``shipyard artifacts verify`` need everything, and must keep going past a
damaged record to report the rest.
"""

from __future__ import annotations

from typing import NamedTuple

import sqlalchemy as sa

from shipyard.errors import IntegrityError
from shipyard.stores.metadata.base import VersionRecord
from shipyard.stores.metadata.payloads import decode_payload
from shipyard.stores.metadata.schema import lineage, run_artifacts, runs, versions
from shipyard.stores.metadata.sql import RECORD_COLUMNS, SqlMetadataStore, _to_record


class RunArtifact(NamedTuple):
    """A file logged to a tracked run, stored as an artifact."""

    run: str  # the run's public id
    path: str
    digest: str


def all_versions(store: SqlMetadataStore) -> tuple[list[VersionRecord], list[IntegrityError]]:
    """Every version record that reads back, and an error for each one that does not."""
    query = sa.select(*RECORD_COLUMNS).order_by(
        versions.c.kind, versions.c.name, versions.c.version
    )
    with store.reading() as conn:
        rows = conn.execute(query).all()
    records: list[VersionRecord] = []
    damaged: list[IntegrityError] = []
    for row in rows:
        try:
            records.append(_to_record(row))
        except IntegrityError as exc:
            damaged.append(exc)
    return records, damaged


def damaged_payloads(store: SqlMetadataStore) -> tuple[int, list[IntegrityError]]:
    """How many JSON payloads there are (records, lineage, runs) and one error per bad one."""
    # The stored text, undecoded: the driver's own decoding would stop at the first bad one.
    sources = (
        (
            sa.select(
                versions.c.kind,
                versions.c.name,
                versions.c.version,
                sa.cast(versions.c.attributes, sa.Text),
            ),
            "{}:{}@{}",
        ),
        (sa.select(lineage.c.subject, sa.cast(lineage.c.record, sa.Text)), "lineage of {}"),
        (sa.select(runs.c.uid, sa.cast(runs.c.record, sa.Text)), "run {}"),
    )
    count = 0
    damaged: list[IntegrityError] = []
    with store.reading() as conn:
        for query, label in sources:
            for *names, raw in conn.execute(query):
                count += 1
                try:
                    decode_payload(raw, label.format(*names))
                except IntegrityError as exc:
                    damaged.append(exc)
    return count, damaged


def all_run_artifacts(store: SqlMetadataStore) -> list[RunArtifact]:
    """Every artifact logged to a tracked run, by run id and path."""
    query = (
        sa.select(runs.c.uid, run_artifacts.c.path, run_artifacts.c.digest)
        .join(runs, runs.c.id == run_artifacts.c.run_id)
        .order_by(runs.c.uid, run_artifacts.c.path)
    )
    with store.reading() as conn:
        return [RunArtifact(*row) for row in conn.execute(query)]
