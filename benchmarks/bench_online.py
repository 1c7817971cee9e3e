"""Online reads: Shipyard (in-process, HTTP, Redis) beside Feast's SQLite online store.

Run: .venv/bin/python benchmarks/bench_online.py [--entities 10000] [--calls 10000]
     [--warmup 1000] [--rounds 3] [--check 200] [--skip-feast] [--skip-redis] [--skip-http]

One synthetic feature view, `driver_stats`: ENTITIES drivers (ids 1000, 1001, ...), 10
float64 features (full-precision normal draws), one row per driver with an event time
within the last day, a 7-day ttl (so every value is `present`). The rows are written
to one Parquet file, registered as a Shipyard dataset, materialized into each online
store, and read by Feast from the same file.

Each call reads 1 entity x 10 features; the entity of each call is drawn at random
(the same sequence for every method, seeded per round). Each method is warmed up with
WARMUP calls, then CALLS calls are timed one by one (`perf_counter_ns`, garbage
collector left on). A round runs every method once, in a rotated order; the figures
reported are the medians over ROUNDS rounds of each round's percentiles (nearest rank).
The summary divides each method's medians by those of Shipyard's in-process call and
of Feast's (above 1x: slower than that reference).

Methods:
- Shipyard in-process, `ws.features.get_online([{"driver_id": k}], ["driver_stats/*"])`
  on the embedded SQLite online store: the full service call (feature selection,
  registry lookups, the access check, the store read, the ttl verdicts). The
  workspace's principal has no policy attached, so the access check is the
  unrestricted default; the same call is also timed for a principal with an Allow
  policy attached (the policy evaluated on every call, compiled policies cached 5 s);
- for reference, its parts: `ws.features.resolve(...)` alone (selection, registry
  lookups, access check) and the store's raw `read("driver_stats", [(k,)], features)`;
- Shipyard over HTTP: `POST /features/online` on a `shipyard server` (uvicorn, one
  process) on 127.0.0.1, from this process with one keep-alive `httpx.Client`,
  timed to the parsed JSON response;
- Shipyard with Redis as the online store (`scripts/start-redis.sh`, a throw-away
  server on 127.0.0.1), the same service call and raw read; skipped with a note when
  `redis-server` is missing;
- Feast, `store.get_online_features(...).to_dict()` on its SQLite online store
  (and without `.to_dict()`), in Feast's own virtual environment
  (`benchmarks/.venv-feast`, made on first use at the versions pinned in
  `peer_env.FEAST`, which the output prints), a subprocess kept alive across rounds
  that materializes the same Parquet file with `store.materialize` and times its own
  calls the same way.

Every method's values for a sample of CHECK entities (plus one unknown entity, which
must read as all-None) are compared with the Parquet file's values, exactly. This is
a benchmark, not a test: it never fails on timing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from peer_env import FEAST, ensure_peer

# Top-level imports stay stdlib only: this file also runs as the Feast worker inside
# Feast's environment, which has no Shipyard.

SEED = 20261128
VIEW = "driver_stats"
DATASET = "driver_stats_rows"
FEATURES = [f"f{i}" for i in range(10)]
TTL_DAYS = 7
FIRST_ID = 1000
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
GOAL_P99_MS = 0.5  # Shipyard in-process on SQLite, the full service call
PROTOCOL = "@@ "  # the Feast worker's answers start with this (other stdout lines are noise)


# --- data and timing (shared with the Feast worker) -------------------------------------------


def write_rows(entities: int, path: Path, now_us: int) -> None:
    """One row per driver: event time within the day before ``now_us``, 10 float features."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng([SEED, entities])
    day = 86_400_000_000
    event = now_us - 60_000_000 - rng.integers(0, day - 120_000_000, entities)
    columns: dict[str, Any] = {
        "driver_id": np.arange(FIRST_ID, FIRST_ID + entities, dtype=np.int64),
        "event_timestamp": pa.array(event, pa.timestamp("us", "UTC")),
    }
    for name in FEATURES:
        columns[name] = rng.normal(size=entities)
    pq.write_table(pa.table(columns), path)


