"""What kind of column this is, decided from its Arrow type (and, for strings, its values).

Kinds: ``numeric``, ``categorical``, ``boolean``, ``text``, ``timestamp`` and
``unknown`` (a type the profiler does not read, such as lists or structs, or a
column whose Arrow type is ``null``).

From the Arrow type: integers, floats and decimals are numeric; ``bool`` is
boolean; timestamps and dates are timestamp; strings (also large, view and
dictionary-encoded strings) are categorical or text. A string column is
**categorical** while it has at most :data:`MAX_CATEGORIES` (1,000) distinct
values *and* that number is at most :data:`CATEGORY_RATIO` (5%) of its present
values or at most :data:`SMALL_DOMAIN` (20); otherwise it is **text**. The rule
reads exact counts only, so it gives the same answer for a merged profile as
for a profile of the whole table.

An explicit ``kinds={column: kind}`` override is checked against the type by
:data:`ALLOWED_OVERRIDES`: a number may be read as categorical (values become
their string form), a boolean as numeric (0/1) or categorical, a string as
categorical or text, a column of type ``null`` as anything, and any column as
``unknown`` (only counted). To profile monitoring windows the way the reference
was profiled, pass ``kinds=reference.kinds``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

Kind = Literal["numeric", "categorical", "boolean", "text", "timestamp", "unknown"]
# How values are stored, read from the Arrow type alone.
Family = Literal["numeric", "boolean", "timestamp", "string", "null", "other"]
# Which statistics a column keeps: moments and a KLL sketch, or category counts.
Path = Literal["numeric", "categorical", "none"]

KINDS: tuple[str, ...] = get_args(Kind)
MAX_CATEGORIES = 1000
CATEGORY_RATIO = 0.05
SMALL_DOMAIN = 20

# "unknown" is allowed for every type: the column is then only counted.
ALLOWED_OVERRIDES: dict[Family, tuple[Kind, ...]] = {
    "numeric": ("numeric", "categorical", "unknown"),
    "boolean": ("boolean", "numeric", "categorical", "unknown"),
    "timestamp": ("timestamp", "unknown"),
    "string": ("categorical", "text", "unknown"),
    "null": ("numeric", "categorical", "boolean", "text", "timestamp", "unknown"),
    "other": ("unknown",),
}
_FAMILY_KIND: dict[Family, Kind] = {
    "numeric": "numeric",
    "boolean": "boolean",
    "timestamp": "timestamp",
    "string": "categorical",
    "null": "unknown",
    "other": "unknown",
}
_MICROS = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 1}


def family_of(arrow_type: pa.DataType) -> Family:
    """The storage family of an Arrow type.

    >>> import pyarrow as pa
    >>> family_of(pa.dictionary(pa.int32(), pa.string()))
    'string'
    """
    import pyarrow.types as t

    if t.is_dictionary(arrow_type):
        return family_of(arrow_type.value_type)
    if t.is_null(arrow_type):
        return "null"
    if t.is_boolean(arrow_type):
        return "boolean"
    if t.is_integer(arrow_type) or t.is_floating(arrow_type) or t.is_decimal(arrow_type):
        return "numeric"
    if t.is_timestamp(arrow_type) or t.is_date(arrow_type):
        return "timestamp"
    is_view = getattr(t, "is_string_view", None)  # pyarrow >= 16
    if t.is_string(arrow_type) or t.is_large_string(arrow_type):
        return "string"
    if is_view is not None and is_view(arrow_type):
        return "string"
    return "other"


def resolve_kind(column: str, family: Family, override: str | None) -> Kind | None:
    """Check an override against the column's family; the declared kind, or None.

    >>> resolve_kind("zip", "numeric", "categorical")
    'categorical'
    """
    if override is None:
        return None
    if override not in KINDS:
        raise InvalidInput(
            f"Unknown kind {override!r} for column {column!r}.",
            hint=f"Use one of: {', '.join(KINDS)}.",
        )
    allowed = ALLOWED_OVERRIDES[family]
    if override not in allowed:
        raise InvalidInput(
            f"Column {column!r} holds {family} values and cannot be profiled as {override!r}.",
            hint=f"Allowed for {family} columns: {', '.join(allowed)}; or cast the column first.",
        )
    return override


def merged_family(name: str, a: Family, a_type: str, b: Family, b_type: str) -> Family:
    """The family of two profiles of one column merged; a null family yields to the other."""
    if a == b or b == "null":
        return a
    if a == "null":
        return b
    raise InvalidInput(
        f"Column {name!r} holds {a} values ({a_type}) in one profile and {b} values ({b_type}) "
        "in the other.",
        hint="Give the column one type in every part.",
    )


def is_integral(arrow_type: pa.DataType) -> bool:
    """Whether values of this type are integers (null counts as integral: it adds no values)."""
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    return bool(pa.types.is_integer(arrow_type) or pa.types.is_null(arrow_type))


def inferred_type(kind: Kind, integral: bool) -> str:
    """SageMaker Model Monitor's type name: Integral, Fractional, String or Unknown.

    Timestamps are Integral (their statistics are in epoch microseconds).

    >>> inferred_type("categorical", False), inferred_type("numeric", True)
    ('String', 'Integral')
    """
    if kind in ("categorical", "boolean", "text"):
        return "String"
    if kind in ("numeric", "timestamp"):
        return "Integral" if integral or kind == "timestamp" else "Fractional"
    return "Unknown"


def default_kind(family: Family) -> Kind:
    """The kind a family gets without an override (strings are refined by :func:`string_kind`)."""
    return _FAMILY_KIND[family]


def path_of(kind: Kind) -> Path:
    """Which statistics a column of this kind keeps."""
    if kind in ("numeric", "timestamp"):
        return "numeric"
    if kind in ("categorical", "boolean", "text"):
        return "categorical"
    return "none"


def string_kind(exact_distinct: int | None, present: int) -> Kind:
    """Categorical or text for a string column, from its exact distinct count.

    ``exact_distinct`` is None once the column passed :data:`MAX_CATEGORIES`.

    >>> string_kind(3, 336_776), string_kind(None, 336_776), string_kind(60, 100)
    ('categorical', 'text', 'text')
    """
    if exact_distinct is None or exact_distinct > MAX_CATEGORIES:
        return "text"
    if exact_distinct <= SMALL_DOMAIN or exact_distinct <= CATEGORY_RATIO * present:
        return "categorical"
    return "text"


def present(array: pa.Array) -> tuple[pa.Array, int]:
    """The present values of a column chunk, and how many were missing (null, or NaN)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_null(array.type):
        return array.slice(0, 0), len(array)
    kept = array.drop_null() if array.null_count else array
    if pa.types.is_floating(kept.type):
        nan = pc.is_nan(kept)
        if pc.any(nan).as_py():
            kept = kept.filter(pc.invert(nan))
    return kept, len(array) - len(kept)


def as_float64(values: pa.Array, family: Family) -> np.ndarray:
    """Present values as float64; timestamps and dates as epoch microseconds (UTC)."""
    import numpy as np
    import pyarrow as pa

    arrow_type = values.type
    if family == "timestamp":
        if pa.types.is_date32(arrow_type):
            days = values.cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
            return (days * 86_400_000_000).astype(np.float64)
        if pa.types.is_date64(arrow_type):
            millis = values.cast(pa.int64()).to_numpy(zero_copy_only=False)
            return (millis * 1_000).astype(np.float64)
        raw = values.cast(pa.int64()).to_numpy(zero_copy_only=False)
        # Integer arithmetic first: nanoseconds floored to whole microseconds stay exact.
        raw = raw // 1_000 if arrow_type.unit == "ns" else raw * _MICROS[arrow_type.unit]
        return raw.astype(np.float64)
    if values.type != pa.float64():
        values = values.cast(pa.float64())
    return values.to_numpy(zero_copy_only=False)


def as_strings(values: pa.Array) -> list[str]:
    """Values as Python strings: booleans as ``true``/``false``, numbers as written."""
    import pyarrow as pa

    if not pa.types.is_string(values.type):
        values = values.cast(pa.string())
    return values.to_pylist()
