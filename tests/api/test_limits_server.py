"""Bounded requests on a real uvicorn server: an oversized upload is refused quickly without
the server's memory growing, and a client that hangs up stops the work it asked for."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import uvicorn

import shipyard
from shipyard.api.app import create_app
from shipyard.features.definitions import Entity, Feature, FeatureView, Source

SHIPYARD = str(Path(sys.executable).with_name("shipyard"))
UPLOAD = 50 * 1024 * 1024


@pytest.fixture
def server(shipyard_server: tuple[str, int]) -> tuple[str, int]:
    """`shipyard server` as its own process, with the default limits: (base URL, pid)."""
    return shipyard_server


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {name: int(fields[name].split()[0]) for name in ("VmRSS", "VmHWM")}


def upload(total: int = UPLOAD, chunk: int = 256 * 1024) -> Iterator[bytes]:
    block = b" " * chunk
    for _ in range(total // chunk):
        yield block


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_50_mb_upload_is_refused_fast_without_growing_the_server(
    server: tuple[str, int], declared: bool
) -> None:
    base, pid = server
    before = memory_kib(pid)
    headers = {"content-type": "application/json"}
    if declared:
        headers["content-length"] = str(UPLOAD)
    started = time.monotonic()
    response = httpx.post(f"{base}/features/online", content=upload(), headers=headers, timeout=60)
    took = time.monotonic() - started
    after = memory_kib(pid)

    assert response.status_code == 413
    body = response.json()
    assert body["error"] == "request_too_large" and "1,048,576 bytes" in body["message"]
    assert "max_request_bytes" in body["hint"]
    assert took < 5, f"the 413 took {took:.1f} s"
    grew_mib = (after["VmHWM"] - before["VmRSS"]) / 1024
    assert grew_mib < 100, f"the server's peak memory grew by {grew_mib:.0f} MiB"
    print(f"\n413 after {took:.2f} s; server peak memory grew {grew_mib:.1f} MiB")
    assert httpx.get(f"{base}/health", timeout=5).json()["status"] == "ok"


class SlowStore:
    """An online store whose reads take a while and are counted."""

    def __init__(self, store: Any, seconds: float) -> None:
        self._store = store
        self._seconds = seconds
        self.reads = 0

    def read(self, view: str, keys: Sequence[Any], features: Sequence[str]) -> list[Any]:
        self.reads += 1
        time.sleep(self._seconds)
        return list(self._store.read(view, keys, features))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.fixture
def slow_server(tmp_path: Path, port: int, healthy: Any) -> Iterator[tuple[int, SlowStore]]:
    """An in-process uvicorn server over a workspace whose online reads take 0.3 s each."""
    now = datetime.now(UTC).replace(microsecond=0)
    with shipyard.connect(tmp_path / "home") as ws:
        frame = pd.DataFrame({"flight_id": [1], "ts": [now], "delay": [5.0]})
        ws.datasets.register("delays", frame, time_column="ts")
        ws.features.apply(
            [
                Entity("flight", ("flight_id",)),
                FeatureView("delays", ("flight",), Source(dataset="delays"), "ts",
                            (Feature("delay", "float64"),)),
            ]
        )  # fmt: skip
        slow = SlowStore(ws.features.online, seconds=0.3)
        ws.features._online = slow  # type: ignore[assignment]
        config = uvicorn.Config(create_app(ws), host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            healthy(f"http://127.0.0.1:{port}")
            yield port, slow
        finally:
            server.should_exit = True
            thread.join(timeout=30)


def test_a_client_that_hangs_up_stops_the_work(slow_server: tuple[int, SlowStore]) -> None:
    port, slow = slow_server
    entities = [{"flight_id": i} for i in range(8000)]  # 8 reads of 1,000: 2.4 s of work
    body = json.dumps({"entities": entities, "features": ["delays/delay"]}).encode()
    head = (
        f"POST /features/online HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head + body)
        deadline = time.monotonic() + 30
        while slow.reads == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert slow.reads > 0, "the read never started"
    time.sleep(2.5)  # longer than the whole request would take
    assert slow.reads <= 2, f"{slow.reads} of 8 reads ran after the client hung up"
