"""What every response model shares: strictness, the time format, and the JSON text.

The API serializes a response model with pydantic (non-finite floats become
``null``); :func:`to_json` gives the CLI the same values, as indented text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

import pydantic_core
from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema


def _iso(moment: datetime) -> str:
    return moment.isoformat()


# ISO 8601 with the offset exactly as ``datetime.isoformat()`` writes it
# ("2013-01-01T05:00:00+00:00"), the form the CLI and the stores have always used.
Timestamp = Annotated[
    datetime,
    PlainSerializer(_iso, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Schema(BaseModel):
    """The base of every response model: immutable, and no field it does not declare."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        ser_json_inf_nan="null",
        serialize_by_alias=True,
        validate_by_name=True,
        validate_by_alias=True,
    )


def to_jsonable(value: Schema | Sequence[Schema]) -> Any:
    """A model (or a list of them) as plain JSON values: what the API sends, as Python."""
    return pydantic_core.to_jsonable_python(value, by_alias=True, inf_nan_mode="null")


def to_json(value: Schema | Sequence[Schema], *, indent: int | None = 2) -> str:
    """The JSON text of a model (or a list of them) for a terminal or a pipe.

    Non-ASCII text is escaped, so text that is not valid Unicode (a path with
    undecodable bytes) still prints instead of failing.
    """
    return json.dumps(to_jsonable(value), indent=indent, allow_nan=False)
