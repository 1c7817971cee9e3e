"""What every part of the model registry shares: the stores, the principal, the access
check, and finding a registered version (or saying clearly that it is not there)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from shipyard.errors import NotFound
from shipyard.registry.records import MODEL_KIND
from shipyard.security.filtering import permitted
from shipyard.types import check_name

if TYPE_CHECKING:
    from shipyard.stores.control import ControlStore
    from shipyard.stores.metadata import MetadataStore, VersionRecord

Authorize = Callable[[str, "str | Sequence[str]"], None]


def model_resource(name: str) -> str:
    """The policy resource of a model (its versions, tags, reviews and package)."""
    return f"shipyard:model:{name}"


def alias_resource(name: str, alias: str) -> str:
    """The policy resource of one alias of a model (``models:SetAlias`` acts on it)."""
    return f"shipyard:model_alias:{name}/{alias}"


class RegistryCore:
    """The stores and principal the registry acts with, its access check, version lookup."""

    def __init__(
        self,
        metadata: MetadataStore,
        *,
        principal: str,
        control: ControlStore | None = None,
        authorize: Authorize | None = None,
    ) -> None:
        from shipyard.stores.control import control_store_for

        self._metadata = metadata
        self._control = control if control is not None else control_store_for(metadata)
        self.principal = principal
        if authorize is None:  # built alone (tests, scripts): the stored policies still apply
            from shipyard.security.service import SecurityService

            authorize = SecurityService(metadata, principal=principal).require
        self._authorize = authorize

    def _may(self, action: str, resource: str) -> bool:
        """Whether this principal may ``action`` on ``resource`` (for filtering lists)."""
        return permitted(self._authorize, action, resource)

    def _record(self, name: str, version: int | None) -> VersionRecord:
        check_name(name, "Model name")
        found = self._control.model_record(name, version=version)
        if found is None:
            raise self._missing(name, version)
        return found

    def _missing(self, name: str, version: int | None) -> NotFound:
        """Why ``name`` (at ``version``) is not there: no such model, or no such version."""
        latest = self._control.model_record(name)
        if latest is None:
            return self._unknown_model(name)
        return NotFound(
            f"Model {name!r} has no version {version}.",
            hint=f"Its versions are 1 to {latest.version}.",
        )

    def _unknown_model(self, name: str) -> NotFound:
        known = ", ".join(self._metadata.list_names(MODEL_KIND)[:20]) or "none yet"
        return NotFound(
            f"No model named {name!r}.",
            hint=f"Registered models: {known}. Register one with ws.models.register(...).",
        )