def call_keys(entities: int, count: int, round_no: int) -> list[int]:
    """The entity of each call: the same random sequence for every method in a round."""
    rng = random.Random(f"{SEED}-{round_no}")
    return [FIRST_ID + rng.randrange(entities) for _ in range(count)]


def check_keys(entities: int, count: int) -> list[int]:
    """A sample of known drivers and one unknown one (last)."""
    rng = random.Random(f"{SEED}-check")
    sample = rng.sample(range(FIRST_ID, FIRST_ID + entities), min(count, entities))
    return [*sample, FIRST_ID + entities + 7]


def time_calls(call: Callable[[int], Any], keys: list[int], warmup: int) -> list[int]:
    """Nanoseconds of each call after the first ``warmup``."""
    clock = time.perf_counter_ns
    for key in keys[:warmup]:
        call(key)
    spent = []
    for key in keys[warmup:]:
        start = clock()
        call(key)
        spent.append(clock() - start)
    return spent


def percentiles(spent_ns: list[int]) -> dict[str, float]:
    """p50, p90, p99, p99.9 (nearest rank), mean and max, in milliseconds."""
    ordered = sorted(spent_ns)
    n = len(ordered)

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * n) - 1)] / 1e6

    return {"n": n, "p50": rank(0.50), "p90": rank(0.90), "p99": rank(0.99),
            "p999": rank(0.999), "mean": sum(ordered) / n / 1e6,
            "max": ordered[-1] / 1e6}  # fmt: skip


# --- the Feast worker (runs in Feast's environment) -------------------------------------------


def feast_worker(data: str, scratch: str, entities: int, check: int) -> None:
    """Materialize into Feast's SQLite online store, then answer rounds on stdin."""
    import warnings
    from datetime import UTC, datetime, timedelta

    warnings.filterwarnings("ignore")
    import feast
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64

    def say(message: dict[str, Any]) -> None:
        print(PROTOCOL + json.dumps(message), flush=True)

    repo = Path(scratch) / "feast_repo"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text(
        f"project: bench_online\nregistry: {repo}/registry.db\nprovider: local\n"
        f"online_store:\n  type: sqlite\n  path: {repo}/online.db\n"
        "offline_store:\n  type: file\nentity_key_serialization_version: 3\n"
    )
    store = FeatureStore(repo_path=str(repo))
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    view = FeatureView(
        name=VIEW,
        entities=[driver],
        ttl=timedelta(days=TTL_DAYS),
        schema=[Field(name=n, dtype=Float64) for n in FEATURES],
        source=FileSource(path=data, timestamp_field="event_timestamp"),
    )
    store.apply([driver, view])
    now = datetime.now(UTC)
    began = time.perf_counter()
    store.materialize(now - timedelta(days=2), now + timedelta(minutes=1))
    materialize_s = time.perf_counter() - began
    refs = [f"{VIEW}:{n}" for n in FEATURES]

    def read(key: int) -> dict[str, Any]:
        return store.get_online_features(features=refs, entity_rows=[{"driver_id": key}]).to_dict()

    def read_raw(key: int) -> Any:
        return store.get_online_features(features=refs, entity_rows=[{"driver_id": key}])

    sample = {}
    for key in check_keys(entities, check):
        got = read(key)
        sample[str(key)] = {n: got[n][0] for n in FEATURES}
    say({"ready": True, "version": feast.__version__, "materialize_s": materialize_s,
         "sample": sample})  # fmt: skip
    for line in sys.stdin:
        parts = line.split()
        if not parts or parts[0] == "quit":
            break
        _, round_no, calls, warmup = parts
        keys = call_keys(entities, int(calls) + int(warmup), int(round_no))
        found = {
            "feast": percentiles(time_calls(read, keys, int(warmup))),
            "feast_no_dict": percentiles(time_calls(read_raw, keys, int(warmup))),
        }
        say({"round": int(round_no), "results": found})


