"""One way to turn results into plain JSON values, shared by every report."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd


def jsonable(value: Any) -> Any:
    """``value`` with numpy/pandas scalars, times and containers made JSON-safe.

    Non-finite floats and missing values become ``None``.

    >>> jsonable({"n": np.int64(3), "t": pd.Timestamp("2024-01-01"), "x": [np.nan]})
    {'n': 3, 't': '2024-01-01T00:00:00', 'x': [None]}
    """
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        return [jsonable(v) for v in value]
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timedelta):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else pd.Timestamp(value).isoformat()
    if isinstance(value, np.timedelta64):
        return None if np.isnat(value) else str(pd.Timedelta(value))
    if isinstance(value, np.generic):
        return jsonable(value.item())
    return str(value)
