"""The feature registry: definitions stored as versions, checked for breaking changes, searchable.

Each definition is a version of kind ``entity``, ``feature_view`` or
``feature_service`` whose attributes are the definition itself. Applying an
unchanged definition creates nothing; a changed one becomes the next version.
A change that would break consumers (a removed feature, a changed type,
changed entities or join keys) is refused unless forced, naming what breaks
and who depends on it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.features.definitions import (
    Definition,
    Entity,
    FeatureService,
    FeatureView,
    from_dict,
    parse_feature_ref,
)
from shipyard.stores.metadata.base import MetadataStore, VersionRecord
from shipyard.types import Ref

KINDS: dict[type, tuple[str, str]] = {
    Entity: ("entity", "entity"),
    FeatureView: ("feature_view", "view"),
    FeatureService: ("feature_service", "service"),
}
_APPLY_ORDER = (Entity, FeatureView, FeatureService)


@dataclass(frozen=True)
class Stored:
    """A definition as stored: which version it is, when and by whom."""

    definition: Any
    version: int
    created_at: datetime
    created_by: str
    content_hash: str

    @property
    def ref(self) -> Ref:
        return Ref(KINDS[type(self.definition)][0], self.definition.name, self.version)


@dataclass(frozen=True)
class Applied:
    """What ``apply`` did to one definition: created, updated or unchanged."""

    ref: Ref
    status: str


@dataclass(frozen=True)
class Dependents:
    """Who uses a feature view: feature services (latest versions) and model versions."""

    services: tuple[str, ...]
    models: tuple[str, ...]


def content_hash(definition: Definition) -> str:
    text = json.dumps(definition.to_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class FeatureRegistry:
    """Store, look up and search feature definitions."""

    def __init__(self, metadata: MetadataStore, *, principal: str) -> None:
        self._metadata = metadata
        self._principal = principal

    # -- applying -------------------------------------------------------------

    def apply(
        self,
        definitions: Iterable[Definition],
        *,
        force: bool = False,
        check_view: Callable[[FeatureView, tuple[str, ...]], None] | None = None,
    ) -> list[Applied]:
        """Register ``definitions`` as a set: every check runs before anything is written."""
        ordered = _dedupe(definitions)
        entities = {d.name: d for d in ordered if isinstance(d, Entity)}
        views = {d.name: d for d in ordered if isinstance(d, FeatureView)}
        for view in views.values():
            self._check_entities(view, entities)
            if check_view is not None:
                check_view(view, self.join_keys(view, entities))
        for service in (d for d in ordered if isinstance(d, FeatureService)):
            self._check_service(service, views)
        changes = [(d, self._latest_or_none(d)) for d in ordered]
        if not force:
            self._refuse_breaking(changes, entities)
        return [self._write(d, latest) for d, latest in changes]

    def _write(self, definition: Definition, latest: Stored | None) -> Applied:
        kind = KINDS[type(definition)][0]
        digest = content_hash(definition)
        if latest is not None and latest.content_hash == digest:
            return Applied(latest.ref, "unchanged")
        record, _ = self._metadata.create_version(
            kind,
            definition.name,
            created_by=self._principal,
            content_hash=digest,
            attributes=definition.to_dict(),
            description=definition.description,
        )
        return Applied(record.ref, "created" if latest is None else "updated")

    def _check_entities(self, view: FeatureView, entities: dict[str, Entity]) -> None:
        for name in view.entities:
            if name not in entities and self._latest_or_none_named("entity", name) is None:
                raise InvalidInput(
                    f"Feature view {view.name!r} uses entity {name!r}, which is not defined.",
                    hint=f"Define it (entities: [{{name: {name}, join_keys: [...]}}]) "
                    "in the same apply.",
                )

    def _check_service(self, service: FeatureService, views: dict[str, FeatureView]) -> None:
        for ref in service.features:
            view_name, feature = parse_feature_ref(ref)
            view = views.get(view_name) or self._view_or_none(view_name)
            if view is None:
                raise InvalidInput(
                    f"Feature service {service.name!r} selects {ref!r}, "
                    f"but there is no view {view_name!r}."
                )
            if feature != "*":
                view.feature(feature)

    def _refuse_breaking(
        self, changes: Sequence[tuple[Definition, Stored | None]], entities: dict[str, Entity]
    ) -> None:
        problems: list[str] = []
        affected: set[str] = set()
        for definition, latest in changes:
            if latest is None:
                continue
            if isinstance(definition, FeatureView):
                found = view_breaks(latest.definition, definition)
                found += self._key_changes(definition, entities)
            elif isinstance(definition, Entity):
                found = entity_breaks(latest.definition, definition)
            else:
                found = []
            if found:
                problems.extend(f"{definition.name}: {p}" for p in found)
                affected.update(self._views_touched(definition))
        if not problems:
            return
        users = [self.dependents(view) for view in sorted(affected)]
        services = sorted({s for d in users for s in d.services})
        models = sorted({m for d in users for m in d.models})
        raise Conflict(
            "Refusing a breaking change: "
            + "; ".join(problems)
            + f". Feature services depending on it: {', '.join(services) or 'none'}"
            + f"; model versions: {', '.join(models) or 'none'}.",
            hint="Add a new feature or a new view instead, or pass force=True (--force) "
            "if every consumer has been updated.",
        )

    def _key_changes(self, view: FeatureView, entities: dict[str, Entity]) -> list[str]:
        # An entity changed in the same apply changes the keys of views that use it.
        changed = []
        for name in view.entities:
            if name in entities:
                old = self._latest_or_none_named("entity", name)
                if old is not None and old.definition.join_keys != entities[name].join_keys:
                    changed.append(f"join keys of entity {name} change")
        return changed

    def _views_touched(self, definition: Definition) -> list[str]:
        if isinstance(definition, FeatureView):
            return [definition.name]
        return [v.definition.name for v in self.views() if definition.name in v.definition.entities]

    def join_keys(
        self, view: FeatureView, pending: dict[str, Entity] | None = None
    ) -> tuple[str, ...]:
        """The view's join keys: its entities' keys in order (entities being applied win)."""
        keys: list[str] = []
        for name in view.entities:
            entity = (pending or {}).get(name) or self.entity(name).definition
            keys.extend(entity.join_keys)
        return tuple(dict.fromkeys(keys))

    # -- reading --------------------------------------------------------------

    def entity(self, name: str) -> Stored:
        return self._get("entity", name, None)

    def view(self, name: str, version: int | None = None) -> Stored:
        return self._get("feature_view", name, version)

    def service(self, name: str, version: int | None = None) -> Stored:
        return self._get("feature_service", name, version)

    def entities(self) -> list[Stored]:
        return self._all("entity")

    def views(self) -> list[Stored]:
        return self._all("feature_view")

    def services(self) -> list[Stored]:
        return self._all("feature_service")

    def view_history(self, name: str) -> list[Stored]:
        return [_stored(r) for r in self._metadata.list_versions("feature_view", name)]

    def search(
        self, *, tag: str | None = None, owner: str | None = None, text: str | None = None
    ) -> list[Stored]:
        """Latest views matching every filter: ``tag`` is ``KEY`` or ``KEY=VALUE``;
        ``text`` matches names and descriptions of the view and its features."""
        key, _, value = (tag or "").partition("=")
        found = []
        for stored in self.views():
            view = stored.definition
            if tag and (key not in view.tags or (value and view.tags[key] != value)):
                continue
            if owner and view.owner != owner:
                continue
            if text and text.lower() not in _searchable(view):
                continue
            found.append(stored)
        return found

    def dependents(self, view: str) -> Dependents:
        """Latest feature services that select from ``view``, and model versions that record it."""
        services = tuple(s.definition.name for s in self.services() if view in s.definition.views)
        models = []
        for record in self._metadata.find_versions("model"):  # every version, one statement
            used = [str(v).split("@")[0] for v in record.attributes.get("feature_views", [])]
            service = record.attributes.get("feature_service")
            if view in used or (service and str(service).split("@")[0] in services):
                models.append(str(record.ref))
        models.sort(key=lambda ref: (ref.split("@")[0], int(ref.split("@")[1])))
        return Dependents(services, tuple(models))

    def _get(self, kind: str, name: str, version: int | None) -> Stored:
        try:
            return _stored(self._metadata.get_version(kind, name, version))
        except NotFound:
            label = kind.replace("_", " ")
            known = ", ".join(self._metadata.list_names(kind)) or "none yet"
            raise NotFound(
                f"No {label} {name!r}{'' if version is None else f' version {version}'}.",
                hint=f"Known: {known}. Register definitions with `shipyard features apply DIR`.",
            ) from None

    def _all(self, kind: str) -> list[Stored]:
        return [
            _stored(self._metadata.get_version(kind, n)) for n in self._metadata.list_names(kind)
        ]

    def _latest_or_none(self, definition: Definition) -> Stored | None:
        return self._latest_or_none_named(KINDS[type(definition)][0], definition.name)

    def _latest_or_none_named(self, kind: str, name: str) -> Stored | None:
        try:
            return _stored(self._metadata.get_version(kind, name))
        except NotFound:
            return None

    def _view_or_none(self, name: str) -> FeatureView | None:
        stored = self._latest_or_none_named("feature_view", name)
        return None if stored is None else stored.definition


def view_breaks(old: FeatureView, new: FeatureView) -> list[str]:
    """What a new version of a view breaks for its consumers (empty when compatible)."""
    found = []
    new_types = {f.name: f.dtype for f in new.features}
    for feature in old.features:
        if feature.name not in new_types:
            found.append(f"feature {feature.name} is removed")
        elif new_types[feature.name] != feature.dtype:
            found.append(
                f"feature {feature.name} changes type {feature.dtype} -> {new_types[feature.name]}"
            )
    if old.entities != new.entities:
        found.append(f"entities change {list(old.entities)} -> {list(new.entities)}")
    return found


def entity_breaks(old: Entity, new: Entity) -> list[str]:
    if old.join_keys != new.join_keys:
        return [f"join keys change {list(old.join_keys)} -> {list(new.join_keys)}"]
    return []


def _stored(record: VersionRecord) -> Stored:
    short = {"entity": "entity", "feature_view": "view", "feature_service": "service"}[record.kind]
    return Stored(
        definition=from_dict(short, dict(record.attributes)),
        version=record.version,
        created_at=record.created_at,
        created_by=record.created_by,
        content_hash=record.content_hash or "",
    )


def _dedupe(definitions: Iterable[Definition]) -> list[Definition]:
    seen: dict[tuple[type, str], Definition] = {}
    for definition in definitions:
        key = (type(definition), definition.name)
        if key in seen and seen[key] != definition:
            raise InvalidInput(
                f"{KINDS[type(definition)][1].capitalize()} {definition.name!r} "
                "is defined twice, differently."
            )
        seen[key] = definition
    return sorted(seen.values(), key=lambda d: _APPLY_ORDER.index(type(d)))


def _searchable(view: FeatureView) -> str:
    parts = [view.name, view.description, *(f"{f.name} {f.description}" for f in view.features)]
    return " ".join(parts).lower()