class FeastPeer:
    """The Feast worker process, kept alive across rounds."""

    def __init__(self, python: str, data: Path, scratch: Path, args: argparse.Namespace) -> None:
        self.log = scratch / "feast_stderr.txt"
        env = dict(os.environ, DO_NOT_TRACK="1", FEAST_USAGE="False", PYTHONWARNINGS="ignore")
        command = [python, __file__, "--feast-worker", str(data), str(scratch),
                   str(args.entities), str(args.check)]  # fmt: skip
        self._stderr = self.log.open("w")
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, text=True, env=env)  # fmt: skip
        self.ready = self._answer()

    def _answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(PROTOCOL):
                answer: dict[str, Any] = json.loads(line[len(PROTOCOL) :])
                return answer
        tail = self.log.read_text()[-2000:]
        raise RuntimeError(f"the Feast worker ended (exit {self.proc.wait()}):\n{tail}")

    def round(self, round_no: int, calls: int, warmup: int) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"round {round_no} {calls} {warmup}\n")
        self.proc.stdin.flush()
        results: dict[str, Any] = self._answer()["results"]
        return results

    def close(self) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()


# --- Shipyard's side --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def set_up_workspace(home: Path, data: Path, online_url: str) -> tuple[Any, float]:
    """A workspace with the view applied and materialized; the materialize time in seconds."""
    from datetime import UTC, datetime, timedelta

    import pyarrow.parquet as pq

    import shipyard
    from shipyard.features.definitions import Entity, Feature, FeatureView, Source

    ws = shipyard.connect(home, online_url=online_url)
    if DATASET not in ws.metadata.list_names("dataset"):
        ws.datasets.register(DATASET, pq.read_table(data), time_column="event_timestamp")
        view = FeatureView(
            VIEW,
            ("driver",),
            Source(dataset=DATASET),
            "event_timestamp",
            tuple(Feature(n, "float64") for n in FEATURES),
            ttl=timedelta(days=TTL_DAYS),
        )
        ws.features.apply([Entity("driver", ("driver_id",)), view])
    now = datetime.now(UTC)
    began = time.perf_counter()
    ws.features.materialize([VIEW], now - timedelta(days=2), now + timedelta(minutes=1))
    return ws, time.perf_counter() - began


def reader_workspace(home: Path, online_url: str) -> Any:
    """The same workspace as a principal with an Allow policy for online reads."""
    import shipyard

    ws = shipyard.connect(home, online_url=online_url, principal="bench-reader")
    ws.security.put_policy(
        "online-readers",
        {"Version": "2026-11-01", "Statement": [
            {"Sid": "ReadOnline", "Effect": "Allow", "Action": "features:ReadOnline",
             "Resource": f"shipyard:feature:{VIEW}/*"},
        ]},
    )  # fmt: skip
    ws.security.attach("online-readers", principal="bench-reader")
    return ws


def service_methods(ws: Any, prefix: str) -> dict[str, tuple[Callable[[int], Any], Callable]]:
    """name -> (the timed call, a function giving the values of one entity)."""
    features = ws.features
    online = features.online
    wanted = [f"{VIEW}/*"]

    def get_online(key: int) -> Any:
        return features.get_online([{"driver_id": key}], wanted)

    def get_online_values(key: int) -> dict[str, Any]:
        row = get_online(key).rows[0]
        return {n: row.values[f"{VIEW}__{n}"] for n in FEATURES}

    def raw(key: int) -> Any:
        return online.read(VIEW, [(key,)], FEATURES)

    def raw_values(key: int) -> dict[str, Any]:
        found = raw(key)[0]
        return {n: None if found is None else found.values[n] for n in FEATURES}

    return {
        f"{prefix}get_online": (get_online, get_online_values),
        f"{prefix}raw_read": (raw, raw_values),
    }


