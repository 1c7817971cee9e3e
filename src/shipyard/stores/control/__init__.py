"""Control-plane state in typed tables: see :mod:`shipyard.stores.control.base`."""

from __future__ import annotations

from shipyard.errors import InvalidConfig
from shipyard.stores.control.base import (
    AliasMove,
    AliasPointer,
    AuditEntry,
    ControlEvent,
    ControlStore,
    Deployment,
    Endpoint,
    Review,
    Schedule,
    Variant,
    VersionState,
)
from shipyard.stores.metadata.base import MetadataStore

__all__ = [
    "AliasMove",
    "AliasPointer",
    "AuditEntry",
    "ControlEvent",
    "ControlStore",
    "Deployment",
    "Endpoint",
    "Review",
    "Schedule",
    "Variant",
    "VersionState",
    "control_store_for",
]


def control_store_for(metadata: MetadataStore) -> ControlStore:
    """The control store that lives in ``metadata``'s database.

    >>> from shipyard.stores.metadata import open_metadata_store
    >>> control_store_for(open_metadata_store("sqlite://")).__class__.__name__
    'SqlControlStore'
    """
    from shipyard.stores.control.sql import SqlControlStore
    from shipyard.stores.metadata.sql import SqlMetadataStore

    if isinstance(metadata, SqlMetadataStore):
        return SqlControlStore(metadata)
    raise InvalidConfig(f"No control store for a {type(metadata).__name__}.")
