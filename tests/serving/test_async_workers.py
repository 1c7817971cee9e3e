"""Async inference against real processes: a worker killed with SIGKILL mid-job, whose
job another worker takes over when the lease runs out and completes once; and a 1 GB
body streamed to a server whose memory barely moves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.neighbors import KNeighborsClassifier
from tests.conftest import free_port, serving_in_thread, wait_healthy
from tests.serving.async_helpers import COLUMNS, frame, make_endpoint

import shipyard
from shipyard.serving.asynchronous.outputs import read_json

pytestmark = pytest.mark.filterwarnings("ignore:X has feature names:UserWarning")
SHIPYARD = str(Path(sys.executable).with_name("shipyard"))


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}


def start_worker(home: Path) -> subprocess.Popen[str]:
    command = [SHIPYARD, "--home", str(home), "worker", "slow", "--threads", "1", "--lease", "2"]
    return subprocess.Popen(
        command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def wait_for(check, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def test_a_job_whose_worker_is_killed_is_taken_over_and_completes_once(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    train = frame(6000, 1)
    # A slow model (brute-force neighbours): each 50,000-row batch takes a while.
    slow = KNeighborsClassifier(n_neighbors=9, algorithm="brute").fit(
        train[COLUMNS], (train["a"] * train["c"] > 0).astype(int)
    )
    make_endpoint(home, name="slow", model=slow)
    data = frame(200_000, 5)
    parquet = tmp_path / "input.parquet"
    pq.write_table(pa.Table.from_pandas(data, preserve_index=False), parquet)
    with serving_in_thread(home) as (base, _app):
        answer = httpx.post(
            f"{base}/endpoints/slow/async-invocations",
            headers={"X-Shipyard-Input-Location": str(parquet)},
            timeout=30,
        ).json()
    with shipyard.connect(home) as ws:
        jobs = ws.runtime.jobs
        first = start_worker(home)
        try:
            started = lambda: (jobs.get(answer["job_id"]).progress or {}).get("batches")  # noqa: E731
            wait_for(started, 120, "the first worker's first batch")
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            assert jobs.get(answer["job_id"]).state == "running"  # the lease runs on
            second = start_worker(home)
            try:
                done = wait_for(
                    lambda: (j := jobs.get(answer["job_id"])).done and j, 180, "the takeover"
                )
            finally:
                second.send_signal(signal.SIGTERM)
                second.wait(timeout=60)
        finally:
            if first.poll() is None:
                first.kill()
    assert done.state == "succeeded", done.error
    assert done.attempts == 2 and done.result["rows"] == len(data)
    output = read_json(answer["output_location"])
    assert output["predictions"] == slow.predict(data[COLUMNS]).tolist()
    folder = Path(answer["output_location"]).parent
    assert [p.name for p in folder.glob("*.json")] == [Path(answer["output_location"]).name]


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_1_gb_body_is_streamed_to_the_artifact_store_in_little_memory(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    make_endpoint(home)
    port = free_port()
    server = subprocess.Popen(
        [SHIPYARD, "--home", str(home), "serve", "scores", "--port", str(port)],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/endpoints/scores/async-invocations"
    try:
        wait_healthy(base, server)
        warm = httpx.post(url, content=b"a,b,c\n1,2,3\n", headers={"Content-Type": "text/csv"})
        assert warm.status_code == 202, warm.text
        before = _rss_kb(server.pid)
        peak = [before]
        sending = threading.Event()
        sending.set()

        def watch() -> None:
            while sending.is_set():
                peak[0] = max(peak[0], _rss_kb(server.pid))
                time.sleep(0.02)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        row = b"0.125,-1.5,2.25\n"
        chunk = row * ((1 << 20) // len(row))
        chunks = 1_000_000_000 // len(chunk) + 1
        total = len(b"a,b,c\n") + chunks * len(chunk)

        def body():  # type: ignore[no-untyped-def]
            yield b"a,b,c\n"
            for _ in range(chunks):
                yield chunk

        answer = httpx.post(url, content=body(), headers={"Content-Type": "text/csv"}, timeout=600)
        sending.clear()
        watcher.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert answer.status_code == 202, answer.text
    grown_mb = (peak[0] - before) / 1024
    assert total > 1_000_000_000
    assert grown_mb < 100, f"the server grew by {grown_mb:.0f} MB"
    with shipyard.connect(home) as ws:
        job = ws.runtime.jobs.get(answer.json()["job_id"])
        stored = job.payload["input"]
        assert stored["bytes"] == total and stored["format"] == "text/csv"
        assert ws.artifacts.verify(stored["location"]) == "ok"
    assert list((home / "tmp").glob("async-body-*")) == []  # the spool is gone
