"""Feature definitions: entities, feature views over a source, and feature services.

Definitions are plain frozen dataclasses, written in Python or in YAML (the
same fields, see :func:`from_dict`), and stored as versions in the metadata
store by ``ws.features.apply``. A feature is referred to as ``VIEW/FEATURE``;
``VIEW/*`` means every feature of a view.

>>> driver = Entity("driver", join_keys=("driver_id",))
>>> stats = FeatureView(
...     "driver_stats", entities=("driver",), source=Source(parquet="stats.parquet"),
...     event_timestamp="ts", ttl=timedelta(days=7),
...     features=(Feature("trips", "int64"), Feature("rating", "float64")),
... )
>>> stats.feature_names
('trips', 'rating')
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from shipyard.errors import InvalidInput
from shipyard.types import check_name

# The types a feature may declare, and the Arrow type each one reads as.
FEATURE_TYPES = {
    "int64": "int64",
    "int32": "int32",
    "float64": "double",
    "float32": "float",
    "bool": "bool",
    "string": "string",
    "timestamp": "timestamp",
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class Entity:
    """What features describe (a flight, an airport) and the columns that identify it."""

    name: str
    join_keys: tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "Entity name")
        object.__setattr__(
            self, "join_keys", _names(self.join_keys, f"entity {self.name} join_keys")
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "join_keys": list(self.join_keys),
            "description": self.description,
        }


@dataclass(frozen=True)
class Feature:
    """One column of a feature view, with its declared type."""

    name: str
    dtype: str
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "Feature name")
        if self.dtype not in FEATURE_TYPES:
            raise InvalidInput(
                f"Feature {self.name!r} has type {self.dtype!r}, which Shipyard does not know.",
                hint=f"Use one of: {', '.join(FEATURE_TYPES)}.",
            )

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "description": self.description}


@dataclass(frozen=True)
class Source:
    """Where a view's rows come from: exactly one of a registered dataset, Parquet, or SQL.

    ``dataset`` is ``NAME`` (the latest version when read) or ``NAME@V`` (pinned);
    ``parquet`` a path or glob (under one of the workspace's data roots); ``sql``
    one DuckDB SELECT over the tables in ``tables`` (name -> ``dataset:NAME[@V]``
    or a Parquet path or glob); a table it names without declaring it is the
    registered dataset of that name. The SQL reads nothing else.
    """

    dataset: str | None = None
    parquet: str | None = None
    sql: str | None = None
    tables: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        given = [k for k in ("dataset", "parquet", "sql") if getattr(self, k)]
        if len(given) != 1:
            raise InvalidInput(
                "A feature view source needs exactly one of dataset, parquet or sql; "
                f"got {given or 'none'}.",
                hint="For example source: {dataset: weather} or {parquet: weather.parquet}.",
            )
        if not isinstance(self.tables, Mapping) or not all(
            isinstance(k, str) and k and isinstance(v, str) and v for k, v in self.tables.items()
        ):
            raise InvalidInput(
                f"A source's tables must map table names to data, got {self.tables!r}.",
                hint="For example tables: {w: 'dataset:weather', extra: data/extra.parquet}.",
            )
        if self.tables and not self.sql:
            raise InvalidInput("A source's tables go with sql; dataset and parquet read one table.")

    @property
    def kind(self) -> str:
        return "dataset" if self.dataset else "parquet" if self.parquet else "sql"

    @property
    def location(self) -> str:
        return str(self.dataset or self.parquet or self.sql)

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {self.kind: self.location}
        if self.tables:
            found["tables"] = dict(self.tables)
        return found


@dataclass(frozen=True)
class FeatureView:
    """A group of features about the same entities, read from one source with event times."""

    name: str
    entities: tuple[str, ...]
    source: Source
    event_timestamp: str
    features: tuple[Feature, ...]
    created_timestamp: str | None = None
    ttl: timedelta | None = None
    owner: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "Feature view name")
        if "/" in self.name:
            raise InvalidInput(f"Feature view name {self.name!r} may not contain '/'.")
        object.__setattr__(self, "entities", _names(self.entities, f"view {self.name} entities"))
        if not self.features:
            raise InvalidInput(f"Feature view {self.name!r} declares no features.")
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise InvalidInput(f"Feature view {self.name!r} declares a feature twice: {names}.")
        if self.ttl is not None and self.ttl <= timedelta(0):
            raise InvalidInput(
                f"Feature view {self.name!r} has ttl {self.ttl}; a ttl must be positive.",
                hint="Leave ttl out for unbounded lookback.",
            )
        object.__setattr__(self, "tags", {str(k): str(v) for k, v in dict(self.tags).items()})

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def feature(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise InvalidInput(
            f"Feature view {self.name!r} has no feature {name!r}.",
            hint=f"It has: {', '.join(self.feature_names)}.",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "entities": list(self.entities),
            "source": self.source.to_dict(),
            "event_timestamp": self.event_timestamp,
            "created_timestamp": self.created_timestamp,
            "ttl_seconds": None if self.ttl is None else self.ttl.total_seconds(),
            "features": [f.to_dict() for f in self.features],
            "owner": self.owner,
            "tags": dict(self.tags),
            "description": self.description,
        }


@dataclass(frozen=True)
class FeatureService:
    """A named selection of features from several views: the unit a model depends on."""

    name: str
    features: tuple[str, ...]
    owner: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "Feature service name")
        refs = tuple(self.features)
        if not refs:
            raise InvalidInput(f"Feature service {self.name!r} selects no features.")
        for ref in refs:
            parse_feature_ref(ref)
        object.__setattr__(self, "features", refs)
        object.__setattr__(self, "tags", {str(k): str(v) for k, v in dict(self.tags).items()})

    @property
    def views(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(parse_feature_ref(ref)[0] for ref in self.features))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "features": list(self.features),
            "owner": self.owner,
            "tags": dict(self.tags),
            "description": self.description,
        }


Definition = Entity | FeatureView | FeatureService


def parse_feature_ref(ref: str) -> tuple[str, str]:
    """``'weather/temp'`` -> ``('weather', 'temp')``; ``'weather/*'`` -> ``('weather', '*')``."""
    view, sep, feature = ref.partition("/") if isinstance(ref, str) else ("", "", "")
    if not sep or not view or not feature or "/" in feature:
        raise InvalidInput(
            f"{ref!r} is not a feature reference.",
            hint="Write VIEW/FEATURE (for example weather/temp) or VIEW/* for every feature.",
        )
    return view, feature


def parse_duration(value: Any, what: str) -> timedelta | None:
    """A ttl from YAML: seconds as a number, or text such as ``7d``, ``36h``, ``90m``."""
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise InvalidInput(f"{what} must be a duration, got {value!r}.")
    if isinstance(value, int | float):
        return timedelta(seconds=float(value))
    match = _DURATION.match(str(value))
    if match is None:
        raise InvalidInput(
            f"{what} {value!r} is not a duration.",
            hint="Write a number of seconds or a number with a unit: 30s, 15m, 36h, 7d, 2w.",
        )
    return timedelta(**{_UNITS[match[2]]: float(match[1])})


def from_dict(kind: str, data: Mapping[str, Any]) -> Definition:
    """Build a definition from its YAML/JSON form; ``kind`` is entity, view or service."""
    if not isinstance(data, Mapping):
        raise InvalidInput(f"A {kind} definition must be a mapping, got {type(data).__name__}.")
    try:
        if kind == "entity":
            _only(data, {"name", "join_keys", "description"}, kind)
            return Entity(
                data["name"], tuple(_list(data["join_keys"])), str(data.get("description", ""))
            )
        if kind == "view":
            return _view_from_dict(data)
        if kind == "service":
            _only(data, {"name", "features", "owner", "tags", "description"}, kind)
            return FeatureService(
                data["name"],
                tuple(_list(data["features"])),
                owner=str(data.get("owner", "")),
                tags=data.get("tags") or {},
                description=str(data.get("description", "")),
            )
    except KeyError as missing:
        raise InvalidInput(
            f"The {kind} definition {dict(data).get('name', '?')!r} is missing the key {missing}."
        ) from None
    raise InvalidInput(f"Unknown definition kind {kind!r}; use entity, view or service.")


def _view_from_dict(data: Mapping[str, Any]) -> FeatureView:
    keys = {"name", "entities", "source", "event_timestamp", "created_timestamp", "ttl"}
    _only(data, keys | {"ttl_seconds", "features", "owner", "tags", "description"}, "view")
    source = data["source"]
    if not isinstance(source, Mapping):
        raise InvalidInput(
            f"View {data['name']!r}: source must be a mapping such as {{dataset: weather}}."
        )
    _only(source, {"dataset", "parquet", "sql", "tables"}, "source")
    features = [
        Feature(f["name"], f["dtype"], str(f.get("description", "")))
        if isinstance(f, Mapping)
        else _feature_from_pair(f)
        for f in _list(data["features"])
    ]
    ttl = data.get("ttl", data.get("ttl_seconds"))
    return FeatureView(
        data["name"],
        entities=tuple(_list(data["entities"])),
        source=Source(**dict(source)),
        event_timestamp=str(data["event_timestamp"]),
        created_timestamp=data.get("created_timestamp"),
        ttl=parse_duration(ttl, f"View {data['name']!r} ttl"),
        features=tuple(features),
        owner=str(data.get("owner", "")),
        tags=data.get("tags") or {},
        description=str(data.get("description", "")),
    )


def _feature_from_pair(item: Any) -> Feature:
    # The short form "temp: float64" in YAML parses as a one-key mapping; a bare
    # string is refused because a feature without a type cannot be checked.
    raise InvalidInput(
        f"Feature {item!r} needs a name and a type.",
        hint="Write {name: temp, dtype: float64}.",
    )


def _only(data: Mapping[str, Any], allowed: set[str], what: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidInput(
            f"Unknown key(s) {unknown} in a {what} definition.",
            hint=f"Allowed keys: {', '.join(sorted(allowed))}.",
        )


def _list(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence):
        return list(value)
    raise InvalidInput(f"Expected a list, got {value!r}.")


def _names(values: Sequence[str] | str, what: str) -> tuple[str, ...]:
    names = (values,) if isinstance(values, str) else tuple(values)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise InvalidInput(f"{what} must be a non-empty list of names, got {values!r}.")
    return names
