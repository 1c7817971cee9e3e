"""Slices: named row filters counted in every set, and when a slice is too small.

A slice is a filter expression such as ``origin == "JFK" and `dep delay` > 15``.
Slice text may come from a plan posted to the server or a pipeline's YAML, so it is
parsed once into a small tree of allowed nodes (:mod:`~shipyard.data.splits.expression`)
and Shipyard evaluates that tree itself on the frame's columns
(:mod:`~shipyard.data.splits.expression_eval`); the text never reaches pandas' or
Python's evaluators. The grammar: column names (backticks quote odd ones), literals
(numbers, strings, True/False/None, lists), comparisons ``== != < <= > >=`` (chained
too), ``in``/``not in`` a list, ``and``/``or``/``not`` (or ``& | ~``), arithmetic
``+ - * / // % **``, column methods ``isna notna isnull notnull isin between``,
``col.str.startswith`` (and ``endswith contains len lower upper strip``) and
``col.dt.<field>`` (``year quarter month day hour minute dayofweek weekday
dayofyear``). Anything else (other attributes, calls, indexing, ``@var``, lambdas)
is an error naming it. A row whose result is missing is outside the slice.

How small is too small: a 95% normal interval on an accuracy measured over ``n``
rows has half-width ``1.96 * sqrt(p * (1 - p) / n)``. With no binary label, or a
slice where the label never varies, ``p = 0.5`` (the worst case); otherwise ``p``
is the slice's observed positive rate over all sets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from shipyard.data.splits.expression import Node, parse
from shipyard.data.splits.expression_eval import evaluate
from shipyard.errors import InvalidInput

Z95 = 1.96


def _subject(name: str, expression: object) -> str:
    return f"Slice {name!r} ({expression})"


def _parse(name: str, expression: object) -> Node:
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidInput(f"Slice {name!r} needs a filter expression, got {expression!r}.")
    return parse(expression.strip(), _subject(name, expression))


def check_expression(name: str, expression: object) -> None:
    """Raise InvalidInput unless ``expression`` is a filter in the slice grammar.

    >>> check_expression("jfk", 'origin == "JFK" and `dep delay` > 15')
    >>> check_expression("x", "origin.__class__")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    shipyard.errors.InvalidInput: Slice 'x' (origin.__class__) uses '__class__', ...
    """
    _parse(name, expression)


def evaluate_slice(frame: pd.DataFrame, name: str, expression: str) -> np.ndarray:
    """A boolean mask of the rows in the slice; null results count as outside.

    >>> evaluate_slice(pd.DataFrame({"o": ["JFK", "LGA"]}), "jfk", 'o == "JFK"').tolist()
    [True, False]
    """
    tree = _parse(name, expression)
    try:
        return evaluate(tree, frame, _subject(name, expression))
    except InvalidInput:
        raise
    except Exception as err:  # pandas raises many types, e.g. comparing text with numbers
        raise InvalidInput(
            f"{_subject(name, expression)} could not be evaluated: {err}",
            hint=f"The table has: {', '.join(map(str, frame.columns))}.",
        ) from None


def _variance(rate: float | None) -> float:
    return 0.25 if rate is None or not 0 < rate < 1 else rate * (1 - rate)


def halfwidth(n_rows: int, rate: float | None = None) -> float:
    """Half-width of a 95% interval on accuracy over ``n_rows`` rows (inf for none).

    >>> round(halfwidth(6), 2), round(halfwidth(385), 4)
    (0.4, 0.0499)
    """
    return math.inf if n_rows <= 0 else Z95 * math.sqrt(_variance(rate) / n_rows)


def rows_needed(max_halfwidth: float, rate: float | None = None) -> int:
    """Fewest rows whose 95% half-width is at most ``max_halfwidth``.

    >>> rows_needed(0.05)
    385
    """
    return math.ceil(Z95**2 * _variance(rate) / max_halfwidth**2 - 1e-9)


def _positive_rates(
    frame: pd.DataFrame, label: str | None, masks: Mapping[str, np.ndarray]
) -> dict[str, float | None]:
    if label is None:
        return dict.fromkeys(masks)
    codes, uniques = pd.factorize(frame[label])
    if len(uniques) != 2:  # a positive rate means a binary label
        return dict.fromkeys(masks)
    rates: dict[str, float | None] = {}
    for name, mask in masks.items():
        known = codes[mask]
        known = known[known >= 0]
        rates[name] = float(known.mean()) if known.size else None
    return rates


@dataclass(frozen=True)
class SliceReport:
    """Rows of each slice per set, and warnings for slices too small to measure.

    Attributes:
        expressions: slice name -> filter expression.
        rows: slice name -> set name -> rows.
        positive_rate: slice name -> the label's positive rate over the slice (binary
            labels only), else None.
        max_halfwidth: the widest acceptable 95% half-width; wider ones warn.
        warnings: one line per (slice, set) that is too small.
    """

    expressions: dict[str, str]
    rows: dict[str, dict[str, int]]
    positive_rate: dict[str, float | None]
    max_halfwidth: float
    warnings: list[str]

    def halfwidth(self, slice_name: str, set_name: str) -> float:
        """The 95% half-width on accuracy for ``slice_name`` in ``set_name``."""
        rate = self.positive_rate[slice_name]
        return halfwidth(self.rows[slice_name][set_name], rate)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: per slice its expression, rows, positive rate and half-widths."""
        slices = {}
        for name, expression in self.expressions.items():
            widths = {s: self.halfwidth(name, s) for s in self.rows[name]}
            slices[name] = {
                "expression": expression,
                "rows": dict(self.rows[name]),
                "positive_rate": self.positive_rate[name],
                "halfwidth": {s: None if math.isinf(w) else round(w, 6) for s, w in widths.items()},
            }
        return {
            "max_halfwidth": self.max_halfwidth,
            "slices": slices,
            "warnings": list(self.warnings),
        }


