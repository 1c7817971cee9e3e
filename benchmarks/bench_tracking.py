"""Experiment tracking beside MLflow 3.x (SQLite backend) and raw sqlite3 executemany.

Run: .venv/bin/python benchmarks/bench_tracking.py [--repeat 3] [--repeat-expensive 1]
         [--search-calls 10] [--quick] [--skip-mlflow] [--no-tmpfs] [--profile]

Prints, in one run, each measurement made in a fresh process with its own fresh folder,
once with the folder on disk (the system temp folder) and once on /dev/shm (tmpfs):

1. logging 10,000 values of one metric to one run: Shipyard `log_metric` one by one,
   timed until flushed (the run's `end()` included); MLflow `MlflowClient.log_metric` one
   by one (measured on 500 values, reported per value); MLflow `log_batch` of all 10,000
   in batches of 1,000 (its limit); and the floor, raw `sqlite3` `executemany` of the same
   10,000 rows into a fresh table in a fresh file, then `commit` (beside it, not a goal:
   the same into Shipyard's own clustered SQLite layout, which history reads need);
2. creating 1,000 runs with 10 params and 10 metrics each: Shipyard's public API
   (`start_run`, `log_params`, `log_metrics`, end), MLflow's client (`create_run`,
   `log_batch`);
3. searching those runs: a metric threshold AND a param equality, ordered by a metric
   descending, at most 100 runs, the same query on both, checked against the expected
   runs computed here in Python;
4. growing to 100,000 runs (Shipyard through its bulk store API, MLflow only if its
   measured rate says it would take less than ~10 minutes) and searching again;
5. store size after step 1: file bytes after `PRAGMA wal_checkpoint(TRUNCATE)` per
   logged value, Shipyard beside the floor.

Medians of `--repeat` fresh processes for step 1, of `--repeat-expensive` for creating
and growing, and of `--search-calls` calls in a row for each search (the first call,
which fills the caches, is shown beside it). `--profile` adds a separate cProfile pass
of Shipyard's side, phase by phase. MLflow runs in its own virtual environment, made on
first use in `benchmarks/.venv-mlflow` (ignored by git through a `.gitignore` inside it) at
the version pinned in `peer_env.MLFLOW`, which the output prints.

Every value read back is checked: each logging worker returns the metric's stored history
and each runs worker the params and latest metrics of every run it created and of every
run its searches returned; all are compared with what was logged (and the expected search
results computed here), and Shipyard's with MLflow's directly. Any difference stops the
benchmark with VALUES DIFFER: its timings would be void.
This is a benchmark, not a test: it never fails on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from peer_env import MLFLOW, ensure_peer

# Top-level imports stay stdlib only: this file also runs as the worker inside MLflow's
# environment, which has no Shipyard.

SEED = 20261127
EXPERIMENT = "bench"
METRIC = "loss"
N_KEYS = 10  # params p0..p9 and metrics m0..m9 per run
FILTER = "metrics.m0 > 0.5 AND params.p0 = 'a'"
ORDER = "metrics.m1 DESC"
MAX_RESULTS = 100
MLFLOW_BATCH_LIMIT = 1000  # MLflow's log_batch takes at most 1,000 metrics per call
MLFLOW_CREATE_BUDGET = 300.0  # seconds: above this, create a sample of runs and extrapolate
BULK_CHUNK = 10_000  # runs per transaction on Shipyard's bulk path
TMPFS = Path("/dev/shm")

GOALS = {
    "log_metric": 100.0,  # MLflow log_metric / Shipyard, at least
    "log_batch": 5.0,  # MLflow log_batch / Shipyard, at least
    "floor": 3.0,  # Shipyard / floor, at most
    "create": 50.0,  # MLflow / Shipyard creating runs, at least
    "search": 10.0,  # MLflow / Shipyard searching the small store, at least
    "search_large": 1.0,  # Shipyard searching the large store, seconds, under
    "bytes": 2.0,  # Shipyard bytes / floor bytes, at most
}


@dataclass(frozen=True)
class Sizes:
    values: int  # metric values logged to one run (step 1)
    mlflow_values: int  # of which MLflow's one-by-one log_metric logs (then per value)
    runs: int  # runs created (step 2)
    mlflow_sample: int  # runs MLflow creates before deciding whether to extrapolate
    grow_to: int  # runs after growing (step 4)
    mlflow_grow_budget: float  # seconds: MLflow is grown only if its rate says it takes less


FULL = Sizes(10_000, mlflow_values=500, runs=1_000, mlflow_sample=100, grow_to=100_000,
             mlflow_grow_budget=600.0)  # fmt: skip
QUICK = Sizes(2_000, mlflow_values=100, runs=200, mlflow_sample=50, grow_to=10_000,
              mlflow_grow_budget=60.0)  # fmt: skip


# --- data (the same on every side) ------------------------------------------------------------


def metric_values(n: int) -> list[float]:
    rng = random.Random(SEED)
    return [rng.random() for _ in range(n)]


RunSpec = tuple[str, dict[str, str], dict[str, float]]


def run_spec(i: int) -> RunSpec:
    """Run i's name, params and metrics; p0 is one of a, b, c, d; metrics uniform in [0, 1)."""
    rng = random.Random(SEED * 1_000_003 + i)
    params = {"p0": rng.choice("abcd")}
    params.update({f"p{k}": f"v{rng.randrange(100)}" for k in range(1, N_KEYS)})
    metrics = {f"m{k}": rng.random() for k in range(N_KEYS)}
    return f"run-{i:06d}", params, metrics


def run_specs(start: int, stop: int) -> list[RunSpec]:
    return [run_spec(i) for i in range(start, stop)]


def expected_search(count: int) -> tuple[int, list[list[Any]]]:
    """How many of the first `count` runs match FILTER, and the runs ORDER puts first.

    Each run as [name, params, metrics], as the search workers return them.
    """
    specs = [s for s in run_specs(0, count) if s[2]["m0"] > 0.5 and s[1]["p0"] == "a"]
    specs.sort(key=lambda s: s[2]["m1"], reverse=True)
    return len(specs), [list(spec) for spec in specs[:MAX_RESULTS]]


