"""Batch transform of 2,000,000 x 20 with a LogisticRegression: the local and Dask
engines beside a raw pyarrow + ``predict_proba`` loop (the floor).

Run: .venv/bin/python benchmarks/bench_batch_transform.py [--rows 2000000] [--repeat 5]

The input is one Parquet file of 16 row groups (16 parts). Every contender reads it row
group by row group and writes one Parquet file per row group holding the predicted
class and both class probabilities:

- floor: pyarrow reads a row group, NumPy stacks it, the model's ``predict`` and
  ``predict_proba`` run on the matrix, pyarrow writes the file; nothing else;
- local: ``ws.batch.transform`` on the local engine (one process, parts in turn), which
  adds the serving input check per slice, the atomic rename, the job key and footer
  check, the manifest and the tracked run;
- local x2: the local engine with two worker processes;
- dask: a local ``dask.distributed`` cluster of 2 worker processes x 1 thread, started
  once before the runs (its start is timed on its own), and the same job on it.

Prints the median of ``--repeat`` runs of each, rows per second, and the ratios to the
floor. This is a benchmark, not a test: it never fails on timing.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FEATURES = 20
PARTS = 16


def make_input(path: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    names = [f"f{i}" for i in range(FEATURES)]
    group = -(-rows // PARTS)
    with pq.ParquetWriter(path, pa.schema([(n, pa.float64()) for n in names])) as writer:
        for start in range(0, rows, group):
            n = min(group, rows - start)
            block = rng.normal(size=(n, FEATURES))
            writer.write_table(pa.table(dict(zip(names, block.T, strict=True))), group)


def train(path: Path) -> object:
    from sklearn.linear_model import LogisticRegression

    sample = pq.ParquetFile(path).read_row_group(0).slice(0, 20_000).to_pandas()
    target = (sample["f0"] + sample["f1"] * 0.5 > 0).astype(int)
    return LogisticRegression().fit(sample, target)


def floor(model: object, source: Path, output: Path) -> None:
    """The least any batch transform does: read, stack, predict, write."""
    output.mkdir()
    twin = _without_names(model)
    handle = pq.ParquetFile(source)
    for group in range(handle.num_row_groups):
        table = handle.read_row_group(group)
        matrix = np.column_stack([c.to_numpy() for c in table.columns])
        proba = twin.predict_proba(matrix)
        out = pa.table({"prediction": twin.predict(matrix),
                        "proba_0": proba[:, 0], "proba_1": proba[:, 1]})  # fmt: skip
        pq.write_table(out, output / f"part-{group:05d}.parquet")


def _without_names(model: object) -> object:
    from shipyard.serving.inference import without_feature_names

    return without_feature_names(model)


def timed(runs: int, prepare: Callable[[], None], work: Callable[[], object]) -> list[float]:
    times = []
    for _ in range(runs):
        prepare()
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import shipyard
    from shipyard.engines.dask_engine import DaskEngine

    root = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    try:
        source = root / "input.parquet"
        make_input(source, args.rows)
        model = train(source)
        ws = shipyard.connect(root / "home")
        example = pq.ParquetFile(source).read_row_group(0).slice(0, 5).to_pandas()
        ws.models.register("bench", model, input_example=example)
        out = root / "out"

        def clear() -> None:
            shutil.rmtree(out, ignore_errors=True)

        def transform(**options: object) -> Callable[[], object]:
            return lambda: ws.batch.transform("model:bench@1", str(source), str(out), **options)

        contenders: dict[str, Callable[[], object]] = {
            "floor": lambda: floor(model, source, out),
            "local": transform(),
            "local x2": transform(workers=2),
        }
        started = time.perf_counter()
        with DaskEngine(workers=2, threads_per_worker=1, processes=True) as engine:
            cluster_start = time.perf_counter() - started
            contenders["dask (2 procs)"] = transform(engine=engine)
            clear()
            contenders["dask (2 procs)"]()  # the workers import Shipyard and the model once
            results: dict[str, list[float]] = {name: [] for name in contenders}
            for _ in range(args.repeat):  # in turns, so a change in the machine's load
                for name, work in contenders.items():  # falls on every contender alike
                    results[name] += timed(1, clear, work)
            clear()
            busy = task_stream(engine, transform(engine=engine))
        results["dask, cluster per job"] = timed(1, clear, transform(engine="dask", workers=2))
        ws.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    base = statistics.median(results["floor"])
    print(f"batch transform, {args.rows:,} rows x {FEATURES} features, {PARTS} parts, "
          f"LogisticRegression; median of {args.repeat}, taken in turns "
          f"(python {sys.version.split()[0]})")  # fmt: skip
    print(f"{'contender':<24}{'median s':>10}{'rows/s':>14}{'vs floor':>10}")
    for name, times in results.items():
        median = statistics.median(times)
        print(f"{name:<24}{median:>10.2f}{args.rows / median:>14,.0f}{base / median:>10.2f}")
    print(f"dask local cluster start (2 worker processes): {cluster_start:.2f} s")
    print("dask, one more run, from the scheduler's task stream: " + ", ".join(
        f"{k} {v:.2f} s" for k, v in busy.items()))  # fmt: skip


def task_stream(engine: object, work: Callable[[], object]) -> dict[str, float]:
    """Wall time of one Dask run, and the seconds its tasks spent computing, moving
    data and (de)serializing, summed over the workers."""
    from distributed import get_task_stream

    client = engine.client  # type: ignore[attr-defined]
    start = time.perf_counter()
    with get_task_stream(client) as stream:
        work()
    wall = time.perf_counter() - start
    spent: dict[str, float] = {"wall": wall}
    for task in stream.data:
        for piece in task.get("startstops", ()):
            action = piece["action"]
            spent[action] = spent.get(action, 0.0) + piece["stop"] - piece["start"]
    return spent


if __name__ == "__main__":
    main()
