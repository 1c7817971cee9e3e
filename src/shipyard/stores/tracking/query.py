"""Building blocks of run search over the tracking tables, the same on every dialect.

A condition on a key is a semi-join: ``runs.id IN (SELECT run_id FROM
latest_metrics WHERE key = 'val_auc' AND value > 0.8)``. It needs no join in
the outer query, is evaluated once per search (a scan of the keyed table: there
is no index on ``(key, value)``, which would double the pages each run writes),
and gives missing keys their natural meaning: a run without the key matches no
comparison (``!=`` included).

``LIKE`` is case-sensitive on every database (SQLite's own ``LIKE`` ignores
ASCII case, so there it becomes ``GLOB``); ``ILIKE`` ignores case everywhere.
In both, ``%`` and ``_`` are wildcards and a backslash makes the next character literal.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from shipyard.errors import InvalidInput
from shipyard.stores.metadata.schema import experiments, latest_metrics, params, runs, tags
from shipyard.stores.tracking.base import OrderTerm

KEYED_TABLES = {"metrics": latest_metrics, "params": params, "tags": tags}

# attributes.X -> what it compares; experiment and parent_id compare a related row.
ATTRIBUTE_COLUMNS: dict[str, sa.Column[Any]] = {
    "run_id": runs.c.uid,
    "name": runs.c.name,
    "status": runs.c.status,
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
}
ATTRIBUTES = (*ATTRIBUTE_COLUMNS, "experiment", "parent_id")

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
OPERATORS = (*_COMPARE, "LIKE", "ILIKE")


class CaseSensitiveLike(sa.ColumnElement[bool]):
    """``column LIKE pattern``, case-sensitive on every dialect."""

    inherit_cache = False  # search statements are one-off; not worth a cache key
    type = sa.Boolean()

    def __init__(self, column: sa.ColumnElement[Any], pattern: str) -> None:
        self.column = column
        self.pattern = pattern


@compiles(CaseSensitiveLike)
def _like_default(element: CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.like(element.pattern, escape="\\"), **kw)


@compiles(CaseSensitiveLike, "sqlite")
def _like_sqlite(element: CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.op("GLOB")(like_to_glob(element.pattern)), **kw)


def like_to_glob(pattern: str) -> str:
    r"""Translate a LIKE pattern (``%``, ``_``, ``\`` escaping the next character) to GLOB.

    >>> like_to_glob("hgb_%[x]*")
    'hgb?*[[]x][*]'
    >>> like_to_glob(r"50\%_off")
    '50%?off'
    """
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(_GLOB_LITERAL.get(pattern[i], pattern[i]))
        else:
            out.append(_GLOB_WILDCARD.get(char) or _GLOB_LITERAL.get(char, char))
        i += 1
    return "".join(out)


_GLOB_WILDCARD = {"%": "*", "_": "?"}
_GLOB_LITERAL = {"*": "[*]", "?": "[?]", "[": "[[]"}


def compare(column: sa.ColumnElement[Any], op: str, value: Any) -> sa.ColumnElement[bool]:
    """``column <op> value`` for one of :data:`OPERATORS`."""
    if op in ("LIKE", "ILIKE"):
        if (len(value) - len(value.rstrip("\\"))) % 2:
            raise InvalidInput(
                f"The pattern {value!r} ends with a lone backslash.",
                hint="A backslash escapes the next character; write \\\\ for a backslash.",
            )
        if op == "ILIKE":
            return column.ilike(value, escape="\\")
        return CaseSensitiveLike(column, value)
    result: sa.ColumnElement[bool] = _COMPARE[op](column, value)
    return result


def key_condition(source: str, key: str, op: str, value: Any) -> sa.ColumnElement[bool]:
    """Runs whose ``source`` (metrics, params, tags) ``key`` compares true with ``value``."""
    table = KEYED_TABLES[source]
    matching = sa.select(table.c.run_id).where(
        table.c.key == key, compare(table.c.value, op, value)
    )
    return runs.c.id.in_(matching)


def attribute_condition(name: str, op: str, value: Any) -> sa.ColumnElement[bool]:
    """Runs whose attribute ``name`` (one of :data:`ATTRIBUTES`) compares true with ``value``."""
    if name == "experiment":
        named = sa.select(experiments.c.id).where(compare(experiments.c.name, op, value))
        return runs.c.experiment_id.in_(named)
    if name == "parent_id":
        parent = runs.alias("parent_run")
        return runs.c.parent_id.in_(sa.select(parent.c.id).where(compare(parent.c.uid, op, value)))
    return compare(ATTRIBUTE_COLUMNS[name], op, value)


@functools.lru_cache(maxsize=64)
def _order_alias(source: str, position: int) -> sa.FromClause:
    # Aliases are immutable; building one's column collection costs more than the query.
    return KEYED_TABLES[source].alias(f"order_{position}")


def order_column(
    source: sa.FromClause, term: OrderTerm, position: int
) -> tuple[sa.FromClause, sa.ColumnElement[Any]]:
    """Join what ``term`` sorts on to ``source``; return the new source and the sort column."""
    if term.source in KEYED_TABLES:
        table = _order_alias(term.source, position)
        on = (table.c.run_id == runs.c.id) & (table.c.key == term.key)
        return source.outerjoin(table, on), table.c.value
    if term.key == "experiment":
        named = experiments.alias(f"order_{position}")
        return source.join(named, named.c.id == runs.c.experiment_id), named.c.name
    if term.key == "parent_id":
        parent = runs.alias(f"order_{position}")
        return source.outerjoin(parent, parent.c.id == runs.c.parent_id), parent.c.uid
    if term.key in ATTRIBUTE_COLUMNS:
        return source, ATTRIBUTE_COLUMNS[term.key]
    raise InvalidInput(
        f"Cannot order by attributes.{term.key}.",
        hint=f"Attributes are {', '.join(ATTRIBUTES)}.",
    )
