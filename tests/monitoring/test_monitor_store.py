"""The monitoring store on both databases: points replaced by key, alarms by compare-and-set,
and two writers of the same window at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shipyard.stores.metadata import open_metadata_store
from shipyard.stores.monitoring import SeriesPoint, monitor_store_for

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'm.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    metadata = open_metadata_store(url)
    metadata.upgrade()
    yield monitor_store_for(metadata)
    metadata.close()


def point(feature: str, value: float, hour: int = 0) -> SeriesPoint:
    start = T0 + timedelta(hours=hour)
    return SeriesPoint("e", "", "input", "ks", feature, start, start + timedelta(hours=1), value)


def test_a_window_computed_again_replaces_its_points(store: Any) -> None:
    store.put_points([point("a", 0.1), point("b", 0.2), point("a", 0.3, hour=1)])
    store.put_points([point("a", 0.5)])
    found = {(p.feature, p.start): p.value for p in store.points("e")}
    assert found == {("a", T0): 0.5, ("b", T0): 0.2, ("a", T0 + timedelta(hours=1)): 0.3}


def test_two_writers_of_one_window_at_once_both_succeed(store: Any) -> None:
    errors: list[BaseException] = []

    def write(value: float) -> None:
        try:
            for _ in range(20):
                store.put_points([point(f"f{i}", value) for i in range(20)])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(v,)) for v in (0.1, 0.2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.points("e")) == 20  # one point a key, whoever wrote last


def test_an_alarm_moves_once_per_revision(store: Any) -> None:
    alarm = store.put_alarm("x", "e", {"series": {}}, by="me")
    assert store.set_alarm_state("x", "ALARM", "why", expected_revision=alarm.revision)
    assert store.set_alarm_state("x", "OK", "late", expected_revision=alarm.revision) is None
    assert [e.new_state for e in store.alarm_history("x")] == ["ALARM"]
