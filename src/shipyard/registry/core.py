"""What every part of the model registry shares: the stores, the principal, and finding
a registered version (or saying clearly that it is not there)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.errors import NotFound
from shipyard.registry.records import MODEL_KIND
from shipyard.types import check_name

if TYPE_CHECKING:
    from shipyard.stores.metadata import MetadataStore, VersionRecord


class RegistryCore:
    """The metadata store and principal the registry acts with, and version lookup."""

    def __init__(self, metadata: MetadataStore, *, principal: str) -> None:
        self._metadata = metadata
        self.principal = principal

    def _record(self, name: str, version: int | None) -> VersionRecord:
        check_name(name, "Model name")
        try:
            return self._metadata.get_version(MODEL_KIND, name, version)
        except NotFound:
            latest = self._metadata.list_versions(MODEL_KIND, name)
            if not latest:
                raise self._unknown_model(name) from None
            raise NotFound(
                f"Model {name!r} has no version {version}.",
                hint=f"Its versions are 1 to {latest[-1].version}.",
            ) from None

    def _unknown_model(self, name: str) -> NotFound:
        known = ", ".join(self._metadata.list_names(MODEL_KIND)[:20]) or "none yet"
        return NotFound(
            f"No model named {name!r}.",
            hint=f"Registered models: {known}. Register one with ws.models.register(...).",
        )
