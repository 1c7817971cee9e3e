"""Time windows: sets such as ``recent_testing`` cut from the end of the timeline.

A window is either ``last`` (a duration; the window is ``(max_time - last, max_time]``)
or ``start`` (a timestamp; rows at or after it). Times are compared in UTC: a naive
``start`` or a naive time column is taken to be UTC already.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from shipyard.errors import InvalidInput

_LAST_HINT = 'Use a pandas duration such as "30D", "12h" or "2W", or an offset alias such as "1MS".'


def parse_last(value: object) -> pd.Timedelta | pd.DateOffset:
    """The duration a window's ``last`` names; positive, with a unit.

    >>> parse_last("30D")
    Timedelta('30 days 00:00:00')
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(
            f"Window 'last' must be a duration string, got {value!r}.", hint=_LAST_HINT
        )
    text = value.strip()
    # A bare number parses as nanoseconds in pandas: almost surely a missing unit.
    if text.lstrip("+-").replace(".", "", 1).isdigit():
        raise InvalidInput(f"Window 'last' {value!r} has no unit.", hint=f"Write e.g. '{text}D'.")
    try:
        delta = pd.Timedelta(text)
    except ValueError:
        try:
            offset = to_offset(text)
        except ValueError:
            raise InvalidInput(
                f"Window 'last' {value!r} is not a duration.", hint=_LAST_HINT
            ) from None
        if offset.n <= 0:
            raise InvalidInput(
                f"Window 'last' {value!r} must be positive.", hint=_LAST_HINT
            ) from None
        return cast(pd.DateOffset, offset)
    if delta <= pd.Timedelta(0):
        raise InvalidInput(f"Window 'last' {value!r} must be positive.", hint=_LAST_HINT)
    return delta


def parse_start(value: object) -> pd.Timestamp:
    """The UTC timestamp a window's ``start`` names; naive values are taken as UTC.

    >>> parse_start("2013-11-01")
    Timestamp('2013-11-01 00:00:00+0000', tz='UTC')
    """
    try:
        stamp: object = pd.Timestamp(value)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        stamp = None
    if not isinstance(stamp, pd.Timestamp) or pd.isna(stamp):
        raise InvalidInput(
            f"Window 'start' {value!r} is not a timestamp.",
            hint='Use an ISO date or time such as "2013-11-01" or "2013-11-01T00:00:00Z".',
        )
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


@dataclass(frozen=True)
class TimeWindow:
    """A trailing window of time; exactly one of ``last`` and ``start`` is set.

    >>> TimeWindow(last="30D").describe(), TimeWindow(start="2013-11-01").describe()
    ('the last 30D', 'from 2013-11-01')
    """

    last: str | None = None
    start: str | None = None

    def __post_init__(self) -> None:
        if (self.last is None) == (self.start is None):
            raise InvalidInput(
                "A time window needs exactly one of 'last' and 'start'.",
                hint='E.g. {"last": "30D"} or {"start": "2013-11-01"}.',
            )
        if self.last is not None:
            parse_last(self.last)
        if self.start is not None:
            parse_start(self.start)

    @classmethod
    def from_value(cls, value: object) -> TimeWindow:
        """A window from a mapping such as ``{"last": "30D"}`` (dates become ISO text)."""
        if isinstance(value, TimeWindow):
            return value
        if not isinstance(value, Mapping):
            raise InvalidInput(
                f"A time window must be a mapping, got {type(value).__name__}.",
                hint='E.g. {"last": "30D"} or {"start": "2013-11-01"}.',
            )
        unknown = sorted(map(str, set(value) - {"last", "start"}))
        if unknown:
            raise InvalidInput(
                f"Unknown time window key(s): {', '.join(map(repr, unknown))}.",
                hint="A window takes 'last' (a duration) or 'start' (a timestamp).",
            )
        start = value.get("start")
        # YAML reads 2013-11-01 as a date; keep the plan text-only so it stays JSON-safe.
        if isinstance(start, dt.date | pd.Timestamp):
            start = start.isoformat()
        return cls(last=value.get("last"), start=start)

    def to_dict(self) -> dict[str, str]:
        """The JSON-safe form: ``{"last": ...}`` or ``{"start": ...}``."""
        return {"last": self.last} if self.last is not None else {"start": str(self.start)}

    def describe(self) -> str:
        """Words for messages: ``the last 30D`` or ``from 2013-11-01``."""
        return f"the last {self.last}" if self.last is not None else f"from {self.start}"

    def lower_bound(self, max_time: pd.Timestamp) -> tuple[pd.Timestamp, bool]:
        """The window's first instant and whether it is included, given the latest time."""
        if self.last is not None:
            return max_time - parse_last(self.last), False
        return parse_start(self.start), True


def utc_times(frame: pd.DataFrame, column: str) -> pd.Series:
    """``frame[column]`` as timezone-aware UTC; naive values are taken to be UTC.

    >>> utc_times(pd.DataFrame({"t": pd.to_datetime(["2013-01-01"])}), "t").dt.tz
    datetime.timezone.utc
    """
    times = frame[column]
    if not pd.api.types.is_datetime64_any_dtype(times.dtype):
        raise InvalidInput(
            f"Time column {column!r} has dtype {times.dtype}, not a datetime.",
            hint=f"Parse it first: frame[{column!r}] = pd.to_datetime(frame[{column!r}], utc=True)",
        )
    nulls = int(times.isna().sum())
    if nulls:
        raise InvalidInput(
            f"Time column {column!r} has {nulls:,} null value(s); every row needs a time to be "
            "placed before or inside a window.",
            hint="Drop or fill those rows first.",
        )
    if times.dt.tz is None:
        return times.dt.tz_localize("UTC")
    return times.dt.tz_convert("UTC")


def window_codes(
    times: pd.Series, windows: Mapping[str, TimeWindow], first_code: int
) -> np.ndarray:
    """Set index per row: ``first_code + i`` for the i-th window, -1 before every window.

    Windows overlap at the end of the timeline, so a row goes to the window that
    starts latest among those containing it: each window holds the rows from its
    start up to the next window's start.
    """
    codes = np.full(len(times), -1, dtype=np.int8)
    max_time = times.max()
    bounds: list[tuple[pd.Timestamp, bool, int]] = []
    for i, window in enumerate(windows.values()):
        bound, inclusive = window.lower_bound(max_time)
        bounds.append((bound, inclusive, first_code + i))
    # At equal instants an inclusive bound starts earlier than an exclusive one.
    for bound, inclusive, code in sorted(bounds, key=lambda b: (b[0], not b[1])):
        inside = (times >= bound) if inclusive else (times > bound)
        codes[inside.to_numpy(dtype=bool)] = code
    return codes


def describe_range(times: pd.Series) -> str:
    """``from <min> to <max>`` for messages."""
    return f"from {times.min().isoformat()} to {times.max().isoformat()}"


def as_sortable(times: pd.Series) -> np.ndarray:
    """UTC times as int64 ticks, for ordering only (the unit is the column's own)."""
    return times.dt.tz_localize(None).to_numpy().view(np.int64)
