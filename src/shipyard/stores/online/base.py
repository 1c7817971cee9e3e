"""The online store's interface, written once: every backend passes one contract suite.

The online store keeps one record per (feature view, entity key): the latest
feature values of that entity, the event time of the row they came from, its
created time (if the view has one) and when the record was written. Writes are
"newer wins" by (event time, created time), so replaying rows is harmless and
an older row never replaces a newer one. Materialization progress (a
:class:`MaterializeCheckpoint`) is written in the same atomic step as the data
it describes.

Encodings shared by the backends live here too:

- an entity key is :func:`encode_entity_key`: compact JSON of the join-key
  values in the view's join-key order, typed, so ``1`` and ``"1"`` differ
  (an integral float such as ``1.0`` is the int ``1``, as Python compares them);
- a feature value is JSON of the plain Python value; NaN and None are ``null``;
  datetimes (as tz-aware UTC), dates, times, durations, bytes, decimals and
  infinities are one-key objects such as ``{"$datetime": "..."}`` so they come
  back with their type (a struct value that is itself a one-key object with
  such a key would be read back as that type);
- times are integer microseconds since the Unix epoch, UTC.

Every store is safe to call from several threads at once.
"""

from __future__ import annotations

import abc
import base64
import datetime as dt
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from shipyard.errors import InvalidInput
from shipyard.types import check_name

if TYPE_CHECKING:
    import pyarrow as pa

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
NO_CREATED = -(2**63) + 1  # sorts below every real created time: "none" loses a tie

EntityKey = Mapping[str, Any] | Sequence[Any] | Any


@dataclass(frozen=True)
class OnlineRow:
    """One entity's stored record: the values asked for and the times of their row."""

    values: dict[str, Any]
    event_timestamp: dt.datetime
    created_timestamp: dt.datetime | None
    written_at: dt.datetime


@dataclass(frozen=True)
class MaterializeCheckpoint:
    """Progress of a running materialization of [start, end]: rows written up to ``last_key``.

    ``last_key`` is the encoded entity key (:func:`encode_entity_key`) of the
    last row written; rows are written in join-key order, so a resumed run
    continues after it. ``rows`` counts the rows written so far in this interval.
    """

    start: dt.datetime
    end: dt.datetime
    last_key: str
    rows: int
    updated_at: dt.datetime | None = None  # set by the store when it reads one back


@dataclass(frozen=True)
class MaterializedInterval:
    """An interval of event time that a materialization completed."""

    start: dt.datetime
    end: dt.datetime
    rows: int
    completed_at: dt.datetime
    last_event: dt.datetime | None = None  # the latest event time written (None: no rows)


