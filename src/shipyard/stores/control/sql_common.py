"""What the control store's SQL parts share: the metadata store they write through."""

from __future__ import annotations

from datetime import UTC, datetime

from shipyard.stores.metadata.sql import SqlMetadataStore


class SqlPart:
    """One part of the control store; every statement runs in the metadata store's
    transactions, so it joins the caller's unit of work when there is one."""

    def __init__(self, metadata: SqlMetadataStore) -> None:
        self._meta = metadata


def now() -> datetime:
    return datetime.now(UTC)
