"""Model packages and the model registry.

- :mod:`~shipyard.registry.package`: a model, its signature, an input example, its
  requirements and its lineage as one content-addressed, verified package.
- :mod:`~shipyard.registry.flavors`: how each kind of model is saved (skops, native
  booster formats, pickle) and the trust model for loading it.
- :mod:`~shipyard.registry.service`: :class:`ModelRegistry` (``ws.models``): versions,
  aliases with history, tags, approvals, descriptions.
"""

from __future__ import annotations

from shipyard.registry.package import LoadedModel, StoredPackage, load_package, save_package
from shipyard.registry.records import (
    PIPELINE_PRINCIPAL,
    PROTECTED_ALIASES,
    AliasChange,
    Approval,
    ModelSummary,
    ModelVersion,
)
from shipyard.registry.service import ModelRegistry
from shipyard.registry.signature import ColumnSpec, Signature

__all__ = [
    "PIPELINE_PRINCIPAL",
    "PROTECTED_ALIASES",
    "AliasChange",
    "Approval",
    "ColumnSpec",
    "LoadedModel",
    "ModelRegistry",
    "ModelSummary",
    "ModelVersion",
    "Signature",
    "StoredPackage",
    "load_package",
    "save_package",
]
