"""Profiles of whole tables: built batch by batch, merged part by part.

:func:`profile_table` reads any accepted input as a stream of Arrow record
batches and never builds a pandas frame of it; :func:`profile_batches` is the
same over an iterable of batches, the unit a distributed engine hands each
worker. Profiles of parts merge (:func:`merge`, :func:`merge_all`) into the
profile of the whole: exactly for counts, moments, min, max and category
counts; within the sketches' error for quantiles and distinct counts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.data.profiles import serialize
from shipyard.data.profiles.column import ColumnProfile
from shipyard.data.profiles.kinds import family_of
from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

    from shipyard.data.profiles.kinds import Kind

BATCH_ROWS = 64 * 1024


@dataclass(eq=True)
class TableProfile:
    """A profile per column, in the table's column order.

    >>> import pyarrow as pa
    >>> profile = profile_table(pa.table({"x": [1, 2, 3]}))
    >>> profile["x"].mean, profile.rows
    (2.0, 3)
    """

    columns: dict[str, ColumnProfile] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return next(iter(self.columns.values())).count if self.columns else 0

    @property
    def kinds(self) -> dict[str, Kind]:
        """Each column's kind; pass it as ``kinds=`` to profile later windows the same way."""
        return {name: col.kind for name, col in self.columns.items()}

    def __getitem__(self, name: str) -> ColumnProfile:
        try:
            return self.columns[name]
        except KeyError:
            raise InvalidInput(
                f"The profile has no column {name!r}.",
                hint=f"Columns: {', '.join(self.columns)}.",
            ) from None

    def __iter__(self) -> Iterator[ColumnProfile]:
        return iter(self.columns.values())

    def __len__(self) -> int:
        return len(self.columns)

    def merge(self, other: TableProfile) -> TableProfile:
        """See :func:`merge`."""
        return merge(self, other)

    def to_dict(self) -> dict[str, Any]:
        """The ``shipyard.profile.v1`` document as plain JSON types."""
        return serialize.encode_profile(self.rows, list(self.columns.values()))

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "the profile") -> TableProfile:
        return cls({c.name: c for c in serialize.decode_profile(data, source=source)})

    def to_json(self, *, indent: int | None = None) -> str:
        """The profile as JSON text; :meth:`from_json` reads it back to an equal profile."""
        return serialize.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str = "the profile") -> TableProfile:
        return cls.from_dict(serialize.loads(text, source=source), source=source)


def profile_table(
    data: Any, *, kinds: Mapping[str, str] | None = None, batch_rows: int = BATCH_ROWS
) -> TableProfile:
    """Profile a pandas or polars DataFrame, a pyarrow Table, RecordBatch or
    RecordBatchReader, an iterable of RecordBatches, or a Parquet (or CSV) path.

    >>> import pyarrow as pa
    >>> profile = profile_table(pa.table({"city": ["a", "b", "a"], "t": [1.5, None, 3.0]}))
    >>> profile["city"].kind, profile["city"].category_counts(), profile["t"].missing
    ('categorical', {'a': 2, 'b': 1}, 1)
    """
    schema, batches = _open(data, batch_rows)
    return profile_batches(batches, kinds=kinds, schema=schema)


def profile_batches(
    batches: Iterable[pa.RecordBatch],
    *,
    kinds: Mapping[str, str] | None = None,
    schema: pa.Schema | None = None,
    allow_empty: bool = False,
) -> TableProfile:
    """Profile a stream of record batches with one set of columns.

    ``allow_empty=True`` is for one part of a larger table (an empty partition
    merges as nothing); it then needs ``schema`` when there may be no batch.

    >>> import pyarrow as pa
    >>> parts = pa.table({"x": [1, 2, 3, 4]}).to_batches(max_chunksize=2)
    >>> profile_batches(parts)["x"].max
    4.0
    """
    profile: TableProfile | None = None if schema is None else _empty(schema, kinds)
    for batch in batches:
        if profile is None:
            profile = _empty(batch.schema, kinds)
        if batch.schema.names != list(profile.columns):
            raise InvalidInput(
                f"A batch has columns {batch.schema.names}; the first had {list(profile.columns)}.",
                hint="Every batch of one table must have the same columns in the same order.",
            )
        for name, array in zip(batch.schema.names, batch.columns, strict=True):
            profile.columns[name] = _update(profile.columns[name], array)
    if profile is None or (not profile.rows and not allow_empty):
        raise InvalidInput("Cannot profile an empty table.", hint="Pass a table with rows.")
    return profile


def merge(a: TableProfile, b: TableProfile) -> TableProfile:
    """The profile of the rows of both, from the two profiles alone.

    >>> import pyarrow as pa
    >>> both = merge(profile_table(pa.table({"x": [1]})), profile_table(pa.table({"x": [3]})))
    >>> both["x"].mean, both.rows
    (2.0, 2)
    """
    if list(a.columns) != list(b.columns):
        only_a = sorted(set(a.columns) - set(b.columns))
        only_b = sorted(set(b.columns) - set(a.columns))
        raise InvalidInput(
            f"Cannot merge profiles with different columns (only in the first: {only_a}; "
            f"only in the second: {only_b}; or a different order).",
            hint="Profile every part of a table with the same columns.",
        )
    return TableProfile({name: col.merge(b.columns[name]) for name, col in a.columns.items()})