# --- checking the values each side returned ------------------------------------------------------

SHOWN = 5  # differences shown before giving up


def history_differences(got: list[list[Any]], logged: list[list[Any]]) -> list[str]:
    """How a metric's history as read back differs from the logged [step, value] pairs."""
    problems = []
    if len(got) != len(logged):
        problems.append(f"{len(got):,} values read back, {len(logged):,} logged")
    problems += [
        f"step {want[0]}: read back {have}, logged {want}"
        for have, want in zip(got, logged, strict=False)
        if have != want
    ]
    return problems


def runs_differences(got: dict[str, list[Any]], want: dict[str, list[Any]]) -> list[str]:
    """How runs as read back (name -> [params, metrics]) differ from those expected."""
    problems = [f"run {n} missing" for n in sorted(want.keys() - got.keys())]
    problems += [f"run {n} unexpected" for n in sorted(got.keys() - want.keys())]
    for name in sorted(want.keys() & got.keys()):
        for kind, have, expected in zip(("params", "metrics"), got[name], want[name], strict=True):
            for key in sorted(have.keys() | expected.keys()):
                a, b = have.get(key), expected.get(key)
                if a != b:
                    problems.append(f"run {name} {kind}.{key}: {a!r}, expected {b!r}")
    return problems


def found_differences(got: list[list[Any]], want: list[list[Any]]) -> list[str]:
    """How a search's runs ([name, params, metrics], in order) differ from those expected."""
    names, wanted = [r[0] for r in got], [r[0] for r in want]
    problems = [] if names == wanted else [f"names {names[:3]}..., expected {wanted[:3]}..."]
    as_dict = {r[0]: r[1:] for r in got}
    return problems + runs_differences(as_dict, {r[0]: r[1:] for r in want})


def require_same(what: str, problems: list[str]) -> None:
    """Stop the benchmark, loudly, when values read back differ: its timings are void."""
    if problems:
        shown = "\n  ".join(problems[:SHOWN])
        more = f"\n  ... and {len(problems) - SHOWN:,} more" if len(problems) > SHOWN else ""
        raise SystemExit(f"VALUES DIFFER, {what}:\n  {shown}{more}\nThe benchmark is void.")


def logged_history(values: int) -> list[list[Any]]:
    return [[step, value] for step, value in enumerate(metric_values(values))]


def expected_runs(count: int) -> dict[str, list[Any]]:
    return {name: [params, metrics] for name, params, metrics in run_specs(0, count)}


def check_log_result(where: str, name: str, result: dict[str, Any]) -> None:
    """A logging worker's history against what was logged (floors return none)."""
    if "history" in result:
        problems = history_differences(result["history"], logged_history(result["values"]))
        require_same(f"{where}: {name} read back", problems)


def check_runs_result(where: str, name: str, result: dict[str, Any], s: Sizes) -> None:
    """A runs worker's created runs and search results against what was logged and expected."""
    want = expected_runs(result["runs"])
    require_same(f"{where}: {name} runs read back", runs_differences(result["created"], want))
    for key, count in (("search", s.runs), ("search_large", s.grow_to)):
        if key in result:
            _, top = expected_search(count)
            problems = found_differences(result[key]["found"], top)
            require_same(f"{where}: {name} {key} over {count:,} runs", problems)


def compare_sides(logging: Results, runs: Results) -> list[str]:
    """Shipyard's values beside MLflow's, directly (each was also checked against the truth)."""
    lines = []
    for place in logging:
        ship_log, ship_runs = logging[place]["shipyard_log"][0], runs[place]["shipyard_runs"][0]
        for other in ("mlflow_log_metric", "mlflow_log_batch"):
            if other not in logging[place]:
                continue
            theirs = logging[place][other][0]["history"]
            ours = ship_log["history"][: len(theirs)]
            require_same(f"{place}: Shipyard vs {other}", history_differences(ours, theirs))
            lines.append(f"{place}: {other}'s {len(theirs):,} (step, value) pairs")
        if "mlflow_runs" not in runs[place]:
            continue
        mlf = runs[place]["mlflow_runs"][0]
        common = ship_runs["created"].keys() & mlf["created"].keys()
        ours_created = {n: ship_runs["created"][n] for n in common}
        problems = runs_differences(ours_created, {n: mlf["created"][n] for n in common})
        require_same(f"{place}: Shipyard vs MLflow created runs", problems)
        lines.append(f"{place}: the params and metrics of {len(common):,} created runs")
        for key in ("search", "search_large"):
            if key in mlf and key in ship_runs:
                problems = found_differences(ship_runs[key]["found"], mlf[key]["found"])
                require_same(f"{place}: Shipyard vs MLflow {key}", problems)
                lines.append(f"{place}: the {len(mlf[key]['found'])} runs {key} returned")
    return lines


# --- measuring ---------------------------------------------------------------------------------


def _clock() -> tuple[float, float]:
    """Wall and CPU seconds; process_time counts every thread (Shipyard's writer included)."""
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> dict[str, float]:
    wall, cpu = _clock()
    return {"wall": wall - start[0], "cpu": cpu - start[1]}


