"""The feature views a model's inputs came from, read off its lineage.

A model trained on a feature service records the views (``lineage["feature_views"]``,
``VIEW@VERSION``) its training set was joined from; its input columns named
``VIEW__FEATURE`` came from them. Real-time serving fills those columns from the online
store (:mod:`shipyard.serving.enrich`) and batch transform from the offline
point-in-time join (:mod:`shipyard.serving.batch.enrich`): both start from this one
reading of the lineage, so they always agree on which views, versions, features and join
keys a model needs.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.features.definitions import FeatureView
    from shipyard.features.registry import FeatureRegistry


@dataclass(frozen=True)
class ModelView:
    """One view version a model was trained on and the features of it the model takes."""

    name: str
    version: int
    definition: FeatureView
    features: tuple[str, ...]  # the view's features among the model's inputs, in view order
    join_keys: tuple[str, ...]

    def output_name(self, feature: str) -> str:
        """The input column a feature fills: ``view__feature``, as the joins name it."""
        return f"{self.name}__{feature}"

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.output_name(f) for f in self.features)


def model_views(
    registry: FeatureRegistry, lineage: Mapping[str, Any], inputs: Collection[str]
) -> list[ModelView]:
    """The views in ``lineage`` (at the versions it names) that fill any of ``inputs``
    (the model's input column names); empty for a model trained on no feature view."""
    from shipyard.types import Ref

    found: list[ModelView] = []
    for text in lineage.get("feature_views") or []:
        ref = Ref.parse(str(text), kind="feature_view")
        stored = registry.view(ref.name, ref.version)
        definition: FeatureView = stored.definition
        names = tuple(f.name for f in definition.features if f"{ref.name}__{f.name}" in inputs)
        if names:
            keys = registry.join_keys(definition)
            found.append(ModelView(ref.name, stored.version, definition, names, keys))
    return found
