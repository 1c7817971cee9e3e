"""The metadata store: pick a backend by the URL's scheme."""

from __future__ import annotations

import sqlalchemy as sa

from shipyard.errors import InvalidConfig
from shipyard.stores.metadata.base import MetadataStore, SchemaStatus, StoreInfo, VersionRecord
from shipyard.stores.metadata.sql import SqlMetadataStore

__all__ = [
    "MetadataStore",
    "SchemaStatus",
    "StoreInfo",
    "VersionRecord",
    "open_metadata_store",
]


def open_metadata_store(url: str) -> SqlMetadataStore:
    """A store for ``url`` (``sqlite:///...``, ``sqlite://``, ``postgresql+psycopg://...``).

    Opening connects to nothing; the first call does.
    """
    backend = sa.make_url(url).get_backend_name()
    if backend == "sqlite":
        from shipyard.stores.metadata.sqlite import SqliteMetadataStore

        return SqliteMetadataStore(url)
    if backend == "postgresql":
        from shipyard.stores.metadata.postgres import PostgresMetadataStore

        return PostgresMetadataStore(url)
    raise InvalidConfig(
        f"No metadata store for {backend!r} URLs.",
        hint="Use sqlite:///PATH or postgresql+psycopg://USER:PASS@HOST:PORT/DB.",
    )