class OnlineStore(abc.ABC):
    """Latest feature values per (view, entity key), for low-latency serving.

    Every method may be called from several threads at once (the HTTP server
    reads from a thread pool).
    """

    backend: str = "abstract"

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """Where the data lives, for ``shipyard info`` (no password)."""

    @abc.abstractmethod
    def write(
        self,
        view: str,
        table: pa.Table | pa.RecordBatch,
        *,
        join_keys: Sequence[str],
        event_timestamp: str,
        features: Sequence[str],
        created_timestamp: str | None = None,
        checkpoint: MaterializeCheckpoint | None = None,
    ) -> int:
        """Upsert ``table``'s rows where they are newer; return how many records changed.

        A row replaces the stored record of its entity only when its (event
        time, created time) is greater (no created time counts as the
        smallest); its feature values replace the record's values as a whole.
        ``checkpoint``, when given, is stored in the same transaction as the rows.
        """

    @abc.abstractmethod
    def read(
        self,
        view: str,
        entity_keys: Sequence[EntityKey],
        features: Sequence[str],
        *,
        join_keys: Sequence[str] | None = None,
    ) -> list[OnlineRow | None]:
        """The stored record of each entity key, in the order asked (None where there is none).

        A key is a tuple of join-key values in the view's join-key order, a
        single value for a view with one join key, or a mapping from join key to
        value (ordered by ``join_keys``, else by the join keys the view was
        written with). A feature the record lacks reads as None.
        """

    @abc.abstractmethod
    def get_checkpoint(self, view: str) -> MaterializeCheckpoint | None:
        """The progress of the view's unfinished materialization, if any."""

    @abc.abstractmethod
    def finish_materialization(
        self,
        view: str,
        start: dt.datetime,
        end: dt.datetime,
        rows: int,
        last_event: dt.datetime | None = None,
    ) -> None:
        """Record [start, end] as materialized (with the latest event time in it) and drop
        the checkpoint, atomically."""

    @abc.abstractmethod
    def materialized_intervals(self, view: str) -> list[MaterializedInterval]:
        """The intervals completed for the view, oldest start first."""

    def materialized_until(self, view: str) -> dt.datetime | None:
        """The latest end of a completed interval: the view is current up to there."""
        ends = [interval.end for interval in self.materialized_intervals(view)]
        return max(ends) if ends else None

    def last_event_time(self, view: str) -> dt.datetime | None:
        """The latest event time any completed materialization wrote: how current the data
        is (a source that stopped sending stays at its last event, however late the run)."""
        found = [i.last_event for i in self.materialized_intervals(view) if i.last_event]
        return max(found) if found else None

    @abc.abstractmethod
    def views(self) -> list[str]:
        """The views that have records, sorted."""

    @abc.abstractmethod
    def delete_view(self, view: str) -> int:
        """Remove the view's records, checkpoint and intervals; return how many records went."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections. The store is unusable afterwards."""

    def __enter__(self) -> OnlineStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# -- what a write sends to a backend -------------------------------------------------


@dataclass(frozen=True)
class EncodedRows:
    """A table's rows ready for a backend: keys, times and per-feature JSON texts."""

    keys: list[str]
    event_us: list[int]
    created_us: list[int | None]
    values: list[list[str]]  # one list per feature, one JSON text per row

    def __len__(self) -> int:
        return len(self.keys)

    def objects(self, features: Sequence[str]) -> list[str]:
        """Each row's values as one JSON object text, from feature name to value."""
        names = [json.dumps(name) + ":" for name in features]
        return (
            [
                "{" + ",".join(name + value for name, value in zip(names, row, strict=True)) + "}"
                for row in zip(*self.values, strict=True)
            ]
            if self.values
            else ["{}"] * len(self.keys)
        )


def encode_rows(
    table: pa.Table | pa.RecordBatch,
    *,
    join_keys: Sequence[str],
    event_timestamp: str,
    features: Sequence[str],
    created_timestamp: str | None = None,
) -> EncodedRows:
    """Validate ``table`` against the named columns and encode every row."""
    _check_columns(table, join_keys, event_timestamp, features, created_timestamp)
    keys = table_entity_keys(table, join_keys)
    event_us = _epoch_us(table.column(event_timestamp), event_timestamp)
    if None in event_us:
        raise InvalidInput(
            f"Event timestamp {event_timestamp!r} is null in row {event_us.index(None)}."
        )
    created_us: list[int | None] = [None] * table.num_rows
    if created_timestamp is not None:
        created_us = _epoch_us(table.column(created_timestamp), created_timestamp)
    values = [_json_column(table.column(name)) for name in features]
    return EncodedRows(keys, cast(list[int], event_us), created_us, values)


def table_entity_keys(table: pa.Table | pa.RecordBatch, join_keys: Sequence[str]) -> list[str]:
    """The encoded entity key of each row; a null join key is refused."""
    columns = [_python_values(table.column(name)) for name in join_keys]
    for name, column in zip(join_keys, columns, strict=True):
        if None in column:
            raise InvalidInput(
                f"Join key {name!r} is null in row {column.index(None)}.",
                hint="Drop rows without an entity key before writing them online.",
            )
    return [encode_entity_key(values) for values in zip(*columns, strict=True)]


