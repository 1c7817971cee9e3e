"""The profile's JSON format, ``shipyard.profile.v1``.

A document::

    {
      "format": "shipyard.profile.v1",
      "rows": 336776,
      "sketches": {"kll_k": 400, "kll_rank_error": 0.0086, "hll_lg_k": 12,
                   "frequent_lg_max_k": 10, "max_categories": 1000},
      "columns": [
        {
          "name": "dep_delay",
          "kind": "numeric",              # informational: recomputed on load
          "declared_kind": null,          # the kinds= override, if any
          "family": "numeric",            # numeric|boolean|timestamp|string|null|other
          "arrow_type": "double",
          "integral": false,              # every value came from an integer type
          "count": 336776,                # rows, missing included
          "missing": 8255,                # null, or NaN in a float column
          "numeric": {"mean": 12.64, "m2": 5.3e8, "min": -43.0, "max": 1301.0,
                      "kll": "<base64>"},     # null unless numeric or timestamp
          "categorical": {"counts": {"JFK": 111279, ...} | null,
                          "frequent": "<base64>"},  # null unless categorical/boolean/text
          "hll": "<base64>" | null,
          "notes": ["..."]                # informational
        }
      ]
    }

``m2`` is the sum of squared deviations from the mean (the sample variance is
``m2 / (count - missing - 1)``). Timestamps are epoch microseconds (UTC).
Sketches are base64 of the DataSketches ``serialize()`` bytes
(``kll_doubles_sketch``, ``frequent_strings_sketch``, compact ``hll_sketch``),
readable by any DataSketches library. Non-finite numbers are the strings
``"NaN"``, ``"Infinity"`` and ``"-Infinity"``, so the text is strict JSON.
Reading a document and writing it again gives the same text.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

from shipyard.data.profiles import kinds as K
from shipyard.data.profiles.column import ColumnProfile
from shipyard.data.profiles.sketches import FREQUENT_LG_MAX_K, HLL_LG_K, KLL_K, kll_rank_error
from shipyard.errors import InvalidInput

FORMAT = "shipyard.profile.v1"
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_FAMILIES = ("numeric", "boolean", "timestamp", "string", "null", "other")


def encode_profile(rows: int, columns: list[ColumnProfile]) -> dict[str, Any]:
    """A profile as a ``shipyard.profile.v1`` document of plain JSON types."""
    return {
        "format": FORMAT,
        "rows": rows,
        "sketches": {
            "kll_k": KLL_K,
            "kll_rank_error": kll_rank_error(),
            "hll_lg_k": HLL_LG_K,
            "frequent_lg_max_k": FREQUENT_LG_MAX_K,
            "max_categories": K.MAX_CATEGORIES,
        },
        "columns": [_encode_column(c) for c in columns],
    }


def _encode_column(col: ColumnProfile) -> dict[str, Any]:
    state = col.__getstate__()
    numeric = categorical = None
    if state["_kll"] is not None:
        numeric = {
            "mean": number(state["_mean"]),
            "m2": number(state["_m2"]),
            "min": number(state["min"]),
            "max": number(state["max"]),
            "kll": _b64(state["_kll"]),
        }
    if state["_freq"] is not None:
        counts = state["_counts"]
        categorical = {"counts": counts, "frequent": _b64(state["_freq"])}
    return {
        "name": col.name,
        "kind": col.kind,
        "declared_kind": col.declared,
        "family": col.family,
        "arrow_type": col.arrow_type,
        "integral": col.integral,
        "count": col.count,
        "missing": col.missing,
        "numeric": numeric,
        "categorical": categorical,
        "hll": None if state["_hll"] is None else _b64(state["_hll"]),
        "notes": col.notes,
    }


def decode_profile(data: Any, *, source: str) -> list[ColumnProfile]:
    """The columns of a ``shipyard.profile.v1`` document; InvalidInput says what is wrong."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise InvalidInput(f"{source} is not a {FORMAT} document (format: {got!r}).")
    columns = _field(data, "columns", list, source)
    return [_decode_column(c, source) for c in columns]


def _decode_column(data: Any, source: str) -> ColumnProfile:
    if not isinstance(data, dict):
        raise InvalidInput(f"{source}: each entry of 'columns' must be an object.")
    name = _field(data, "name", str, source)
    where = f"{source}, column {name!r}"
    family = _field(data, "family", str, where)
    declared = _field(data, "declared_kind", (str, type(None)), where)
    if family not in _FAMILIES or (declared is not None and declared not in K.KINDS):
        raise InvalidInput(f"{where}: unknown family {family!r} or kind {declared!r}.")
    col = ColumnProfile.__new__(ColumnProfile)
    state: dict[str, Any] = {
        "name": name,
        "family": family,
        "arrow_type": _field(data, "arrow_type", str, where),
        "declared": declared,
        "integral": _field(data, "integral", bool, where),
        "count": _field(data, "count", int, where),
        "missing": _field(data, "missing", int, where),
        "_mean": 0.0,
        "_m2": 0.0,
        "min": None,
        "max": None,
        "_kll": None,
        "_hll": _unb64(data.get("hll"), where),
        "_freq": None,
        "_counts": None,
    }
    path = K.path_of(declared or K.default_kind(family))
    numeric, categorical = data.get("numeric"), data.get("categorical")
    if path == "numeric":
        block = _field(data, "numeric", dict, where)
        for key, attribute in (("mean", "_mean"), ("m2", "_m2"), ("min", "min"), ("max", "max")):
            state[attribute] = unnumber(block.get(key), f"{where}, numeric.{key}")
        state["_kll"] = _unb64(_field(block, "kll", str, where), where)
    elif path == "categorical":
        block = _field(data, "categorical", dict, where)
        state["_counts"] = _field(block, "counts", (dict, type(None)), where)
        state["_freq"] = _unb64(_field(block, "frequent", str, where), where)
    if (path == "numeric") != (numeric is not None) or (path == "categorical") != (
        categorical is not None
    ):
        raise InvalidInput(f"{where}: statistics do not match its family and kind.")
    if path != "none" and state["_hll"] is None:
        raise InvalidInput(f"{where}: missing its 'hll' sketch.")
    try:
        col.__setstate__(state)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise InvalidInput(f"{where}: a sketch cannot be read: {exc}") from None
    return col


def dumps(document: dict[str, Any], *, indent: int | None = None) -> str:
    """Strict JSON text (non-finite numbers were already made strings by :func:`number`)."""
    return json.dumps(document, indent=indent, allow_nan=False, ensure_ascii=False)


def loads(text: str | bytes, *, source: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{source} is not valid JSON: {exc}") from None


def number(value: float | None) -> float | str | None:
    """A float for JSON: non-finite values as ``"NaN"``, ``"Infinity"``, ``"-Infinity"``."""
    if value is None or math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def unnumber(value: Any, where: str) -> float | None:
    """The inverse of :func:`number`."""
    if value is None:
        return None
    if isinstance(value, str) and value in _NON_FINITE:
        return _NON_FINITE[value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise InvalidInput(f"{where}: expected a number, got {value!r}.")


def _field(data: dict[str, Any], key: str, kind: Any, where: str) -> Any:
    if key not in data:
        raise InvalidInput(f"{where}: missing key {key!r}.")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise InvalidInput(f"{where}: key {key!r} has the wrong type ({type(value).__name__}).")
    return value


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: Any, where: str) -> bytes | None:
    if text is None:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise InvalidInput(f"{where}: a sketch is not valid base64.") from None
