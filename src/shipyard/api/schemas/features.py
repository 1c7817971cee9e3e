"""The feature store: views as listed and shown, online reads, freshness."""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import Field, JsonValue

from shipyard.api.schemas.base import Schema, Timestamp

if TYPE_CHECKING:
    from shipyard.features import online, registry, store


class FeatureSpec(Schema):
    """One feature of a view and its declared type."""

    name: str
    dtype: str
    description: str


class FeatureView(Schema):
    """A feature view's definition and version (``features list --json``)."""

    name: str
    version: int
    entities: list[str]
    source: dict[str, str | dict[str, str]] = Field(
        description='Exactly one of {"dataset": ...}, {"parquet": ...} or {"sql": ..., '
        '"tables": {...}}.'
    )
    event_timestamp: str
    created_timestamp: str | None
    ttl_seconds: float | None
    features: list[FeatureSpec]
    owner: str
    tags: dict[str, str]
    description: str

    @classmethod
    def from_domain(cls, stored: registry.Stored) -> FeatureView:
        view = stored.definition
        return cls(
            name=view.name,
            version=stored.version,
            entities=list(view.entities),
            source=view.source.to_dict(),
            event_timestamp=view.event_timestamp,
            created_timestamp=view.created_timestamp,
            ttl_seconds=None if view.ttl is None else view.ttl.total_seconds(),
            features=[FeatureSpec(**f.to_dict()) for f in view.features],
            owner=view.owner,
            tags=dict(view.tags),
            description=view.description,
        )


class FeatureViewDetails(Schema):
    """A view with its freshness and its users (``features show --json``)."""

    name: str
    version: int
    versions: int = Field(description="How many versions the view has.")
    created_at: Timestamp
    created_by: str
    entities: dict[str, list[str]] = Field(description="Each entity and its join keys.")
    source: dict[str, str | dict[str, str]]
    event_timestamp: str
    created_timestamp: str | None
    ttl: str | None = Field(description='The ttl as text, such as "1 day, 0:00:00".')
    features: list[FeatureSpec]
    owner: str
    tags: dict[str, str]
    description: str
    materialized_until: Timestamp | None
    lag_seconds: float | None
    services: list[str] = Field(description="Feature services that select the view.")
    models: list[str] = Field(description="Models trained on the view.")

    @classmethod
    def from_domain(cls, details: Mapping[str, Any]) -> FeatureViewDetails:
        """From :meth:`FeatureStore.describe` (a mapping: the store gathers it from several
        records and the online store)."""
        return cls.model_validate(dict(details))


class OnlineRow(Schema):
    """One entity's features: values (null unless fresh), a status and an event time each.

    A value is JSON as it is; a timestamp, date or time is ISO 8601 text, a duration
    its seconds, bytes base64 text, a decimal a number, and NaN or infinity null.
    """

    entity: dict[str, JsonValue]
    values: dict[str, JsonValue]
    statuses: dict[str, str]
    event_timestamps: dict[str, Timestamp | None]


class OnlineRead(Schema):
    """The rows of an online read, in the order the entities were asked for."""

    results: list[OnlineRow]

    @classmethod
    def from_domain(cls, result: online.OnlineResult) -> OnlineRead:
        return cls.model_validate(
            {
                "results": [
                    {
                        "entity": row.entity,
                        "values": {name: plain(v) for name, v in row.values.items()},
                        "statuses": row.statuses,
                        "event_timestamps": row.event_timestamps,
                    }
                    for row in result.rows
                ]
            }
        )


class ViewFreshness(Schema):
    """How current one view's online values are."""

    view: str
    materialized_until: Timestamp | None
    last_event: Timestamp | None
    lag_seconds: float | None = Field(description="Now minus the newest materialized event time.")


class Freshness(Schema):
    """Every view's freshness (``GET /features/freshness``)."""

    views: list[ViewFreshness]

    @classmethod
    def from_domain(cls, found: Iterable[store.Freshness]) -> Freshness:
        return cls(
            views=[
                ViewFreshness(
                    view=f.view,
                    materialized_until=f.materialized_until,
                    last_event=f.last_event,
                    lag_seconds=None if f.lag is None else f.lag.total_seconds(),
                )
                for f in found
            ]
        )


def plain(value: Any) -> JsonValue:
    """A feature value as plain JSON (see :class:`OnlineRow`); called per value, so the
    common kinds return first."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if isinstance(value, float):  # numpy's float64 among them
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Decimal):
        return plain(float(value))
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if hasattr(value, "item") and not hasattr(value, "__len__"):  # a numpy scalar
        return plain(value.item())
    return value  # validation says if it is not JSON
