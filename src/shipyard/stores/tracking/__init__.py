"""The tracking store: experiments, runs, and what runs log, in the metadata database."""

from __future__ import annotations

from shipyard.errors import InvalidConfig
from shipyard.stores.metadata.base import MetadataStore
from shipyard.stores.tracking.base import (
    ENDED,
    STATUSES,
    Experiment,
    MetricPoint,
    NewRun,
    OrderTerm,
    RunInfo,
    RunKey,
    RunStatus,
    TrackingStore,
)

__all__ = [
    "ENDED",
    "STATUSES",
    "Experiment",
    "MetricPoint",
    "NewRun",
    "OrderTerm",
    "RunInfo",
    "RunKey",
    "RunStatus",
    "TrackingStore",
    "tracking_store_for",
]


def tracking_store_for(metadata: MetadataStore) -> TrackingStore:
    """The tracking store that lives in ``metadata``'s database.

    >>> from shipyard.stores.metadata import open_metadata_store
    >>> tracking_store_for(open_metadata_store("sqlite://")).__class__.__name__
    'SqlTrackingStore'
    """
    from shipyard.stores.metadata.sql import SqlMetadataStore
    from shipyard.stores.tracking.sql import SqlTrackingStore

    if isinstance(metadata, SqlMetadataStore):
        return SqlTrackingStore(metadata)
    raise InvalidConfig(f"No tracking store for a {type(metadata).__name__}.")