class Timer:
    """Adds up the wall and CPU seconds of the sections it times."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    @contextmanager
    def section(self) -> Iterator[None]:
        start = _clock()
        yield
        spent = _since(start)
        self.wall += spent["wall"]
        self.cpu += spent["cpu"]

    def result(self) -> dict[str, float]:
        return {"wall": self.wall, "cpu": self.cpu}


class Profiler:
    """cProfile over chosen sections when enabled; `report()` is the top of its stats."""

    def __init__(self, enabled: bool) -> None:
        import cProfile

        self.profile = cProfile.Profile() if enabled else None

    @contextmanager
    def section(self) -> Iterator[None]:
        if self.profile is not None:
            self.profile.enable()
        try:
            yield
        finally:
            if self.profile is not None:
                self.profile.disable()

    def report(self, lines: int = 20) -> str | None:
        if self.profile is None:
            return None
        import io
        import pstats

        out = io.StringIO()
        stats = pstats.Stats(self.profile, stream=out).strip_dirs()
        stats.sort_stats("tottime").print_stats(lines)
        stats.sort_stats("cumulative").print_stats(lines)
        return out.getvalue()


def checkpointed_bytes(path: Path) -> int:
    """The database's size once its WAL is checkpointed into the main file and truncated."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        conn.close()
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def table_bytes(path: Path) -> dict[str, int]:
    """Bytes of pages per table and index (SQLite's dbstat), largest first; {} without dbstat."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
        ).fetchall()
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()
    return {name: int(size) for name, size in rows}


# --- Shipyard workers --------------------------------------------------------------------------


def _shipyard_db(ws: Any) -> Path:
    return Path(ws.metadata.engine.url.database)


def shipyard_log(folder: str, values: int, profile: bool = False) -> dict[str, Any]:
    """Step 1: log_metric one by one into one run, then end it (which flushes)."""
    import shipyard

    data = metric_values(values)
    profiler = Profiler(profile)
    ws = shipyard.connect(Path(folder) / "shipyard")
    ws.runs.create_experiment(EXPERIMENT)
    run = ws.runs.start_run(EXPERIMENT, "run-1")
    start = _clock()
    with profiler.section():
        for step, value in enumerate(data):
            run.log_metric(METRIC, value, step=step)
        run.end()
    spent = _since(start)
    history = [[p.step, p.value] for p in ws.runs.metric_history(run.uid, METRIC)]
    path = _shipyard_db(ws)
    ws.close()
    empty = shipyard.connect(Path(folder) / "empty")
    empty_path = _shipyard_db(empty)
    empty.close()
    return {
        **spent,
        "values": values,
        "stored": len(history),
        "history": history,
        "bytes": checkpointed_bytes(path),
        "empty_bytes": checkpointed_bytes(empty_path),
        "tables": table_bytes(path),
        "profile": {"log_metric x values + end()": profiler.report()},
    }


def shipyard_search(ws: Any, calls: int) -> dict[str, Any]:
    times, found = [], []
    for _ in range(calls):
        start = _clock()
        found = ws.runs.search(FILTER, [ORDER], max_results=MAX_RESULTS, experiment=EXPERIMENT)
        times.append(_since(start))
    return {"times": times, "found": [[i.name, i.params, i.metrics] for i in found]}


def shipyard_create(ws: Any, specs: list[RunSpec], profiler: Profiler) -> dict[str, float]:
    """Step 2 through the public API: a `with start_run` block per run."""
    start = _clock()
    with profiler.section():
        for name, params, metrics in specs:
            with ws.runs.start_run(EXPERIMENT, name) as run:
                run.log_params(params)
                run.log_metrics(metrics, step=0)
    return _since(start)


def shipyard_grow(ws: Any, have: int, target: int, profiler: Profiler) -> dict[str, float]:
    """Step 4 through the bulk store API: `create_runs` + `log_batch`, BULK_CHUNK runs a time.

    Generating the runs' data is not timed; building the store's rows from it is.
    """
    from shipyard.stores.tracking import tracking_store_for

    store = tracking_store_for(ws.metadata)
    experiment_id = store.get_experiment(EXPERIMENT).id
    timer = Timer()
    for first in range(have, target, BULK_CHUNK):
        specs = run_specs(first, min(first + BULK_CHUNK, target))
        with timer.section(), profiler.section():
            _bulk_chunk(store, experiment_id, ws.principal, specs)
    return timer.result()


def _bulk_chunk(store: Any, experiment_id: int, principal: str, specs: list[RunSpec]) -> None:
    import uuid
    from datetime import UTC, datetime

    from shipyard.stores.tracking import NewRun

    now = datetime.now(UTC)
    new = [
        NewRun(uuid.uuid4().hex, experiment_id, name, now, principal, status="finished")
        for name, _, _ in specs
    ]
    keys = store.create_runs(new)
    stamp = time.time()
    params = [(k.id, p, v) for k, s in zip(keys, specs, strict=True) for p, v in s[1].items()]
    metrics = [
        (k.id, m, 0, v, stamp) for k, s in zip(keys, specs, strict=True) for m, v in s[2].items()
    ]
    store.log_batch(params=params, metrics=metrics)


def shipyard_runs(
    folder: str, runs: int, grow_to: int, calls: int, profile: bool = False
) -> dict[str, Any]:
    """Steps 2 to 4 in one process: create, search, grow, search again."""
    import shipyard

    specs = run_specs(0, runs)
    phases = {name: Profiler(profile) for name in ("create", "search", "grow", "search_large")}
    ws = shipyard.connect(Path(folder) / "shipyard")
    ws.runs.create_experiment(EXPERIMENT)
    result: dict[str, Any] = {"runs": runs}
    result["create"] = shipyard_create(ws, specs, phases["create"])
    result["created"] = {i.name: [i.params, i.metrics] for i in ws.runs.runs(EXPERIMENT)}
    with phases["search"].section():
        result["search"] = shipyard_search(ws, calls)
    if grow_to > runs:
        result["grow"] = shipyard_grow(ws, runs, grow_to, phases["grow"])
        with phases["search_large"].section():
            result["search_large"] = shipyard_search(ws, calls)
        result["grown_to"] = grow_to
    result["bytes"] = checkpointed_bytes(_shipyard_db(ws))
    ws.close()
    result["profile"] = {name: p.report() for name, p in phases.items() if name in result}
    return result


# --- floor workers -----------------------------------------------------------------------------


def floor_log(folder: str, values: int, wal: bool = False) -> dict[str, Any]:
    """Raw sqlite3: executemany the same rows into a fresh table in a fresh file, commit.

    SQLite's defaults (rollback journal, synchronous=FULL) unless `wal`, which sets
    Shipyard's own settings (WAL, synchronous=NORMAL).
    """
    rows = [
        (1, METRIC, step, value, time.time()) for step, value in enumerate(metric_values(values))
    ]
    path = Path(folder) / "floor.db"
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE metrics (run_id INTEGER NOT NULL, key TEXT NOT NULL, "
        "step INTEGER NOT NULL, value REAL NOT NULL, timestamp REAL NOT NULL)"
    )
    conn.commit()
    start = _clock()
    conn.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)", rows)
    conn.commit()
    spent = _since(start)
    stored = conn.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]
    conn.close()
    return {**spent, "values": values, "stored": stored, "bytes": checkpointed_bytes(path)}


def floor_wal_log(folder: str, values: int) -> dict[str, Any]:
    return floor_log(folder, values, wal=True)


def floor_clustered_log(folder: str, values: int) -> dict[str, Any]:
    """Not a goal: the floor on Shipyard's own SQLite layout and settings.

    The same executemany and commit, into a WITHOUT ROWID table clustered on (run_id, key,
    step, timestamp, value) as Shipyard's `metrics` is since revision 0003, with WAL and
    synchronous=NORMAL: what it costs SQLite alone to store the rows so that a metric's
    history can be read without a scan. The gap to Shipyard is Shipyard's own Python.
    """
    rows = [
        (1, METRIC, step, value, time.time()) for step, value in enumerate(metric_values(values))
    ]
    path = Path(folder) / "floor.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE metrics (run_id INTEGER NOT NULL, key TEXT NOT NULL, "
        "step INTEGER NOT NULL, value REAL NOT NULL, timestamp REAL NOT NULL, "
        "PRIMARY KEY (run_id, key, step, timestamp, value)) WITHOUT ROWID"
    )
    conn.commit()
    start = _clock()
    conn.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", rows)
    conn.commit()
    spent = _since(start)
    stored = conn.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]
    conn.close()
    return {**spent, "values": values, "stored": stored, "bytes": checkpointed_bytes(path)}


# --- MLflow workers (its tracking URI comes from MLFLOW_TRACKING_URI) ------------------------


def _mlflow_experiment() -> tuple[Any, str, str]:
    """A client, a new experiment's id and MLflow's version; making its tables is not timed."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    return client, client.create_experiment(EXPERIMENT), mlflow.__version__


