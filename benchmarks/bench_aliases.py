"""Alias resolution at 10,000 models on SQLite: the typed alias table beside the old records.

Goal (issue 14): alias resolution p99 under 1 ms on SQLite.

    .venv/bin/python benchmarks/bench_aliases.py [--models 10000] [--calls 5000]
        [--old-calls 200] [--rounds 3]

Each of MODELS models has a `production` and a `staging` alias. Two SQLite databases
(files, WAL, as the embedded default has them) hold the same pointers:

- new: the control store's `model_aliases` table (one row per model and alias, primary
  key (model, alias)), written with `ControlStore.move_alias`; read with
  `ControlStore.alias(model, alias)` (one indexed statement) and
  `ControlStore.aliases(model)` (one index range);
- old: what the registry stored before revision 0006, a `model_alias` version record
  named `MODEL.ALIAS` per move (written with `MetadataStore.create_version`), read the
  way `registry/aliases.py` read it: `list_names("model_alias")`, then for each name
  of the model `get_version("model_alias", name)`. `models.get(name, alias=...)` did
  this for every lookup, so one lookup costs a listing of every alias of every model.

Each lookup draws a model (and alias) at random, the same sequence for both sides, and is
timed on its own after a warm-up: wall time (`perf_counter_ns`) and the CPU time this
process spent in it (`process_time_ns`). On a loaded machine the wall p99 is mostly time
spent waiting for a core; the CPU columns show what the call itself costs. A round runs
every method once; the figures are the medians over ROUNDS rounds of each round's p50 and
p99. The old path is slow enough that it gets fewer calls (OLD_CALLS). Before timing,
the answers of both sides are compared for a sample of models, and must be equal.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from shipyard.stores.control import ControlStore, control_store_for  # noqa: E402
from shipyard.stores.metadata import MetadataStore, open_metadata_store  # noqa: E402

ALIASES = ("production", "staging")
OLD_KIND = "model_alias"  # the record kind of the registry before revision 0006


def model_name(i: int) -> str:
    return f"model-{i:05d}"


def pointers(models: int) -> dict[str, dict[str, int]]:
    """Where each model's aliases point: production at 1..7, staging one past it."""
    found = {}
    for i in range(models):
        production = i % 7 + 1
        found[model_name(i)] = {"production": production, "staging": production + 1}
    return found


# -- the old access pattern ------------------------------------------------------------


def old_aliases(metadata: MetadataStore, model: str) -> dict[str, int]:
    """The registry's `aliases(name)` before revision 0006, as it was written."""
    prefix = f"{model}."
    current: dict[str, int] = {}
    for record_key in metadata.list_names(OLD_KIND):
        alias = record_key[len(prefix) :]
        if not record_key.startswith(prefix) or "." in alias:
            continue  # another model's alias
        version = metadata.get_version(OLD_KIND, record_key).attributes.get("version")
        if version is not None:
            current[alias] = int(version)
    return dict(sorted(current.items()))


def old_alias(metadata: MetadataStore, model: str, alias: str) -> int | None:
    """What `models.get(name, alias=...)` did to resolve the alias."""
    return old_aliases(metadata, model).get(alias)


# -- setup (not timed) --------------------------------------------------------------------


def fill_new(url: str, wanted: dict[str, dict[str, int]]) -> tuple[MetadataStore, ControlStore]:
    metadata = open_metadata_store(url)
    metadata.upgrade()
    control = control_store_for(metadata)
    with metadata.transaction():  # type: ignore[attr-defined]  # one commit for the setup
        for model, aliases in wanted.items():
            for alias, version in aliases.items():
                control.move_alias(model, alias, version, by="bench")
    return metadata, control


def fill_old(url: str, wanted: dict[str, dict[str, int]]) -> MetadataStore:
    metadata = open_metadata_store(url)
    metadata.upgrade()
    with metadata.transaction():  # type: ignore[attr-defined]
        for model, aliases in wanted.items():
            for alias, version in aliases.items():
                metadata.create_version(
                    OLD_KIND,
                    f"{model}.{alias}",
                    created_by="bench",
                    attributes={"model": model, "alias": alias, "version": version},
                )
    return metadata


