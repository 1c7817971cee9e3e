"""Checks for the pieces of a split plan, each with a message that says how to fix it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from shipyard.data.splits.slices import check_expression
from shipyard.data.splits.windows import TimeWindow
from shipyard.errors import InvalidInput

TOLERANCE = 1e-9  # how far the fractions' sum may be from 1


def yaml_text(path_or_text: str | Path) -> str:
    """The YAML to parse: a Path's or a ``*.yaml``/``*.yml`` name's file contents, else the text.

    >>> yaml_text("seed: 3")
    'seed: 3'
    """
    if isinstance(path_or_text, Path):
        path = path_or_text
    elif "\n" not in path_or_text and path_or_text.strip().endswith((".yaml", ".yml")):
        path = Path(path_or_text.strip())
    else:
        return path_or_text
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise InvalidInput(f"Cannot read split plan file {str(path)!r}: {err.strerror}.") from None


def _name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{kind} names must be non-empty text, got {name!r}.")
    return name


def fractions(sets: object) -> dict[str, float]:
    """Set name -> fraction, each in (0, 1], summing to 1 within ``TOLERANCE``.

    >>> fractions({"train": 0.8, "test": 0.2})
    {'train': 0.8, 'test': 0.2}
    """
    if not isinstance(sets, Mapping) or not sets:
        raise InvalidInput(
            "sets must map set names to fractions.",
            hint="E.g. {training: 0.7, validation: 0.15, testing: 0.15}.",
        )
    out: dict[str, float] = {}
    for name, value in sets.items():
        _name("Set", name)
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        if number is None or not math.isfinite(number) or not 0 < number <= 1:
            raise InvalidInput(
                f"Set {name!r} has fraction {value!r}; each fraction must be a number in (0, 1]."
            )
        out[name] = float(number)
    total = math.fsum(out.values())
    if abs(total - 1) > TOLERANCE:
        terms = " + ".join(f"{n} {f:g}" for n, f in out.items())
        raise InvalidInput(
            f"Set fractions sum to {total:.10g} ({terms}); they must sum to 1.",
            hint="They are fractions of the rows outside the time windows; make them add to 1.",
        )
    return out


def windows(windows: object) -> dict[str, TimeWindow]:
    """Set name -> :class:`TimeWindow`, built from mappings where needed.

    >>> windows({"recent": {"last": "30D"}})
    {'recent': TimeWindow(last='30D', start=None)}
    """
    if not isinstance(windows, Mapping):
        raise InvalidInput(
            "windows must map set names to time windows.",
            hint='E.g. {recent_testing: {start: "2013-11-01"}}.',
        )
    out: dict[str, TimeWindow] = {}
    for name, value in windows.items():
        _name("Window", name)
        try:
            out[name] = TimeWindow.from_value(value)
        except InvalidInput as err:
            raise InvalidInput(f"Window {name!r}: {err.message}", hint=err.hint) from None
    return out


def slices(slices: object) -> dict[str, str]:
    """Slice name -> filter expression, each checked against the slice grammar."""
    if not isinstance(slices, Mapping):
        raise InvalidInput(
            "slices must map slice names to filter expressions.",
            hint="E.g. {jfk: 'origin == \"JFK\"'}.",
        )
    for name, expression in slices.items():
        _name("Slice", name)
        check_expression(name, expression)
    return dict(slices)


def columns(kind: str, columns: object) -> list[str]:
    """A list of column names (``kind`` names the plan field in messages)."""
    if isinstance(columns, str) or not isinstance(columns, list | tuple):
        raise InvalidInput(f"{kind} must be a list of column names, got {columns!r}.")
    for column in columns:
        if not isinstance(column, str) or not column:
            raise InvalidInput(f"{kind} must hold column names, got {column!r}.")
    return list(columns)
