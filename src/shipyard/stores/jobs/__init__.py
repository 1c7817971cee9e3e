"""The durable job queue, in the metadata database: see :mod:`shipyard.stores.jobs.base`."""

from __future__ import annotations

from shipyard.errors import InvalidConfig
from shipyard.stores.jobs.base import (
    DIED,
    STATES,
    TERMINAL,
    Backoff,
    Job,
    JobState,
    JobStore,
    QueueStats,
)
from shipyard.stores.metadata.base import MetadataStore

__all__ = [
    "DIED",
    "STATES",
    "TERMINAL",
    "Backoff",
    "Job",
    "JobState",
    "JobStore",
    "QueueStats",
    "job_store_for",
]


def job_store_for(metadata: MetadataStore) -> JobStore:
    """The job store that lives in ``metadata``'s database.

    >>> from shipyard.stores.metadata import open_metadata_store
    >>> job_store_for(open_metadata_store("sqlite://")).__class__.__name__
    'SqlJobStore'
    """
    from shipyard.stores.jobs.sql import SqlJobStore
    from shipyard.stores.metadata.sql import SqlMetadataStore

    if isinstance(metadata, SqlMetadataStore):
        return SqlJobStore(metadata)
    raise InvalidConfig(f"No job store for a {type(metadata).__name__}.")
