"""Liveness and version: ``GET /health`` and ``GET /version``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from shipyard.api.schemas.base import Schema

if TYPE_CHECKING:
    from shipyard.stores.metadata import MetadataStore


class Health(Schema):
    """Whether the server can serve: its metadata store reachable, its schema current."""

    status: Literal["ok", "unavailable"]
    metadata: str = Field(description="The metadata store's backend, or why it cannot be reached.")
    schema_: str | None = Field(
        default=None,
        serialization_alias="schema",
        description="The database's schema revision (null if unknown).",
    )
    schema_expected: str | None = Field(
        default=None, description="The schema revision this Shipyard needs."
    )

    @classmethod
    def from_domain(cls, metadata: MetadataStore) -> Health:
        """Ask the store (one query); a store that cannot be reached is ``unavailable``."""
        from shipyard.errors import ShipyardError

        try:
            status = metadata.schema_status()
        except ShipyardError as exc:
            return cls(status="unavailable", metadata=exc.message)
        return cls(
            status="ok" if status.up_to_date else "unavailable",
            metadata=metadata.backend,
            schema_=status.current,
            schema_expected=status.head,
        )

    @property
    def healthy(self) -> bool:
        return self.status == "ok"


class Version(Schema):
    """The Shipyard version the server runs."""

    version: str

    @classmethod
    def current(cls) -> Version:
        from shipyard._version import __version__

        return cls(version=__version__)
