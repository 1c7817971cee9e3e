"""The SQL of the point-in-time join: quoting, UTC times, one ASOF join per source.

Everything here builds text and touches no connection. Identifiers are always
quoted with :func:`quote`; user values (the ttl, ``as_of``) travel as named
parameters (``$ttl_0``, ``$as_of``, in microseconds), never inside the text. A source's
``relation`` and ``ingestion_order`` are SQL by contract (they come from
feature definitions, not from request data) and are put in as given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shipyard.features.source import FeatureSource

ROW_ALIAS = '"__shipyard_pit_row"'  # a source's relation, so hash() can see the whole row
INT64_MAX = 2**63 - 1
NO_TIME = f"CAST({-INT64_MAX} AS BIGINT)"  # a null created time: older than any real one

# DuckDB's names for the types a time column may have.
AWARE_TIMES = frozenset({"TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ", "TIMESTAMPTZ_NS"})
NAIVE_TIMES = frozenset({"TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATE"})


def quote(name: str) -> str:
    """A DuckDB identifier for any column name, quotes and spaces included.

    >>> quote('my "odd" col')
    '"my ""odd"" col"'
    """
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A DuckDB string literal (for a file path).

    >>> literal("it's.parquet")
    "'it''s.parquet'"
    """
    return "'" + text.replace("'", "''") + "'"


def is_time_type(duckdb_type: str) -> bool:
    """Whether a column of this DuckDB type can be a timestamp column here."""
    return duckdb_type in AWARE_TIMES or duckdb_type in NAIVE_TIMES


