"""Job claim latency with 8 concurrent workers at 100,000 queued jobs, on PostgreSQL and SQLite.

Goal (issue 14): claim p99 under 5 ms with 8 workers on PostgreSQL. Beside Shipyard's claim
(`SELECT ... FOR UPDATE SKIP LOCKED` then take the row, one transaction) runs the naive
claim a queue written without SKIP LOCKED uses: the same select `FOR UPDATE` (no skip), where
workers queue behind each other's row lock. Each worker claims then completes jobs for a
fixed time; the latency of every claim is recorded in the worker and reported as p50/p99.

    .venv/bin/python benchmarks/bench_jobs.py [--jobs 100000] [--seconds 20] [--workers 8]
        [--backends postgresql,sqlite]

The load average is printed first: on a shared machine, 8 workers wait for a core as
much as for the database, so a run under load overstates the latency.

PostgreSQL: SHIPYARD_BENCH_POSTGRES_URL, else a throw-away server is started with
scripts/start-postgres.sh (Debian's postgresql package).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from shipyard.stores.jobs import job_store_for  # noqa: E402
from shipyard.stores.metadata import open_metadata_store  # noqa: E402
from shipyard.stores.metadata.schema import jobs  # noqa: E402

LEASE = timedelta(minutes=5)


def fill(url: str, count: int) -> None:
    """A fresh jobs table holding ``count`` queued jobs (bulk insert: setup, not measured)."""
    meta = open_metadata_store(url)
    meta.upgrade()
    now = datetime.now(UTC)
    row = {
        "kind": "score", "state": "queued", "payload": {}, "priority": 0, "attempts": 0,
        "max_attempts": 3, "available_at": now, "created_at": now, "created_by": "bench",
    }  # fmt: skip
    with meta.transaction() as conn:
        conn.execute(sa.delete(jobs))
        for start in range(0, count, 10_000):
            conn.execute(sa.insert(jobs), [row] * min(10_000, count - start))
    meta.close()


def naive_claim(meta: object, worker: str) -> bool:
    """Select the oldest queued job FOR UPDATE (waiting on locked rows), then take it."""
    c = jobs.c
    pick = (
        sa.select(c.id).where(c.kind == "score", c.state == "queued")
        .order_by(c.priority.desc(), c.available_at, c.id).limit(1).with_for_update()
    )  # fmt: skip
    with meta.transaction() as conn:  # type: ignore[attr-defined]
        found = conn.execute(pick).scalar_one_or_none()
        if found is None:
            return False
        conn.execute(
            sa.update(jobs).where(c.id == found, c.state == "queued")
            .values(state="succeeded", lease_owner=worker)
        )  # fmt: skip
    return True


def work(url: str, how: str, name: str, seconds: float, out: str, start_at: float) -> None:
    meta = open_metadata_store(url)
    queue = job_store_for(meta)
    latencies = []
    while time.time() < start_at:
        time.sleep(0.001)
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        began = time.perf_counter()
        if how == "shipyard":
            job = queue.claim(["score"], worker=name, lease=LEASE)
            latencies.append(time.perf_counter() - began)
            if job is None:
                break
            queue.complete(job)
        else:
            took = naive_claim(meta, name)
            latencies.append(time.perf_counter() - began)
            if not took:
                break
    Path(out).write_text(json.dumps(latencies))
    meta.close()


def run(url: str, how: str, workers: int, seconds: float, folder: Path) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    outs = [str(folder / f"{how}-{i}.json") for i in range(workers)]
    start_at = time.time() + 3  # every worker imports and connects first
    procs = [
        context.Process(target=work, args=(url, how, f"w{i}", seconds, out, start_at))
        for i, out in enumerate(outs)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    latencies = sorted(x for out in outs for x in json.loads(Path(out).read_text()))
    ms = [x * 1000 for x in latencies]
    return {
        "claims": len(ms),
        "claims_per_s": len(ms) / seconds,
        "p50_ms": statistics.median(ms),
        "p99_ms": ms[int(0.99 * (len(ms) - 1))],
    }


def postgres_url(folder: Path) -> tuple[str, Path | None]:
    given = os.environ.get("SHIPYARD_BENCH_POSTGRES_URL")
    if given:
        return given, None
    data = folder / "pg"
    port = "55439"
    url = subprocess.run(
        [str(ROOT / "scripts/start-postgres.sh"), str(data), port],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    return url, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--backends", default="postgresql,sqlite", help="comma-separated")
    args = parser.parse_args()
    chosen = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(chosen) - {"postgresql", "sqlite"}
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pg, started = postgres_url(folder) if "postgresql" in chosen else ("", None)
        try:
            urls = {"postgresql": pg, "sqlite": f"sqlite:///{folder / 'metadata.db'}"}
            backends = {name: urls[name] for name in chosen}
            print(f"{args.workers} workers, {args.jobs:,} queued jobs, {args.seconds:g} s each; "
                  f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
            print(f"{'backend':<11} {'claim':<9} {'claims/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
            for backend, url in backends.items():
                results = {}
                for how in ("shipyard", "naive"):
                    fill(url, args.jobs)
                    results[how] = run(url, how, args.workers, args.seconds, folder)
                    r = results[how]
                    print(f"{backend:<11} {how:<9} {r['claims_per_s']:>9,.0f} "
                          f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f}")  # fmt: skip
                ratio = results["naive"]["p99_ms"] / results["shipyard"]["p99_ms"]
                print(f"{backend:<11} p99 naive / Shipyard: {ratio:.1f}x")
        finally:
            if started is not None:
                subprocess.run([str(ROOT / "scripts/stop-postgres.sh"), str(started)], check=False)


if __name__ == "__main__":
    main()