# -- timing -------------------------------------------------------------------------------


def timed(
    call: Callable[[str, str], Any], draws: list[tuple[str, str]], warmup: int
) -> tuple[list[int], list[int]]:
    """Each call's wall time and the CPU time this process spent in it (ns)."""
    for model, alias in draws[:warmup]:
        call(model, alias)
    wall, cpu = [], []
    for model, alias in draws:
        began, began_cpu = time.perf_counter_ns(), time.process_time_ns()
        call(model, alias)
        cpu.append(time.process_time_ns() - began_cpu)
        wall.append(time.perf_counter_ns() - began)
    return wall, cpu


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(q * len(ordered)) - 1)] / 1e6  # nearest rank, in ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=5_000)
    parser.add_argument("--old-calls", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    wanted = pointers(args.models)
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        meta_new, control = fill_new(f"sqlite:///{Path(tmp) / 'new.db'}", wanted)
        meta_old = fill_old(f"sqlite:///{Path(tmp) / 'old.db'}", wanted)
        print(f"{args.models:,} models x {len(ALIASES)} aliases on SQLite "
              f"(setup {time.perf_counter() - began:.1f} s); load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip

        sample = random.Random(7).sample(sorted(wanted), min(200, len(wanted)))
        for model in sample:
            new = control.aliases(model)
            old = old_aliases(meta_old, model)
            pointer = control.alias(model, "production")
            assert new == old == wanted[model], (model, new, old)
            assert pointer is not None and pointer.version == wanted[model]["production"]
            assert old_alias(meta_old, model, "staging") == wanted[model]["staging"]

        methods: dict[str, tuple[Callable[[str, str], Any], int]] = {
            "new  alias(model, alias)": (lambda m, a: control.alias(m, a), args.calls),
            "new  aliases(model)": (lambda m, a: control.aliases(m), args.calls),
            "old  aliases(model)[alias]": (lambda m, a: old_alias(meta_old, m, a), args.old_calls),
        }
        results: dict[str, list[tuple[float, ...]]] = {name: [] for name in methods}
        models = sorted(wanted)
        for round_ in range(args.rounds):
            rng = random.Random(round_)
            draws = [(rng.choice(models), rng.choice(ALIASES)) for _ in range(args.calls)]
            order = list(methods)
            order = order[round_ % len(order) :] + order[: round_ % len(order)]
            for name in order:
                call, calls = methods[name]
                wall, cpu = timed(call, draws[:calls], min(args.warmup, calls))
                results[name].append(tuple(percentile(took, q) for took in (wall, cpu)
                                           for q in (0.50, 0.99)))  # fmt: skip

        print(f"{'method':<28} {'calls':>6} {'p50 ms':>9} {'p99 ms':>9} {'cpu p50':>9} "
              f"{'cpu p99':>9}   (medians of {args.rounds} rounds)")  # fmt: skip
        summary = {}
        for name, rounds in results.items():
            p50, p99, cpu50, cpu99 = (statistics.median(r[i] for r in rounds) for i in range(4))
            summary[name] = (p50, p99)
            print(f"{name:<28} {methods[name][1]:>6} {p50:>9.3f} {p99:>9.3f} {cpu50:>9.3f} "
                  f"{cpu99:>9.3f}")  # fmt: skip
        old = summary["old  aliases(model)[alias]"]
        for name in ("new  alias(model, alias)", "new  aliases(model)"):
            new = summary[name]
            print(f"old / {name.strip()[5:]}: p50 {old[0] / new[0]:,.0f}x, "
                  f"p99 {old[1] / new[1]:,.0f}x")  # fmt: skip
        goal = summary["new  alias(model, alias)"][1]
        print(f"goal p99 < 1 ms for alias(): {'met' if goal < 1 else 'MISSED'} ({goal:.3f} ms)")
        meta_new.close()
        meta_old.close()


if __name__ == "__main__":
    main()