NUMBERS = frozenset(
    {
        *("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "BIGNUM", "VARINT"),
        *("UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE"),
    }
)


def type_family(duckdb_type: str) -> str | None:
    """Which kind of value a key of this type holds, for the comparability check.

    DuckDB casts text to numbers when asked to compare them, and then fails on
    the first row that is not a number; keys of two families are refused
    before that. None: a type this check does not judge (DuckDB's binder does).

    >>> type_family("DECIMAL(18,3)"), type_family("VARCHAR"), type_family("ENUM('a', 'b')")
    ('number', 'text', 'text')
    """
    kind = duckdb_type.strip('"')
    if kind in NUMBERS or kind.startswith("DECIMAL"):
        return "number"
    if kind == "VARCHAR" or kind.startswith(("ENUM", "VARCHAR")):
        return "text"
    if is_time_type(kind):
        return "time"
    if kind in ("BOOLEAN", "BLOB", "UUID", "TIME", "TIME WITH TIME ZONE", "INTERVAL", "NULL"):
        return kind.lower()
    return None


def comparable(left: str, right: str) -> bool:
    """Whether keys of these DuckDB types can be joined without casting one kind to another."""
    families = type_family(left), type_family(right)
    if "null" in families or None in families:
        return True  # nulls match nothing anyway; other types are left to DuckDB's binder
    return families[0] == families[1]


def micros(expression: str) -> str:
    """A time column as microseconds since 1970-01-01 UTC: how every comparison here sees time.

    Aware values count from the UTC epoch whatever their zone; naive values
    (and dates, at midnight) are taken to be UTC. Plain integers compare faster
    than timestamps and need no time-zone library.

    >>> micros('"t"')
    'epoch_us("t")'
    """
    return f"epoch_us({expression})"


@dataclass(frozen=True)
class SourcePlan:
    """One source, checked, with its output names and its keys' DuckDB types."""

    source: FeatureSource
    output_names: tuple[str, ...]
    key_types: tuple[str, ...]  # the source's DuckDB type of each join key


def entity_select(
    base: str,
    ordinal: str,
    keys: Sequence[str],
    timestamp: str,
    key_casts: Mapping[str, str] | None = None,
) -> str:
    """The entity side: ordinal ``__o``, keys ``__k<j>`` and the time ``__ts`` (microseconds).

    ``key_casts`` gives a DuckDB type for keys that must be cast first (a
    column of nulls only has no type of its own to join on).
    """
    casts = key_casts or {}
    columns = [f"{ordinal} AS __o"]
    for j, key in enumerate(keys):
        value = f"CAST({quote(key)} AS {casts[key]})" if key in casts else quote(key)
        columns.append(f"{value} AS __k{j}")
    columns.append(f"{micros(quote(timestamp))} AS __ts")
    return f"SELECT {', '.join(columns)} FROM {base}"


def order_key(plan: SourcePlan) -> str:
    """The struct a feature row is ordered by: event time, then the tie-breaks.

    ``{t, s: false, r: {c, n, o, h}}``: the event time; ``s`` false, so that an
    entity row's ``{t, s: true, r: NULL}`` sorts after every feature row of the
    same time and before any later one (ASOF ``>=`` then means "event time <=
    row time" and picks the greatest ``r`` among equal times); in ``r`` the
    created time (null lowest), whether the ingestion order is known and its
    value (null lowest), and a hash of the whole row as the last word. No field
    an ASOF match depends on is null, so the connection's null order does not
    matter.
    """
    source = plan.source
    event = micros(quote(source.event_timestamp))
    tie: list[str] = []
    if source.created_timestamp is not None:
        created = micros(quote(source.created_timestamp))
        tie.append(f"'c': coalesce({created}, {NO_TIME})")
    if source.ingestion_order is not None:
        tie.append(f"'n': ({source.ingestion_order}) IS NOT NULL")
        tie.append(f"'o': ({source.ingestion_order})")
    tie.append(f"'h': hash({ROW_ALIAS})")
    return f"{{'t': {event}, 's': false, 'r': {{{', '.join(tie)}}}}}"


def visible_when(plan: SourcePlan) -> str:
    """The rows ``as_of`` lets through: created by then (else: event time by then)."""
    source = plan.source
    event = micros(quote(source.event_timestamp))
    if source.created_timestamp is not None:
        created = micros(quote(source.created_timestamp))
        return f"coalesce({created}, {event}) <= $as_of"
    return f"{event} <= $as_of"


def source_select(plan: SourcePlan, *, with_as_of: bool) -> str:
    """A source's rows that can match: keys ``__k<j>``, time ``__t``, ``__key``, ``__v<m>``."""
    source = plan.source
    event = micros(quote(source.event_timestamp))
    columns = [f"{quote(key)} AS __k{j}" for j, key in enumerate(source.join_keys)]
    columns.append(f"{event} AS __t")
    columns.append(f"{order_key(plan)} AS __key")
    columns += [f"{quote(feature)} AS __v{m}" for m, feature in enumerate(source.features)]
    # Null keys and null times can never match; dropping them early keeps the sort small.
    where = [f"{quote(key)} IS NOT NULL" for key in source.join_keys]
    where.append(f"{quote(source.event_timestamp)} IS NOT NULL")
    if with_as_of:
        where.append(visible_when(plan))
    return (
        f"SELECT {', '.join(columns)} FROM {source.relation} AS {ROW_ALIAS} "
        f"WHERE {' AND '.join(where)}"
    )


def join_query(
    entities: str, entity_keys: Sequence[str], plans: Sequence[SourcePlan], *, with_as_of: bool
) -> str:
    """The whole join: one ASOF LEFT JOIN per source, in entity-row order.

    ``entities`` is :func:`entity_select`'s query over ``entity_keys``; each
    source ``i`` uses the parameter ``$ttl_<i>`` (microseconds) when it has a
    ttl, and every source uses ``$as_of`` when ``with_as_of``.
    """
    selects: list[str] = []
    joins: list[str] = []
    for i, plan in enumerate(plans):
        alias = f"s{i}"
        on = [
            f"e.__k{entity_keys.index(key)} = {alias}.__k{j}"
            for j, key in enumerate(plan.source.join_keys)
        ]
        on.append(f"{{'t': e.__ts, 's': true, 'r': NULL}} >= {alias}.__key")
        joins.append(
            f"ASOF LEFT JOIN ({source_select(plan, with_as_of=with_as_of)}) AS {alias} "
            f"ON {' AND '.join(on)}"
        )
        for m, name in enumerate(plan.output_names):
            value = f"{alias}.__v{m}"
            if plan.source.ttl is not None:
                # The match is the latest row at or before the row time; if it is older
                # than the ttl, so is every other candidate, so null is the answer.
                fresh = f"e.__ts - {alias}.__t <= $ttl_{i}"
                value = f"CASE WHEN {fresh} THEN {value} END"
            selects.append(f"{value} AS {quote(name)}")
    return f"SELECT {', '.join(selects)} FROM ({entities}) AS e {' '.join(joins)} ORDER BY e.__o"
