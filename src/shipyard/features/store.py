"""The feature store service (``ws.features``): definitions, time travel, online reads, access.

Every read checks the principal's policies feature by feature before touching
data (``features:ReadOffline``, ``features:ReadOnline``); ``apply`` needs
``features:Apply`` and materialization ``features:Write`` on every feature of
the views it writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput
from shipyard.features.definitions import Definition, FeatureService, FeatureView, parse_feature_ref
from shipyard.features.key_kinds import join_key_kinds
from shipyard.features.loader import load_definitions
from shipyard.features.online import OnlineResult, OnlineView, read_online
from shipyard.features.registry import Applied, Dependents, FeatureRegistry, Stored
from shipyard.features.resolve import ResolvedView, build_source, check_source_columns
from shipyard.sql_guard import connect as guarded_connection

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.data.datasets import DatasetService
    from shipyard.stores.online import OnlineStore

Authorize = Callable[[str, Sequence[str]], None]
PLAN_TTL_SECONDS = 5.0


def feature_resource(view: str, feature: str) -> str:
    """The policy resource name of one feature."""
    return f"shipyard:feature:{view}/{feature}"


@dataclass(frozen=True)
class Freshness:
    """How current a view's online values are."""

    view: str
    materialized_until: datetime | None
    lag: timedelta | None  # now - last_event: how old the newest value is
    last_event: datetime | None = None