def _mlflow_db() -> Path:
    return Path(os.environ["MLFLOW_TRACKING_URI"].removeprefix("sqlite:///"))


def _mlflow_history(client: Any, run_id: str) -> list[list[Any]]:
    """The run's stored values of METRIC as [step, value], by step (read untimed)."""
    points = client.get_metric_history(run_id, METRIC)
    return sorted([m.step, m.value] for m in points)


def mlflow_log_metric(folder: str, values: int) -> dict[str, Any]:
    """Step 1: MlflowClient.log_metric one by one (each call writes and commits)."""
    client, experiment_id, version = _mlflow_experiment()
    run_id = client.create_run(experiment_id, run_name="run-1").info.run_id
    data = metric_values(values)
    start = _clock()
    for step, value in enumerate(data):
        client.log_metric(run_id, METRIC, value, timestamp=int(time.time() * 1000), step=step)
    spent = _since(start)
    history = _mlflow_history(client, run_id)
    return {**spent, "values": values, "stored": len(history), "history": history,
            "version": version}  # fmt: skip


def mlflow_log_batch(folder: str, values: int) -> dict[str, Any]:
    """Step 1: MlflowClient.log_batch, 1,000 metrics a call (Metric objects built untimed)."""
    from mlflow.entities import Metric

    client, experiment_id, version = _mlflow_experiment()
    run_id = client.create_run(experiment_id, run_name="run-1").info.run_id
    now = int(time.time() * 1000)
    data = [Metric(METRIC, v, now + s, s) for s, v in enumerate(metric_values(values))]
    batches = [data[i : i + MLFLOW_BATCH_LIMIT] for i in range(0, len(data), MLFLOW_BATCH_LIMIT)]
    start = _clock()
    for batch in batches:
        client.log_batch(run_id, metrics=batch)
    spent = _since(start)
    history = _mlflow_history(client, run_id)
    path = _mlflow_db()
    return {**spent, "values": values, "stored": len(history), "history": history,
            "version": version, "bytes": checkpointed_bytes(path)}  # fmt: skip


def _mlflow_create(client: Any, experiment_id: str, specs: list[RunSpec]) -> None:
    from mlflow.entities import Metric, Param

    for name, params, metrics in specs:
        run_id = client.create_run(experiment_id, run_name=name).info.run_id
        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
        )


def mlflow_search(client: Any, experiment_id: str, calls: int) -> dict[str, Any]:
    times, found = [], []
    for _ in range(calls):
        start = _clock()
        found = client.search_runs(
            [experiment_id], filter_string=FILTER, order_by=[ORDER], max_results=MAX_RESULTS
        )
        times.append(_since(start))
    return {"times": times, "found": [_mlflow_content(run) for run in found]}


def _mlflow_content(run: Any) -> list[Any]:
    return [run.info.run_name, dict(run.data.params), dict(run.data.metrics)]


def _mlflow_created(client: Any, experiment_id: str) -> dict[str, list[Any]]:
    """Every run of the experiment as name -> [params, latest metrics] (read untimed)."""
    created: dict[str, list[Any]] = {}
    token = None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token)
        created.update({run.info.run_name: _mlflow_content(run)[1:] for run in page})
        token = page.token
        if not token:
            return created


def mlflow_runs(
    folder: str, runs: int, sample: int, grow_to: int, grow_budget: float, calls: int
) -> dict[str, Any]:
    """Steps 2 to 4: create (a sample first, extrapolating if the whole would take too long)."""
    client, experiment_id, version = _mlflow_experiment()
    timer = Timer()
    with timer.section():
        _mlflow_create(client, experiment_id, run_specs(0, sample))
    per_run = timer.wall / sample
    result: dict[str, Any] = {"version": version, "sample": timer.result(), "sampled": sample}
    if per_run * runs > MLFLOW_CREATE_BUDGET:
        # Too slow to create them all: no search either, a sample would not compare.
        result.update(runs=sample, create=None, create_estimate=per_run * runs)
        result["created"] = _mlflow_created(client, experiment_id)
        result["grow_estimate"] = per_run * (grow_to - sample)
        return result
    with timer.section():
        _mlflow_create(client, experiment_id, run_specs(sample, runs))
    result.update(runs=runs, create=timer.result())
    result["created"] = _mlflow_created(client, experiment_id)
    per_run = timer.wall / runs
    result["search"] = mlflow_search(client, experiment_id, calls)
    have = result["runs"]
    estimate = per_run * (grow_to - have)
    result["grow_estimate"] = estimate
    if grow_to > have and estimate <= grow_budget:
        grow = Timer()
        with grow.section():
            _mlflow_create(client, experiment_id, run_specs(have, grow_to))
        result.update(grow=grow.result(), grown_to=grow_to)
        result["search_large"] = mlflow_search(client, experiment_id, calls)
    return result


