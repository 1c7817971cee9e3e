"""Checks at the tracking boundary: keys, metric values and steps, statuses, artifact paths.

Metric values must be finite: SQLite cannot store NaN (it becomes NULL), so
NaN and infinities are refused on every backend rather than stored on one.
"""

from __future__ import annotations

import math
import re
from typing import Any

from shipyard.errors import InvalidInput
from shipyard.stores.artifacts import check_relative_path
from shipyard.stores.tracking.base import ENDED, RunStatus
from shipyard.unicode_text import lone_surrogate_at

MAX_KEY_LENGTH = 250
MAX_PATH_LENGTH = 500
STEP_MIN, STEP_MAX = -(2**63), 2**63 - 1
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_key(key: Any, what: str = "key") -> str:
    """A param, metric or tag key: 1 to 250 characters, no control characters.

    >>> check_key("val/auc")
    'val/auc'
    """
    if (
        not isinstance(key, str)
        or not key
        or len(key) > MAX_KEY_LENGTH
        or _CONTROL.search(key)
        or lone_surrogate_at(key) is not None
    ):
        shown = repr(key) if not isinstance(key, str) or len(key) < 80 else repr(key[:77] + "...")
        raise InvalidInput(
            f"{what} {shown} is not valid.",
            hint=f"Use a string of 1 to {MAX_KEY_LENGTH} characters without control characters.",
        )
    return key


def check_text(value: Any, what: str) -> str:
    """``value`` as text that can be stored (no lone surrogate), for params, tags and notes.

    >>> check_text(0.1, "Param 'lr'")
    '0.1'
    """
    text = str(value)
    at = lone_surrogate_at(text)
    if at is not None:
        raise InvalidInput(
            f"{what} holds a lone surrogate at position {at}: it is not valid Unicode.",
            hint="Pass text decoded from valid UTF-8.",
        )
    return text


def check_name(name: Any) -> str:
    """A run name follows the rules of keys."""
    return check_key(name, "Run name")


def metric_value(key: str, value: Any) -> float:
    """``value`` as a finite float; InvalidInput for anything else.

    >>> metric_value("auc", 1)
    1.0
    """
    if isinstance(value, str | bytes) or value is None:
        number = math.nan
    else:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
    if not math.isfinite(number):
        raise InvalidInput(
            f"Metric {key!r} got {value!r}; metric values must be finite numbers.",
            hint="Log NaN or infinite outcomes as a tag (for example diverged=true) instead.",
        )
    return number


def metric_step(key: str, step: Any) -> int:
    """``step`` as an integer that fits in 64 bits."""
    try:
        number = step.__index__() if not isinstance(step, bool) else None
    except (AttributeError, TypeError):
        number = None
    if number is None or not STEP_MIN <= number <= STEP_MAX:
        raise InvalidInput(
            f"Metric {key!r} got step {step!r}; a step must be an integer (64-bit).",
            hint="Pass step=epoch or step=batch_index, or leave it out to count up from 0.",
        )
    return int(number)


def check_end_status(status: Any) -> RunStatus:
    """One of the statuses a run can end with."""
    if status not in ENDED:
        raise InvalidInput(
            f"A run cannot end with status {status!r}.",
            hint=f"Use one of {', '.join(sorted(ENDED))}.",
        )
    ended: RunStatus = status
    return ended


def check_artifact_path(path: Any) -> str:
    """A relative path with '/' separators, at most 500 characters."""
    if isinstance(path, str) and len(path) > MAX_PATH_LENGTH:
        raise InvalidInput(f"Artifact path is {len(path)} characters; the limit is 500.")
    return check_relative_path(path)
