"""Feedback is kept in a folder per day received, and a reader asks only for the days
since its requests arrived: old labels are not read again by every monitoring run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from shipyard.monitoring import feedback


def test_feedback_is_read_from_the_days_received_since(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    old = now - timedelta(days=3)
    for at, request_id in ((old, "r-old"), (now, "r-new")):
        table = feedback.ground_truth_table([{"request_id": request_id, "label": 1}], now=at)
        written = feedback.append(tmp_path, feedback.GROUND_TRUTH, "e", table)
        assert written.parent.name == f"received={at.date()}"
    legacy = feedback.ground_truth_table([{"request_id": "r-legacy", "label": 0}], now=old)
    folder = tmp_path / "monitoring" / feedback.GROUND_TRUTH / "endpoint=e"
    pq.write_table(legacy, folder / "part-legacy.parquet")  # as written before the day folders

    def ids(**since: datetime) -> set[str]:
        read = feedback.read(tmp_path, feedback.GROUND_TRUTH, "e", **since)
        return set(read.column("request_id").to_pylist())

    assert ids() == {"r-old", "r-new", "r-legacy"}
    assert ids(received_since=now - timedelta(days=1)) == {"r-new", "r-legacy"}
    assert ids(received_since=old) == {"r-old", "r-new", "r-legacy"}  # whole days
    assert feedback.read(tmp_path, feedback.OUTCOMES, "e").num_rows == 0


def test_the_earliest_arrival_is_never_in_the_future() -> None:
    now = datetime.now(UTC)
    replayed = pd.DataFrame({"time": [pd.Timestamp("2013-05-01", tz="UTC")],
                             "arrived": [pd.Timestamp(now - timedelta(hours=2))]})  # fmt: skip
    assert feedback.earliest_arrival(replayed) == now - timedelta(hours=2)
    stated = pd.DataFrame({"time": [pd.Timestamp("2030-01-01", tz="UTC")], "arrived": [pd.NaT]})
    assert feedback.earliest_arrival(stated) <= datetime.now(UTC)
    assert feedback.earliest_arrival(stated.iloc[:0]) is None