def report_slices(
    frame: pd.DataFrame,
    assignment: np.ndarray,
    set_names: Sequence[str],
    slices: Mapping[str, str],
    *,
    label: str | None,
    max_halfwidth: float,
) -> SliceReport:
    """Count each slice in each set and warn where a 95% interval is wider than allowed.

    >>> frame = pd.DataFrame({"o": ["JFK"] * 8 + ["LGA"] * 2})
    >>> report = report_slices(frame, np.zeros(10, dtype=np.int8), ["train"], {"lga": 'o == "LGA"'},
    ...                        label=None, max_halfwidth=0.05)
    >>> report.rows, report.warnings[0][:38]
    ({'lga': {'train': 2}}, 'slice \\'lga\\' (o == "LGA") has 2 rows in')
    """
    masks = {name: evaluate_slice(frame, name, expr) for name, expr in slices.items()}
    rates = _positive_rates(frame, label, masks)
    rows: dict[str, dict[str, int]] = {}
    warnings: list[str] = []
    for name, mask in masks.items():
        counts = np.bincount(assignment[mask], minlength=len(set_names))
        rows[name] = {s: int(c) for s, c in zip(set_names, counts, strict=True)}
        title = f"slice {name}" if name == slices[name] else f"slice {name!r} ({slices[name]})"
        need = f"at least {rows_needed(max_halfwidth, rates[name]):,} rows give ±{max_halfwidth:g}"
        for set_name, n in rows[name].items():
            width = halfwidth(n, rates[name])
            if n == 0:
                warnings.append(f"{title} has no rows in {set_name}: nothing to measure; {need}")
            elif width > max_halfwidth:
                warnings.append(
                    f"{title} has {n:,} rows in {set_name}: a 95% interval on accuracy there "
                    f"is ±{width:.2f} wide; {need}"
                )
    return SliceReport(dict(slices), rows, rates, max_halfwidth, warnings)
