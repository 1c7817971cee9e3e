"""Capital Bikeshare, hourly, 2011 (ISLP's copy): a real data set the pipeline has never seen.

8,645 hours with calendar and weather readings; ``casual + registered = bikers``,
so both counts are known only after the hour is over. The target is a busy hour
(more riders than the median). ISLP's own imports need torch, so only its data
file is read, found without importing the package.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

COLUMNS = ["hr", "weekday", "workingday", "holiday", "season", "weathersit", "temp", "hum"]


def load_bikeshare() -> pd.DataFrame:
    spec = importlib.util.find_spec("ISLP")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("ISLP is missing: scripts/test.sh installs it (pip install --no-deps ISLP)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "Bikeshare.csv"
    raw = pd.read_csv(path)
    frame = pd.DataFrame(
        {
            "hour_id": range(len(raw)),
            "event_timestamp": pd.Timestamp("2011-01-01", tz="UTC")
            + pd.to_timedelta(raw["day"] - 1, unit="D")
            + pd.to_timedelta(raw["hr"], unit="h"),
            **{c: raw[c] for c in COLUMNS},
            "weathersit": raw["weathersit"].astype(str),
            "casual": raw["casual"],
            "registered": raw["registered"],
        }
    )
    frame["busy"] = raw["bikers"] > raw["bikers"].median()
    return frame
