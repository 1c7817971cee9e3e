"""The model registry (``ws.models``): versions of packaged models, and their aliases,
tags, approvals and descriptions, all kept as history.

A version is immutable: its package (see :mod:`shipyard.registry.package`) and its
lineage are fixed when it is registered. What changes later (where an alias points,
tags, the review, the description) is a new record each time, so the registry can
say who moved ``production`` when, and which version served on a given date (see
:mod:`shipyard.registry.records` for the storage layout).

Only the ``pipeline`` principal may move or remove a protected alias
(``production``): people approve versions, and the pipeline promotes approved
versions that pass the gate. Aliases live in :mod:`shipyard.registry.aliases`;
tags, approvals and descriptions in :mod:`shipyard.registry.reviews`.

Loading a pickled model (the ``python`` flavor) runs code from its package, so
:meth:`ModelRegistry.load` needs ``trust=True`` for one. The pipeline loads the
packages it registered itself without it: it runs pipeline code anyway, and
``created_by`` (not the lineage, which any caller may fill in) says who registered.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput, NotFound
from shipyard.registry.aliases import AliasOperations
from shipyard.registry.package import LoadedModel, load_package, save_package
from shipyard.registry.provenance import LINEAGE_KEYS, lineage_record, model_lineage
from shipyard.registry.records import (
    DESCRIPTION_KIND,
    MODEL_KIND,
    PIPELINE_PRINCIPAL,
    ModelSummary,
    ModelVersion,
    check_alias,
    check_tag,
    check_version,
    record_name,
)
from shipyard.registry.reviews import ReviewOperations
from shipyard.registry.signature import Signature
from shipyard.types import Ref, check_name

if TYPE_CHECKING:
    from shipyard.lineage import Lineage
    from shipyard.stores.artifacts import ArtifactStore
    from shipyard.stores.metadata import MetadataStore, VersionRecord
    from shipyard.training.tracking import Tracker


class ModelRegistry(AliasOperations, ReviewOperations):
    """Register, find, load and govern model versions.

    >>> v = ws.models.register("delay", experiment, input_example=X.head(),  # doctest: +SKIP
    ...                        lineage={"datasets": ["dataset:flights@3"]})
    >>> ws.models.approve("delay", v.version, "Beats production on every slice.")  # doctest: +SKIP
    >>> ws.models.load("delay", alias="production").predict(X)  # doctest: +SKIP
    """

    def __init__(
        self,
        metadata: MetadataStore,
        artifacts: ArtifactStore,
        *,
        principal: str,
        runs: Tracker | None = None,
    ) -> None:
        super().__init__(metadata, principal=principal)
        self._artifacts = artifacts
        self._runs = runs  # reads a training run's record to fill in lineage

    def register(
        self,
        name: str,
        model: Any,
        *,
        input_example: Any,
        description: str = "",
        tags: Mapping[str, Any] | None = None,
        lineage: Mapping[str, Any] | Lineage | None = None,
        run: str | None = None,
        flavor: str | None = None,
    ) -> ModelVersion:
        """Package ``model`` (a fitted estimator, booster, fitted Experiment or any object
        with ``predict``) and register it as the next version of ``name``, pending review.

        ``run`` is the training run's id (runs record the recipe, not the fitted model, so
        pass the model too); its record supplies the datasets, split and code that
        ``lineage`` does not give. ``lineage`` keys: see
        :mod:`shipyard.registry.provenance`.
        """
        check_name(name, "Model name")
        if not isinstance(description, str):
            raise InvalidInput("The description must be text.")
        checked_tags = [check_tag(k, v) for k, v in (tags or {}).items()]
        facts = model_lineage(lineage, run=run, run_record=self._run_record(run))
        self._require_known(facts)
        stored = save_package(
            self._artifacts, model, input_example=input_example, lineage=facts, flavor=flavor
        )
        attributes = {
            "flavor": stored.flavor,
            "serialization": stored.manifest["model"]["serialization"],
            "package": stored.digest,
            "package_size": stored.size,
            "signature": stored.manifest["signature"],
            "description": description,
            **facts,
        }
        record, _ = self._metadata.create_version(
            MODEL_KIND,
            name,
            created_by=self.principal,
            content_hash=stored.digest,
            attributes=attributes,
            description=description,
        )
        self._metadata.put_lineage(
            record.ref, lineage_record(facts, package=stored.digest, flavor=stored.flavor)
        )
        if checked_tags:
            self._write_tags(name, record.version, dict(checked_tags), [])
        return self._version(record)

    def get(
        self, name: str, version: int | None = None, *, alias: str | None = None
    ) -> ModelVersion:
        """One version: the latest, a given ``version``, or the one ``alias`` points to."""
        return self._version(self._record(name, self._resolve(name, version, alias)))

    def versions(self, name: str) -> builtins.list[ModelVersion]:
        """Every version of ``name``, oldest first."""
        records = self._metadata.list_versions(MODEL_KIND, check_name(name, "Model name"))
        if not records:
            raise self._unknown_model(name)
        aliases = self.aliases(name)
        return [self._version(r, aliases) for r in records]

    def list(self) -> builtins.list[ModelSummary]:
        """Every registered model, by name."""
        found = []
        for name in self._metadata.list_names(MODEL_KIND):
            latest = self._metadata.get_version(MODEL_KIND, name)
            found.append(
                ModelSummary(
                    name=name,
                    latest=latest.version,
                    flavor=str(latest.attributes.get("flavor")),
                    updated_at=latest.created_at,
                    aliases=self.aliases(name),
                )
            )
        return found

    def load(
        self,
        name: str,
        version: int | None = None,
        *,
        alias: str | None = None,
        trust: bool = False,
    ) -> LoadedModel:
        """The version's package, verified and loaded, ready to predict.

        A pickled model (flavor ``python``) runs code when it is loaded: pass
        ``trust=True`` if you trust whoever registered it (AccessDenied otherwise).
        """
        record = self._record(name, self._resolve(name, version, alias))
        return load_package(
            self._artifacts,
            str(record.attributes["package"]),
            trust=trust or self._pipeline_loads_its_own(record),
            label=str(record.ref),
        )

    def set_description(self, name: str, version: int, description: str) -> ModelVersion:
        """Replace a version's description (the previous ones are kept)."""
        record = self._record(name, check_version(version))
        if not isinstance(description, str):
            raise InvalidInput("The description must be text.")
        self._metadata.create_version(
            DESCRIPTION_KIND,
            record_name(name, version),
            created_by=self.principal,
            attributes={"model": name, "version": version, "description": description},
            description=description,
        )
        return self._version(record)

    def _resolve(self, name: str, version: int | None, alias: str | None) -> int | None:
        """The version number asked for: given, through an alias, or None for the latest."""
        if alias is None:
            return None if version is None else check_version(version)
        if version is not None:
            raise InvalidInput("Give a version or an alias, not both.")
        self._record(name, None)
        found = self.aliases(name).get(check_alias(alias))
        if found is None:
            raise NotFound(
                f"Model {name!r} has no alias {alias!r} set.",
                hint=self._aliases_hint(name, alias),
            )
        return found

    def _version(
        self, record: VersionRecord, aliases: Mapping[str, int] | None = None
    ) -> ModelVersion:
        current = self.aliases(record.name) if aliases is None else aliases
        attrs = record.attributes
        return ModelVersion(
            name=record.name,
            version=record.version,
            flavor=str(attrs.get("flavor")),
            package=str(attrs.get("package")),
            signature=Signature.from_dict(attrs.get("signature") or {}),
            description=self._description(record),
            created_at=record.created_at,
            created_by=record.created_by,
            lineage={k: attrs.get(k) for k in LINEAGE_KEYS},
            aliases=tuple(a for a, v in current.items() if v == record.version),
            tags=self._tags(record.name, record.version),
            approval=self._approval(record.name, record.version),
            serialization=attrs.get("serialization"),
        )

    def _pipeline_loads_its_own(self, record: VersionRecord) -> bool:
        """Whether the pipeline loads a package it registered (the gate reads production)."""
        return self.principal == PIPELINE_PRINCIPAL and record.created_by == PIPELINE_PRINCIPAL

    def _require_known(self, facts: dict[str, Any]) -> None:
        """Refuse lineage naming a dataset, split, feature view or service that is not stored:
        lineage would otherwise show an invented version as raw data."""
        named = [Ref.parse(d) for d in facts["datasets"]]
        if facts["split"]:
            named.append(Ref.parse(facts["split"]))
        named += [Ref.parse(v, kind="feature_view") for v in facts["feature_views"]]
        if facts["feature_service"]:
            named.append(Ref.parse(facts["feature_service"], kind="feature_service"))
        for ref in named:
            try:
                self._metadata.get_version(ref.kind, ref.name, ref.version)
            except NotFound:
                raise InvalidInput(
                    f"The lineage names {ref}, which is not stored in this workspace.",
                    hint="Name versions that exist (see `shipyard data list`, `shipyard "
                    "features list`), or leave the key out.",
                ) from None

    def _run_record(self, run: str | None) -> Mapping[str, Any] | None:
        if run is None or self._runs is None:
            return None
        return self._runs.get_run(run).record

    def __repr__(self) -> str:
        return f"ModelRegistry(principal={self.principal!r})"
