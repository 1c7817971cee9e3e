"""Async inference through the durable queue on PostgreSQL: jobs per second with 4 workers,
and the latency a queued job adds over a direct (real-time) call.

Goal (issue 18): report both. One `shipyard serve` process accepts invocations (202) and
four `shipyard worker` processes (one thread each) run them; the metadata, and so the queue,
is on PostgreSQL. A job is a one-row JSON invocation of a LogisticRegression over 20
features, so the figures are the queue's and the workers' cost, not the model's.

- latency: N sequential jobs, each submitted then polled (GET /jobs/{id} every 5 ms) until
  it succeeded, beside N direct calls (POST /endpoints/NAME/invocations) of the same row;
- throughput: M jobs submitted by 8 client threads at once; jobs per second from the first
  submission to the last success, beside the same M direct calls over 8 threads.

    .venv/bin/python benchmarks/bench_async.py [--jobs 2000] [--sequential 100] [--workers 4]

PostgreSQL: SHIPYARD_BENCH_POSTGRES_URL, else a throw-away server is started with
scripts/start-postgres.sh (Debian's postgresql package).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import sqlalchemy as sa
from sklearn.linear_model import LogisticRegression

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from benchmarks.bench_jobs import postgres_url  # noqa: E402

import shipyard  # noqa: E402
from shipyard.stores.metadata import open_metadata_store  # noqa: E402

SHIPYARD = str(Path(sys.executable).with_name("shipyard"))
FEATURES = [f"x{i}" for i in range(20)]
KIND = "inference:scores"


def prepare(home: Path, url: str) -> dict[str, float]:
    meta = open_metadata_store(url)
    meta.upgrade()
    with meta.transaction() as conn:  # a fresh queue each run
        conn.execute(sa.text("DELETE FROM jobs"))
    meta.close()
    rng = np.random.default_rng(0)
    train = pd.DataFrame(rng.normal(size=(2000, 20)), columns=FEATURES)
    labels = (train["x0"] + train["x1"] > 0).astype(int)
    with shipyard.connect(home, metadata_url=url) as ws:
        if any(e.name == "scores" for e in ws.endpoints.list()):  # a database given, reused
            ws.endpoints.delete("scores")
        version = ws.models.register(
            "bench", LogisticRegression().fit(train, labels), input_example=train.head(5)
        ).version
        ws.endpoints.create("scores", f"bench@{version}", capture_rate=0.0)
    return {name: float(value) for name, value in train.iloc[0].items()}


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [SHIPYARD, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def wait_healthy(base: str) -> None:
    for _ in range(300):
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not start")


def direct(client: httpx.Client, base: str, row: dict[str, float]) -> float:
    started = time.perf_counter()
    answer = client.post(f"{base}/endpoints/scores/invocations", json={"records": [row]})
    assert answer.status_code == 200, answer.text
    return time.perf_counter() - started


def queued(client: httpx.Client, base: str, row: dict[str, float]) -> float:
    started = time.perf_counter()
    answer = client.post(f"{base}/endpoints/scores/async-invocations", json={"records": [row]})
    assert answer.status_code == 202, answer.text
    status = answer.json()["status_url"]
    while True:
        state = client.get(f"{base}{status}").json()["state"]
        if state == "succeeded":
            return time.perf_counter() - started
        assert state in ("queued", "running"), state
        time.sleep(0.005)


def submit(client: httpx.Client, base: str, row: dict[str, float]) -> None:
    answer = client.post(f"{base}/endpoints/scores/async-invocations", json={"records": [row]})
    assert answer.status_code == 202, answer.text


def succeeded(url: str) -> int:
    meta = open_metadata_store(url)
    try:
        with meta.transaction() as conn:
            return int(
                conn.execute(
                    sa.text("SELECT count(*) FROM jobs WHERE kind = :k AND state = 'succeeded'"),
                    {"k": KIND},
                ).scalar_one()
            )
    finally:
        meta.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--sequential", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url, started_pg = postgres_url(folder)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            home = folder / "ws"
            row = prepare(home, url)
            env = {**os.environ, "SHIPYARD_HOME": str(home), "SHIPYARD_METADATA_URL": url}
            port = "18431"
            base = f"http://127.0.0.1:{port}"
            procs.append(start(["serve", "scores", "--port", port], env))
            for _ in range(args.workers):
                procs.append(start(["worker", "scores", "--threads", "1"], env))
            wait_healthy(base)
            print(f"{args.workers} worker processes, PostgreSQL; load average "
                  f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
            with httpx.Client(timeout=60) as client:
                for _ in range(5):  # warm: models loaded, connections open, threads up
                    direct(client, base, row)
                    queued(client, base, row)
                calls = [direct(client, base, row) for _ in range(args.sequential)]
                jobs = [queued(client, base, row) for _ in range(args.sequential)]
            call_ms = statistics.median(calls) * 1000
            job_ms = statistics.median(jobs) * 1000
            print(f"latency, median of {args.sequential}: direct call {call_ms:.1f} ms, "
                  f"queued job {job_ms:.1f} ms (p90 {np.percentile(jobs, 90) * 1000:.1f} ms): "
                  f"the queue adds {job_ms - call_ms:.1f} ms")  # fmt: skip

            before = succeeded(url)
            clients = [httpx.Client(timeout=60) for _ in range(args.clients)]
            first = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                list(pool.map(lambda i: submit(clients[i % args.clients], base, row),
                              range(args.jobs)))  # fmt: skip
            accepted = time.perf_counter()
            while succeeded(url) - before < args.jobs:
                time.sleep(0.05)
            finished = time.perf_counter()
            start_direct = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                list(pool.map(lambda i: direct(clients[i % args.clients], base, row),
                              range(args.jobs)))  # fmt: skip
            direct_seconds = time.perf_counter() - start_direct
            for client in clients:
                client.close()
            rate = args.jobs / (finished - first)
            direct_rate = args.jobs / direct_seconds
            accept_rate = args.jobs / (accepted - first)
            print(f"throughput, {args.jobs:,} jobs from {args.clients} clients: accepted "
                  f"{accept_rate:,.0f}/s; completed {rate:,.0f} jobs/s; direct calls "
                  f"{direct_rate:,.0f}/s; queue / direct {rate / direct_rate:.2f}x")  # fmt: skip
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=60)
            if started_pg is not None:
                subprocess.run(
                    [str(ROOT / "scripts/stop-postgres.sh"), str(started_pg)], check=False
                )


if __name__ == "__main__":
    main()
