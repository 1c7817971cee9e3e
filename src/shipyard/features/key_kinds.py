"""The JSON kind of each join key (integer, number, string, boolean), and the check of a key.

The online store finds an entity by the typed text of its key, so ``"5"`` for
an integer key would silently read as missing: an online read refuses it
instead. A key's kind comes from the view's source schema (a registered
dataset's recorded columns, or a Parquet file's footer), cheap enough for the
serving path. A SQL source's types are known only by binding it in DuckDB, so
its keys, and keys of other types (timestamps, decimals), are not checked.
"""

from __future__ import annotations

import glob
import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput, ShipyardError

if TYPE_CHECKING:
    from shipyard.data.datasets import DatasetService
    from shipyard.features.definitions import FeatureView

log = logging.getLogger("shipyard.features")

INTEGER, NUMBER, STRING, BOOLEAN = "integer", "number", "string", "boolean"

# Arrow type names (as a dataset records them) -> the JSON kind a key of that type takes.
_ARROW_KINDS = {
    **dict.fromkeys(("int8", "int16", "int32", "int64"), INTEGER),
    **dict.fromkeys(("uint8", "uint16", "uint32", "uint64"), INTEGER),
    **dict.fromkeys(("halffloat", "float", "double"), NUMBER),
    **dict.fromkeys(("string", "large_string", "string_view"), STRING),
    "bool": BOOLEAN,
}
_EXAMPLES = {
    INTEGER: 'such as 5 (not "5")',
    NUMBER: "such as 1.5",
    STRING: 'such as "JFK" (in quotes)',
    BOOLEAN: "true or false",
}
_DICTIONARY = "dictionary<values="  # a categorical column: its values' type counts


def kind_of_type(arrow_type: str) -> str | None:
    """The JSON kind of a column of ``arrow_type`` (None for types not checked).

    >>> kind_of_type("int64"), kind_of_type("dictionary<values=string, indices=int8>")
    ('integer', 'string')
    """
    if arrow_type.startswith(_DICTIONARY):
        arrow_type = arrow_type[len(_DICTIONARY) :].split(",", 1)[0]
    return _ARROW_KINDS.get(arrow_type)


def join_key_kinds(
    view: FeatureView, join_keys: Sequence[str], datasets: DatasetService
) -> dict[str, str]:
    """Join key -> JSON kind, for the keys whose type the view's source makes known."""
    try:
        types = _source_types(view, datasets)
    except (ShipyardError, OSError, ValueError) as exc:
        # Serving must not depend on the offline source: unknown types are just not checked.
        log.debug("join key types of feature view %s unknown: %s", view.name, exc)
        return {}
    kinds = {key: kind_of_type(types.get(key, "")) for key in join_keys}
    return {key: kind for key, kind in kinds.items() if kind is not None}


def _source_types(view: FeatureView, datasets: DatasetService) -> dict[str, str]:
    source = view.source
    if source.dataset:
        return dict(datasets.get(source.dataset).columns)
    if source.parquet:
        pattern = any(ch in source.parquet for ch in "*?[")
        files = sorted(glob.glob(source.parquet)) if pattern else []
        first = files[0] if files else source.parquet  # a glob's files share one schema
        import pyarrow.parquet as pq

        return {field.name: str(field.type) for field in pq.read_schema(first)}
    return {}


def check_key(view: str, key: str, kind: str, value: Any, row: int) -> None:
    """Refuse ``value`` for join ``key`` of ``kind``; None passes (it reads as missing)."""
    got = _kind_of_value(value)
    if got == kind or got == "null" or (kind == NUMBER and got == INTEGER):
        return
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    raise InvalidInput(
        f"Entity {row}: join key {key!r} of feature view {view!r} is {_article(kind)}, "
        f"but {_article(got)} was given ({shown}).",
        hint=f"Send {key!r} as {_article(kind)}, {_EXAMPLES[kind]}.",
    )


def _kind_of_value(value: Any) -> str:
    if hasattr(value, "item") and not hasattr(value, "to_pydatetime"):  # a numpy scalar
        value = value.item()
    if value is None:
        return "null"
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float | Decimal):
        # 5.0 is stored and found as 5, as Python compares them.
        return INTEGER if _is_integral(value) else NUMBER
    if isinstance(value, str):
        return STRING
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _is_integral(value: float | Decimal) -> bool:
    if isinstance(value, Decimal):
        return value.is_finite() and value == value.to_integral_value()
    return value.is_integer()


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"
