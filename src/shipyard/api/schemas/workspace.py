"""Where each store is and what it holds (``shipyard info --json``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from shipyard.api.schemas.base import Schema

if TYPE_CHECKING:
    from shipyard import workspace


class MetadataInfo(Schema):
    """The metadata store: backend, where (password hidden), schema, rows per table."""

    backend: str
    location: str
    schema_: str | None = Field(
        serialization_alias="schema", description="The database's schema revision."
    )
    schema_expected: str | None = Field(description="The revision this Shipyard needs.")
    counts: dict[str, int] = Field(description="Rows per table.")


class ArtifactsInfo(Schema):
    """The artifact store: its URL, how many objects and bytes it holds."""

    url: str
    objects: int
    bytes: int


class OnlineInfo(Schema):
    """The online feature store."""

    url: str


class WorkspaceInfo(Schema):
    """The workspace's home, config file, principal and stores."""

    home: str
    config_file: str | None
    principal: str
    metadata: MetadataInfo
    artifacts: ArtifactsInfo
    online: OnlineInfo

    @classmethod
    def from_domain(cls, details: workspace.WorkspaceInfo) -> WorkspaceInfo:
        meta = details.metadata
        return cls(
            home=str(details.home),
            config_file=str(details.config_file) if details.config_file else None,
            principal=details.principal,
            metadata=MetadataInfo(
                backend=meta.backend,
                location=meta.location,
                schema_=meta.schema.current if meta.schema else None,
                schema_expected=meta.schema.head if meta.schema else None,
                counts=dict(meta.counts),
            ),
            artifacts=ArtifactsInfo(
                url=details.artifact_url,
                objects=details.artifact_objects,
                bytes=details.artifact_bytes,
            ),
            online=OnlineInfo(url=details.online_url),
        )
