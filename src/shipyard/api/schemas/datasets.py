"""Datasets: a version's roles, hashes and per-column statistics (``data show --json``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, JsonValue

from shipyard.api.schemas.base import Schema, Timestamp


class DatasetColumn(Schema):
    """One column: its type, null count, min and max (from the Parquet footer)."""

    name: str
    type: str
    nulls: int | None = Field(description="Null count (null when the file has no statistics).")
    min: JsonValue
    max: JsonValue


class DatasetDetails(Schema):
    """One dataset version as ``DatasetService.describe`` reads it."""

    ref: str = Field(examples=["dataset:flights@3"])
    rows: int
    content_hash: str = Field(description="sha256 of the file's content.")
    table_hash: str = Field(description="sha256 of the table's values, whatever the format.")
    artifact: str
    size_bytes: int
    time_column: str | None
    id_columns: list[str]
    target: str | None
    known_after: list[str] = Field(description="Columns known only after the event.")
    description: str
    created_at: Timestamp
    created_by: str
    columns: list[DatasetColumn]

    @classmethod
    def from_domain(cls, details: Mapping[str, Any]) -> DatasetDetails:
        """From ``DatasetService.describe`` (a mapping: it reads the file's footer)."""
        from shipyard.jsonsafe import jsonable

        columns = [
            {**column, "min": jsonable(column["min"]), "max": jsonable(column["max"])}
            for column in details["columns"]
        ]
        return cls.model_validate({**details, "columns": columns})
