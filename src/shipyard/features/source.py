"""What the offline and online engines need to know about one feature view's rows.

Definitions (:mod:`shipyard.features.definitions`) resolve a view's source (a
registered dataset, a Parquet path or a DuckDB query) to one of these; the
engines never see the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class FeatureSource:
    """The rows of one feature view, as DuckDB reads them.

    ``relation`` is SQL that DuckDB can put after ``FROM``: a table function such
    as ``read_parquet(['/a.parquet'], file_row_number=true)``, a parenthesised
    query, or the name of a relation registered on the connection.
    ``ingestion_order`` is a SQL expression over that relation that grows with
    the order rows arrived (the last tie-break, after the created timestamp);
    None means the rows carry no such order and ties fall back to the row's
    values, still deterministically. ``readable`` lists the files, folders or
    globs the relation reads: a connection Shipyard opens for it can read those
    and nothing else (:mod:`shipyard.sql_guard`).
    """

    view: str
    relation: str
    join_keys: tuple[str, ...]
    event_timestamp: str
    features: tuple[str, ...]
    created_timestamp: str | None = None
    ttl: timedelta | None = None
    ingestion_order: str | None = None
    readable: tuple[str, ...] = ()

    def output_name(self, feature: str) -> str:
        """The column a feature gets in a joined table: ``view__feature``."""
        return f"{self.view}__{feature}"
