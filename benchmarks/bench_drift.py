"""Profile + drift check on 500,000 x 25, beside Evidently's data drift report.

Run: .venv/bin/python benchmarks/bench_drift.py [--rows 500000] [--repeat 3] [--skip-evidently]

Prints, in one run:
- Shipyard: profile the reference (once, at baseline time) and the current
  table from Parquet, then `run_checks(current, reference=...)`; the time of
  the whole, and of the monitoring window alone (profile current + check);
- Evidently: `Report([DataDriftPreset()]).run(current, reference)` on pandas
  DataFrames read from the same Parquet files (reading is not timed);
- wall seconds, CPU seconds and peak RSS of each, median of `--repeat` runs,
  each run in a fresh process so its peak RSS is its own; the columns each one
  flags as drifted against the 3 planted; and the ratios beside the goals.

Both tables are fresh samples of the same 25 distributions (20 numeric, 5
categorical) with a fixed seed, except for 3 planted changes in `current`.
Evidently runs in its own virtual environment, made on first use in
`benchmarks/.venv-evidently` (ignored by git through a `.gitignore` inside it) at
the versions pinned in `peer_env.EVIDENTLY`, which the output prints. Peak RSS is
each worker's own `VmHWM` (`proc_memory.py`).
This is a benchmark, not a test: it never fails on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peer_env import EVIDENTLY, ensure_peer
from proc_memory import peak_rss_mb as _peak_mb

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

# Top-level imports stay stdlib only: this file also runs as the worker inside
# Evidently's environment, which has no Shipyard, and a worker's peak RSS
# should hold only what its side needs.

SEED = 20261127
PLANTED = {
    "normal_1": "mean +0.3 std",
    "normal_3": "variance x1.8 (std x1.34), same mean",
    "cat_12": "new category taking 5% of rows",
}
SPEEDUP_GOAL = 20.0
MEMORY_GOAL = 1 / 3

Sampler = Callable[["np.random.Generator", int, bool], "np.ndarray"]


# --- data -------------------------------------------------------------------------------------


def _normal(mean: float, std: float) -> Sampler:
    return lambda rng, n, _: rng.normal(mean, std, n)


def _lognormal(sigma: float, scale: float) -> Sampler:
    return lambda rng, n, _: scale * rng.lognormal(0.0, sigma, n)


def _exponential(scale: float) -> Sampler:
    return lambda rng, n, _: rng.exponential(scale, n)


def _uniform(low: float, high: float) -> Sampler:
    return lambda rng, n, _: rng.uniform(low, high, n)


def _poisson(lam: float) -> Sampler:
    return lambda rng, n, _: rng.poisson(lam, n)


def _negative_binomial(size: int, p: float) -> Sampler:
    return lambda rng, n, _: rng.negative_binomial(size, p, n)


def _mean_shift(rng: np.random.Generator, n: int, drift: bool) -> np.ndarray:
    # N(50, 10); drifted: +3, i.e. 0.3 reference std.
    return rng.normal(53.0 if drift else 50.0, 10.0, n)


def _variance_change(rng: np.random.Generator, n: int, drift: bool) -> np.ndarray:
    # N(100, 15); drifted: variance x1.8 around the same mean.
    return rng.normal(100.0, 15.0 * (1.8**0.5 if drift else 1.0), n)


NUMERIC: dict[str, Sampler] = {
    "normal_0": _normal(0.0, 1.0),
    "normal_1": _mean_shift,
    "normal_2": _normal(-5.0, 0.5),
    "normal_3": _variance_change,
    "lognormal_0": _lognormal(0.25, 1.0),
    "lognormal_1": _lognormal(0.5, 20.0),
    "lognormal_2": _lognormal(1.0, 3.0),
    "lognormal_3": _lognormal(1.5, 100.0),
    "exponential_0": _exponential(1.0),
    "exponential_1": _exponential(10.0),
    "exponential_2": _exponential(0.2),
    "exponential_3": _exponential(60.0),
    "uniform_0": _uniform(0.0, 1.0),
    "uniform_1": _uniform(-10.0, 10.0),
    "uniform_2": _uniform(100.0, 200.0),
    "uniform_3": _uniform(0.0, 1000.0),
    "count_0": _poisson(0.5),
    "count_1": _poisson(3.0),
    "count_2": _poisson(40.0),
    "count_3": _negative_binomial(2, 0.1),
}

# name -> category weights (normalised later); skew from a few explicit weights or Zipf.
CATEGORICAL: dict[str, list[float]] = {
    "cat_3": [0.7, 0.2, 0.1],
    "cat_5": [1.0] * 5,
    "cat_12": [0.8**k for k in range(12)],
    "cat_30": [1 / (k + 1) ** 1.1 for k in range(30)],
    "cat_50": [1 / (k + 1) ** 0.8 for k in range(50)],
}
NEW_CATEGORY_SHARE = 0.05


def _categorical(
    rng: np.random.Generator, name: str, weights: list[float], n: int, drift: bool
) -> pa.Array:
    import numpy as np
    import pyarrow as pa

    labels = [f"{name}_v{k:02d}" for k in range(len(weights))]
    p = np.asarray(weights) / sum(weights)
    codes = rng.choice(len(labels), size=n, p=p).astype(np.int32)
    if drift:
        # The new value takes its share from every category in proportion.
        labels.append(f"{name}_new")
        codes[rng.random(n) < NEW_CATEGORY_SHARE] = len(labels) - 1
    return pa.DictionaryArray.from_arrays(codes, pa.array(labels)).dictionary_decode()


def make_table(rows: int, rng: np.random.Generator, drift: bool) -> pa.Table:
    """20 numeric and 5 categorical columns; `drift` plants the changes in PLANTED."""
    import pyarrow as pa

    columns: dict[str, Any] = {}
    for name, sample in NUMERIC.items():
        columns[name] = sample(rng, rows, drift and name in PLANTED)
    for name, weights in CATEGORICAL.items():
        columns[name] = _categorical(rng, name, weights, rows, drift and name in PLANTED)
    return pa.table(columns)


def write_tables(rows: int, folder: Path) -> tuple[Path, Path]:
    """Write reference and current Parquet files (pyarrow's defaults), from independent streams."""
    import numpy as np
    import pyarrow.parquet as pq

    ref_rng, cur_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(SEED).spawn(2))
    paths = folder / "reference.parquet", folder / "current.parquet"
    for path, rng, drift in zip(paths, (ref_rng, cur_rng), (False, True), strict=True):
        pq.write_table(make_table(rows, rng, drift), path)
    return paths


