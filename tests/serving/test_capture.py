"""Capture: sampled requests reach Parquet off the request path, over real HTTP."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import uvicorn
from fastapi import FastAPI
from sklearn.linear_model import LogisticRegression
from tests.conftest import free_port, serving_in_thread, wait_healthy

import shipyard
from shipyard.serving.app import create_serving_app
from shipyard.serving.capture import CaptureRecord, CaptureWriter, read_capture, sampled
from shipyard.stores.control.base import Variant

pytestmark = pytest.mark.filterwarnings("ignore:X has feature names:UserWarning")


def frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, 3)), columns=["a", "b", "c"])


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FastAPI, Path]]:
    """Endpoints `all` (capture_rate 1) and `none` (capture_rate 0) over one classifier,
    served by the app on uvicorn in a thread of this process."""
    home = tmp_path_factory.mktemp("capture") / "ws"
    train = frame(100, 1)
    with shipyard.connect(home) as ws:
        model = LogisticRegression().fit(train, (train["a"] > 0).astype(int))
        ws.models.register("delay", model, input_example=train.head(5))
        for name, rate in (("all", 1.0), ("none", 0.0)):
            ws.runtime.control.create_endpoint(
                name, {"capture_rate": rate}, [Variant("main", "delay", 1, 1.0)], by="pipeline"
            )
    with serving_in_thread(home) as (base, app):
        yield base, app, home


def test_every_request_good_or_bad_is_captured_under_its_request_id(
    serving: tuple[str, FastAPI, Path],
) -> None:
    base, app, home = serving
    url = f"{base}/endpoints/all/invocations"
    good: dict[str, Any] = {}
    for i in range(5):
        data = frame(2, 10 + i)
        response = httpx.post(
            url, json={"records": data.to_dict("records")}, headers={"X-Shipyard-Key": f"u{i}"}
        )
        assert response.status_code == 200, response.text
        good[response.json()["request_id"]] = (data, response.json()["predictions"], f"u{i}")
    bad = {}
    for body in ({"records": [{"a": "x", "b": 1.0, "c": 2.0}]}, {"records": []}):
        response = httpx.post(url, json=body)
        assert response.status_code == 422
        bad[response.headers["X-Request-Id"]] = response.json()["problems"]
    app.state.serving.capture.flush()

    table = read_capture(home, "all")
    rows = {row["request_id"]: row for row in table.to_pylist()}
    assert set(rows) == set(good) | set(bad)
    for request_id, (data, predictions, key) in good.items():
        row = rows[request_id]
        assert (row["status"], row["variant"], row["key"], row["error"]) == (200, "main", key, None)
        assert json.loads(row["input"]) == data.to_dict("list")
        assert json.loads(row["output"]) == predictions
        scores = np.array(json.loads(row["scores"]))
        assert scores.shape == (2, 2) and np.allclose(scores.sum(axis=1), 1.0)
        assert list(scores.argmax(axis=1)) == predictions
        assert 0 <= row["parse_seconds"] <= row["total_seconds"]
        assert 0 <= row["model_seconds"] <= row["total_seconds"]
    for request_id, problems in bad.items():
        row = rows[request_id]
        assert row["status"] == 422 and row["output"] is None and row["model_seconds"] is None
        assert json.loads(row["error"])["problems"] == problems
    assert all(row["endpoint"] == "all" for row in rows.values())
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    assert read_capture(home, "all", start=hour + timedelta(hours=1)).num_rows == 0
    assert read_capture(home, "all", start=hour - timedelta(hours=1)).num_rows == len(rows)
    parts = list((home / "capture" / "endpoint=all" / "variant=main").glob("date=*/hour=*/*"))
    assert parts and all(p.name.startswith("part-") and p.suffix == ".parquet" for p in parts)


def test_a_capture_rate_of_zero_captures_nothing(serving: tuple[str, FastAPI, Path]) -> None:
    base, app, home = serving
    body = {"records": frame(1, 3).to_dict("records")}
    for _ in range(3):
        assert httpx.post(f"{base}/endpoints/none/invocations", json=body).status_code == 200
    app.state.serving.capture.flush()
    assert read_capture(home, "none").num_rows == 0
    assert not (home / "capture" / "endpoint=none").exists()


def test_the_app_writes_what_it_captured_when_its_lifespan_ends(
    serving: tuple[str, FastAPI, Path],
) -> None:
    """Without a flush: ending the server (as SIGTERM to `shipyard serve` does, before
    uvicorn raises the signal again and the process ends) writes the queue."""
    _, _, home = serving
    runtime = shipyard.open_runtime(home)
    app = create_serving_app(runtime, endpoints=["all"])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base)
        body = {"records": frame(1, 4).to_dict("records")}
        ids = [
            httpx.post(f"{base}/endpoints/all/invocations", json=body).json()["request_id"]
            for _ in range(20)
        ]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        runtime.close()
    assert set(ids) <= set(read_capture(home, "all").column("request_id").to_pylist())


def test_sampling_is_stable_per_request_id_and_near_the_rate() -> None:
    ids = [f"req-{i}" for i in range(4000)]
    chosen = [i for i in ids if sampled(i, 0.25)]
    assert chosen == [i for i in ids if sampled(i, 0.25)]
    assert 0.22 < len(chosen) / len(ids) < 0.28
    assert set(chosen) <= {i for i in ids if sampled(i, 0.5)}  # a higher rate keeps them
    assert not any(sampled(i, 0.0) for i in ids) and all(sampled(i, 1.0) for i in ids)


def record(request_id: str) -> CaptureRecord:
    return CaptureRecord(request_id, "e", "v", None, 200, 0.001, 0.002, 0.004, columns={"a": [1.0]})


def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    writer = CaptureWriter(tmp_path / "capture", registry, queue_size=2, autostart=False)
    started = time.perf_counter()
    offered = [writer.offer(record(f"r{i}")) for i in range(5)]
    assert time.perf_counter() - started < 0.5
    assert offered == [True, True, False, False, False]
    assert 'shipyard_capture_dropped_total{endpoint="e"} 3.0' in generate_latest(registry).decode()
    writer.close()
    assert sorted(read_capture(tmp_path, "e").column("request_id").to_pylist()) == ["r0", "r1"]


def test_the_queue_is_bounded_by_the_bytes_its_records_hold(tmp_path: Path) -> None:
    """A megabyte request is a record too: a count alone would let the queue hold
    gigabytes. Past the byte bound records are dropped; once written, room returns."""
    writer = CaptureWriter(tmp_path / "capture", queue_bytes=7 << 19, autostart=False)  # 3.5 MiB
    big = {"text": ["x" * (1 << 20)]}
    offered = [
        writer.offer(CaptureRecord(f"r{i}", "e", "v", None, 200, 0.0, 0.0, 0.0, columns=big))
        for i in range(6)
    ]
    assert offered == [True, True, True, False, False, False]
    assert writer.offer(record("small"))  # a small one still fits under the bound
    writer.flush()  # written: the queue is empty again and takes big records
    assert writer.offer(CaptureRecord("r9", "e", "v", None, 200, 0.0, 0.0, 0.0, columns=big))
    writer.close()
    assert sorted(read_capture(tmp_path, "e").column("request_id").to_pylist()) == [
        "r0", "r1", "r2", "r9", "small"
    ]  # fmt: skip


def test_the_writer_flushes_every_n_records_on_its_thread(tmp_path: Path) -> None:
    writer = CaptureWriter(tmp_path / "capture", flush_records=3, flush_seconds=60)
    try:
        for i in range(3):
            assert writer.offer(record(f"r{i}"))
        deadline = time.monotonic() + 3
        while writer.written < 3:
            assert time.monotonic() < deadline, "three records did not make a file"
            time.sleep(0.01)
        assert read_capture(tmp_path, "e").num_rows == 3
    finally:
        writer.close()


def test_missing_values_are_captured_as_json_null(tmp_path: Path) -> None:
    """An enriched feature the online store lacked is NaN in the model's input; the
    capture's JSON text must still be JSON (null), which other readers than Python parse."""
    captured = record("r0")
    captured.enriched = {"weather__temp": np.array([np.nan, 21.5])}
    captured.statuses = {"weather__temp": ["outside_ttl", "present"]}
    captured.columns = {"origin": ["JFK", "EWR"], "hour": np.array([7, 8])}
    writer = CaptureWriter(tmp_path / "capture", autostart=False)
    writer.offer(captured)
    writer.close()
    row = read_capture(tmp_path, "e").to_pylist()[0]

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    assert json.loads(row["enriched"], parse_constant=refuse) == {"weather__temp": [None, 21.5]}
    assert json.loads(row["input"], parse_constant=refuse) == {
        "origin": ["JFK", "EWR"],
        "hour": [7, 8],
    }
