"""Turn a stored view into what the engines read: a FeatureSource, and check it against its data.

A dataset source reads the dataset version's verified local Parquet copy, with
the file's row number as the ingestion order; a Parquet path or glob is read
where it lies; SQL is run by DuckDB as written (definitions are trusted code).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.errors import InvalidInput, NotFound
from shipyard.features.definitions import FeatureView
from shipyard.features.source import FeatureSource
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
    """A view version with the concrete data it reads (the dataset version, when it has one)."""

    view: FeatureView
    version: int
    join_keys: tuple[str, ...]
    dataset: Ref | None
    source: FeatureSource

    def lineage(self) -> dict[str, str | None]:
        return {
            "view": f"feature_view:{self.view.name}@{self.version}",
            "dataset": None if self.dataset is None else str(self.dataset),
        }


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def build_source(
    view: FeatureView,
    join_keys: Sequence[str],
    datasets: DatasetService,
    features: Sequence[str] | None = None,
) -> tuple[FeatureSource, Ref | None]:
    """The FeatureSource of ``view`` (only ``features``, if given) and the dataset it reads."""
    dataset: Ref | None = None
    ingestion: str | None = None
    if view.source.dataset:
        try:
            found = datasets.get(view.source.dataset)
        except NotFound as exc:
            raise InvalidInput(
                f"Feature view {view.name!r} reads dataset {view.source.dataset!r}: {exc.message}",
                hint=exc.hint,
            ) from None
        dataset = found.ref
        path = str(datasets.path(found.ref))
        relation = f"read_parquet({quote_literal(path)}, file_row_number=true)"
        ingestion = "file_row_number"
    elif view.source.parquet:
        location = view.source.parquet
        single = not any(ch in location for ch in "*?[")
        if single and not Path(location).exists():
            raise InvalidInput(
                f"Feature view {view.name!r} reads {location}, which does not exist.",
                hint="Fix the path in the definition (relative paths are relative to its file).",
            )
        relation = f"read_parquet({quote_literal(location)}, file_row_number=true)"
        ingestion = "file_row_number" if single else None
    else:
        relation = f"({view.source.sql})"
    source = FeatureSource(
        view=view.name,
        relation=relation,
        join_keys=tuple(join_keys),
        event_timestamp=view.event_timestamp,
        features=tuple(features) if features is not None else view.feature_names,
        created_timestamp=view.created_timestamp,
        ttl=view.ttl,
        ingestion_order=ingestion,
    )
    return source, dataset


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