def _check_columns(
    table: pa.Table | pa.RecordBatch,
    join_keys: Sequence[str],
    event_timestamp: str,
    features: Sequence[str],
    created_timestamp: str | None,
) -> None:
    if isinstance(join_keys, str) or isinstance(features, str):
        raise InvalidInput("join_keys and features must be sequences of column names, not strings.")
    if not join_keys:
        raise InvalidInput("A view needs at least one join key.")
    if len(set(features)) != len(features) or set(features) & set(join_keys):
        raise InvalidInput(
            f"Features {list(features)} repeat a name or a join key ({list(join_keys)})."
        )
    wanted = [*join_keys, event_timestamp, *features]
    if created_timestamp is not None:
        wanted.append(created_timestamp)
    present = set(table.schema.names)
    missing = [name for name in wanted if name not in present]
    if missing:
        raise InvalidInput(
            f"The table has no column(s) {', '.join(map(repr, missing))}.",
            hint=f"Its columns: {', '.join(table.schema.names)}.",
        )


def _epoch_us(column: Any, name: str) -> list[int | None]:
    """Microseconds since the epoch, UTC; naive timestamps are taken as UTC."""
    import pyarrow as pa

    kind = column.type
    if pa.types.is_timestamp(kind):
        column = column.cast(pa.timestamp("us", tz=kind.tz), safe=False)
    elif pa.types.is_date(kind):
        column = column.cast(pa.timestamp("us"))
    else:
        raise InvalidInput(f"Column {name!r} must hold timestamps, not {kind}.")
    result: list[int | None] = column.cast(pa.int64()).to_pylist()
    return result


def _python_values(column: Any) -> list[Any]:
    """The column as Python values; nanosecond times are cut to microseconds, as datetime holds."""
    import pyarrow as pa

    kind = column.type
    if pa.types.is_timestamp(kind) and kind.unit == "ns":
        column = column.cast(pa.timestamp("us", tz=kind.tz), safe=False)
    elif pa.types.is_duration(kind) and kind.unit == "ns":
        column = column.cast(pa.duration("us"), safe=False)
    values: list[Any] = column.to_pylist()
    return values


def _json_column(column: Any) -> list[str]:
    """One JSON text per value of an Arrow column (a fast path for the common plain types)."""
    import pyarrow as pa

    kind = column.type
    values = _python_values(column)
    if pa.types.is_integer(kind):
        return ["null" if v is None else str(v) for v in values]
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return ["null" if v is None else json.dumps(v) for v in values]
    if pa.types.is_floating(kind):
        return [_float_json(v) for v in values]
    return [dumps_value(v) for v in values]