class ShipyardServer:
    """`shipyard server` on 127.0.0.1 for the workspace, and a keep-alive client."""

    def __init__(self, home: Path, online_url: str, scratch: Path, log_level: str) -> None:
        import httpx

        self.port = free_port()
        env = dict(os.environ, SHIPYARD_HOME=str(home), SHIPYARD_ONLINE_URL=online_url)
        env.pop("SHIPYARD_CONFIG", None)
        self.log = scratch / "server_log.txt"
        self._out = self.log.open("w")
        command = [str(Path(sys.executable).parent / "shipyard"), "server", "--host", "127.0.0.1",
                   "--port", str(self.port), "--log-level", log_level]  # fmt: skip
        self.proc = subprocess.Popen(command, cwd=scratch, env=env, stdout=self._out,
                                     stderr=subprocess.STDOUT)  # fmt: skip
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.log.read_text()[-2000:]}")
            try:
                if self.client.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer in 60 s:\n{self.log.read_text()}")
            time.sleep(0.1)

    def methods(self) -> dict[str, tuple[Callable[[int], Any], Callable]]:
        post = self.client.post
        wanted = [f"{VIEW}/*"]

        def call(key: int) -> Any:
            response = post("/features/online", json={"entities": [{"driver_id": key}],
                                                      "features": wanted})  # fmt: skip
            response.raise_for_status()
            return response.json()

        def values(key: int) -> dict[str, Any]:
            row = call(key)["results"][0]["values"]
            return {n: row[f"{VIEW}__{n}"] for n in FEATURES}

        return {"http": (call, values)}

    def close(self) -> None:
        self.client.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._out.close()


