"""Shipyard: a self-hosted MLOps platform.

>>> import shipyard
>>> ws = shipyard.connect("/tmp/shipyard-doc")   # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard._version import __version__
from shipyard.errors import (
    AccessDenied,
    AlreadyExists,
    BackendUnavailable,
    Conflict,
    CorruptArtifact,
    GateFailed,
    IntegrityError,
    InvalidConfig,
    InvalidInput,
    NotFound,
    SchemaOutOfDate,
    ShipyardError,
    Unauthenticated,
)
from shipyard.types import Ref

if TYPE_CHECKING:
    from shipyard.config import Settings, load_settings
    from shipyard.lineage import CodeVersion, Lineage, code_version, hash_table, new_build_id
    from shipyard.runtime import Runtime, open_runtime
    from shipyard.training.seeding import seed_everything
    from shipyard.workspace import Workspace, connect

__all__ = [
    "AccessDenied",
    "AlreadyExists",
    "BackendUnavailable",
    "CodeVersion",
    "Conflict",
    "CorruptArtifact",
    "GateFailed",
    "IntegrityError",
    "InvalidConfig",
    "InvalidInput",
    "Lineage",
    "NotFound",
    "Ref",
    "Runtime",
    "SchemaOutOfDate",
    "Settings",
    "ShipyardError",
    "Unauthenticated",
    "Workspace",
    "__version__",
    "code_version",
    "connect",
    "hash_table",
    "load_settings",
    "new_build_id",
    "open_runtime",
    "seed_everything",
]

# Imported on first use, so that `import shipyard` stays cheap.
_LAZY = {
    "Settings": "shipyard.config",
    "load_settings": "shipyard.config",
    "CodeVersion": "shipyard.lineage",
    "Lineage": "shipyard.lineage",
    "code_version": "shipyard.lineage",
    "hash_table": "shipyard.lineage",
    "new_build_id": "shipyard.lineage",
    "seed_everything": "shipyard.training.seeding",
    "Runtime": "shipyard.runtime",
    "open_runtime": "shipyard.runtime",
    "Workspace": "shipyard.workspace",
    "connect": "shipyard.workspace",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'shipyard' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
