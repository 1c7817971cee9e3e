"""The run search language: a hand-written tokenizer and recursive-descent parser.

    metrics.val_auc > 0.8 and (params.model = 'hgb' or tags.team LIKE 'fraud%')

Grammar (keywords in any case)::

    filter     := [or_expr] END
    or_expr    := and_expr ("OR" and_expr)*
    and_expr   := primary ("AND" primary)*
    primary    := "(" or_expr ")" | operand OPERATOR literal
    operand    := ("metrics" | "params" | "tags" | "attributes") "." key
    key        := NAME | `quoted` | "quoted"
    OPERATOR   := = | != | < | <= | > | >= | LIKE | ILIKE      (also == and <>)
    literal    := NUMBER | 'string' | "string"                  (a quote doubled inside)
    order_item := operand ["ASC" | "DESC"]

``metrics.X`` is the metric's latest value and compares with numbers; params,
tags and the text attributes (``status``, ``name``, ``experiment``, ``run_id``,
``parent_id``) compare with strings; ``start_time`` and ``end_time`` with an
ISO 8601 string or epoch seconds. ``status`` is the status as read: a running run
whose heartbeat stopped matches ``killed``, not ``running``. A run that lacks a key
matches no comparison on it. Nothing is evaluated: the parse tree becomes SQLAlchemy
Core expressions.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from shipyard.errors import InvalidInput
from shipyard.stores.tracking.base import STATUSES, OrderTerm
from shipyard.stores.tracking.liveness import status_column
from shipyard.stores.tracking.query import ATTRIBUTES, attribute_condition, compare, key_condition
from shipyard.training.tracking.tokens import SearchSyntaxError, Token, time_value, tokenize
from shipyard.unicode_text import lone_surrogate_at

if TYPE_CHECKING:
    from datetime import datetime

__all__ = [
    "Comparison",
    "Junction",
    "SearchSyntaxError",
    "compile_filter",
    "parse_filter",
    "parse_order_by",
]

_SOURCES = {
    "metrics": "metrics",
    "metric": "metrics",
    "params": "params",
    "param": "params",
    "tags": "tags",
    "tag": "tags",
    "attributes": "attributes",
    "attribute": "attributes",
    "attr": "attributes",
}
_OPERATORS = {"=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">"}
_OPERATORS |= {">=": ">=", "LIKE": "LIKE", "ILIKE": "ILIKE"}
_TIMES = ("start_time", "end_time")
_MAX_DEPTH = 50
# Bounds that keep every search well inside what the databases accept (SQLite: an
# expression at most 1000 deep, 64 tables in a join, LIKE patterns up to 50 kB).
MAX_COMPARISONS = 50
MAX_ORDER_TERMS = 10
MAX_TEXT_LENGTH = 100_000
MAX_STRING_LENGTH = 10_000  # a LIKE pattern of 10,000 characters is under 50 kB as GLOB
_OPERAND = "metrics.KEY, params.KEY, tags.KEY or attributes.NAME"


@dataclass(frozen=True)
class Comparison:
    """``source.key op value``; ``position`` is where it starts in the filter text."""

    source: str
    key: str
    op: str
    value: float | str | datetime
    position: int


@dataclass(frozen=True)
class Junction:
    """Comparisons joined by AND or OR."""

    op: str
    items: tuple[Comparison | Junction, ...]


Node = Comparison | Junction


def parse_filter(text: str) -> Node | None:
    """The parse tree of a filter (None for an empty one).

    >>> parse_filter("metrics.auc > 0.8")
    Comparison(source='metrics', key='auc', op='>', value=0.8, position=0)
    """
    parser = _Parser(text)
    if parser.peek().kind == "END":
        return None
    node = parser.or_expr(0)
    parser.expect("END", "AND, OR or the end of the filter")
    return node


@functools.lru_cache(maxsize=256)
def compile_filter(text: str) -> sa.ColumnElement[bool] | None:
    """A filter as a SQLAlchemy expression over the tracking tables (None if empty).

    Cached by text: expressions are immutable, and a dashboard repeats its searches.

    >>> compile_filter("params.model = 'hgb'") is not None
    True
    """
    node = parse_filter(text)
    return None if node is None else _to_sql(node)


def parse_order_by(items: str | Sequence[str] | None) -> list[OrderTerm]:
    """``["metrics.val_auc DESC", "attributes.start_time"]`` as order terms.

    >>> parse_order_by("metrics.auc desc")
    [OrderTerm(source='metrics', key='auc', descending=True)]
    """
    if items is None:
        return []
    given = [items] if isinstance(items, str) else items
    if len(given) > MAX_ORDER_TERMS:
        raise InvalidInput(
            f"order_by has {len(given)} terms; a search sorts by at most {MAX_ORDER_TERMS}.",
            hint="Keep the terms that decide the order; the rest rarely matter.",
        )
    return list(_order_terms(tuple(item if isinstance(item, str) else "" for item in given)))


@functools.lru_cache(maxsize=256)
def _order_terms(items: tuple[str, ...]) -> tuple[OrderTerm, ...]:
    terms = []
    for item in items:
        parser = _Parser(item)
        source, key, _ = parser.operand()
        direction = parser.peek()
        descending = False
        if direction.kind in ("ASC", "DESC"):
            descending = parser.take().kind == "DESC"
        parser.expect("END", "ASC, DESC or the end of the order term")
        terms.append(OrderTerm(source, key, descending))  # type: ignore[arg-type]
    return tuple(terms)


def _to_sql(node: Node) -> sa.ColumnElement[bool]:
    if isinstance(node, Junction):
        parts = [_to_sql(item) for item in node.items]
        return sa.and_(*parts) if node.op == "AND" else sa.or_(*parts)
    if node.source == "attributes" and node.key == "status":
        # The status as read: a running run whose heartbeat stopped is killed.
        return compare(status_column(), node.op, node.value)
    if node.source == "attributes":
        return attribute_condition(node.key, node.op, node.value)
    return key_condition(node.source, node.key, node.op, node.value)


class _Parser:
    def __init__(self, text: str) -> None:
        _check_text(text)
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.comparisons = 0

    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def fail(self, token: Token, expected: str) -> SearchSyntaxError:
        return SearchSyntaxError(self.text, token.position, expected, token.shown)

    def expect(self, kind: str, expected: str) -> Token:
        if self.peek().kind != kind:
            raise self.fail(self.peek(), expected)
        return self.take()

    def or_expr(self, depth: int) -> Node:
        items = [self.and_expr(depth)]
        while self.peek().kind == "OR":
            self.take()
            items.append(self.and_expr(depth))
        return items[0] if len(items) == 1 else Junction("OR", tuple(items))

    def and_expr(self, depth: int) -> Node:
        items = [self.primary(depth)]
        while self.peek().kind == "AND":
            self.take()
            items.append(self.primary(depth))
        return items[0] if len(items) == 1 else Junction("AND", tuple(items))

    def primary(self, depth: int) -> Node:
        if self.peek().kind == "(":
            opening = self.take()
            if depth >= _MAX_DEPTH:
                raise self.fail(opening, f"at most {_MAX_DEPTH} nested parentheses")
            node = self.or_expr(depth + 1)
            self.expect(")", "')' to close the '(' at position " + str(opening.position))
            return node
        return self.comparison()

    def operand(self) -> tuple[str, str, Token]:
        token = self.peek()
        if token.kind != "NAME":
            raise self.fail(token, f"{_OPERAND} (or '(')")
        self.take()
        prefix, dot, key = token.text.partition(".")
        source = _SOURCES.get(prefix.lower())
        if source is None or not dot:
            hint = f" (did you mean attributes.{token.text}?)" if token.text in ATTRIBUTES else ""
            raise self.fail(token, _OPERAND + hint)
        if not key:  # a quoted key follows the dot: params.`learning rate`
            quoted = self.peek()
            if quoted.kind not in ("QUOTED", "STRING") or quoted.position != token.end:
                raise self.fail(quoted, f"a key right after '{token.text}'")
            key = str(self.take().value)
        if source == "attributes" and key not in ATTRIBUTES:
            raise self.fail(token, "an attribute: " + ", ".join(ATTRIBUTES))
        return source, key, token

    def comparison(self) -> Comparison:
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise InvalidInput(
                f"The filter has more than {MAX_COMPARISONS} comparisons; "
                f"a search takes at most {MAX_COMPARISONS}.",
                hint="Use LIKE patterns or ranges instead of listing values one by one, "
                "or split the search and combine the results.",
            )
        source, key, start = self.operand()
        op_token = self.peek()
        op = _OPERATORS.get(op_token.text.upper()) if op_token.kind in ("OP", "LIKE") else None
        if op is None:
            raise self.fail(op_token, "an operator: = != < <= > >= LIKE ILIKE")
        self.take()
        value_token = self.peek()
        if value_token.kind not in ("NUMBER", "STRING"):
            raise self.fail(value_token, "a value: a number or a 'quoted string'")
        self.take()
        value = self._literal(source, key, op, value_token)
        return Comparison(source, key, op, value, start.position)

    def _literal(self, source: str, key: str, op: str, token: Token) -> float | str | datetime:
        is_text = op in ("LIKE", "ILIKE")
        if source == "metrics":
            if is_text or token.kind != "NUMBER":
                raise self.fail(token, "a number (metrics are numbers; LIKE is for text)")
            return float(token.text)
        if source == "attributes" and key in _TIMES:
            if is_text:
                raise self.fail(token, f"a comparison (LIKE does not apply to {key})")
            return time_value(self.text, token)
        if token.kind != "STRING":
            raise self.fail(token, f"a quoted string ({source} are text): '{token.text}'")
        text = str(token.value)
        if len(text) > MAX_STRING_LENGTH:
            raise InvalidInput(
                f"A string in the filter is {len(text):,} characters long; "
                f"at most {MAX_STRING_LENGTH:,} are accepted.",
                hint="Compare with a shorter value or a LIKE pattern.",
            )
        if is_text and (len(text) - len(text.rstrip("\\"))) % 2:
            raise self.fail(token, "a pattern that does not end with a lone backslash")
        if (
            source == "attributes"
            and key == "status"
            and op in ("=", "!=")
            and (token.value not in STATUSES)
        ):
            raise self.fail(token, "a status: " + ", ".join(STATUSES))
        return text


def _check_text(text: str) -> None:
    """Refuse text no database can take, before it is parsed or sent to one."""
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidInput(
            f"The search text is {len(text):,} characters long; "
            f"at most {MAX_TEXT_LENGTH:,} are accepted.",
            hint="Shorten the filter: use LIKE patterns or ranges instead of listing values.",
        )
    bad = lone_surrogate_at(text)
    if bad is None and "\x00" in text:
        bad = text.index("\x00")
    if bad is not None:
        raise InvalidInput(
            f"The search text holds a character no database can store ({text[bad]!r}) "
            f"at position {bad}.",
            hint="Remove it: filters must be valid Unicode without NUL characters.",
        )