WORKERS: dict[str, Callable[..., dict[str, Any]]] = {
    "shipyard_log": shipyard_log,
    "shipyard_runs": shipyard_runs,
    "floor_log": floor_log,
    "floor_wal_log": floor_wal_log,
    "floor_clustered_log": floor_clustered_log,
    "mlflow_log_metric": mlflow_log_metric,
    "mlflow_log_batch": mlflow_log_batch,
    "mlflow_runs": mlflow_runs,
}


# --- running the workers -----------------------------------------------------------------------


def worker_env(folder: Path) -> dict[str, str]:
    """The environment of a worker: no SHIPYARD_* overrides, MLflow on this folder, no telemetry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    # MLflow's telemetry is off with MLFLOW_DISABLE_TELEMETRY=true, or DO_NOT_TRACK=true
    # (it checks for the word "true": DO_NOT_TRACK=1 does not turn it off).
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["DO_NOT_TRACK"] = "true"
    return env


def run_worker(python: Path | str, name: str, base: Path, **kwargs: Any) -> dict[str, Any]:
    """Run one worker in a fresh interpreter and a fresh folder under `base`, deleted after."""
    folder = Path(tempfile.mkdtemp(prefix="bench-tracking-", dir=base))
    out = folder / "result.json"
    try:
        kwargs_json = json.dumps({"folder": str(folder), **kwargs})
        command = [str(python), __file__, "--worker", name, kwargs_json, str(out)]
        done = subprocess.run(
            command, capture_output=True, text=True, env=worker_env(folder), check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"{name} worker failed ({done.returncode}):\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(out.read_text())
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result["load"] = os.getloadavg()[0]
    return result


def filesystem(path: Path) -> str:
    """The filesystem type `path` lives on, from /proc/mounts (longest matching mount point)."""
    best, kind = "", "?"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return kind
    resolved = str(path.resolve())
    for line in mounts:
        fields = line.split()
        point = fields[1]
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, fields[2]
    return kind


@dataclass(frozen=True)
class Plan:
    sizes: Sizes
    repeat: int
    search_calls: int
    repeat_expensive: int
    places: dict[str, Path]  # label -> folder the workers' folders go under
    mlflow: Path | None
    profile: bool


Results = dict[str, dict[str, list[dict[str, Any]]]]  # place -> side -> runs


def log_sides(plan: Plan) -> list[tuple[str, Path | str, dict[str, Any]]]:
    s = plan.sizes
    sides: list[tuple[str, Path | str, dict[str, Any]]] = [
        ("shipyard_log", sys.executable, {"values": s.values}),
        ("floor_log", sys.executable, {"values": s.values}),
        ("floor_wal_log", sys.executable, {"values": s.values}),
        ("floor_clustered_log", sys.executable, {"values": s.values}),
    ]
    if plan.mlflow is not None:
        sides.append(("mlflow_log_metric", plan.mlflow, {"values": s.mlflow_values}))
        sides.append(("mlflow_log_batch", plan.mlflow, {"values": s.values}))
    return sides


def measure_logging(plan: Plan) -> Results:
    """Step 1 (and 5): every side, `repeat` times per place, alternating the order."""
    results: Results = {}
    for place, base in plan.places.items():
        results[place] = {}
        sides = log_sides(plan)
        for i in range(plan.repeat):
            for name, python, kwargs in sides if i % 2 == 0 else sides[::-1]:
                result = run_worker(python, name, base, **kwargs)
                check_log_result(place, name, result)
                results[place].setdefault(name, []).append(result)
                per_value = result["wall"] / result["values"] * 1e6
                print(f"  {place:5} run {i + 1}/{plan.repeat} {name:18} {per_value:9.1f} µs/value"
                      f" ({result['values']:,} values), load {result['load']:.2f}",
                      flush=True)  # fmt: skip
    return results


def measure_runs(plan: Plan) -> Results:
    """Steps 2 to 4: each side `repeat_expensive` times per place."""
    s = plan.sizes
    results: Results = {}
    for place, base in plan.places.items():
        results[place] = {}
        sides: list[tuple[str, Path | str, dict[str, Any]]] = [
            ("shipyard_runs", sys.executable, {"runs": s.runs, "grow_to": s.grow_to}),
        ]
        if plan.mlflow is not None:
            mlflow_kwargs = {"runs": s.runs, "sample": s.mlflow_sample, "grow_to": s.grow_to,
                             "grow_budget": s.mlflow_grow_budget}  # fmt: skip
            sides.append(("mlflow_runs", plan.mlflow, mlflow_kwargs))
        for i in range(plan.repeat_expensive):
            for name, python, kwargs in sides if i % 2 == 0 else sides[::-1]:
                result = run_worker(python, name, base, calls=plan.search_calls, **kwargs)
                check_runs_result(place, name, result, s)
                results[place].setdefault(name, []).append(result)
                created = result["create"] or result["sample"]
                print(f"  {place:5} run {i + 1}/{plan.repeat_expensive} {name:13} created "
                      f"{result['runs']:,} runs in {created['wall']:.2f} s, "
                      f"load {result['load']:.2f}", flush=True)  # fmt: skip
    return results


def profile_shipyard(plan: Plan) -> dict[str, str | None]:
    """One extra, profiled pass of Shipyard's workers on disk (not counted in the medians)."""
    base = next(iter(plan.places.values()))
    s = plan.sizes
    log = run_worker(sys.executable, "shipyard_log", base, values=s.values, profile=True)
    runs = run_worker(
        sys.executable,
        "shipyard_runs",
        base,
        runs=s.runs,
        grow_to=s.grow_to,
        calls=plan.search_calls,
        profile=True,
    )
    return {**log["profile"], **runs["profile"]}


