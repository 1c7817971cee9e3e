"""The nodes a slice expression parses into, and the column methods it may call.

These tables are the allowlist: :mod:`~shipyard.data.splits.expression` builds only
these nodes and only calls methods named here, with literal arguments of the kinds
given; :mod:`~shipyard.data.splits.expression_eval` maps each to one pandas operation.

>>> SERIES_METHODS["between"][2].what
"'both', 'neither', 'left' or 'right'"
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from shipyard.data.splits.expression_tokens import Scalar

Argument = Scalar | tuple[Scalar, ...]


@dataclass(frozen=True)
class Column:
    """A column, by name (plain or backtick-quoted)."""

    name: str


@dataclass(frozen=True)
class Literal:
    """A number, string, True, False or None."""

    value: Scalar


@dataclass(frozen=True)
class Items:
    """A list or tuple of literals: only beside in / not in / == / !=."""

    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class Unary:
    """``-x``, ``+x``, or ``~x`` (also written ``not x``)."""

    op: str
    operand: Node


@dataclass(frozen=True)
class Arithmetic:
    """``first op1 x1 op2 x2 ...`` at one precedence level, applied left to right."""

    first: Node
    rest: tuple[tuple[str, Node], ...]


@dataclass(frozen=True)
class Logic:
    """``and`` / ``or`` (also ``&`` / ``|``) over two or more operands."""

    op: str
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Comparison:
    """``a < b <= c``: ``ops[i]`` compares ``operands[i]`` and ``operands[i + 1]``."""

    operands: tuple[Node | Items, ...]
    ops: tuple[str, ...]


@dataclass(frozen=True)
class Method:
    """An allowed method: ``col.isin(...)`` (accessor ''), ``col.str.lower()``, ``col.dt.month``."""

    accessor: str
    name: str
    operand: Node
    args: tuple[tuple[str, Argument], ...]


Node = Column | Literal | Unary | Arithmetic | Logic | Comparison | Method


class Param(NamedTuple):
    """One parameter of an allowed method: its name, which literals fit, and in words."""

    name: str
    accepts: Callable[[Argument], bool]
    what: str
    required: bool = False


def _text(value: Argument) -> bool:
    return isinstance(value, str)


def _texts(value: Argument) -> bool:
    return _text(value) or (isinstance(value, tuple) and all(_text(v) for v in value))


def _flag(value: Argument) -> bool:
    return isinstance(value, bool)


def _flag_or_none(value: Argument) -> bool:
    return value is None or _flag(value)


def _inclusive(value: Argument) -> bool:
    return value in ("both", "neither", "left", "right")


def _bound(value: Argument) -> bool:
    return isinstance(value, int | float | str) and not isinstance(value, bool)


_PATTERN = Param("pat", _texts, "text or a tuple of text", required=True)
_NA = Param("na", _flag_or_none, "True, False or None")
SERIES_METHODS: dict[str, tuple[Param, ...]] = {
    "isna": (),
    "notna": (),
    "isnull": (),
    "notnull": (),
    "isin": (Param("values", lambda v: isinstance(v, tuple), "a list of literals", True),),
    "between": (
        Param("left", _bound, "a number, text or date text", required=True),
        Param("right", _bound, "a number, text or date text", required=True),
        Param("inclusive", _inclusive, "'both', 'neither', 'left' or 'right'"),
    ),
}
STR_METHODS: dict[str, tuple[Param, ...]] = {
    "startswith": (_PATTERN, _NA),
    "endswith": (_PATTERN, _NA),
    "contains": (
        Param("pat", _text, "text", required=True),
        Param("case", _flag, "True or False"),
        Param("flags", lambda v: isinstance(v, int) and not _flag(v), "an integer"),
        _NA,
        Param("regex", _flag, "True or False"),
    ),
    "len": (),
    "lower": (),
    "upper": (),
    "strip": (Param("to_strip", lambda v: v is None or _text(v), "text or None"),),
}
DT_FIELDS = frozenset(
    {"year", "quarter", "month", "day", "hour", "minute", "dayofweek", "weekday", "dayofyear"}
)