class Redis:
    """A throw-away redis-server from scripts/start-redis.sh, or why there is none."""

    def __init__(self, scratch: Path) -> None:
        self.dir = scratch / "redis"
        self.url: str | None = None
        self.why = ""
        started = subprocess.run(
            [str(REPO / "scripts" / "start-redis.sh"), str(self.dir), str(free_port())],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if started.returncode == 0:
            self.url = started.stdout.strip().splitlines()[-1]
        else:
            self.why = started.stderr.strip() or f"start-redis.sh exited {started.returncode}"

    def version(self) -> str:
        found = subprocess.run(["redis-server", "--version"], capture_output=True, text=True,
                               check=False)  # fmt: skip
        return found.stdout.split(" v=")[-1].split()[0] if " v=" in found.stdout else "?"

    def close(self) -> None:
        if self.url is not None:
            subprocess.run([str(REPO / "scripts" / "stop-redis.sh"), str(self.dir)],
                           capture_output=True, check=False)  # fmt: skip


# --- checking values --------------------------------------------------------------------------


def expected_values(data: Path, keys: list[int]) -> dict[int, dict[str, Any]]:
    import pyarrow.parquet as pq

    table = pq.read_table(data).to_pylist()
    by_id = {row["driver_id"]: row for row in table}
    return {k: {n: (by_id[k][n] if k in by_id else None) for n in FEATURES} for k in keys}


def count_wrong(got: dict[int, dict[str, Any]], expected: dict[int, dict[str, Any]]) -> int:
    """Entities whose values differ from the file's in any feature (exact float equality)."""
    return sum(1 for k, want in expected.items() if got.get(k) != want)


# --- report -----------------------------------------------------------------------------------

LABELS = {
    "get_online": "Shipyard in-process get_online, SQLite",
    "policy:get_online": "  same, principal with an Allow policy",
    "resolve": "  part: resolve (registry + access check)",
    "raw_read": "  part: SQLite store raw read",
    "http": "Shipyard HTTP POST /features/online",
    "redis:get_online": "Shipyard in-process get_online, Redis",
    "redis:raw_read": "  part: Redis store raw read",
    "feast": "Feast get_online_features().to_dict()",
    "feast_no_dict": "  Feast without .to_dict()",
}


def median_of(rounds: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def print_summary(found: dict[str, list[dict[str, float]]], wrong: dict[str, int | str]) -> None:
    base = found.get("get_online")
    feast = found.get("feast")
    done = len(base or [])
    print(f"\n--- summary: medians over {done} rounds of each round's percentiles, ms ---")
    print(f"  {'method':44} {'p50':>7} {'p90':>7} {'p99':>7} {'p99.9':>7} {'mean':>7} {'max':>7} "
          f"{'p50 vs':>7} {'p99 vs':>7} {'p50 vs':>7} {'p99 vs':>7} {'check':>6}")  # fmt: skip
    print(f"  {'':44} {'':>7} {'':>7} {'':>7} {'':>7} {'':>7} {'':>7} {'in-proc':>7} "
          f"{'in-proc':>7} {'Feast':>7} {'Feast':>7}")  # fmt: skip
    for name, label in LABELS.items():
        rounds = found.get(name)
        if not rounds:
            continue
        p = {k: median_of(rounds, k) for k in ("p50", "p90", "p99", "p999", "mean", "max")}
        vs = (
            f"{p['p50'] / median_of(base, 'p50'):6.2f}x {p['p99'] / median_of(base, 'p99'):6.2f}x"
            if base
            else f"{'':7} {'':7}"
        )
        peer = (
            f"{p['p50'] / median_of(feast, 'p50'):6.2f}x {p['p99'] / median_of(feast, 'p99'):6.2f}x"
            if feast
            else f"{'':7} {'':7}"
        )
        check = wrong.get(name, "")
        check = f"{check} wrong" if isinstance(check, int) else check
        print(f"  {label:44} {p['p50']:7.3f} {p['p90']:7.3f} {p['p99']:7.3f} {p['p999']:7.3f} "
              f"{p['mean']:7.3f} {p['max']:7.2f} {vs} {peer} {check:>6}")  # fmt: skip
    if base:
        p99 = median_of(base, "p99")
        verdict = "met" if p99 < GOAL_P99_MS else "NOT met"
        print(f"\n  goal: Shipyard in-process get_online p99 < {GOAL_P99_MS} ms on SQLite: "
              f"{p99:.3f} ms, {verdict}")  # fmt: skip
        spread = [r["p99"] for r in base]
        print(f"  its p99 per round: {', '.join(f'{v:.3f}' for v in spread)} ms")


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=10_000, help="drivers materialized")
    parser.add_argument("--calls", type=int, default=10_000, help="timed calls per method/round")
    parser.add_argument("--warmup", type=int, default=1_000, help="untimed calls first")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--check", type=int, default=200, help="entities cross-checked")
    parser.add_argument("--skip-feast", action="store_true")
    parser.add_argument("--skip-redis", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--server-log-level", default="warning",
                        help="uvicorn log level (info logs every request)")  # fmt: skip
    parser.add_argument("--feast-worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.feast_worker:
        data, scratch, entities, check = args.feast_worker
        feast_worker(data, scratch, int(entities), int(check))
        return

    feast_python, feast_version = None, "skipped (--skip-feast)"
    if not args.skip_feast:
        python, feast_version = ensure_peer(FEAST)
        feast_python = None if python is None else str(python)

    import shipyard

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; python "
          f"{sys.version.split()[0]}; shipyard {shipyard.__version__}; "
          f"feast: {feast_version}")  # fmt: skip
    print(f"view: {args.entities:,} drivers x {len(FEATURES)} float64 features, event times in "
          f"the last day, ttl {TTL_DAYS} days; {args.rounds} rounds of {args.warmup:,} warm-up + "
          f"{args.calls:,} timed calls per method; seed {SEED}")  # fmt: skip

    closers: list[Callable[[], None]] = []
    with tempfile.TemporaryDirectory(prefix="bench-online-") as tmp:
        scratch = Path(tmp)
        try:
            run(args, scratch, feast_python, closers)
        finally:
            for close in reversed(closers):
                try:
                    close()
                except Exception as exc:  # report it and go on closing
                    print(f"  (closing: {exc!r})")
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


def run(
    args: argparse.Namespace,
    scratch: Path,
    feast_python: str | None,
    closers: list[Callable[[], None]],
) -> None:
    data = scratch / "driver_stats.parquet"
    write_rows(args.entities, data, time.time_ns() // 1000)
    home = scratch / "home"
    sqlite_url = f"sqlite:///{home / 'online.db'}"
    sample = check_keys(args.entities, args.check)
    expected = expected_values(data, sample)

    methods: dict[str, tuple[Callable[[int], Any], Callable]] = {}
    notes: list[str] = []
    wrong: dict[str, int | str] = {}

    ws, spent = set_up_workspace(home, data, sqlite_url)
    closers.append(ws.close)
    print(f"  Shipyard: materialized {args.entities:,} rows into SQLite in {spent:.2f} s")
    methods.update(service_methods(ws, ""))
    wanted = [f"{VIEW}/*"]
    methods["resolve"] = (
        lambda key: ws.features.resolve(wanted, action="features:ReadOnline"),
        lambda key: expected[key],  # nothing to check: reads no values
    )
    wrong["resolve"] = "n/a"
    reader = reader_workspace(home, sqlite_url)
    closers.append(reader.close)
    methods.update(service_methods(reader, "policy:"))
    methods.pop("policy:raw_read")

    if args.skip_http:
        notes.append("HTTP: skipped (--skip-http)")
    else:
        server = ShipyardServer(home, sqlite_url, scratch, args.server_log_level)
        closers.append(server.close)
        print(f"  Shipyard server on 127.0.0.1:{server.port} (uvicorn, log level "
              f"{args.server_log_level}), httpx {_version('httpx')} keep-alive client")  # fmt: skip
        methods.update(server.methods())

    if args.skip_redis:
        notes.append("Redis: skipped (--skip-redis)")
    else:
        redis = Redis(scratch)
        closers.append(redis.close)
        if redis.url is None:
            notes.append(f"Redis: skipped, no server could be started: {redis.why}")
        else:
            redis_ws, spent = set_up_workspace(home, data, redis.url)
            closers.append(redis_ws.close)
            print(f"  Shipyard: materialized {args.entities:,} rows into Redis "
                  f"{redis.version()} ({redis.url}) in {spent:.2f} s")  # fmt: skip
            methods.update(service_methods(redis_ws, "redis:"))

    feast: FeastPeer | None = None
    if feast_python is None:
        notes.append("Feast: skipped" + ("" if args.skip_feast else " (not available)"))
    else:
        try:
            feast = FeastPeer(feast_python, data, scratch, args)
        except RuntimeError as exc:
            notes.append(f"Feast: failed to start: {exc}")
        if feast is not None:
            closers.append(feast.close)
            print(f"  Feast {feast.ready['version']}: materialized {args.entities:,} rows into "
                  f"SQLite in {feast.ready['materialize_s']:.2f} s")  # fmt: skip
            got = {int(k): v for k, v in feast.ready["sample"].items()}
            wrong["feast"] = wrong["feast_no_dict"] = count_wrong(got, expected)

    for name, (_, values) in methods.items():
        if name not in wrong:
            wrong[name] = count_wrong({k: values(k) for k in sample}, expected)
    print(f"  cross-check on {len(sample) - 1} drivers + 1 unknown, exact values vs the file: "
          + ", ".join(f"{n} {w} wrong" for n, w in wrong.items() if w != "n/a"))  # fmt: skip
    for note in notes:
        print(f"  {note}")

    found: dict[str, list[dict[str, float]]] = {}
    names = [*methods, *(["feast"] if feast else [])]
    for round_no in range(args.rounds):
        shift = round_no % len(names)
        order = names[shift:] + names[:shift]
        keys = call_keys(args.entities, args.calls + args.warmup, round_no)
        print(f"\nround {round_no + 1}/{args.rounds} (load {os.getloadavg()[0]:.2f})", flush=True)
        for name in order:
            if name == "feast":
                assert feast is not None
                results = feast.round(round_no, args.calls, args.warmup)
            else:
                results = {name: percentiles(time_calls(methods[name][0], keys, args.warmup))}
            for label, p in results.items():
                found.setdefault(label, []).append(p)
                print(f"  {label:20} p50 {p['p50']:7.3f}  p90 {p['p90']:7.3f}  p99 "
                      f"{p['p99']:7.3f}  p99.9 {p['p999']:7.3f}  mean {p['mean']:7.3f}  max "
                      f"{p['max']:7.2f} ms", flush=True)  # fmt: skip
    print_summary(found, wrong)


def _version(module: str) -> str:
    return str(getattr(__import__(module), "__version__", "?"))


if __name__ == "__main__":
    main()