# --- report ------------------------------------------------------------------------------------


def med(values: list[float]) -> float:
    return statistics.median(values)


def per_value(runs: list[dict[str, Any]], key: str = "wall") -> float:
    """Median µs per logged value."""
    return med([r[key] / r["values"] * 1e6 for r in runs])


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


LOG_LABELS = {
    "shipyard_log": "Shipyard log_metric one by one + end()",
    "mlflow_log_metric": "MLflow log_metric one by one",
    "mlflow_log_batch": "MLflow log_batch, 1,000 per call",
    "floor_log": "floor: sqlite3 executemany + commit",
    "floor_wal_log": "floor, WAL + synchronous=NORMAL",
    "floor_clustered_log": "floor, Shipyard's clustered table + WAL",
}


def print_logging(results: Results, plan: Plan) -> None:
    places = list(results)
    print(f"\nstep 1: one run, {plan.sizes.values:,} values of one metric; µs per value, "
          f"median of {plan.repeat} (CPU µs in brackets)")  # fmt: skip
    print(f"{'':42}" + "".join(f"{p:>22}" for p in places) + "   values timed")
    for name, label in LOG_LABELS.items():
        if name not in results[places[0]]:
            continue
        cells = "".join(
            f"{per_value(results[p][name]):12.1f} ({per_value(results[p][name], 'cpu'):6.1f})"
            for p in places
        )
        print(f"{label:42}{cells}   {results[places[0]][name][0]['values']:,}")
    for place in places:
        stored = {n: sorted({r["stored"] for r in runs}) for n, runs in results[place].items()}
        print(f"  rows stored ({place}): " + ", ".join(f"{n} {v}" for n, v in stored.items()))
    if "mlflow_log_metric" in results[places[0]]:
        print(f"  MLflow log_metric is measured on {plan.sizes.mlflow_values:,} values and "
              f"reported per value (extrapolated to {plan.sizes.values:,})")  # fmt: skip
    print("\ngoals, step 1 (" + " | ".join(places) + "):")
    ratio_rows = [
        ("MLflow log_metric / Shipyard", "mlflow_log_metric", "log_metric", ">="),
        ("MLflow log_batch / Shipyard", "mlflow_log_batch", "log_batch", ">="),
        ("Shipyard / floor", "floor_log", "floor", "<="),
        ("Shipyard / floor with WAL (not a goal)", "floor_wal_log", None, ""),
        ("Shipyard / clustered floor (not a goal)", "floor_clustered_log", None, ""),
    ]
    for label, other, goal, sense in ratio_rows:
        if other not in results[places[0]]:
            continue
        ratios = [_log_ratio(results[p], other, sense) for p in places]
        text = " | ".join(f"{r:8.1f}x" for r in ratios)
        if goal is None:
            print(f"  {label:40} {text}")
            continue
        met = [r >= GOALS[goal] if sense == ">=" else r <= GOALS[goal] for r in ratios]
        print(f"  {label:40} {text}   goal {sense} {GOALS[goal]:g}x: "
              + " | ".join(verdict(m) for m in met))  # fmt: skip


def _log_ratio(results: dict[str, list[dict[str, Any]]], other: str, sense: str) -> float:
    ship, them = per_value(results["shipyard_log"]), per_value(results[other])
    return ship / them if sense in ("<=", "") else them / ship


def _search_median(runs: list[dict[str, Any]], key: str) -> float:
    return med([t["wall"] for r in runs for t in r[key]["times"]])


def _search_first(runs: list[dict[str, Any]], key: str) -> float:
    return med([r[key]["times"][0]["wall"] for r in runs])


def _found_match(runs: list[dict[str, Any]], key: str, expected: list[list[Any]]) -> str:
    ok = all(not found_differences(r[key]["found"], expected) for r in runs)
    return "yes" if ok else "NO"


def print_runs(results: Results, plan: Plan) -> None:
    s = plan.sizes
    small, small_top = expected_search(s.runs)
    large, large_top = expected_search(s.grow_to)
    print(f"\nsteps 2-4: runs with {N_KEYS} params and {N_KEYS} metrics each; "
          f"search {FILTER!r} order by {ORDER!r}, max {MAX_RESULTS}")  # fmt: skip
    print(f"  expected matches: {small:,} of {s.runs:,} runs, {large:,} of {s.grow_to:,}; "
          f"creating and growing: median of {plan.repeat_expensive}; searching: median of "
          f"{plan.search_calls} calls in a row (the first beside it)")  # fmt: skip
    for place, sides in results.items():
        ship = sides["shipyard_runs"]
        mlf = sides.get("mlflow_runs")
        print(f"\n  [{place}]")
        _print_create(ship, mlf, s)
        _print_search("search", s.runs, ship, mlf, small_top, "search")
        _print_grow(ship, mlf, s)
        _print_search("search_large", s.grow_to, ship, mlf, large_top, "search_large")


def _print_create(ship: list[dict[str, Any]], mlf: list[dict[str, Any]] | None, s: Sizes) -> None:
    ship_s = med([r["create"]["wall"] for r in ship])
    ship_cpu = med([r["create"]["cpu"] for r in ship])
    print(f"  create {s.runs:,} runs, Shipyard public API: {ship_s:8.2f} s "
          f"({ship_s / s.runs * 1e3:.2f} ms/run, CPU {ship_cpu:.2f} s)")  # fmt: skip
    if not mlf:
        return
    estimate, extrapolated = mlflow_create_seconds(mlf)
    if extrapolated:
        sample = med([r["sample"]["wall"] for r in mlf])
        print(f"  create, MLflow create_run + log_batch:  {estimate:8.2f} s EXTRAPOLATED from "
              f"{mlf[0]['sampled']:,} runs in {sample:.2f} s")  # fmt: skip
    else:
        cpu = med([r["create"]["cpu"] for r in mlf])
        print(f"  create, MLflow create_run + log_batch:  {estimate:8.2f} s "
              f"({estimate / s.runs * 1e3:.2f} ms/run, CPU {cpu:.2f} s; its runs are left "
              f"RUNNING, Shipyard's are ended)")  # fmt: skip
    ratio = estimate / ship_s
    print(f"    MLflow / Shipyard: {ratio:.1f}x   goal >= {GOALS['create']:g}x: "
          f"{verdict(ratio >= GOALS['create'])}")  # fmt: skip


