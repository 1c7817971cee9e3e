"""The ttl boundary of an online read, on each store backend (SQLite and Redis): a value
exactly ttl old is still present; one microsecond older is outside_ttl."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from shipyard.features.online import MISSING, OUTSIDE_TTL, PRESENT, OnlineView, read_online
from shipyard.stores.online import OnlineStore, open_online_store

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(hours=2)
US = timedelta(microseconds=1)
VIEW = OnlineView("trips", ("speed",), ("driver",), TTL)


@pytest.fixture
def store(online_url: str) -> Iterator[OnlineStore]:
    with open_online_store(online_url) as opened:
        yield opened


def put(store: OnlineStore, stamps: dict[int, datetime]) -> None:
    data = pa.table(
        {
            "driver": list(stamps),
            "ts": pa.array(list(stamps.values()), pa.timestamp("us", "UTC")),
            "speed": [float(driver) for driver in stamps],
        }
    )
    store.write("trips", data, join_keys=["driver"], event_timestamp="ts", features=["speed"])


def statuses(
    store: OnlineStore, drivers: list[int], now: datetime, view: OnlineView = VIEW
) -> list[tuple[str, float | None]]:
    result = read_online(store, [view], [{"driver": d} for d in drivers], now=now)
    return [(row.statuses["trips__speed"], row.values["trips__speed"]) for row in result.rows]


def test_a_value_exactly_ttl_old_is_present_and_one_microsecond_older_is_not(
    store: OnlineStore,
) -> None:
    put(store, {1: NOW - TTL, 2: NOW - TTL - US, 3: NOW - TTL + US, 4: NOW})
    assert statuses(store, [1, 2, 3, 4, 5], NOW) == [
        (PRESENT, 1.0),
        (OUTSIDE_TTL, None),
        (PRESENT, 3.0),
        (PRESENT, 4.0),
        (MISSING, None),
    ]
    result = read_online(store, [VIEW], [{"driver": 1}, {"driver": 2}], now=NOW)
    # The event time is reported either way, to the microsecond.
    assert [row.event_timestamps["trips__speed"] for row in result.rows] == [
        NOW - TTL,
        NOW - TTL - US,
    ]


def test_the_same_value_leaves_the_ttl_one_microsecond_after_it_is_exactly_ttl_old(
    store: OnlineStore,
) -> None:
    event = NOW - timedelta(minutes=30)
    put(store, {7: event})
    assert statuses(store, [7], event + TTL) == [(PRESENT, 7.0)]
    assert statuses(store, [7], event + TTL + US) == [(OUTSIDE_TTL, None)]
    assert statuses(store, [7], event) == [(PRESENT, 7.0)]
    forever = OnlineView("trips", ("speed",), ("driver",), None)  # no ttl: never too old
    assert statuses(store, [7], event + timedelta(days=3650), forever) == [(PRESENT, 7.0)]
