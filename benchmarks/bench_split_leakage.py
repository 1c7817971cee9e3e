"""Split + leakage report on 1,000,000 x 20, and duplicate detection beside pandas.

Run: .venv/bin/python benchmarks/bench_split_leakage.py [--rows 1000000] [--repeat 5]

Prints, in one run:
- the time and peak memory of a stratified, duplicate-aware split with a
  `recent_testing` time window, and of the leakage report over its sets
  (each measured in a fresh process, its peak RSS its own `VmHWM`, see
  `proc_memory.py`);
- exact-duplicate detection on the same table: `shipyard.data.rows.duplicated`
  beside pandas `DataFrame.duplicated`, median of several runs, with the ratio,
  after checking that both flag exactly the same rows.

The peer, pandas, is already a Shipyard dependency, so no separate environment is
needed. This is a benchmark, not a test: it never fails on timing.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time
from typing import Any

import numpy as np
import pandas as pd
from proc_memory import peak_rss_mb

PLANTED_COPIES = 5_000


def make_table(rows: int, seed: int = 0) -> pd.DataFrame:
    """12 float, 3 int, 2 text features, an id, an event time and a binary target."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            **{f"f{i}": rng.normal(size=rows).round(3) for i in range(12)},
            **{f"n{i}": rng.integers(0, 1_000, rows) for i in range(3)},
            "kind": rng.choice(["a", "b", "c", "d"], rows),
            "code": rng.choice([f"c{i}" for i in range(500)], rows),
            "id": np.arange(rows),
            "event_time": pd.Timestamp("2026-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 365 * 24 * 3600, rows), unit="s"),
        }
    )
    frame["target"] = (frame["f0"] + rng.normal(scale=2.0, size=rows)) > 1.0
    # Plant exact copies (features and target; new ids): what a careless join produces.
    source = rng.choice(rows, PLANTED_COPIES, replace=False)
    target_rows = rng.choice(np.setdiff1d(np.arange(rows), source), PLANTED_COPIES, replace=False)
    features = [c for c in frame.columns if c not in ("id",)]
    frame.loc[target_rows, features] = frame.loc[source, features].to_numpy()
    frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True)
    return frame


PLAN = {
    "sets": {"training": 0.7, "validation": 0.15, "testing": 0.15},
    "seed": 1,
    "stratify": "target",
    "id_columns": ["id"],
    "time_column": "event_time",
    "windows": {"recent_testing": {"last": "30D"}},
    "slices": {"kind_a": 'kind == "a"', "code_c7": 'code == "c7"'},
}


def _split_and_check(rows: int, queue: Any) -> None:
    from shipyard.data.leakage import leakage_report
    from shipyard.data.splits import SplitPlan, split_frame

    frame = make_table(rows)
    base = peak_rss_mb()
    started = time.perf_counter()
    result = split_frame(frame, SplitPlan.from_dict(PLAN))
    split_seconds = time.perf_counter() - started
    split_peak = peak_rss_mb()
    sets = result.frames(frame)
    started = time.perf_counter()
    report = leakage_report(
        sets,
        target="target",
        id_columns=["id"],
        time_column="event_time",
        windows=["recent_testing"],
    )
    leak_seconds = time.perf_counter() - started
    peak = peak_rss_mb()
    queue.put(
        {
            "split_seconds": split_seconds,
            "leakage_seconds": leak_seconds,
            "table_mb": frame.memory_usage(deep=True).sum() / 2**20,
            "base_mb": base,
            "split_peak_mb": split_peak,
            "peak_mb": peak,
            "counts": dict(result.counts),
            "findings": [(f.kind, f.severity, f.rows) for f in report.findings],
        }
    )


def measure_split_and_leakage(rows: int) -> dict[str, Any]:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_split_and_check, args=(rows, queue))
    process.start()
    result: dict[str, Any] = queue.get()
    process.join()
    return result


def measure_duplicates(rows: int, repeat: int) -> dict[str, Any]:
    from shipyard.data.rows import duplicated

    frame = make_table(rows).drop(columns=["id"])
    ours, theirs = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        mask = duplicated(frame)
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        expected = frame.duplicated().to_numpy()
        theirs.append(time.perf_counter() - started)
    if not (mask == expected).all():
        raise SystemExit("duplicate masks differ: the benchmark is void")
    return {
        "shipyard": statistics.median(ours),
        "pandas": statistics.median(theirs),
        "flagged": int(mask.sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    print(f"table: {args.rows:,} rows x 20 columns, {PLANTED_COPIES:,} planted exact copies")
    split = measure_split_and_leakage(args.rows)
    print(f"table in memory: {split['table_mb']:.0f} MB; process before splitting: "
          f"{split['base_mb']:.0f} MB peak RSS")  # fmt: skip
    print(f"split (stratified, dedupe, 30-day window, 2 slices): {split['split_seconds']:.2f} s, "
          f"peak RSS {split['split_peak_mb']:.0f} MB")  # fmt: skip
    print(f"leakage report over {len(split['counts'])} sets: {split['leakage_seconds']:.2f} s, "
          f"peak RSS {split['peak_mb']:.0f} MB")  # fmt: skip
    print(f"set sizes: {split['counts']}")
    for kind, severity, count in split["findings"]:
        print(f"  finding: {severity:7} {kind:22} {count:,} rows")

    dup = measure_duplicates(args.rows, args.repeat)
    print(f"\nexact duplicates ({dup['flagged']:,} rows flagged by both, median of {args.repeat}):")
    print(f"  shipyard rows.duplicated : {dup['shipyard']:.3f} s")
    print(f"  pandas DataFrame.duplicated: {dup['pandas']:.3f} s")
    print(f"  ratio pandas / shipyard  : {dup['pandas'] / dup['shipyard']:.2f}x")


if __name__ == "__main__":
    main()
