"""Input checks the control store's SQL parts share: each refuses bad input with
:class:`InvalidInput` before a statement runs, so the database never reports it as a
driver error (PostgreSQL refuses over-long text and NaN in JSON; SQLite stores them)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shipyard.errors import InvalidInput

MAX_LIMIT = 10_000


def label(value: object, what: str, max_length: int) -> str:
    """A short printable word such as a state, strategy or event name."""
    if (
        not isinstance(value, str)
        or not value
        or len(value) > max_length
        or not value.isprintable()
        or value != value.strip()
    ):
        raise InvalidInput(
            f"{what} {value!r} is not valid.",
            hint=f"Use 1 to {max_length} printable characters, without surrounding spaces.",
        )
    return value


def text(value: object, what: str, max_length: int) -> str:
    """Any printable text up to ``max_length`` characters (may be empty)."""
    if not isinstance(value, str) or len(value) > max_length:
        raise InvalidInput(
            f"{what} must be text of at most {max_length} characters, got {value!r:.80}.",
        )
    return value


def json_mapping(value: object, what: str) -> dict[str, Any]:
    """A mapping that stores as JSON (string keys, finite numbers): a plain dict copy."""
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{what} must be a mapping, got {type(value).__name__}.")
    copy = dict(value)
    try:
        json.dumps(copy, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"{what} cannot be stored as JSON: {exc}.",
            hint="Use strings, finite numbers, booleans, None, lists and string-keyed maps.",
        ) from None
    return copy


def whole(value: object, what: str, minimum: int) -> int:
    """A whole number (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInput(f"{what} must be a whole number >= {minimum}, got {value!r}.")
    return value


def weight(value: object, what: str) -> float:
    """A finite traffic weight >= 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise InvalidInput(
            f"{what} must be a finite number >= 0, got {value!r}.",
            hint="Weights are relative: 9 and 1 send 90% and 10% of requests.",
        )
    return float(value)


def aware(value: object, what: str) -> datetime:
    """A timezone-aware datetime (every stored time is UTC)."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidInput(
            f"{what} must be a timezone-aware datetime, got {value!r}.",
            hint="Use datetime.now(UTC) or a time with tzinfo set.",
        )
    return value


def limit(value: object) -> int:
    """How many rows a listing returns: 1 to 10,000."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        raise InvalidInput(f"limit must be a whole number from 1 to 10,000, got {value!r}.")
    return value
