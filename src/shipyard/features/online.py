"""Online reads: the latest materialized values per entity, each with a status.

A value is ``present`` only when it is within its view's ttl of now; an older
value is reported ``outside_ttl`` and not returned, so a model never serves on
a stale feature by accident; an entity never materialized is ``missing``. A value
stamped after ``now`` is ``future`` and not returned either: a request stating an
earlier time (a replay) must not see what was not known then.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput
from shipyard.features.key_kinds import check_key

if TYPE_CHECKING:
    from shipyard.stores.online import OnlineStore

PRESENT, MISSING, OUTSIDE_TTL, FUTURE = "present", "missing", "outside_ttl", "future"
# Entities per store read: a stop request is seen between reads, and no single read
# holds a store (Redis runs one command at a time) for long.
ENTITIES_PER_READ = 1_000


class ReadStopped(Exception):
    """The read was abandoned part-way because its ``stop`` callback said so."""


@dataclass(frozen=True)
class OnlineView:
    """What an online read needs of one view: no source, so no dataset lookup or hashing."""

    name: str
    features: tuple[str, ...]
    join_keys: tuple[str, ...]
    ttl: timedelta | None
    key_kinds: Mapping[str, str] = field(default_factory=dict)  # join key -> JSON kind, if known

    def output_name(self, feature: str) -> str:
        return f"{self.name}__{feature}"


@dataclass(frozen=True)
class OnlineRow:
    """One entity's features: values (None unless present), statuses and event times."""

    entity: Mapping[str, Any]
    values: dict[str, Any] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)
    event_timestamps: dict[str, datetime | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "entity": dict(self.entity),
            "values": self.values,
            "statuses": self.statuses,
            "event_timestamps": {
                k: None if v is None else v.isoformat() for k, v in self.event_timestamps.items()
            },
        }


@dataclass(frozen=True)
class OnlineResult:
    """The rows of an online read, in the order the entities were asked for."""

    rows: list[OnlineRow]

    def to_dict(self) -> dict[str, Any]:
        return {"results": [row.to_dict() for row in self.rows]}

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame([{**row.entity, **row.values} for row in self.rows])


def read_online(
    store: OnlineStore,
    views: Sequence[OnlineView],
    entity_keys: Sequence[Mapping[str, Any]],
    *,
    now: datetime,
    stop: Callable[[], bool] | None = None,
) -> OnlineResult:
    """Read every view's features for ``entity_keys`` and judge each value against its ttl.

    ``stop`` is asked between reads; when it says True the read raises :class:`ReadStopped`
    (the HTTP API stops this way when its client has gone).
    """
    if isinstance(entity_keys, Mapping) or not all(isinstance(k, Mapping) for k in entity_keys):
        raise InvalidInput(
            "entity_keys must be a list of mappings from join key to value.",
            hint='For example [{"origin": "JFK"}].',
        )
    rows = [OnlineRow(dict(keys)) for keys in entity_keys]
    # Every key is checked before anything is read: a bad one fails the request at once.
    keys_per_view = [
        [_key(entity, view, row) for row, entity in enumerate(entity_keys)] for view in views
    ]
    for view, keys in zip(views, keys_per_view, strict=True):
        found = []
        for start in range(0, len(keys), ENTITIES_PER_READ):
            if stop is not None and stop():
                raise ReadStopped(f"Online read of {view.name!r} stopped by its caller.")
            found += store.read(view.name, keys[start : start + ENTITIES_PER_READ], view.features)
        oldest = None if view.ttl is None else now - view.ttl
        for row, record in zip(rows, found, strict=True):
            for feature in view.features:
                name = view.output_name(feature)
                if record is None:
                    status, value, stamp = MISSING, None, None
                elif oldest is not None and record.event_timestamp < oldest:
                    status, value, stamp = OUTSIDE_TTL, None, record.event_timestamp
                elif record.event_timestamp > now:
                    status, value, stamp = FUTURE, None, record.event_timestamp
                else:
                    status, value, stamp = (
                        PRESENT,
                        record.values.get(feature),
                        record.event_timestamp,
                    )
                row.values[name] = value
                row.statuses[name] = status
                row.event_timestamps[name] = stamp
    return OnlineResult(rows)


def _key(entity: Mapping[str, Any], view: OnlineView, row: int) -> tuple[Any, ...]:
    missing = [k for k in view.join_keys if k not in entity]
    if missing:
        raise InvalidInput(
            f"Feature view {view.name!r} is keyed by {', '.join(view.join_keys)}, "
            f"but an entity row lacks {', '.join(missing)}.",
            hint=f"Give every entity row the keys {list(view.join_keys)}.",
        )
    for key, kind in view.key_kinds.items():
        check_key(view.name, key, kind, entity[key], row)
    return tuple(entity[k] for k in view.join_keys)
