"""The model registry (``ws.models``): versions of packaged models, and their aliases,
tags, approvals and descriptions, all kept as history.

A version is immutable: its package (see :mod:`shipyard.registry.package`) and its
lineage are fixed when it is registered. What changes later (where an alias points,
tags, the review, the description) is a new record each time, so the registry can
say who moved ``production`` when, and which version served on a given date (see
:mod:`shipyard.registry.records` for the storage layout).

Every call is an access check (``models:Read``, ``models:Write``, ``models:Approve``,
``models:SetAlias``). By default only the ``pipeline`` principal may move or remove
``production``: people approve versions, and the pipeline promotes approved versions
that pass the gate. Aliases live in :mod:`shipyard.registry.aliases`; tags,
approvals and descriptions in :mod:`shipyard.registry.reviews`.

Registering is one transaction: the version record, its lineage, its tags and the
aliases it is given commit together or not at all (a crash in between leaves
nothing). Reading a version is two statements whatever its history: the record
(joined through the alias when one is named), then its aliases, reviews, tags and
descriptions together.

Loading a pickled model (the ``python`` flavor) runs code from its package, so
:meth:`ModelRegistry.load` needs ``trust=True`` for one. The pipeline loads the
packages it registered itself without it: it runs pipeline code anyway, and
``created_by`` (not the lineage, which any caller may fill in) says who registered.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput, NotFound
from shipyard.registry.aliases import SET_ALIAS, UNSET, AliasOperations
from shipyard.registry.core import alias_resource, model_resource
from shipyard.registry.package import LoadedModel, load_package, save_package
from shipyard.registry.provenance import LINEAGE_KEYS, lineage_record, model_lineage
from shipyard.registry.records import (
    DESCRIPTION_KIND,
    MODEL_KIND,
    PIPELINE_PRINCIPAL,
    TAGS_KIND,
    Approval,
    ModelSummary,
    ModelVersion,
    check_alias,
    check_tag,
    check_version,
    record_name,
)
from shipyard.registry.reviews import (
    ReviewOperations,
    current_description,
    replay_tags,
    to_approval,
)
from shipyard.registry.signature import Signature
from shipyard.types import Ref, check_name

if TYPE_CHECKING:
    from shipyard.lineage import Lineage
    from shipyard.registry.core import Authorize
    from shipyard.runtime import ModelCache
    from shipyard.stores.artifacts import ArtifactStore
    from shipyard.stores.control import ControlStore, VersionState
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
        control: ControlStore | None = None,
        authorize: Authorize | None = None,
        cache: ModelCache | None = None,
    ) -> None:
        super().__init__(metadata, principal=principal, control=control, authorize=authorize)
        self._cache = cache  # loaded packages by digest, shared by the process's workspaces
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
        aliases: Sequence[str] = (),
        expected: Mapping[str, int | None] | None = None,
    ) -> ModelVersion:
        """Package ``model`` (a fitted estimator, booster, fitted Experiment or any object
        with ``predict``) and register it as the next version of ``name``, pending review.

        ``run`` is the training run's id (runs record the recipe, not the fitted model, so
        pass the model too); its record supplies the datasets, split and code that
        ``lineage`` does not give. ``lineage`` keys: see
        :mod:`shipyard.registry.provenance`.

        ``aliases`` are pointed at the new version in the same transaction; ``expected``
        maps an alias to the version the caller last saw it at (None: unset), and if one
        has moved since, nothing is registered (Conflict).
        """
        check_name(name, "Model name")
        self._authorize("models:Write", model_resource(name))
        wanted = [check_alias(a) for a in aliases]
        for alias in wanted:
            self._authorize(SET_ALIAS, alias_resource(name, alias))
        expected = dict(expected or {})
        unknown = sorted(set(expected) - set(wanted))
        if unknown:
            raise InvalidInput(
                f"expected names aliases that are not being set: {', '.join(unknown)}.",
                hint="Name an alias in aliases= to give the version it is expected at.",
            )
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
        # The package is content-addressed and already stored: a failure below leaves at
        # most an unreferenced package, never a version without its lineage or aliases.
        with self._metadata.transaction():
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
            for alias in wanted:
                self._control.move_alias(
                    name, alias, record.version, by=self.principal,
                    expected_version=expected.get(alias, UNSET),
                )  # fmt: skip
        return self._version(record)

    def get(
        self, name: str, version: int | None = None, *, alias: str | None = None
    ) -> ModelVersion:
        """One version: the latest, a given ``version``, or the one ``alias`` points to.
        Two statements: the record (through the alias), then its state."""
        return self._version(self._lookup(name, version, alias))

    def versions(self, name: str) -> builtins.list[ModelVersion]:
        """Every version of ``name``, oldest first."""
        self._authorize("models:Read", model_resource(check_name(name, "Model name")))
        records = self._metadata.list_versions(MODEL_KIND, name)
        if not records:
            raise self._unknown_model(name)
        states = self._states(name, [r.version for r in records])
        return [self._version(r, states[r.version]) for r in records]

    def list(self) -> builtins.list[ModelSummary]:
        """Every registered model this principal may read, by name (two statements, however
        many models)."""
        latest = [
            r
            for r in self._metadata.latest_versions(MODEL_KIND)
            if self._may("models:Read", model_resource(r.name))
        ]
        aliases = self._control.all_aliases()
        return [
            ModelSummary(
                name=record.name,
                latest=record.version,
                flavor=str(record.attributes.get("flavor")),
                updated_at=record.created_at,
                aliases=aliases.get(record.name, {}),
            )
            for record in latest
        ]

    def load(
        self,
        name: str,
        version: int | None = None,
        *,
        alias: str | None = None,
        trust: bool = False,
        cached: bool = True,
    ) -> LoadedModel:
        """The version's package, verified and loaded, ready to predict.

        A pickled model (flavor ``python``) runs code when it is loaded: pass
        ``trust=True`` if you trust whoever registered it (AccessDenied otherwise).
        ``cached=False`` loads a copy of its own, outside the process's cache of loaded
        models: for a caller that keeps (and drops) models itself, such as a
        multi-model endpoint's pool.
        """
        record = self._lookup(name, version, alias)
        digest = str(record.attributes["package"])
        trusted = bool(trust) or self._pipeline_loads_its_own(record)
        key = f"{digest}:{'trusted' if trusted else 'plain'}"  # a refused load is never cached
        cache = self._cache if cached else None
        found = cache.get(key) if cache is not None else None
        if found is not None:
            return found
        loaded = load_package(self._artifacts, digest, trust=trusted, label=str(record.ref))
        if cache is not None:
            cache.put(key, loaded)
        return loaded

    def set_description(self, name: str, version: int, description: str) -> ModelVersion:
        """Replace a version's description (the previous ones are kept)."""
        self._authorize("models:Write", model_resource(name))
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

    def _lookup(self, name: str, version: int | None, alias: str | None) -> VersionRecord:
        """The record asked for: the latest, ``version``, or through ``alias`` (one
        statement when it exists; a few more to say why when it does not)."""
        self._authorize("models:Read", model_resource(check_name(name, "Model name")))
        if alias is None:
            return self._record(name, None if version is None else check_version(version))
        if version is not None:
            raise InvalidInput("Give a version or an alias, not both.")
        found = self._control.model_record(name, alias=check_alias(alias))
        if found is None:
            self._record(name, None)  # no such model: say that first
            raise NotFound(
                f"Model {name!r} has no alias {alias!r} set.",
                hint=self._aliases_hint(name, alias),
            )
        return found

    def _states(self, name: str, versions: builtins.list[int]) -> dict[int, VersionState]:
        return self._control.version_states(
            name, versions, tags_kind=TAGS_KIND, description_kind=DESCRIPTION_KIND
        )

    def _version(self, record: VersionRecord, state: VersionState | None = None) -> ModelVersion:
        if state is None:
            state = self._states(record.name, [record.version])[record.version]
        attrs = record.attributes
        reviews = state.reviews
        return ModelVersion(
            name=record.name,
            version=record.version,
            flavor=str(attrs.get("flavor")),
            package=str(attrs.get("package")),
            signature=Signature.from_dict(attrs.get("signature") or {}),
            description=current_description(record, state.descriptions),
            created_at=record.created_at,
            created_by=record.created_by,
            lineage={k: attrs.get(k) for k in LINEAGE_KEYS},
            aliases=tuple(sorted(state.aliases)),
            tags=replay_tags(state.tags),
            approval=to_approval(reviews[-1]) if reviews else Approval(),
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