def mlflow_create_seconds(mlf: list[dict[str, Any]]) -> tuple[float, bool]:
    """MLflow's median seconds to create the runs, and whether extrapolated from a sample."""
    if mlf[0]["create"] is None:
        return med([r["create_estimate"] for r in mlf]), True
    return med([r["create"]["wall"] for r in mlf]), False


def _print_search(
    key: str,
    count: int,
    ship: list[dict[str, Any]],
    mlf: list[dict[str, Any]] | None,
    expected: list[list[Any]],
    goal: str,
) -> None:
    if key not in ship[0]:
        return
    ship_s = _search_median(ship, key)
    print(f"  search {count:,} runs, Shipyard: {ship_s * 1e3:9.1f} ms "
          f"(first call {_search_first(ship, key) * 1e3:.1f} ms); the expected runs, in "
          f"order, values equal: "
          f"{_found_match(ship, key, expected)}")  # fmt: skip
    measured = mlf and key in mlf[0]
    if mlf and measured:
        mlf_s = _search_median(mlf, key)
        print(f"  search {count:,} runs, MLflow:   {mlf_s * 1e3:9.1f} ms "
              f"(first call {_search_first(mlf, key) * 1e3:.1f} ms); the expected runs, in "
              f"order, values equal: "
              f"{_found_match(mlf, key, expected)}")  # fmt: skip
    elif mlf:
        print(f"  search {count:,} runs, MLflow:   not measured (it has {mlf[0]['runs']:,} runs)")
    if goal == "search" and mlf and measured:
        ratio = _search_median(mlf, key) / ship_s
        first = _search_first(mlf, key) / _search_first(ship, key)
        print(f"    MLflow / Shipyard: {ratio:.1f}x   goal >= {GOALS['search']:g}x: "
              f"{verdict(ratio >= GOALS['search'])}   (first calls: {first:.1f}x)")  # fmt: skip
    if goal == "search_large":
        limit = GOALS["search_large"]
        print(f"    Shipyard under {limit:g} s: {verdict(ship_s < limit)}")
        if mlf and measured:
            print(f"    MLflow / Shipyard: {_search_median(mlf, key) / ship_s:.1f}x")


def _print_grow(ship: list[dict[str, Any]], mlf: list[dict[str, Any]] | None, s: Sizes) -> None:
    if "grow" not in ship[0]:
        return
    added = s.grow_to - s.runs
    grow = med([r["grow"]["wall"] for r in ship])
    public = med([r["create"]["wall"] for r in ship]) / s.runs * added
    print(f"  grow to {s.grow_to:,} runs, Shipyard bulk store API (create_runs + log_batch, "
          f"{BULK_CHUNK:,} runs a transaction): {grow:.2f} s for {added:,} runs "
          f"(the public API at step 2's rate: ~{public:.0f} s)")  # fmt: skip
    size = med([r["bytes"] for r in ship])
    print(f"    Shipyard store at {s.grow_to:,} runs: {size / 2**20:.1f} MiB after checkpoint")
    if not mlf:
        return
    if "grow" in mlf[0]:
        mlf_grow = med([r["grow"]["wall"] for r in mlf])
        print(f"  grow to {s.grow_to:,} runs, MLflow create_run + log_batch: {mlf_grow:.1f} s")
    else:
        estimate = med([r["grow_estimate"] for r in mlf])
        print(f"  grow to {s.grow_to:,} runs, MLflow: not measured: would take "
              f"~{_duration(estimate)} at step 2's rate")  # fmt: skip


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def print_sizes(results: Results, plan: Plan) -> None:
    n = plan.sizes.values
    print(f"\nstep 5: store size after step 1 ({n:,} values), file bytes after "
          f"PRAGMA wal_checkpoint(TRUNCATE) (main file + any -wal left), median")  # fmt: skip
    for place, sides in results.items():
        ship = med([r["bytes"] for r in sides["shipyard_log"]])
        empty = med([r["empty_bytes"] for r in sides["shipyard_log"]])
        floor = med([r["bytes"] for r in sides["floor_log"]])
        print(f"  [{place}] Shipyard {ship:,.0f} B = {ship / n:.1f} B/value "
              f"(an empty workspace is {empty:,.0f} B; the growth is {(ship - empty) / n:.1f} "
              f"B/value); floor {floor:,.0f} B = {floor / n:.1f} B/value")  # fmt: skip
        if "mlflow_log_batch" in sides:
            mlf = med([r["bytes"] for r in sides["mlflow_log_batch"]])
            print(f"  [{place}] MLflow after log_batch: {mlf:,.0f} B = {mlf / n:.1f} B/value "
                  f"(its whole schema included)")  # fmt: skip
        whole, growth = ship / floor, (ship - empty) / floor
        print(f"  [{place}] Shipyard / floor: {whole:.2f}x whole file, {growth:.2f}x "
              f"growth over the empty workspace   goal <= {GOALS['bytes']:g}x: "
              f"{verdict(whole <= GOALS['bytes'])} (whole file), "
              f"{verdict(growth <= GOALS['bytes'])} (growth)")  # fmt: skip
    tables = next(iter(results.values()))["shipyard_log"][0]["tables"]
    page = min(tables.values(), default=0)
    shown = [f"{name} {size / 1024:.0f} KiB" for name, size in tables.items() if size > page]
    rest = [size for size in tables.values() if size <= page]
    print(f"  Shipyard's pages by table and index (dbstat), first run: {', '.join(shown)}; "
          f"{len(rest)} others of one page each, {sum(rest) / 1024:.0f} KiB")  # fmt: skip


