"""A monitoring job over an hour of capture (3,600,000 requests), beside Evidently's drift report.

Run: .venv/bin/python benchmarks/bench_monitoring.py [--rows 3600000] [--small-rows 360000]
     [--repeat 1] [--small-repeat 3] [--skip-evidently] [--profile] [--data DIR]

Setup (not timed): a training set of 200,000 rows x 20 features (15 numeric, 5 string
categories), a scikit-learn Pipeline (OneHotEncoder on the strings, StandardScaler on the
numbers, LogisticRegression) registered as `m@1` in a fresh Shipyard home with its
baseline (`ws.monitoring.baseline`), and an endpoint `bench` serving it. Then two hours of
capture are written straight into the capture layout
(`capture/endpoint=bench/variant=primary/date=.../hour=HH/part-<uuid>.parquet`, files of
10,000 requests of one row each, every column of `serving.capture.ROW_SCHEMA`, the JSON
columns as the capture writer writes them: `input` `{"age": [41], ...}`, `output` `[1]`,
`scores` `[[0.8, 0.2]]`, the scores computed by the model in bulk, and beside them that
JSON parsed into typed columns by the writer's own `serving.capture.with_parsed`, whose
cost a request is measured and printed): the large hour at
1,000 requests a second (`--rows`) and, an hour earlier, a small one (`--small-rows`).
Both carry the same planted drifts (PLANTED); the other 17 features are fresh samples of
the training distributions.

Timed, each side in a fresh process (its peak memory is its own `VmHWM`, imports included):
- Shipyard: `ws.monitoring.run("bench", start=HOUR, end=HOUR + 1h)`, cold: the hour has no
  stored profile, so the run reads every capture file (its typed columns), profiles the input,
  scores and output stages and checks them against the baseline (each run gets its own
  copy of the home, with the capture linked in). A second, warm run in the same process
  (the hour's profile stored) is timed too, for the record;
- Evidently: `Report([DataDriftPreset()]).run(current, reference)` on pandas DataFrames
  of the same 20 features, read from Parquet before the clock starts: the window's rows
  as already parsed, and the training set as the reference. Evidently's time does not
  include reading the capture; Shipyard's does (the JSON was parsed as it was written);
- for the record, Shipyard's profile engine and drift check on that same typed window
  (`profile_table` of the Parquet file Evidently reads, then `run_checks` against the
  training set's profile, made before the clock): the run's cost without the JSON.

`--profile` adds one more Shipyard run of the large hour under cProfile and prints where
its time goes. This is a benchmark, not a test: it never fails on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peer_env import EVIDENTLY, ensure_peer
from proc_memory import peak_rss_mb as _peak_mb
from proc_memory import status_mb

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

# Top-level imports stay stdlib only: this file also runs as the worker inside
# Evidently's environment, which has no Shipyard.

SEED = 20261208
ENDPOINT, VARIANT, MODEL = "bench", "primary", "m@1"
HOUR = datetime(2026, 12, 1, 10, tzinfo=UTC)  # the large hour
SMALL_HOUR = HOUR - timedelta(hours=1)
TRAIN_ROWS, VALID_ROWS = 200_000, 50_000
# Requests per capture file: the writer writes a file every 2 s (FLUSH_SECONDS) or
# 1,000 records, whichever comes first: about 2,000 at 1,000 requests a second.
FILE_ROWS = 2_000
CHUNK_ROWS = 200_000  # requests generated (and scored) at once

NUMERIC: dict[str, str] = {  # name -> numpy type of its values in the requests
    "age": "int",
    "tenure_months": "int",
    "orders": "int",
    "returns": "int",
    "visits_30d": "int",
    "amount": "float",
    "balance": "float",
    "score_a": "float",
    "score_b": "float",
    "ratio": "float",
    "latency_ms": "float",
    "temperature": "float",
    "distance_km": "float",
    "weight": "float",
    "hour_of_day": "float",
}
CATEGORICAL: dict[str, list[float]] = {  # name -> category weights
    "device": [0.5, 0.3, 0.1, 0.07, 0.03],
    "plan": [0.30, 0.22, 0.16, 0.12, 0.08, 0.06, 0.04, 0.02],
    "country": [0.8**k for k in range(12)],
    "channel": [1 / (k + 1) ** 1.1 for k in range(30)],
    "language": [1 / (k + 1) ** 0.8 for k in range(50)],
}
FEATURES = [*NUMERIC, *CATEGORICAL]
PLAN_DRIFTED = [0.16, 0.22, 0.30, 0.12, 0.08, 0.06, 0.04, 0.02]  # first and third swapped
PLANTED = {
    "balance": "mean +0.5 std (normal, +150)",
    "amount": "x1.5 (lognormal: mean +0.5 std)",
    "plan": "category mix: the first and third of 8 swapped (30% <-> 16%)",
}
SPEEDUP_GOAL, SECONDS_GOAL, MEMORY_GOAL_MB = 30.0, 60.0, 1024.0


# --- data -------------------------------------------------------------------------------------


def features(rng: np.random.Generator, n: int, drift: bool) -> dict[str, np.ndarray]:
    """The 20 features of `n` rows; `drift` plants PLANTED."""
    import numpy as np

    amount = rng.lognormal(3.0, 0.8, n) * (1.5 if drift else 1.0)
    columns: dict[str, np.ndarray] = {
        "age": rng.integers(18, 80, n),
        "tenure_months": rng.poisson(24, n),
        "orders": rng.negative_binomial(2, 0.2, n),
        "returns": rng.poisson(0.7, n),
        "visits_30d": rng.poisson(8, n),
        "amount": amount,
        "balance": rng.normal(1150.0 if drift else 1000.0, 300.0, n),
        "score_a": rng.normal(0.0, 1.0, n),
        "score_b": rng.normal(5.0, 2.0, n),
        "ratio": rng.uniform(0.0, 1.0, n),
        "latency_ms": rng.exponential(120.0, n),
        "temperature": rng.normal(15.0, 8.0, n),
        "distance_km": rng.exponential(5.0, n),
        "weight": rng.normal(70.0, 12.0, n),
        "hour_of_day": rng.uniform(0.0, 24.0, n),
    }
    for name, weights in CATEGORICAL.items():
        if drift and name == "plan":
            weights = PLAN_DRIFTED
        p = np.asarray(weights) / sum(weights)
        labels = np.array([f"{name}_{k:02d}" for k in range(len(p))], dtype=object)
        columns[name] = labels[rng.choice(len(p), size=n, p=p)]
    return columns


def label(data: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    import numpy as np

    logit = (
        0.8 * data["score_a"]
        - 1.0 * (data["balance"] - 1000.0) / 300.0
        + 0.5 * (np.log(data["amount"]) - 3.0)
        + 0.4 * (data["plan"] == "plan_00")
        - 0.3 * (data["device"] == "device_01")
        + 0.02 * (data["tenure_months"] - 24)
    )
    return (rng.random(len(data)) < 1 / (1 + np.exp(-logit))).astype(np.int64)


def make_model() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    encode = ColumnTransformer(
        [
            ("strings", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL)),
            ("numbers", StandardScaler(), list(NUMERIC)),
        ]
    )
    return make_pipeline(encode, LogisticRegression(max_iter=200))


def _number_texts(values: np.ndarray) -> pa.Array:
    """Numbers as JSON text, as `json.dumps` writes them (a float keeps its ".0")."""
    import pyarrow as pa
    import pyarrow.compute as pc

    texts = pc.cast(pa.array(values), pa.string())
    if values.dtype.kind != "f":
        return texts
    plain = pc.invert(pc.match_substring_regex(texts, r"[.eEn]"))  # "3" -> "3.0"
    return pc.if_else(plain, pc.binary_join_element_wise(texts, ".0", ""), texts)


def _json_object(columns: dict[str, np.ndarray]) -> pa.Array:
    """`json.dumps({name: [value]})` for each row, built in Arrow."""
    import pyarrow as pa

    parts: list[Any] = []
    for i, (name, values) in enumerate(columns.items()):
        opening = ("{" if i == 0 else ", ") + f'"{name}": ['
        if values.dtype.kind == "O":  # plain ASCII labels: no escaping needed
            parts += [opening + '"', pa.array(values, pa.string()), '"]']
        else:
            parts += [opening, _number_texts(values), "]"]
    parts.append("}")
    return _concat(parts)


def _concat(parts: list[Any]) -> pa.Array:
    """Join text scalars and arrays element-wise, merging neighbouring scalars first."""
    import pyarrow as pa
    import pyarrow.compute as pc

    merged: list[Any] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    args = [pa.scalar(p) if isinstance(p, str) else p for p in merged]
    return pc.binary_join_element_wise(*args, "")


def _request_ids(n: int) -> pa.Array:
    """Random 32-hex-digit request ids, without a Python string per row."""
    import numpy as np
    import pyarrow as pa

    data = os.urandom(16 * n).hex().encode()
    offsets = np.arange(0, 32 * n + 1, 32, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def capture_table(
    columns: dict[str, np.ndarray], proba: np.ndarray, start: datetime, per_second: float
) -> pa.Table:
    """Captured requests of one row each, in `ROW_SCHEMA`, as the capture writer writes them."""
    import numpy as np
    import pyarrow as pa

    from shipyard.serving.capture import ROW_SCHEMA

    n = len(proba)
    rng = np.random.default_rng(int.from_bytes(os.urandom(4), "big"))
    micros = int(start.timestamp() * 1e6) + (np.arange(n) * (1e6 / per_second)).astype(np.int64)
    model_s = rng.gamma(2.0, 0.0002, n)
    parse_s = rng.gamma(2.0, 0.0001, n)
    predictions = proba.argmax(axis=1)
    p0, p1 = (_number_texts(proba[:, i]) for i in range(2))
    nulls = pa.nulls(n, pa.string())
    data = {
        "request_id": _request_ids(n),
        "time": pa.array(micros, pa.timestamp("us", tz="UTC")),
        "replayed": pa.array(np.zeros(n, dtype=bool)),
        "arrived": pa.array(micros, pa.timestamp("us", tz="UTC")),  # live: arrived at `time`
        "key": nulls,
        "model": pa.array([MODEL] * n, pa.string()),
        "status": pa.array(np.full(n, 200, dtype=np.int32)),
        "parse_seconds": parse_s,
        "enrich_seconds": pa.nulls(n, pa.float64()),
        "model_seconds": model_s,
        "total_seconds": parse_s + model_s + rng.gamma(2.0, 0.0002, n),
        "input": _json_object(columns),
        "enriched": nulls,
        "statuses": nulls,
        "output": _concat(["[", _number_texts(predictions), "]"]),
        "scores": _concat(["[[", p0, ", ", p1, "]]"]),
        "error": nulls,
    }
    return pa.table(data, schema=ROW_SCHEMA)


def _check_json(table: pa.Table, columns: dict[str, np.ndarray], proba: np.ndarray) -> None:
    """The generated text parses back to exactly the values it was made from."""
    for i in range(0, table.num_rows, max(1, table.num_rows // 50)):
        parsed = json.loads(table.column("input")[i].as_py())
        expected = {name: [_plain(values[i])] for name, values in columns.items()}
        scores = json.loads(table.column("scores")[i].as_py())
        if parsed != expected or scores != [proba[i].tolist()]:
            raise SystemExit(f"generated capture row {i} does not parse back: {parsed}")


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


WRITE_COST: list[float] = []  # the writer's parse, seconds a request (one value an hour)


def write_cost(table: pa.Table, file_rows: int = 1_000, files: int = 100) -> float:
    """What the capture writer's helper process spends a request parsing the JSON it keeps
    (`with_parsed`), in files of `file_rows` requests, as it writes them (FLUSH_RECORDS):
    the median of `files` files, CPU time, in seconds a request."""
    from shipyard.serving.capture import with_parsed

    times = []
    for offset in range(0, min(table.num_rows, file_rows * files), file_rows):
        part = table.slice(offset, file_rows)
        started = time.process_time()
        with_parsed([part], apart=False)  # the CPU its helper process spends
        times.append((time.process_time() - started) / part.num_rows)
    return statistics.median(times)


def write_hour(
    folder: Path,
    model: Any,
    rows: int,
    hour: datetime,
    seed: int,
    evidently_path: Path,
    file_rows: int = FILE_ROWS,
) -> None:
    """One hour of capture (`rows` requests) into `folder`, and its features for Evidently."""
    import uuid

    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from shipyard.serving.capture import with_parsed

    target = folder / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
    target.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    per_second = rows / 3600
    writer: pq.ParquetWriter | None = None
    done = 0
    while done < rows:
        n = min(CHUNK_ROWS, rows - done)
        columns = features(rng, n, drift=True)
        frame = pd.DataFrame(columns)
        proba = np.asarray(model.predict_proba(frame), dtype=np.float64)
        at = hour + timedelta(seconds=done / per_second)
        table = capture_table(columns, proba, at, per_second)
        if done == 0:
            _check_json(table, columns, proba)
            WRITE_COST.append(write_cost(table))
        for offset in range(0, n, file_rows):
            # as the writer does (here, not in its helper process: the same columns)
            part = with_parsed([table.slice(offset, file_rows)], apart=False)[0]
            pq.write_table(part, target / f"part-{uuid.uuid4().hex}.parquet")
        plain = pa.Table.from_pandas(frame, preserve_index=False)
        writer = writer or pq.ParquetWriter(evidently_path, plain.schema)
        writer.write_table(plain)
        done += n
    if writer is not None:
        writer.close()


def setup(data: Path, rows: int, small_rows: int, file_rows: int = FILE_ROWS) -> dict[str, Any]:
    """The pristine home (model, baseline, endpoint), the capture and the Evidently tables."""
    import numpy as np
    import pandas as pd

    import shipyard
    from shipyard.stores.control.base import Variant

    marker = data / "ready.json"
    wanted = {"rows": rows, "small_rows": small_rows, "seed": SEED, "file_rows": file_rows}
    if marker.exists() and json.loads(marker.read_text()).get("wanted") == wanted:
        print(f"reusing the generated data in {data}")
        return dict(json.loads(marker.read_text()))
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True)
    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    train = pd.DataFrame(features(rng, TRAIN_ROWS, drift=False))
    train["y"] = label(train, rng)
    valid = pd.DataFrame(features(rng, VALID_ROWS, drift=False))
    valid["y"] = label(valid, rng)
    model = make_model().fit(train[FEATURES], train["y"])
    home = data / "home"
    with shipyard.connect(home) as ws:
        ws.models.register("m", model, input_example=train[FEATURES].head(5))
        ws.monitoring.baseline(MODEL, train, validation=valid, target="y")
        ws.runtime.control.create_endpoint(
            ENDPOINT, {"capture_parsed": True}, [Variant(VARIANT, "m", 1, 1.0)], by="pipeline"
        )
    print(f"  model and baseline: {time.perf_counter() - started:.1f} s", flush=True)
    train[FEATURES].to_parquet(data / "reference.parquet", index=False)
    capture = data / "capture"  # linked into each run's copy of the home
    folder = capture / f"endpoint={ENDPOINT}" / f"variant={VARIANT}"
    hours = {"small": (SMALL_HOUR, small_rows), "large": (HOUR, rows)}
    for i, (case, (hour, n)) in enumerate(hours.items()):
        if n:
            evidently_path = data / f"current-{case}.parquet"
            write_hour(folder, model, n, hour, SEED + 1 + i, evidently_path, file_rows)
    print(f"  generated in {time.perf_counter() - started:.1f} s", flush=True)
    info = {
        "write_cost_us": 1e6 * statistics.median(WRITE_COST),
        "wanted": wanted,
        "home": str(home),
        "capture": str(capture),
        "capture_mb": sum(p.stat().st_size for p in capture.rglob("*.parquet")) / 2**20,
        "files": sum(1 for _ in capture.rglob("*.parquet")),
    }
    marker.write_text(json.dumps(info))
    return info


# --- workers (each in a fresh process) -------------------------------------------------------


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def shipyard_worker(
    pristine: str, capture: str, hour_text: str, profile: str, workers: str = "1"
) -> dict[str, Any]:
    """One cold run and one warm one; with `workers` above 1, on the local engine's
    processes (`ws.monitoring.run(..., workers=N)`): its CPU time and peak memory then
    count those processes too (the peak: this process's plus `workers` times the
    largest child's, an upper bound)."""
    import resource

    # Imports and opening the workspace come before the clock, as Evidently's imports do.
    import scipy.stats  # noqa: F401

    import shipyard
    import shipyard.data.checks
    import shipyard.data.drift
    import shipyard.data.profiles
    import shipyard.monitoring.windows

    hour = datetime.fromisoformat(hour_text)
    with tempfile.TemporaryDirectory(prefix="bench-monitoring-home-") as folder:
        home = Path(folder) / "home"
        shutil.copytree(pristine, home)  # a fresh monitoring store: the hour is not profiled yet
        (home / "capture").symlink_to(capture, target_is_directory=True)
        with shipyard.connect(home) as ws:
            # Opening the service imports it (scikit-learn among others): not timed, as
            # neither side's imports are. A running service would have it open.
            ws.monitoring  # noqa: B018
            ws.models.get("m", 1)
            before_mb = status_mb("VmRSS") or 0.0
            profiler = None
            if profile:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            engine = {} if workers == "1" else {"workers": int(workers)}
            children = os.times()
            start = _clock()
            run = ws.monitoring.run(ENDPOINT, start=hour, end=hour + timedelta(hours=1), **engine)
            wall, cpu = _since(start)
            after = os.times()
            cpu += (after.children_user - children.children_user) + (
                after.children_system - children.children_system
            )
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(profile)
            child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            peak = _peak_mb() + (int(workers) * child_mb if workers != "1" else 0.0)
            start = _clock()
            again = ws.monitoring.run(ENDPOINT, start=hour, end=hour + timedelta(hours=1), **engine)
            warm_wall, _ = _since(start)
    return {
        "wall": wall,
        "cpu": cpu,
        "peak_mb": peak,
        "before_mb": before_mb,
        "warm_wall": warm_wall,
        "requests": run.windows[0].requests,
        "warm_same": set(again.violations) == set(run.violations),  # stages may come reordered
        "violations": [
            {
                "stage": v.stage,
                "feature": v.feature_name,
                "check": v.constraint_check_type,
                "why": v.description,
            }
            for v in run.violations
        ],
        "notes": list(run.windows[0].notes),
    }


def parsed_worker(reference_path: str, current_path: str, _: str, __: str) -> dict[str, Any]:
    """Shipyard's profile engine and drift check on the typed window Evidently is given:
    what a monitoring run would cost if the capture held typed columns, not JSON text."""
    import scipy.stats  # noqa: F401

    import shipyard.data.drift  # noqa: F401
    from shipyard.data.checks import run_checks
    from shipyard.data.profiles import profile_table

    reference = profile_table(reference_path)  # made once, with the baseline: not timed
    start = _clock()
    current = profile_table(current_path, kinds=reference.kinds)
    report = run_checks(current, reference=reference)
    wall, cpu = _since(start)
    return {
        "wall": wall,
        "cpu": cpu,
        "peak_mb": _peak_mb(),
        "flagged": [r.column for r in report.failures if r.check == "distribution"],
    }


def evidently_worker(reference_path: str, current_path: str, _: str, __: str) -> dict[str, Any]:
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    loaded_mb = _peak_mb()
    start = _clock()
    snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    wall, cpu = _since(start)
    metrics = snapshot.dict()["metrics"]
    drift = [m for m in metrics if m["config"]["type"].endswith(":ValueDrift")]
    return {
        "wall": wall,
        "cpu": cpu,
        "peak_mb": _peak_mb(),
        "loaded_mb": loaded_mb,
        "rows": len(current),
        "flagged": [m["config"]["column"] for m in drift if _evidently_drifted(m["config"], m)],
        "scores": {
            m["config"]["column"]: (m["config"]["method"], m["value"], m["config"]["threshold"])
            for m in drift
        },
    }


def _evidently_drifted(config: dict[str, Any], metric: dict[str, Any]) -> bool:
    # Evidently's own rule: p-value tests drift below the threshold, distances at or above it.
    if "p_value" in config["method"]:
        return bool(metric["value"] < config["threshold"])
    return bool(metric["value"] >= config["threshold"])


WORKERS = {
    "shipyard": shipyard_worker,
    "shipyard-w": shipyard_worker,  # the same run on the local engine's processes
    "parsed": parsed_worker,
    "evidently": evidently_worker,
}


def run_worker(python: Path | str, side: str, args: list[str]) -> dict[str, Any]:
    """Run one side in a fresh interpreter; it writes its measurements to a JSON file."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [str(python), __file__, "--worker", side, *args, out.name]
        env = dict(os.environ, DO_NOT_TRACK="1")  # Evidently's telemetry: no network
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{side} worker failed ({done.returncode}):\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(Path(out.name).read_text())
        return result


# --- measuring and reporting ------------------------------------------------------------------


def measure(
    info: dict[str, Any],
    data: Path,
    case: str,
    repeat: int,
    evidently: Path | None,
    workers: int,
) -> dict[str, list[dict[str, Any]]]:
    hour = HOUR if case == "large" else SMALL_HOUR
    ship = [info["home"], info["capture"], hour.isoformat(), ""]
    sides: list[tuple[str, Path | str, list[str]]] = [
        ("shipyard", sys.executable, [*ship, "1"]),
        ("shipyard-w", sys.executable, [*ship, str(workers)]),
    ]
    tables = [str(data / "reference.parquet"), str(data / f"current-{case}.parquet"), "", ""]
    sides.append(("parsed", sys.executable, tables))
    if evidently is not None:
        sides.append(("evidently", evidently, tables))
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in WORKERS}
    for i in range(repeat):
        # Alternate the order, so neither side always runs on a warmer page cache.
        for side, python, args in sides if i % 2 == 0 else sides[::-1]:
            result = run_worker(python, side, args)
            runs[side].append(result)
            print(f"  {case} run {i + 1}/{repeat} {side:10}: {result['wall']:7.2f} s wall, "
                  f"{result['cpu']:7.2f} s CPU, {result['peak_mb']:6.0f} MB peak, "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
    return runs


def shipyard_found(result: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Input features with a violation, and the other stages' violated columns."""
    found = sorted({v["feature"] for v in result["violations"] if v["stage"] == "input"})
    others = sorted(
        {
            f"{v['stage']}:{v['feature'] or '-'}"
            for v in result["violations"]
            if v["stage"] != "input"
        }
    )
    return found, others


def report(case: str, rows: int, runs: dict[str, list[dict[str, Any]]]) -> None:
    print(f"\n== {case}: {rows:,} requests of one row ({len(runs['shipyard'])} run(s), medians) ==")
    found, false_alarms = report_shipyard(rows, runs["shipyard"], "one process")
    report_shipyard(rows, runs["shipyard-w"], "the local engine's processes")
    parsed, evi = runs["parsed"], runs["evidently"]
    p_wall = statistics.median(r["wall"] for r in parsed)
    print(f"Shipyard  engine on the parsed window (profile_table + run_checks, the typed table "
          f"Evidently gets): {p_wall:.2f} s wall, "
          f"{statistics.median(r['peak_mb'] for r in parsed):.0f} MB peak; flagged "
          f"{', '.join(sorted(parsed[0]['flagged'])) or '(none)'}")  # fmt: skip
    if not evi:
        return
    e_wall = statistics.median(r["wall"] for r in evi)
    flagged = sorted(evi[0]["flagged"])
    print(f"Evidently DataDriftPreset      : {e_wall:8.2f} s wall, "
          f"{statistics.median(r['cpu'] for r in evi):8.2f} s CPU, "
          f"{statistics.median(r['peak_mb'] for r in evi):6.0f} MB peak "
          f"({statistics.median(r['loaded_mb'] for r in evi):.0f} MB after reading its two "
          f"DataFrames, untimed)")  # fmt: skip
    print(f"  features flagged       : {', '.join(flagged) or '(none)'}")
    for column in sorted(set(PLANTED) | set(flagged)):
        method, score, threshold = evi[0]["scores"][column]
        print(f"    {column}: {method} = {score:.4f} (threshold {threshold})")
    print("goals:")
    for side, label in (("shipyard", "one process"), ("shipyard-w", "local engine")):
        ship = runs[side]
        wall = statistics.median(r["wall"] for r in ship)
        ratio = e_wall / wall
        met = "met" if ratio >= SPEEDUP_GOAL else "NOT met"
        print(f"  Evidently / Shipyard ({label}): {ratio:.1f}x ({met}: >= {SPEEDUP_GOAL:.0f}x)")
        if case == "large":
            peak = statistics.median(r["peak_mb"] for r in ship)
            fast = "met" if wall <= SECONDS_GOAL else "NOT met"
            small = "met" if peak < MEMORY_GOAL_MB else "NOT met"
            print(f"    within {SECONDS_GOAL:.0f} s: {fast}; "
                  f"under {MEMORY_GOAL_MB:.0f} MB peak: {small}")  # fmt: skip
    print(f"  against the engine on the parsed window: {e_wall / p_wall:.1f}x")
    same = set(found) == set(flagged) == set(PLANTED)
    print(f"  both find exactly the planted drifts: {'met' if same else 'NOT met'} "
          f"(Shipyard {', '.join(found)}; Evidently {', '.join(flagged)})")  # fmt: skip
    print(f"  no false alarm from Shipyard: {'NOT met' if false_alarms else 'met'}")


def report_shipyard(
    rows: int, ship: list[dict[str, Any]], label: str
) -> tuple[list[str], list[str]]:
    """One Shipyard side's lines; the input features it flagged and its false alarms."""
    wall = statistics.median(r["wall"] for r in ship)
    found, others = shipyard_found(ship[0])
    false_alarms = sorted(set(found) - set(PLANTED))
    print(f"Shipyard  monitoring.run, cold, {label}: {wall:8.2f} s wall, "
          f"{statistics.median(r['cpu'] for r in ship):8.2f} s CPU, "
          f"{statistics.median(r['peak_mb'] for r in ship):6.0f} MB peak "
          f"({statistics.median(r['before_mb'] for r in ship):.0f} MB before the run)")  # fmt: skip
    print(f"Shipyard  monitoring.run, warm : {statistics.median(r['warm_wall'] for r in ship):8.2f}"
          f" s wall (the hour's stored profile; same violations: "
          f"{all(r['warm_same'] for r in ship)})")  # fmt: skip
    print(f"  requests counted: {ship[0]['requests']:,}; rows per second, cold: "
          f"{rows / wall:,.0f}")  # fmt: skip
    print(f"  input features flagged : {', '.join(found) or '(none)'}")
    print(f"  other stages flagged   : {', '.join(others) or '(none)'}")
    print(f"  false alarm (an unchanged input feature flagged): "
          f"{'YES: ' + ', '.join(false_alarms) if false_alarms else 'no'}")  # fmt: skip
    for v in ship[0]["violations"]:
        print(f"    {v['stage']}/{v['feature'] or '-'} {v['check']}: {v['why'][:150]}")
    flags = {json.dumps(sorted((v["stage"], v["feature"], v["check"]) for v in r["violations"]))
             for r in ship}  # fmt: skip
    if len(flags) > 1:  # the figures in the reasons vary a little: the sketches are randomised
        print("  note: the runs flagged different things")
    return found, false_alarms


# What to show of the profile: these functions' cumulative times say where the run goes.
PROFILE_PARTS = [
    ("windows.py", "profile_files", "profile the hour's files (all below, and Parquet reading)"),
    ("capture_tables.py", "stage_tables", "  captured JSON -> tables of rows per stage"),
    ("capture_tables.py", "_read_json", "    Arrow's JSON reader, all stages"),
    ("capture_tables.py", "_read", "    input: join texts + parse"),
    ("capture_tables.py", "_scores", "    scores: wrap + parse + columns"),
    ("capture_tables.py", "_values", "    output: wrap + parse"),
    ("capture_tables.py", "status_counts", "  enrichment statuses"),
    ("table.py", "profile_table", "  profile the stage tables (data.profiles)"),
    ("windows.py", "merge", "  merge the batches' profiles"),
    ("checks.py", "check_window", "check against the baseline"),
]


def print_profile(path: Path, top: int = 15) -> None:
    import pstats

    stats = pstats.Stats(str(path))
    table: dict[tuple[str, int, str], Any] = stats.stats  # type: ignore[attr-defined]
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"\ncProfile of one more cold Shipyard run of the large hour ({total:.1f} s under the"
          " profiler; cumulative seconds):")  # fmt: skip
    for filename, function, label in PROFILE_PARTS:
        cumulative = sum(
            v[3] for (f, _, name), v in table.items() if f.endswith(filename) and name == function
        )
        print(f"  {cumulative:7.2f} s {100 * cumulative / total:5.1f}%  {label} ({function})")
    print(f"top {top} functions by own time:")
    rows = sorted(table.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    for (filename, line, function), (_, calls, own, cumulative, _) in rows:
        where = "/".join(Path(filename).parts[-2:]) if line else filename
        print(f"  {own:7.2f} s own {cumulative:7.2f} s cum {calls:7d} calls  "
              f"{where}:{line}({function})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3_600_000, help="requests in the large hour")
    parser.add_argument("--small-rows", type=int, default=360_000, help="0: no small case")
    parser.add_argument("--repeat", type=int, default=1, help="runs of the large case")
    parser.add_argument("--small-repeat", type=int, default=3)
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument(
        "--file-rows",
        type=int,
        default=FILE_ROWS,
        help="requests per capture file (the writer's at 1,000 a second)",
    )
    parser.add_argument("--workers", type=int, default=2,
                        help="processes of the second Shipyard run (the local engine)")  # fmt: skip
    parser.add_argument("--profile", action="store_true", help="one more run under cProfile")
    parser.add_argument("--data", type=Path, help="keep the generated data here (and reuse it)")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("worker_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        *given, out = args.worker_args
        Path(out).write_text(json.dumps(WORKERS[args.worker](*given)))
        return

    evidently, version = (None, "skipped (--skip-evidently)")
    if not args.skip_evidently:
        evidently, version = ensure_peer(EVIDENTLY)
    with tempfile.TemporaryDirectory(prefix="bench-monitoring-") as scratch:
        data = args.data or Path(scratch) / "data"
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; "
              f"python {sys.version.split()[0]}; evidently: {version}")  # fmt: skip
        print(f"generating: training {TRAIN_ROWS:,} x {len(FEATURES)} ({len(NUMERIC)} numeric, "
              f"{len(CATEGORICAL)} string), capture {args.rows:,} + {args.small_rows:,} "
              f"requests ...", flush=True)  # fmt: skip
        info = setup(data, args.rows, args.small_rows, args.file_rows)
        print(f"capture: {info['files']} files, {info['capture_mb']:.0f} MB of Parquet; "
              f"output and scores included (scores by the model, in bulk)")  # fmt: skip
        cost = info.get("write_cost_us", float("nan"))
        print(f"the capture writer's parse of the JSON it keeps typed (not timed below): "
              f"{cost:.1f} us CPU a request in its helper process, files of 1,000")  # fmt: skip
        print("planted drift: " + "; ".join(f"{c} ({w})" for c, w in PLANTED.items()))
        cases = [("small", args.small_rows, args.small_repeat)] if args.small_rows else []
        cases.append(("large", args.rows, args.repeat))
        results = {
            case: measure(info, data, case, n, evidently, args.workers) for case, _, n in cases
        }
        for case, rows, _ in cases:
            report(case, rows, results[case])
        if args.profile:
            path = Path(scratch) / "shipyard.prof"
            worker = [info["home"], info["capture"], HOUR.isoformat(), str(path)]
            run_worker(sys.executable, "shipyard", worker)
            print_profile(path)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