def merge_all(profiles: Iterable[TableProfile]) -> TableProfile:
    """Merge the profiles of a table's parts, in order.

    >>> import pyarrow as pa
    >>> parts = [profile_table(pa.table({"x": [i]})) for i in range(4)]
    >>> merge_all(parts)["x"].variance
    1.6666666666666667
    """
    merged: TableProfile | None = None
    for profile in profiles:
        merged = profile if merged is None else merge(merged, profile)
    if merged is None or not merged.rows:
        raise InvalidInput("Cannot merge: no profiles with rows.", hint="Profile some rows first.")
    return merged


def _empty(schema: pa.Schema, kinds: Mapping[str, str] | None) -> TableProfile:
    kinds = dict(kinds or {})
    unknown = sorted(set(kinds) - set(schema.names))
    if unknown:
        raise InvalidInput(
            f"kinds= names columns the table does not have: {unknown}.",
            hint=f"Columns: {', '.join(schema.names)}.",
        )
    if len(set(schema.names)) != len(schema.names):
        raise InvalidInput(f"The table has duplicate column names: {schema.names}.")
    return TableProfile(
        {f.name: ColumnProfile.new(f.name, f.type, kinds.get(f.name)) for f in schema}
    )


def _update(column: ColumnProfile, array: pa.Array) -> ColumnProfile:
    family = family_of(array.type)
    if family != column.family and family != "null":
        if column.family != "null":
            raise InvalidInput(
                f"Column {column.name!r} changes type from {column.arrow_type} to {array.type} "
                "between batches.",
                hint="Give the column one type in every batch.",
            )
        # Earlier batches held only nulls: carry their count into a column of the known type.
        column = column.merge(ColumnProfile.new(column.name, array.type, column.declared))
    column.update(array)
    return column


def _open(data: Any, batch_rows: int) -> tuple[pa.Schema | None, Iterable[pa.RecordBatch]]:
    """The schema (when known up front) and a stream of batches for any accepted input."""
    import pyarrow as pa

    if isinstance(data, str | os.PathLike):
        return _open_file(Path(data), batch_rows)
    if isinstance(data, pa.Table):
        return data.schema, data.to_batches(max_chunksize=batch_rows)
    if isinstance(data, pa.RecordBatch):
        return data.schema, [data]
    if isinstance(data, pa.RecordBatchReader):
        return data.schema, data
    module = type(data).__module__
    if module.startswith("pandas"):
        table = _from_pandas(data)
        return table.schema, table.to_batches(max_chunksize=batch_rows)
    if module.startswith("polars"):
        try:
            table = data.to_arrow()
        except Exception as exc:  # polars raises its own types for Object columns
            raise InvalidInput(f"Cannot read the polars DataFrame as Arrow: {exc}") from None
        return table.schema, table.to_batches(max_chunksize=batch_rows)
    if isinstance(data, Iterable) and not isinstance(data, str | bytes | Mapping):
        return None, _only_batches(data)
    raise InvalidInput(
        f"Cannot profile a {type(data).__name__}.",
        hint="Pass a pandas or polars DataFrame, a pyarrow Table or RecordBatchReader, "
        "an iterable of RecordBatches, or a .parquet path.",
    )


def _only_batches(items: Iterable[Any]) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa

    for item in items:
        if not isinstance(item, pa.RecordBatch):
            raise InvalidInput(f"Expected RecordBatches, got a {type(item).__name__}.")
        yield item


def _from_pandas(frame: Any) -> pa.Table:
    import pyarrow as pa

    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    # Find the column that failed, to name it.
    for name in frame.columns:
        try:
            pa.Table.from_pandas(frame[[name]], preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise InvalidInput(
                f"Column {name!r} mixes value types and cannot be profiled: {exc}",
                hint="Give the column one type (for example .astype(str) or pd.to_numeric).",
            ) from None
    raise InvalidInput("Cannot read the DataFrame as Arrow.")  # pragma: no cover


def _open_file(path: Path, batch_rows: int) -> tuple[pa.Schema, Iterable[pa.RecordBatch]]:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if not path.is_file():
        raise InvalidInput(f"No file at {path}.", hint="Check the path.")
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            # pre_buffer would keep every row group read so far in memory.
            parquet = pq.ParquetFile(path, pre_buffer=False)
            return parquet.schema_arrow, parquet.iter_batches(batch_size=batch_rows)
        if name.endswith((".csv", ".csv.gz")):
            reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=16 << 20))
            return reader.schema, reader
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"Cannot read {path}: {exc}") from None
    raise InvalidInput(f"{path} is neither Parquet nor CSV.", hint="Pass a .parquet or .csv file.")