# --- workers (each in a fresh process) -------------------------------------------------------


def _clock() -> tuple[float, float]:
    """Wall and CPU seconds; process_time counts every thread of this process."""
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def shipyard_worker(reference_path: str, current_path: str) -> dict[str, Any]:
    # Import everything the check uses before the clock starts, as Evidently's side does
    # (its imports are not timed either): scipy.stats alone takes most of a second.
    import scipy.stats  # noqa: F401

    import shipyard.data.drift  # noqa: F401
    from shipyard.data.checks import run_checks
    from shipyard.data.profiles import profile_table

    start = _clock()
    reference = profile_table(reference_path)
    window = _clock()
    current = profile_table(current_path, kinds=reference.kinds)
    report = run_checks(current, reference=reference)
    window_wall, window_cpu = _since(window)
    wall, cpu = _since(start)
    distribution = [r for r in report.results if r.check == "distribution"]
    return {
        "wall": wall,
        "cpu": cpu,
        "window_wall": window_wall,
        "window_cpu": window_cpu,
        "peak_mb": _peak_mb(),
        "flagged": [r.column for r in report.failures if r.check == "distribution"],
        "why": {r.column: r.why for r in distribution},
    }


def evidently_worker(reference_path: str, current_path: str) -> dict[str, Any]:
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
    count = next(
        m["value"]["count"] for m in metrics if m["config"]["type"].endswith(":DriftedColumnsCount")
    )
    return {
        "wall": wall,
        "cpu": cpu,
        "peak_mb": _peak_mb(),
        "loaded_mb": loaded_mb,
        "flagged": [m["config"]["column"] for m in drift if _evidently_drifted(m["config"], m)],
        "reported_count": int(count),
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


WORKERS = {"shipyard": shipyard_worker, "evidently": evidently_worker}


# --- running the sides ------------------------------------------------------------------------


def run_worker(python: Path | str, side: str, paths: tuple[Path, Path]) -> dict[str, Any]:
    """Run one side in a fresh interpreter; it writes its measurements to a JSON file."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [str(python), __file__, "--worker", side, *map(str, paths), out.name]
        # DO_NOT_TRACK: Evidently's usage telemetry must not try the network.
        env = dict(os.environ, DO_NOT_TRACK="1")
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{side} worker failed ({done.returncode}):\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(Path(out.name).read_text())
        return result


def measure(
    paths: tuple[Path, Path], repeat: int, evidently: Path | None
) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {"shipyard": [], "evidently": []}
    for i in range(repeat):
        sides: list[tuple[str, Path | str]] = [("shipyard", sys.executable)]
        if evidently is not None:
            sides.append(("evidently", evidently))
        # Alternate the order, so neither side always runs on a warmer page cache.
        for side, python in sides if i % 2 == 0 else sides[::-1]:
            result = run_worker(python, side, paths)
            runs[side].append(result)
            print(f"  run {i + 1}/{repeat} {side:9}: {result['wall']:7.2f} s wall, "
                  f"{result['cpu']:7.2f} s CPU, {result['peak_mb']:6.0f} MB peak, "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
    return runs


# --- report -----------------------------------------------------------------------------------


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def verdict(flagged: list[str]) -> str:
    missed = sorted(set(PLANTED) - set(flagged))
    extra = sorted(set(flagged) - set(PLANTED))
    problems = [f"missed {', '.join(missed)}"] if missed else []
    problems += [f"false alarm {', '.join(extra)}"] if extra else []
    return f"no ({'; '.join(problems)})" if problems else "yes"


def same_flags(runs: list[dict[str, Any]]) -> list[str]:
    """The flagged columns, checking every run agreed (both sides are deterministic)."""
    first = runs[0]["flagged"]
    if any(r["flagged"] != first for r in runs[1:]):
        print(f"  note: runs disagree on flagged columns: {[r['flagged'] for r in runs]}")
    return list(first)


def print_table(runs: dict[str, list[dict[str, Any]]]) -> None:
    ship, evi = runs["shipyard"], runs["evidently"]
    rows = [
        ("Shipyard, baseline + window", ship, "wall", "cpu"),
        ("Shipyard, window only", ship, "window_wall", "window_cpu"),
    ]
    if evi:
        rows.append(("Evidently DataDriftPreset", evi, "wall", "cpu"))
    print(f"\n{'':30} {'wall s':>8} {'CPU s':>8} {'peak MB':>8}  {'flagged':34} correct")
    for label, side, wall, cpu in rows:
        flagged = same_flags(side)
        print(f"{label:30} {median(side, wall):8.2f} {median(side, cpu):8.2f} "
              f"{median(side, 'peak_mb'):8.0f}  {', '.join(flagged) or '(none)':34} "
              f"{verdict(flagged)}")  # fmt: skip


def print_ratios(runs: dict[str, list[dict[str, Any]]]) -> None:
    ship, evi = runs["shipyard"], runs["evidently"]
    print("\nratios (medians):")
    for label, wall, cpu in (
        ("baseline + window", "wall", "cpu"),
        ("window only", "window_wall", "window_cpu"),
    ):
        speed = median(evi, "wall") / median(ship, wall)
        cpu_speed = median(evi, "cpu") / median(ship, cpu)
        met = "met" if speed >= SPEEDUP_GOAL else "NOT met"
        print(f"  Evidently / Shipyard time, {label:17}: {speed:5.1f}x wall, "
              f"{cpu_speed:5.1f}x CPU  (goal >= {SPEEDUP_GOAL:.0f}x faster: {met})")  # fmt: skip
    memory = median(ship, "peak_mb") / median(evi, "peak_mb")
    met = "met" if memory <= MEMORY_GOAL else "NOT met"
    print(f"  Shipyard peak / Evidently peak               : {memory:5.2f}  "
          f"(goal <= {MEMORY_GOAL:.2f}: {met})")  # fmt: skip
    for name, side in (("Shipyard", ship), ("Evidently", evi)):
        flags = same_flags(side)
        ok = "met" if verdict(flags) == "yes" else "NOT met"
        print(f"  {name} flags exactly the 3 planted columns, no false alarm: {ok}")


def print_details(runs: dict[str, list[dict[str, Any]]]) -> None:
    ship, evi = runs["shipyard"][0], runs["evidently"]
    suspects = sorted(set(PLANTED) | set(ship["flagged"]))
    print("\nShipyard's reasons (planted or flagged columns):")
    for column in suspects:
        print(f"  {column}: {ship['why'].get(column, '(not compared)')}")
    if evi:
        print("\nEvidently's scores (planted or flagged columns; method, score, threshold):")
        scores = evi[0]["scores"]
        for column in sorted(set(PLANTED) | set(evi[0]["flagged"])):
            method, score, threshold = scores.get(column, ("(not compared)", float("nan"), 0))
            print(f"  {column}: {method} = {score:.4f} (threshold {threshold})")
        others = {c: s for c, s in scores.items() if c not in PLANTED}
        worst = max(others.items(), key=lambda kv: kv[1][1] / kv[1][2], default=None)
        if worst:
            print(f"  highest unplanted score: {worst[0]} {worst[1][0]} = {worst[1][1]:.4f}")
        print(f"  Evidently's own DriftedColumnsCount: {evi[0]['reported_count']}; "
              f"categorical by its inference: "
              f"{', '.join(c for c, s in scores.items() if 'Jensen' in s[0])}")  # fmt: skip


def print_header(rows: int, paths: tuple[Path, Path]) -> None:
    sizes = ", ".join(f"{p.name} {p.stat().st_size / 2**20:.0f} MB" for p in paths)
    print(f"tables: {rows:,} rows x {len(NUMERIC) + len(CATEGORICAL)} columns "
          f"({len(NUMERIC)} numeric, {len(CATEGORICAL)} categorical), seed {SEED}")  # fmt: skip
    print(f"Parquet (pyarrow defaults): {sizes}")
    print("planted drift in current: "
          + "; ".join(f"{c} ({what})" for c, what in PLANTED.items()))  # fmt: skip
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; "
          f"python {sys.version.split()[0]}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("worker_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        reference, current, out = args.worker_args
        Path(out).write_text(json.dumps(WORKERS[args.worker](reference, current)))
        return

    evidently, version = (None, "skipped (--skip-evidently)")
    if not args.skip_evidently:
        evidently, version = ensure_peer(EVIDENTLY)
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as folder:
        paths = write_tables(args.rows, Path(folder))
        print_header(args.rows, paths)
        print(f"evidently: {version}")
        runs = measure(paths, args.repeat, evidently)
    print_table(runs)
    print("peak RSS is each fresh process's own, imports included. Evidently's includes the two")
    print("DataFrames it needs in memory (reading them is not timed); Shipyard streams the Parquet")
    print("files batch by batch, and its times include that reading.")
    if runs["evidently"]:
        print(f"Evidently's process after reading both tables, before run(): "
              f"{median(runs['evidently'], 'loaded_mb'):.0f} MB peak RSS")  # fmt: skip
        print_ratios(runs)
    print_details(runs)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