def _float_json(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "null"
    return repr(value) if math.isfinite(value) else dumps_value(value)


# -- values --------------------------------------------------------------------------


def dumps_value(value: Any) -> str:
    """One feature value as JSON text (see the module docstring for the typed forms)."""
    return json.dumps(plain_value(value), allow_nan=False)


def loads_value(text: str | bytes) -> Any:
    """The inverse of :func:`dumps_value`."""
    return json.loads(text, object_hook=_typed_object)


def plain_value(value: Any) -> Any:
    """``value`` as plain JSON data, with the typed one-key objects where JSON has no type."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return value if math.isfinite(value) else {"$float": "inf" if value > 0 else "-inf"}
    if isinstance(value, Mapping):
        return {str(k): plain_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_value(v) for v in value]
    return _plain_scalar(value)


def _plain_scalar(value: Any) -> Any:
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return {"$datetime": as_utc(value).isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, dt.time):
        return {"$time": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"$timedelta": value // dt.timedelta(microseconds=1)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Decimal):
        return None if value.is_nan() else {"$decimal": str(value)}
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return plain_value(value.tolist())
    if hasattr(value, "item"):
        return plain_value(value.item())
    return str(value)  # UUIDs and the like: their text form


_TYPED: dict[str, Callable[[Any], Any]] = {
    "$datetime": dt.datetime.fromisoformat,
    "$date": dt.date.fromisoformat,
    "$time": dt.time.fromisoformat,
    "$timedelta": lambda us: dt.timedelta(microseconds=us),
    "$bytes": lambda text: base64.b64decode(text),
    "$decimal": Decimal,
    "$float": float,
}


def _typed_object(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        ((name, payload),) = obj.items()
        decode = _TYPED.get(name)
        if decode is not None:
            return decode(payload)
    return obj


# -- entity keys ---------------------------------------------------------------------


def encode_entity_key(values: Sequence[Any]) -> str:
    """The canonical text of one entity's join-key values (in the view's join-key order).

    >>> encode_entity_key([1, "JFK"])
    '[1,"JFK"]'
    >>> encode_entity_key([1]) == encode_entity_key([1.0]) != encode_entity_key(["1"])
    True
    """
    return "[" + ",".join(_key_part(v) for v in values) + "]"


def decode_entity_key(text: str) -> tuple[Any, ...]:
    """The join-key values of an encoded key (datetimes come back tz-aware UTC)."""
    return tuple(json.loads(text, object_hook=_typed_object))


def _key_part(value: Any) -> str:
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is str:
        return json.dumps(value)
    if hasattr(value, "item") and not hasattr(value, "to_pydatetime"):  # numpy scalar
        value = value.item()
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"An entity key cannot be {value!r}.")
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return str(int(value))
    if value is None:
        return "null"
    if isinstance(value, Mapping | list | tuple):
        raise InvalidInput(f"An entity key part must be a single value, not {value!r}.")
    return json.dumps(plain_value(value), separators=(",", ":"), allow_nan=False)


def key_values(key: EntityKey, join_keys: Sequence[str] | None, *, view: str) -> Sequence[Any]:
    """The join-key values of one key as given to ``read``: tuple, single value or mapping."""
    if isinstance(key, Mapping):
        if join_keys is None:
            if len(key) == 1:
                return list(key.values())
            raise InvalidInput(
                f"Cannot order the keys of {dict(key)!r}: view {view!r} has no stored join keys.",
                hint="Pass join_keys=... or the key as a tuple in join-key order.",
            )
        missing = [name for name in join_keys if name not in key]
        if missing:
            raise InvalidInput(
                f"Entity {dict(key)!r} lacks join key(s) {', '.join(missing)} of view {view!r}."
            )
        return [key[name] for name in join_keys]
    if isinstance(key, list | tuple):
        return key
    return (key,)


def has_mappings(entity_keys: Sequence[EntityKey]) -> bool:
    """True when some key is a mapping, whose join-key order must then be known."""
    return any(isinstance(key, Mapping) for key in entity_keys)


def check_read_args(entity_keys: Sequence[EntityKey], features: Sequence[str]) -> None:
    """Refuse the easy mistakes: one key instead of a list of keys, one feature name."""
    if isinstance(entity_keys, str | bytes | Mapping):
        raise InvalidInput(
            "entity_keys must be a list of keys (tuples, single values or mappings).",
            hint="For example [(1,), (2,)] or [{'user_id': 1}].",
        )
    if isinstance(features, str):
        raise InvalidInput(f"features must be a list of names, not the string {features!r}.")


# -- times and names -----------------------------------------------------------------


def as_utc(value: dt.datetime) -> dt.datetime:
    """``value`` in UTC; a naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def to_us(value: dt.datetime) -> int:
    """Microseconds since the epoch."""
    return (as_utc(value) - EPOCH) // dt.timedelta(microseconds=1)


def from_us(us: int) -> dt.datetime:
    """The UTC datetime ``us`` microseconds after the epoch."""
    return EPOCH + dt.timedelta(microseconds=us)


def now_us() -> int:
    return to_us(dt.datetime.now(dt.UTC))


def check_view(view: str) -> str:
    """A view name is a Shipyard name: it never holds the separators of the storage layouts."""
    return check_name(view, "feature view name")


def checkpoint_to_json(checkpoint: MaterializeCheckpoint, updated_us: int) -> str:
    return json.dumps(
        {
            "start_us": to_us(checkpoint.start),
            "end_us": to_us(checkpoint.end),
            "last_key": checkpoint.last_key,
            "rows": checkpoint.rows,
            "updated_us": updated_us,
        }
    )


def checkpoint_from_json(text: str | bytes) -> MaterializeCheckpoint:
    data = json.loads(text)
    return MaterializeCheckpoint(
        start=from_us(data["start_us"]),
        end=from_us(data["end_us"]),
        last_key=data["last_key"],
        rows=data["rows"],
        updated_at=from_us(data["updated_us"]),
    )
