"""Freshness is measured from the newest materialized event, not from when a run ended: a
source that stopped sending data looks stale however recently it was materialized."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from shipyard.features.definitions import Entity, Feature, FeatureView, Source
from shipyard.stores.online import open_online_store


def _readings(last: datetime, hours: int = 24) -> pd.DataFrame:
    times = [last - timedelta(hours=h) for h in range(hours)]
    return pd.DataFrame({"origin": ["JFK"] * hours, "time_hour": times, "temp": [50.0] * hours})


def test_a_source_that_stopped_sending_shows_its_age(online_url: str, tmp_path: Path) -> None:
    import shipyard

    now = datetime.now(UTC).replace(microsecond=0)
    stopped = now - timedelta(days=10)
    with shipyard.connect(tmp_path / "home", online_url=online_url) as ws:
        ws.datasets.register("weather", _readings(stopped), time_column="time_hour")
        view = FeatureView(
            "weather",
            entities=("airport",),
            source=Source(dataset="weather"),
            event_timestamp="time_hour",
            features=(Feature("temp", "float64"),),
        )
        ws.features.apply([Entity("airport", ("origin",)), view])
        ws.features.materialize(["weather"], stopped - timedelta(days=5), now)  # up to now
        [fresh] = ws.features.freshness(["weather"])
        assert fresh.materialized_until == now
        assert fresh.last_event == stopped
        assert fresh.lag is not None and timedelta(days=10) <= fresh.lag < timedelta(
            days=10, hours=1
        )
        # A later, empty interval keeps the age: nothing newer arrived.
        ws.features.materialize_incremental(["weather"], now + timedelta(minutes=1))
        [again] = ws.features.freshness(["weather"])
        assert again.last_event == stopped and again.lag is not None
        assert again.lag >= timedelta(days=10)


def test_an_online_store_from_before_event_times_were_kept_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "online.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE online_intervals (view TEXT NOT NULL, start_us INTEGER NOT NULL, "
        "end_us INTEGER NOT NULL, rows INTEGER NOT NULL, completed_us INTEGER NOT NULL, "
        "PRIMARY KEY (view, start_us, end_us));"
        "INSERT INTO online_intervals VALUES ('weather', 0, 86400000000, 3, 86400000000);"
        "PRAGMA user_version = 1;"
    )
    old.close()
    store: Any = open_online_store(f"sqlite:///{path}")
    try:
        [interval] = store.materialized_intervals("weather")
        assert interval.end == datetime(1970, 1, 2, tzinfo=UTC) and interval.last_event is None
        assert store.last_event_time("weather") is None
        later = datetime(1970, 1, 3, tzinfo=UTC)
        store.finish_materialization("weather", interval.end, later, 1, later)
        assert store.last_event_time("weather") == later
    finally:
        store.close()