class FeatureStore:
    """Apply definitions, build point-in-time training sets, materialize and read online."""

    def __init__(
        self,
        registry: FeatureRegistry,
        datasets: DatasetService,
        online: Callable[[], OnlineStore],
        *,
        authorize: Authorize,
        scratch: Path,
        data_roots: Sequence[Path] = (),
    ) -> None:
        self.registry = registry
        self._datasets = datasets
        self._online_factory = online
        self._online: OnlineStore | None = None
        self._authorize = authorize
        self._scratch = scratch
        self._data_roots = tuple(data_roots)
        self._plans: dict[Any, tuple[float, list[OnlineView], list[str]]] = {}

    # -- definitions ----------------------------------------------------------

    def apply(
        self, definitions: str | Path | Iterable[Definition], *, force: bool = False
    ) -> list[Applied]:
        """Register definitions (objects, or a folder/file of YAML and Python) as versions."""
        if isinstance(definitions, str | Path):
            items = _absolute_paths(load_definitions(definitions), Path(definitions))
        else:
            items = list(definitions)
        resources = [
            feature_resource(d.name, f)
            for d in items
            if isinstance(d, FeatureView)
            for f in d.feature_names
        ]
        self._authorize("features:Apply", resources)
        self._plans.clear()
        return self.registry.apply(items, force=force, check_view=self._check_view)

    def _check_view(self, view: FeatureView, keys: tuple[str, ...]) -> None:
        """Bind the view's source against its data (described, never run) on a guarded
        connection that can read only that data: apply has no side effects.

        Whoever defines a view over registered datasets must be able to read them
        (``datasets:Read``): a view would otherwise hand their rows to anyone allowed
        to read its features, a way around the datasets' own policies."""
        source, read = build_source(view, keys, self._datasets, data_roots=self._data_roots)
        if read:
            self._authorize("datasets:Read", sorted({f"shipyard:dataset:{r.name}" for r in read}))
        connection = guarded_connection(source.readable)
        try:
            check_source_columns(view, keys, source.relation, connection)
        finally:
            connection.close()

    def list_views(
        self, *, tag: str | None = None, owner: str | None = None, search: str | None = None
    ) -> list[Stored]:
        return self.registry.search(tag=tag, owner=owner, text=search)

    def describe(self, view: str) -> dict[str, Any]:
        """Schema, source, owner, tags, freshness and who uses the view."""
        stored = self.registry.view(view)
        definition: FeatureView = stored.definition
        freshness = self.freshness([view])[0]
        users: Dependents = self.registry.dependents(view)
        return {
            "name": definition.name,
            "version": stored.version,
            "created_at": stored.created_at,
            "created_by": stored.created_by,
            "entities": {
                e: list(self.registry.entity(e).definition.join_keys) for e in definition.entities
            },
            "source": definition.source.to_dict(),
            "event_timestamp": definition.event_timestamp,
            "created_timestamp": definition.created_timestamp,
            "ttl": None if definition.ttl is None else str(definition.ttl),
            "features": [f.to_dict() for f in definition.features],
            "owner": definition.owner,
            "tags": dict(definition.tags),
            "description": definition.description,
            "materialized_until": freshness.materialized_until,
            "lag_seconds": None if freshness.lag is None else freshness.lag.total_seconds(),
            "services": list(users.services),
            "models": list(users.models),
            "versions": len(self.registry.view_history(view)),
        }

    # -- offline --------------------------------------------------------------

    def get_historical(
        self,
        entity_rows: Any,
        features: Sequence[str] | str,
        *,
        timestamp_column: str = "event_timestamp",
        as_of: datetime | None = None,
        output: str | Path | None = None,
        versions: Mapping[str, int] | None = None,
    ) -> pd.DataFrame | Path:
        """Entity rows joined with feature values as they were at each row's time.

        One output row per entity row, in order, extra columns passed through;
        features named ``VIEW__FEATURE``. ``features`` is a list of
        ``VIEW/FEATURE`` (``VIEW/*`` for all) or the name of a feature service.
        With ``as_of``, rows created after it are invisible. With ``output``,
        the result streams into that Parquet file, which is returned. ``versions``
        (view -> version) pins views, as a model's lineage records them; others are latest.
        """
        from shipyard.features.pit import point_in_time_join

        resolved = self.resolve(features, action="features:ReadOffline", versions=versions)
        self._scratch.mkdir(parents=True, exist_ok=True)
        readable = [f for r in resolved for f in r.source.readable]
        if isinstance(entity_rows, str | Path):
            readable.append(str(entity_rows))
        connection = guarded_connection(readable, temp_directory=self._scratch / "duckdb")
        try:
            result = point_in_time_join(
                entity_rows,
                [r.source for r in resolved],
                timestamp_column=timestamp_column,
                as_of=as_of,
                connection=connection,
                output=output,
            )
        finally:
            connection.close()
        if output is not None:
            return Path(output)
        assert result is not None
        return result.to_pandas()

    def resolve(
        self,
        features: Sequence[str] | str,
        *,
        action: str,
        versions: Mapping[str, int] | None = None,
    ) -> list[ResolvedView]:
        """The views (latest versions, or those ``versions`` pins) and features a request
        reads, after the access check."""
        selected = self._select(features, versions)
        self._authorize(
            action,
            [feature_resource(view, f) for view, (_, names) in selected.items() for f in names],
        )
        resolved = []
        for stored, names in selected.values():
            keys = self.registry.join_keys(stored.definition)
            source, datasets = build_source(
                stored.definition, keys, self._datasets, names, data_roots=self._data_roots
            )
            resolved.append(ResolvedView(stored.definition, stored.version, keys, datasets, source))
        return resolved

    def _select(
        self, features: Sequence[str] | str, versions: Mapping[str, int] | None = None
    ) -> dict[str, tuple[Stored, list[str]]]:
        """Each view a request names (looked up once), with the features chosen from it."""
        refs: Sequence[str]
        if isinstance(features, str):
            service: FeatureService = self.registry.service(
                features.removeprefix("service:")
            ).definition
            refs = service.features
        else:
            refs = list(features)
        if not refs:
            raise InvalidInput(
                "No features requested.", hint="Pass VIEW/FEATURE names or a service name."
            )
        selected: dict[str, tuple[Stored, list[str]]] = {}
        for ref in refs:
            view_name, feature = parse_feature_ref(ref)
            if view_name not in selected:
                pinned = (versions or {}).get(view_name)
                selected[view_name] = (self.registry.view(view_name, pinned), [])
            stored, chosen = selected[view_name]
            view: FeatureView = stored.definition
            names = view.feature_names if feature == "*" else (view.feature(feature).name,)
            chosen.extend(n for n in names if n not in chosen)
        return selected

    # -- online ---------------------------------------------------------------

    @property
    def online(self) -> OnlineStore:
        if self._online is None:
            self._online = self._online_factory()
        return self._online

    def materialize(
        self,
        views: Sequence[str],
        start: datetime,
        end: datetime,
        *,
        progress: Callable[[int, int | None], None] | None = None,
        chunk_rows: int = 50_000,
    ) -> list[Any]:
        """Write each entity's latest values with event time in [start, end] to the online store."""
        from shipyard.features.materialize import materialize

        return [
            materialize(
                r.source,
                self.online,
                start=start,
                end=end,
                chunk_rows=chunk_rows,
                progress=progress,
            )
            for r in self._for_write(views)
        ]

    def materialize_incremental(
        self,
        views: Sequence[str],
        end: datetime,
        *,
        progress: Callable[[int, int | None], None] | None = None,
        chunk_rows: int = 50_000,
    ) -> list[Any]:
        """Materialize from where each view was last materialized up to ``end``."""
        from shipyard.features.materialize import materialize_incremental

        return [
            materialize_incremental(
                r.source, self.online, end=end, chunk_rows=chunk_rows, progress=progress
            )
            for r in self._for_write(views)
        ]

    def _for_write(self, views: Sequence[str]) -> list[ResolvedView]:
        if isinstance(views, str):
            views = [views]
        return self.resolve([f"{v}/*" for v in views], action="features:Write")

    def get_online(
        self,
        entity_keys: Sequence[Mapping[str, Any]],
        features: Sequence[str] | str,
        *,
        stop: Callable[[], bool] | None = None,
    ) -> OnlineResult:
        """Latest values per entity with a status per feature: present, missing or outside_ttl.

        A key of the wrong type for its view (``"5"`` for an integer key) is refused.
        ``stop``, if given, is asked between reads; True abandons the read (``ReadStopped``).
        """
        views, resources = self._online_plan(features)
        self._authorize("features:ReadOnline", resources)
        return read_online(self.online, views, entity_keys, now=datetime.now(UTC), stop=stop)

    def online_width(self, features: Sequence[str] | str) -> int:
        """How many values an online read of ``features`` returns per entity."""
        views, _ = self._online_plan(features)
        return sum(len(view.features) for view in views)

    def _online_plan(self, features: Sequence[str] | str) -> tuple[list[OnlineView], list[str]]:
        """The views an online read touches, from a short-lived cache: the serving path must
        not query the registry on every request. Applies through this store clear it; other
        processes' applies are seen within PLAN_TTL_SECONDS."""
        key = features if isinstance(features, str) else tuple(features)
        now = time.monotonic()
        cached = self._plans.get(key)
        if cached is not None and now - cached[0] < PLAN_TTL_SECONDS:
            return cached[1], cached[2]
        views = []
        for view_name, (stored, names) in self._select(features).items():
            definition: FeatureView = stored.definition
            keys = self.registry.join_keys(definition)
            kinds = join_key_kinds(definition, keys, self._datasets)
            views.append(OnlineView(view_name, tuple(names), keys, definition.ttl, kinds))
        resources = [feature_resource(v.name, f) for v in views for f in v.features]
        self._plans[key] = (now, views, resources)
        return views, resources

    def freshness(self, views: Sequence[str] | None = None) -> list[Freshness]:
        """Each view's materialized interval end, its newest event time, and the lag: how old
        that newest value is now (measured from the event, not from when the run ended, so a
        source that stopped sending data shows its age however recently it was
        materialized; intervals recorded before event times were kept fall back to their end).
        """
        names = (
            list(views) if views is not None else [s.definition.name for s in self.registry.views()]
        )
        now = datetime.now(UTC)
        found = []
        for name in names:
            intervals = self.online.materialized_intervals(name)
            until = max((i.end for i in intervals), default=None)
            last = max((i.last_event for i in intervals if i.last_event), default=None)
            newest = last if last is not None else until
            lag = None if newest is None else now - newest
            found.append(Freshness(name, until, lag, last))
        return found

    def close(self) -> None:
        """Forget the online store (the runtime that opened it closes it)."""
        self._online = None


def _absolute_paths(definitions: list[Definition], origin: Path) -> list[Definition]:
    """Parquet paths in files are relative to the file's folder, not to where apply runs."""
    import dataclasses

    base = origin if origin.is_dir() else origin.parent
    fixed: list[Definition] = []

    def absolute(location: str) -> str:
        if location.startswith("dataset:") or Path(location).is_absolute():
            return location
        return str((base / location).resolve())

    for item in definitions:
        if isinstance(item, FeatureView) and (item.source.parquet or item.source.tables):
            source = dataclasses.replace(
                item.source,
                parquet=item.source.parquet and absolute(item.source.parquet),
                tables={name: absolute(where) for name, where in item.source.tables.items()},
            )
            item = dataclasses.replace(item, source=source)
        fixed.append(item)
    return fixed
