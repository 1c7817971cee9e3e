"""Evaluate a parsed slice expression on a frame, one fixed pandas operation per node.

Only the node types of :mod:`~shipyard.data.splits.expression_nodes` exist, and each maps
to an operation chosen here (an operator, or an entry of the method tables below),
so nothing written in a plan is ever executed. Missing values: a comparison with a
missing value is false (true for ``!=``), as in pandas; a method that tests text
(``startswith``, ``contains``) is false there unless ``na=`` says otherwise; and
``and``/``or``/``not`` read a missing true/false as false.

>>> from shipyard.data.splits.expression import parse
>>> frame = pd.DataFrame({"o": ["JFK", None, "LGA"], "delay": [20, 5, None]})
>>> tree = parse('o != "LGA" and not delay < 10', "Slice 's'")
>>> evaluate(tree, frame, "Slice 's'").tolist()
[True, False, False]
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from shipyard.data.splits.expression_nodes import (
    Arithmetic,
    Column,
    Comparison,
    Items,
    Literal,
    Logic,
    Method,
    Node,
    Unary,
)
from shipyard.errors import InvalidInput

Value = Any  # a pandas Series aligned with the frame, or a Python scalar
Args = Mapping[str, Any]  # checked against the method tables by the parser

_COMPARE: dict[str, Callable[[Value, Value], Value]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_ARITHMETIC: dict[str, Callable[[Value, Value], Value]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
}
_SERIES_METHODS: dict[str, Callable[[pd.Series, Args], pd.Series]] = {
    "isna": lambda s, _: s.isna(),
    "isnull": lambda s, _: s.isna(),
    "notna": lambda s, _: s.notna(),
    "notnull": lambda s, _: s.notna(),
    "isin": lambda s, a: s.isin(list(a["values"])),
    "between": lambda s, a: s.between(a["left"], a["right"], a.get("inclusive", "both")),
}


def _tested(result: pd.Series, column: pd.Series, na: bool | None) -> pd.Series:
    """True/false per row from a text test; a missing (or non-text) value gives ``na``."""
    values = result.to_numpy(dtype=object)
    known = column.notna().to_numpy() & ~pd.isna(values)
    return pd.Series(np.where(known, values, bool(na)).astype(bool), index=result.index)


_STR_METHODS: dict[str, Callable[[pd.Series, Args], pd.Series]] = {
    "startswith": lambda s, a: _tested(s.str.startswith(a["pat"]), s, a.get("na")),
    "endswith": lambda s, a: _tested(s.str.endswith(a["pat"]), s, a.get("na")),
    "contains": lambda s, a: _tested(
        s.str.contains(
            a["pat"], case=a.get("case", True), flags=a.get("flags", 0), regex=a.get("regex", True)
        ),
        s,
        a.get("na"),
    ),
    "len": lambda s, _: s.str.len(),
    "lower": lambda s, _: s.str.lower(),
    "upper": lambda s, _: s.str.upper(),
    "strip": lambda s, a: s.str.strip(a.get("to_strip")),
}
_DT_FIELDS: dict[str, Callable[[Any], pd.Series]] = {
    "year": lambda d: d.year,
    "quarter": lambda d: d.quarter,
    "month": lambda d: d.month,
    "day": lambda d: d.day,
    "hour": lambda d: d.hour,
    "minute": lambda d: d.minute,
    "dayofweek": lambda d: d.day_of_week,
    "weekday": lambda d: d.day_of_week,
    "dayofyear": lambda d: d.day_of_year,
}
# pandas names for numbers in an object column; anything else there may be text.
_NUMERIC_OBJECTS = frozenset(
    {"integer", "floating", "mixed-integer-float", "decimal", "boolean", "empty"}
)
_SPELLINGS = {"and": "'and' (or '&')", "or": "'or' (or '|')", "not": "'not' (or '~')"}
_MAX_POWER_BITS = 4096  # 9 ** 9 ** 9 on Python integers would never finish


class NotTrueFalse(Exception):
    """A value used as a condition is not true/false per row."""


def truth(value: Value) -> np.ndarray | bool:
    """``value`` as true/false (per row for a Series); missing counts as false."""
    if value is None:
        return False
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, pd.Series):
        if value.dtype != object and pd.api.types.is_bool_dtype(value.dtype):
            return value.to_numpy(dtype=bool, na_value=False)
        if value.dtype == object and pd.api.types.infer_dtype(value, skipna=True) in (
            "boolean",
            "empty",
        ):
            return value.fillna(False).to_numpy(dtype=bool)
    raise NotTrueFalse


def _integer(value: Value) -> bool:
    if isinstance(value, pd.Series):
        return pd.api.types.is_integer_dtype(value.dtype)
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _numeric(value: Value) -> bool:
    if isinstance(value, pd.Series):
        if value.dtype == object:
            return pd.api.types.infer_dtype(value, skipna=True) in _NUMERIC_OBJECTS
        return value.dtype.kind in "biufcmM"  # numbers, bools, datetimes, durations
    return isinstance(value, int | float | np.number | np.bool_)


class _Evaluator:
    def __init__(self, frame: pd.DataFrame, subject: str) -> None:
        self.frame, self.subject = frame, subject
        self.positions: dict[str, int] = {}
        for position, label in enumerate(frame.columns):
            self.positions.setdefault(str(label), position)

    def series(self, values: np.ndarray) -> pd.Series:
        return pd.Series(values, index=self.frame.index)

    def value(self, node: Node | Items) -> Value:
        match node:
            case Column(name):
                return self.column(name)
            case Literal(value):
                return value
            case Unary(op, operand):
                return self.unary(op, self.value(operand))
            case Arithmetic(first, rest):
                result = self.value(first)
                for op, right in rest:
                    result = self.arithmetic(op, result, self.value(right))
                return result
            case Logic(op, operands):
                return self.logic(op, [self.value(o) for o in operands])
            case Comparison(operands, ops):
                values = [o if isinstance(o, Items) else self.value(o) for o in operands]
                parts = [
                    self.compare(op, left, right)
                    for op, left, right in zip(ops, values, values[1:], strict=False)
                ]
                return parts[0] if len(parts) == 1 else self.logic("and", parts)
            case Method():
                return self.method(node)
        raise TypeError(f"not a slice expression node: {node!r}")  # the parser makes none

    def column(self, name: str) -> Value:
        if name in self.positions:
            return self.frame.iloc[:, self.positions[name]]
        if name in ("inf", "Inf"):  # pandas queries know these two names
            return float("inf")
        raise InvalidInput(
            f"{self.subject} uses {name!r}, which is not a column.",
            hint=f"The table has: {', '.join(map(str, self.frame.columns))}.",
        )

    def condition(self, value: Value, op: str) -> np.ndarray | bool:
        try:
            return truth(value)
        except NotTrueFalse:
            raise InvalidInput(
                f"{self.subject} applies {_SPELLINGS[op]} to something that is not true or false.",
                hint="Compare a column first, e.g. not (origin == 'JFK').",
            ) from None

    def logic(self, op: str, values: list[Value]) -> Value:
        combine = np.logical_and if op == "and" else np.logical_or
        result = self.condition(values[0], op)
        for value in values[1:]:
            result = combine(result, self.condition(value, op))
        return self.series(result) if isinstance(result, np.ndarray) else bool(result)

    def unary(self, op: str, value: Value) -> Value:
        if op == "-":
            return -value
        if op == "+":
            return +value
        if _integer(value):  # pandas reads ~ and not on integers as bitwise not
            return ~value
        result = self.condition(value, "not")
        return self.series(~result) if isinstance(result, np.ndarray) else not result

    def arithmetic(self, op: str, left: Value, right: Value) -> Value:
        if op != "+" and not (_numeric(left) and _numeric(right)):
            raise InvalidInput(
                f"{self.subject} applies '{op}' to text or another non-number.",
                hint="Arithmetic works on numbers and dates; '+' also joins text.",
            )
        if op == "**":
            self.check_power(left, right)
        return _ARITHMETIC[op](left, right)

    def check_power(self, base: Value, exponent: Value) -> None:
        """Refuse powers that Python's unbounded integers would take forever over."""
        objects = any(isinstance(v, pd.Series) and v.dtype == object for v in (base, exponent))
        huge = (
            _integer(base)
            and _integer(exponent)
            and not isinstance(base, pd.Series)
            and not isinstance(exponent, pd.Series)
            and int(base).bit_length() * abs(int(exponent)) > _MAX_POWER_BITS
        )
        if objects or huge:
            raise InvalidInput(
                f"{self.subject} raises {base if huge else 'an object column'} to a power "
                "slices do not compute.",
                hint="Use ** on numeric columns and small literal exponents.",
            )

    def compare(self, op: str, left: Value, right: Value) -> Value:
        if isinstance(left, Items) or isinstance(right, Items):
            items, value = (left, right) if isinstance(left, Items) else (right, left)
            inside = self.member(value, items.values)
            return inside if op in ("in", "==") else self.unary("~", inside)
        result = _COMPARE[op](left, right)
        if isinstance(result, pd.Series):  # nullable dtypes give <NA>: same rule as NaN
            return self.series(result.to_numpy(dtype=bool, na_value=op == "!="))
        return result

    def member(self, value: Value, items: tuple[Any, ...]) -> Value:
        if isinstance(value, pd.Series):
            return value.isin(list(items))
        return value in items

    def method(self, node: Method) -> Value:
        operand = self.value(node.operand)
        if not isinstance(operand, pd.Series):
            accessor = f".{node.accessor}" if node.accessor else ""
            raise InvalidInput(
                f"{self.subject} calls {accessor}.{node.name} on {operand!r}, not on a column.",
                hint="Methods work on columns, e.g. origin.isin(['JFK']).",
            )
        args = dict(node.args)
        if node.accessor == "dt":
            return _DT_FIELDS[node.name](operand.dt)
        if node.accessor == "str":
            return _STR_METHODS[node.name](operand, args)
        return _SERIES_METHODS[node.name](operand, args)


def evaluate(tree: Node, frame: pd.DataFrame, subject: str) -> np.ndarray:
    """A boolean mask of the rows where ``tree`` holds (null results are outside).

    Raises InvalidInput naming an unknown column, or when the result is not true or
    false per row; pandas' own errors (e.g. comparing text with a number) propagate.
    """
    result = _Evaluator(frame, subject).value(tree)
    if isinstance(result, pd.Series):
        try:
            return np.asarray(truth(result), dtype=bool)
        except NotTrueFalse:
            pass
    raise InvalidInput(
        f"{subject} does not give true or false per row.",
        hint="Compare a column, e.g. origin == 'JFK'.",
    )
