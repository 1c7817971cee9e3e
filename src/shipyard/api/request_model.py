"""The base of every request body: a field the API does not know is refused, not ignored.

A misspelt optional field (``"servce"``) silently ignored would answer a
different question than the one asked; a 422 names the field instead.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestModel(BaseModel):
    """A request body: unknown fields are a 422."""

    model_config = ConfigDict(extra="forbid")
