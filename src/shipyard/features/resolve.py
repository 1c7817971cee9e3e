"""Turn a stored view into what the engines read: a FeatureSource, and check it against its data.

A dataset source reads the dataset version's verified local Parquet copy, with
the file's row number as the ingestion order; a Parquet path or glob is read
where it lies, if it lies under a data root; SQL must be one SELECT over the
tables the source declares (or registered datasets it names), each bound to a
read of its data. The source lists what it reads (``FeatureSource.readable``),
and the guarded connection that runs it can read nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput, NotFound
from shipyard.features.definitions import FeatureView
from shipyard.features.source import FeatureSource
from shipyard.sql_guard import GLOB_CHARACTERS, check_select, source_relation
from shipyard.types import Ref

if TYPE_CHECKING:
    import duckdb

    from shipyard.data.datasets import DatasetService

# The DuckDB type names each declared feature type accepts.
_COMPATIBLE = {
    "int64": (
        "BIGINT",
        "INTEGER",
        "SMALLINT",
        "TINYINT",
        "UBIGINT",
        "UINTEGER",
        "USMALLINT",
        "UTINYINT",
    ),
    "int32": ("INTEGER", "SMALLINT", "TINYINT", "USMALLINT", "UTINYINT"),
    "float64": ("DOUBLE", "FLOAT", "DECIMAL", "BIGINT", "INTEGER", "SMALLINT", "TINYINT"),
    "float32": ("FLOAT", "DOUBLE", "DECIMAL", "INTEGER", "SMALLINT", "TINYINT"),
    "bool": ("BOOLEAN",),
    "string": ("VARCHAR",),
    "timestamp": ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS", "DATE"),
}


@dataclass(frozen=True)
class ResolvedView:
    """A view version with the concrete data it reads (the dataset versions, when it has any)."""

    view: FeatureView
    version: int
    join_keys: tuple[str, ...]
    datasets: tuple[Ref, ...]
    source: FeatureSource

    def lineage(self) -> dict[str, Any]:
        return {
            "view": f"feature_view:{self.view.name}@{self.version}",
            "datasets": [str(d) for d in self.datasets],
        }


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def build_source(
    view: FeatureView,
    join_keys: Sequence[str],
    datasets: DatasetService,
    features: Sequence[str] | None = None,
    *,
    data_roots: Sequence[Path] = (),
) -> tuple[FeatureSource, tuple[Ref, ...]]:
    """The FeatureSource of ``view`` (only ``features``, if given) and the datasets it reads.

    A Parquet location must lie under one of ``data_roots``; SQL is checked to
    be one SELECT over declared tables (:func:`shipyard.sql_guard.check_select`).
    """
    what = f"feature view {view.name!r}"
    ingestion: str | None = None
    if view.source.dataset:
        table = _dataset_table(view.source.dataset, what, datasets)
        relation = table.read(row_numbers=True)
        ingestion = "file_row_number"
    elif view.source.parquet:
        table = _parquet_table(view.source.parquet, what, data_roots)
        relation = table.read(row_numbers=True)
        ingestion = "file_row_number" if table.single_file else None
    else:
        select = check_select(view.source.sql, what)
        tables = {
            name: _declared_table(view.source.tables.get(name), name, what, datasets, data_roots)
            for name in select.tables
        }
        relation = source_relation(select, {n: t.read() for n, t in tables.items()})
    found = [table] if view.source.sql is None else list(tables.values())
    source = FeatureSource(
        view=view.name,
        relation=relation,
        join_keys=tuple(join_keys),
        event_timestamp=view.event_timestamp,
        features=tuple(features) if features is not None else view.feature_names,
        created_timestamp=view.created_timestamp,
        ttl=view.ttl,
        ingestion_order=ingestion,
        readable=tuple(t.location for t in found),
    )
    return source, tuple(t.dataset for t in found if t.dataset is not None)


@dataclass(frozen=True)
class _Table:
    """One piece of data a source reads: where, and the dataset version when it is one."""

    location: str
    dataset: Ref | None = None

    def read(self, *, row_numbers: bool = False) -> str:
        """A DuckDB FROM item reading it (with the file's row numbers, when asked)."""
        options = ", file_row_number=true" if row_numbers else ""
        return f"read_parquet({quote_literal(self.location)}{options})"

    @property
    def single_file(self) -> bool:
        return not any(ch in self.location for ch in GLOB_CHARACTERS)


def _dataset_table(name: str, what: str, datasets: DatasetService) -> _Table:
    try:
        found = datasets.get(name.removeprefix("dataset:"))
    except NotFound as exc:
        raise InvalidInput(
            f"The {what} reads dataset {name!r}: {exc.message}", hint=exc.hint
        ) from None
    return _Table(str(datasets.path(found.ref)), found.ref)


def _parquet_table(location: str, what: str, data_roots: Sequence[Path]) -> _Table:
    static = location
    for ch in GLOB_CHARACTERS:
        static = static.split(ch, 1)[0]
    resolved = Path(static).expanduser().resolve()
    if not any(resolved.is_relative_to(root.resolve()) for root in data_roots):
        raise InvalidInput(
            f"The {what} reads {location}, which is outside the workspace's data roots "
            f"({', '.join(str(r) for r in data_roots) or 'none configured'}).",
            hint="Move the data under a data root, register it as a dataset, or add its folder "
            "to the data_roots setting (SHIPYARD_DATA_ROOTS).",
        )
    if static == location and not resolved.exists():
        raise InvalidInput(
            f"The {what} reads {location}, which does not exist.",
            hint="Fix the path in the definition (relative paths are relative to its file).",
        )
    return _Table(location)


def _declared_table(
    declared: str | None,
    name: str,
    what: str,
    datasets: DatasetService,
    data_roots: Sequence[Path],
) -> _Table:
    """A SQL source's table: declared as a dataset or Parquet, or the dataset of that name."""
    if declared is None:
        try:
            return _dataset_table(name, what, datasets)
        except InvalidInput:
            raise InvalidInput(
                f"The {what} reads table {name!r}, which it does not declare and which is "
                "not a registered dataset.",
                hint=f"Declare it under the source's tables, e.g. tables: {{{name}: "
                "'dataset:NAME'}} or a Parquet path under a data root.",
            ) from None
    if declared.startswith("dataset:"):
        return _dataset_table(declared, what, datasets)
    return _parquet_table(declared, what, data_roots)


def describe_source(
    connection: duckdb.DuckDBPyConnection, view: str, relation: str
) -> dict[str, str]:
    """Column name -> DuckDB type (upper case) of a view's source; InvalidInput if unreadable."""
    import duckdb

    try:
        described = connection.sql(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    except duckdb.Error as exc:
        raise InvalidInput(
            f"Feature view {view!r}: its source cannot be read: {str(exc).splitlines()[0]}",
            hint="Check the source's path, dataset name or SQL.",
        ) from None
    return {str(row[0]): str(row[1]).upper() for row in described}


def check_source_columns(
    view: FeatureView,
    join_keys: Sequence[str],
    relation: str,
    connection: duckdb.DuckDBPyConnection,
) -> None:
    """Refuse a view whose source lacks a declared column or holds an incompatible type."""
    types = describe_source(connection, view.name, relation)
    needed = [*join_keys, view.event_timestamp]
    if view.created_timestamp:
        needed.append(view.created_timestamp)
    missing = [c for c in [*needed, *view.feature_names] if c not in types]
    if missing:
        raise InvalidInput(
            f"Feature view {view.name!r}: its source has no column(s) {', '.join(missing)}.",
            hint=f"The source's columns: {', '.join(types)}.",
        )
    for feature in view.features:
        actual = types[feature.name]
        if not actual.startswith(_COMPATIBLE[feature.dtype]):
            raise InvalidInput(
                f"Feature view {view.name!r}: feature {feature.name!r} is declared {feature.dtype} "
                f"but its source column is {actual}.",
                hint="Fix the declared dtype or cast the column in the source.",
            )
    for column in needed[len(join_keys) :]:
        if not types[column].startswith(("TIMESTAMP", "DATE")):
            raise InvalidInput(
                f"Feature view {view.name!r}: {column!r} must be a timestamp column, "
                f"is {types[column]}."
            )