@dataclass(frozen=True)
class Goal:
    """One goal's outcome at one place; `value` is None when it was not measured."""

    label: str
    goal: str
    value: float | None
    met: bool | None
    unit: str = "x"

    def cell(self) -> str:
        if self.value is None:
            return "not measured"
        shown = f"{self.value * 1e3:.0f} ms" if self.unit == "s" else f"{self.value:.1f}x"
        return f"{shown} {verdict(bool(self.met))}"


def _at_least(value: float | None, goal: float) -> bool | None:
    return None if value is None else value >= goal


def goals_at(
    logging: dict[str, list[dict[str, Any]]], runs: dict[str, list[dict[str, Any]]], s: Sizes
) -> list[Goal]:
    """Every goal's outcome at one place, from the medians."""
    log = f"1. log {s.values:,} values:"
    out = []
    for label, other, key in (
        (f"{log} MLflow log_metric / Shipyard", "mlflow_log_metric", "log_metric"),
        (f"{log} MLflow log_batch / Shipyard", "mlflow_log_batch", "log_batch"),
    ):
        ratio = _log_ratio(logging, other, ">=") if other in logging else None
        out.append(Goal(label, f">= {GOALS[key]:g}x", ratio, _at_least(ratio, GOALS[key])))
    floor = _log_ratio(logging, "floor_log", "<=")
    limit = GOALS["floor"]
    out.append(Goal(f"{log} Shipyard / floor", f"<= {limit:g}x", floor, floor <= limit))
    ship, mlf = runs["shipyard_runs"], runs.get("mlflow_runs")
    create = None
    if mlf:
        create = mlflow_create_seconds(mlf)[0] / med([r["create"]["wall"] for r in ship])
    label = f"2. create {s.runs:,} runs: MLflow / Shipyard"
    out.append(Goal(label, f">= {GOALS['create']:g}x", create, _at_least(create, GOALS["create"])))
    search = None
    if mlf and "search" in mlf[0]:
        search = _search_median(mlf, "search") / _search_median(ship, "search")
    label = f"3. search {s.runs:,} runs: MLflow / Shipyard"
    out.append(Goal(label, f">= {GOALS['search']:g}x", search, _at_least(search, GOALS["search"])))
    large = _search_median(ship, "search_large") if "search_large" in ship[0] else None
    limit = GOALS["search_large"]
    met = None if large is None else large < limit
    label = f"4. search {s.grow_to:,} runs: Shipyard"
    out.append(Goal(label, f"< {limit:g} s", large, met, unit="s"))
    size = med([r["bytes"] for r in logging["shipyard_log"]])
    size /= med([r["bytes"] for r in logging["floor_log"]])
    label = "5. bytes per value: Shipyard / floor, whole files"
    out.append(Goal(label, f"<= {GOALS['bytes']:g}x", size, size <= GOALS["bytes"]))
    return out


def print_summary(logging: Results, runs: Results, s: Sizes) -> None:
    places = list(logging)
    per_place = [goals_at(logging[p], runs[p], s) for p in places]
    print("\nsummary: every goal, from the medians above")
    print(f"{'':52}{'goal':>9}" + "".join(f"{p:>20}" for p in places))
    for i, first in enumerate(per_place[0]):
        cells = "".join(f"{goals[i].cell():>20}" for goals in per_place)
        print(f"{first.label:52}{first.goal:>9}{cells}")


def print_header(plan: Plan, version: str) -> None:
    s = plan.sizes
    print(f"sizes: {s.values:,} values (MLflow one by one: {s.mlflow_values:,}); {s.runs:,} runs "
          f"(MLflow sample {s.mlflow_sample:,}); grow to {s.grow_to:,}; seed {SEED}")  # fmt: skip
    for place, base in plan.places.items():
        print(f"place {place}: {base} ({filesystem(base)})")
    print(f"MLflow environment: {version}; sqlite {sqlite3.sqlite_version}; "
          f"python {sys.version.split()[0]}")  # fmt: skip
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}", flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of the cheap steps")
    parser.add_argument("--search-calls", type=int, default=10, help="calls per search")
    parser.add_argument("--repeat-expensive", type=int, default=1, help="runs of steps 2 and 4")
    parser.add_argument("--quick", action="store_true", help=f"small sizes: {QUICK}")
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--no-tmpfs", action="store_true", help="measure on disk only")
    parser.add_argument("--profile", action="store_true", help="also cProfile Shipyard's side")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("worker_args", nargs="*", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.worker:
        kwargs, out = args.worker_args
        Path(out).write_text(json.dumps(WORKERS[args.worker](**json.loads(kwargs))))
        return
    mlflow, version = (None, "skipped (--skip-mlflow)")
    if not args.skip_mlflow:
        mlflow, version = ensure_peer(MLFLOW)
    places = {"disk": Path(tempfile.gettempdir())}
    if not args.no_tmpfs and TMPFS.is_dir():
        places["tmpfs"] = TMPFS
    plan = Plan(
        sizes=QUICK if args.quick else FULL,
        repeat=1 if args.quick else args.repeat,
        search_calls=args.search_calls,
        repeat_expensive=args.repeat_expensive,
        places=places,
        mlflow=mlflow,
        profile=args.profile,
    )
    print_header(plan, version)
    print("\nstep 1 and 5: logging")
    logging = measure_logging(plan)
    print("\nsteps 2-4: runs")
    runs = measure_runs(plan)
    print("\nvalues read back: every side's metric history, created runs (params and latest")
    print("metrics) and search results equal what was logged and expected (checked as each")
    print("worker returned); Shipyard's also equal MLflow's, compared directly:")
    for line in compare_sides(logging, runs) or ["(MLflow skipped: nothing to compare with)"]:
        print(f"  {line}")
    print_logging(logging, plan)
    print_sizes(logging, plan)
    print_runs(runs, plan)
    print_summary(logging, runs, plan.sizes)
    if plan.profile:
        print("\ncProfile sees the calling thread only: batches the background writer thread")
        print("writes while logging goes on are not in it (those that end() flushes are).")
        for label, text in profile_shipyard(plan).items():
            print(f"\ncProfile of Shipyard, {label} (a separate run, not timed above):\n{text}")
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}; sizes {asdict(plan.sizes)}")


if __name__ == "__main__":
    main()
