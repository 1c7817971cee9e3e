"""Monitoring state in typed tables: window profiles, monitored series, alarms.

>>> from shipyard.stores.metadata import open_metadata_store
>>> monitor_store_for(open_metadata_store("sqlite://")).__class__.__name__
'SqlMonitorStore'
"""

from __future__ import annotations

from shipyard.errors import InvalidConfig
from shipyard.stores.metadata.base import MetadataStore
from shipyard.stores.monitoring.base import (
    ALARM_STATES,
    Alarm,
    AlarmEvent,
    MonitorStore,
    SeriesPoint,
    WindowProfile,
)

__all__ = [
    "ALARM_STATES",
    "Alarm",
    "AlarmEvent",
    "MonitorStore",
    "SeriesPoint",
    "WindowProfile",
    "monitor_store_for",
]


def monitor_store_for(metadata: MetadataStore) -> MonitorStore:
    """The monitoring store that lives in ``metadata``'s database."""
    from shipyard.stores.metadata.sql import SqlMetadataStore
    from shipyard.stores.monitoring.sql import SqlMonitorStore

    if isinstance(metadata, SqlMetadataStore):
        return SqlMonitorStore(metadata)
    raise InvalidConfig(f"No monitoring store for a {type(metadata).__name__}.")
