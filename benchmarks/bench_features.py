"""Point-in-time join: Shipyard beside Feast's two local offline stores and a DuckDB floor.

Run: .venv/bin/python benchmarks/bench_features.py [--sizes 100000x1000000,1000000x1000000]
     [--repeat 3] [--skip-feast] [--timeout 1200] [--memory-cap-gb 12]

One synthetic feature view: 10,000 drivers, 10 float features, a 7-day ttl, event
times on an hourly grid (so one driver often has several rows at one event time)
and created timestamps from 30-minute batch loads (so many rows share a created
time; rows sharing a driver and an event time never share both, so every entity
row has exactly one right answer). Entity rows: random drivers (1% with no
feature rows at all) at random times, half of them on the hourly grid (values
exactly at the row time), a pass-through `label` and a unique `rid`; duplicate
entity rows occur. Each size is ENTITY_ROWSxFEATURE_ROWS.

Methods, each run in a fresh process (its peak RSS is its own), timed from
entity rows in memory (a pandas DataFrame read before the clock starts) and
features in a Parquet file to the joined table in memory:
- shipyard: the public call, `ws.features.get_historical(entity_rows,
  ["driver_stats/*"])`, on a fresh workspace whose data roots hold the feature
  file, with a FeatureView over it as a Parquet source applied before the
  clock starts (the clock includes resolving the view, the access check, the
  guarded DuckDB connection and the pandas DataFrame it returns);
- shipyard, Parquet in, Parquet out: the same call with entity rows from
  Parquet and `output=` a Parquet file (the out-of-core mode), for the record;
- floor: one hand-written DuckDB ASOF LEFT JOIN with the created-timestamp
  tie-break folded into the ASOF key (event and created microseconds in one
  HUGEINT), the ttl checked on integer microseconds, an ordinal column added
  to the entity rows and sorted on; it assumes what Shipyard checks (types,
  nulls, no full ties) and carries the entity columns through DuckDB;
- Feast, its DuckDB (ibis) offline store and its default file (dask) offline
  store, `get_historical_features(...).to_arrow()`, in Feast's own virtual
  environment (`benchmarks/.venv-feast`, made on first use at the versions
  pinned in `peer_env.FEAST`, which the output prints), with the view applied
  to a fresh local registry before the clock starts.

Each method's rows are checked against the floor by `rid` (missing rows,
extra rows, wrong values) and the floor itself against a brute-force Python
oracle on a sample of entity rows. A watchdog kills a run past `--timeout`
seconds or `--memory-cap-gb` of RSS; Feast's file store, known to run out of
memory from 1M x 1M, runs only up to `--file-store-max-entity-rows` entity
rows. This is a benchmark, not a test: it never fails on timing.
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
from pathlib import Path
from typing import Any

from peer_env import FEAST, ensure_peer
from proc_memory import peak_rss_mb as _peak_mb
from proc_memory import status_mb

# Top-level imports stay stdlib only: this file also runs as the worker inside
# Feast's environment, which has no Shipyard.

SEED = 20261127
DRIVERS = 10_000
FEATURES = [f"f{i}" for i in range(10)]
TTL_DAYS = 7
HISTORY_DAYS = 60
VIEW = "driver_stats"
ORACLE_SAMPLE = 2_000
TIME_GOAL = 1.5  # Shipyard / floor, time and memory: at most
FEAST_GOAL = 10.0  # Feast DuckDB / Shipyard at 1M entity rows: at least
METHODS = ["shipyard", "shipyard_parquet", "floor", "feast_duckdb", "feast_file"]
LABELS = {
    "shipyard": "Shipyard ws.features.get_historical",
    "shipyard_parquet": "Shipyard, Parquet in -> Parquet out",
    "floor": "floor: DuckDB ASOF, folded key",
    "feast_duckdb": "Feast DuckDB offline store",
    "feast_file": "Feast file (dask) store",
}


# --- data -------------------------------------------------------------------------------------


def write_features(rows: int, path: Path) -> None:
    """Feature rows: hourly event times, 30-minute-batch created times, no full ties."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng([SEED, rows])
    hour = 3_600_000_000
    start = np.datetime64("2024-01-01T00:00:00", "us").astype(np.int64)
    driver = rng.integers(0, DRIVERS, rows) + 1000
    event = start + rng.integers(0, HISTORY_DAYS * 24, rows) * hour
    # Loaded by the next 30-minute batch, sometimes re-loaded (corrected) a batch or two later.
    created = (event // (hour // 2) + 1 + rng.integers(0, 3, rows)) * (hour // 2)
    created = created + _nth_in_group(driver, event, created) * 1_000_000  # break full ties
    columns: dict[str, Any] = {
        "driver_id": driver,
        "event_timestamp": pa.array(event, pa.timestamp("us", "UTC")),
        "created": pa.array(created, pa.timestamp("us", "UTC")),
    }
    for name in FEATURES:
        columns[name] = rng.normal(size=rows).round(6)
    pq.write_table(pa.table(columns), path, row_group_size=500_000)


def _nth_in_group(*keys: Any) -> Any:
    """For each row, how many earlier rows share all of ``keys`` (0 for the first)."""
    import numpy as np

    order = np.lexsort(keys[::-1])
    stacked = np.stack([k[order] for k in keys])
    new = np.ones(len(order), dtype=bool)
    new[1:] = (stacked[:, 1:] != stacked[:, :-1]).any(axis=0)
    starts = np.flatnonzero(new)
    nth = np.arange(len(order)) - np.repeat(starts, np.diff(np.append(starts, len(order))))
    out = np.empty(len(order), dtype=np.int64)
    out[order] = nth
    return out


def write_entities(rows: int, path: Path) -> None:
    """Entity rows after the first ttl of history; half on the hourly grid; 1% unknown drivers."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng([SEED, rows, 1])
    second = 1_000_000
    start = np.datetime64("2024-01-01T00:00:00", "us").astype(np.int64)
    first = start + TTL_DAYS * 86_400 * second
    span = (HISTORY_DAYS - TTL_DAYS) * 86_400
    when = first + rng.integers(0, span, rows) * second
    on_grid = rng.random(rows) < 0.5
    when[on_grid] = when[on_grid] // (3600 * second) * (3600 * second)
    driver = rng.integers(0, DRIVERS + DRIVERS // 100, rows) + 1000
    table = pa.table(
        {
            "driver_id": driver,
            "event_timestamp": pa.array(when, pa.timestamp("us", "UTC")),
            "label": rng.integers(0, 2, rows),
            "rid": np.arange(rows),
        }
    )
    pq.write_table(table, path)


def data_files(entity_rows: int, feature_rows: int, folder: Path) -> tuple[Path, Path]:
    entities = folder / f"entities_{entity_rows}.parquet"
    features = folder / f"features_{feature_rows}.parquet"
    if not features.exists():
        write_features(feature_rows, features)
    if not entities.exists():
        write_entities(entity_rows, entities)
    return entities, features


# --- workers (each in a fresh process) -------------------------------------------------------


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def _keep(table: Any, result: str) -> int:
    """Write the rows' ids and features (untimed) for the cross-check; the row count."""
    import pyarrow.parquet as pq

    names = ["rid", *[f"{VIEW}__{f}" for f in FEATURES]]
    pq.write_table(table.select(names), result)
    return int(table.num_rows)


def _read_entities(path: str) -> Any:
    import pandas as pd

    return pd.read_parquet(path)


def _workspace(features: str, scratch: str) -> Any:
    """A fresh workspace whose data roots hold the feature file, with the view applied."""
    from datetime import timedelta

    import shipyard
    from shipyard.features.definitions import Entity, Feature, FeatureView, Source

    ws = shipyard.connect(Path(scratch) / "home", data_roots=[str(Path(features).parent)])
    view = FeatureView(
        VIEW,
        ("driver",),
        Source(parquet=features),
        "event_timestamp",
        tuple(Feature(n, "float64") for n in FEATURES),
        created_timestamp="created",
        ttl=timedelta(days=TTL_DAYS),
    )
    ws.features.apply([Entity("driver", ("driver_id",)), view])
    return ws


def shipyard_worker(entities: str, features: str, result: str, scratch: str) -> dict[str, Any]:
    """The public call: `ws.features.get_historical` on a view over the Parquet file."""
    import pyarrow as pa

    ws = _workspace(features, scratch)
    rows = _read_entities(entities)
    loaded = _peak_mb()
    start = _clock()
    frame = ws.features.get_historical(rows, [f"{VIEW}/*"])
    wall, cpu = _since(start)
    peak = _peak_mb()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    parts = _call_parts(ws, table)
    ws.close()
    return {"wall": wall, "cpu": cpu, "peak_mb": peak, "loaded_mb": loaded,
            "rows": _keep(table, result), **parts}  # fmt: skip


def _call_parts(ws: Any, table: Any) -> dict[str, float]:
    """Two parts of the public call the join itself does not need, timed again after it:
    resolving the view (registry, access check) and the result's conversion to pandas."""
    start = time.perf_counter()
    ws.features.resolve([f"{VIEW}/*"], action="features:ReadOffline")
    resolve = time.perf_counter() - start
    start = time.perf_counter()
    table.to_pandas()
    return {"resolve_s": resolve, "to_pandas_s": time.perf_counter() - start}


def shipyard_parquet_worker(
    entities: str, features: str, result: str, scratch: str
) -> dict[str, Any]:
    """The same public call with entity rows from Parquet and the result streamed to Parquet."""
    import pyarrow.parquet as pq

    ws = _workspace(features, scratch)
    loaded = _peak_mb()
    out = Path(scratch) / "joined.parquet"
    start = _clock()
    ws.features.get_historical(entities, [f"{VIEW}/*"], output=out)
    wall, cpu = _since(start)
    peak = _peak_mb()
    ws.close()
    return {"wall": wall, "cpu": cpu, "peak_mb": peak, "loaded_mb": loaded,
            "rows": _keep(pq.read_table(out), result)}  # fmt: skip


FLOOR_SQL = """
SELECT e.* EXCLUDE (__o, __t), {features}
FROM (SELECT *, epoch_us(event_timestamp) AS __t FROM entity_rows) AS e
ASOF LEFT JOIN (
    SELECT driver_id, epoch_us(event_timestamp) AS t, {raw},
           epoch_us(event_timestamp)::HUGEINT * 18446744073709551616 + epoch_us(created) AS k
    FROM read_parquet('{path}')
) AS f
ON e.driver_id = f.driver_id
AND e.__t::HUGEINT * 18446744073709551616 + 9223372036854775807 >= f.k
ORDER BY e.__o
"""


def floor_worker(entities: str, features: str, result: str, scratch: str) -> dict[str, Any]:
    """The same join by hand: one ASOF key of (event, created) microseconds; ttl on integers."""
    import duckdb
    import numpy as np

    rows = _read_entities(entities)
    loaded = _peak_mb()
    start = _clock()
    con = duckdb.connect(config={"temp_directory": scratch})
    con.register("entity_rows", rows.assign(__o=np.arange(len(rows))))
    fresh = f"e.__t - f.t <= {TTL_DAYS * 86_400_000_000}"
    sql = FLOOR_SQL.format(
        features=", ".join(f"CASE WHEN {fresh} THEN f.{n} END AS {VIEW}__{n}" for n in FEATURES),
        raw=", ".join(FEATURES),
        path=features,
    )
    table = con.sql(sql).to_arrow_table()
    wall, cpu = _since(start)
    peak = _peak_mb()
    return {"wall": wall, "cpu": cpu, "peak_mb": peak, "loaded_mb": loaded,
            "rows": _keep(table, result)}  # fmt: skip


def _feast_store(kind: str, features: str, scratch: str) -> Any:
    from datetime import timedelta

    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64

    repo = Path(scratch) / "feast_repo"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text(
        f"project: bench\nregistry: {repo}/registry.db\nprovider: local\n"
        f"online_store:\n  type: sqlite\n  path: {repo}/online.db\n"
        f"offline_store:\n  type: {kind}\nentity_key_serialization_version: 3\n"
    )
    store = FeatureStore(repo_path=str(repo))
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    view = FeatureView(
        name=VIEW,
        entities=[driver],
        ttl=timedelta(days=TTL_DAYS),
        schema=[Field(name=n, dtype=Float64) for n in FEATURES],
        source=FileSource(
            path=features, timestamp_field="event_timestamp", created_timestamp_column="created"
        ),
    )
    store.apply([driver, view])
    return store


def _feast_worker(kind: str, entities: str, features: str, result: str, scratch: str) -> Any:
    store = _feast_store(kind, features, scratch)
    rows = _read_entities(entities)
    loaded = _peak_mb()
    start = _clock()
    job = store.get_historical_features(
        entity_df=rows, features=[f"{VIEW}:{n}" for n in FEATURES], full_feature_names=True
    )
    table = job.to_arrow()
    wall, cpu = _since(start)
    peak = _peak_mb()
    return {"wall": wall, "cpu": cpu, "peak_mb": peak, "loaded_mb": loaded,
            "rows": _keep(table, result)}  # fmt: skip


def feast_duckdb_worker(entities: str, features: str, result: str, scratch: str) -> Any:
    return _feast_worker("duckdb", entities, features, result, scratch)


def feast_file_worker(entities: str, features: str, result: str, scratch: str) -> Any:
    return _feast_worker("file", entities, features, result, scratch)


WORKERS = {
    "shipyard": shipyard_worker,
    "shipyard_parquet": shipyard_parquet_worker,
    "floor": floor_worker,
    "feast_duckdb": feast_duckdb_worker,
    "feast_file": feast_file_worker,
}


# --- running a worker under a watchdog --------------------------------------------------------


def _rss_mb(pid: int) -> float:
    """The resident memory of a process and its children, from /proc (0 when gone)."""
    return sum(status_mb("VmRSS", proc) or 0.0 for proc in [pid, *_children(pid)])


def _children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    kids = [int(p) for p in found]
    return kids + [g for k in kids for g in _children(k)]


def run_worker(
    python: str,
    method: str,
    paths: tuple[Path, Path],
    timeout: float,
    cap_mb: float,
    keep: Path | None = None,
) -> dict[str, Any]:
    """One run in a fresh interpreter, killed past ``timeout`` seconds or ``cap_mb`` of RSS.

    ``keep``: where to copy the run's rows (the floor's, the reference for the others).
    """
    with tempfile.TemporaryDirectory(prefix=f"bench-{method}-") as scratch:
        out, result = Path(scratch) / "out.json", Path(scratch) / "result.parquet"
        command = [python, __file__, "--worker", method, *map(str, paths), str(result), scratch,
                   str(out)]  # fmt: skip
        env = dict(os.environ, DO_NOT_TRACK="1", FEAST_USAGE="False", PYTHONWARNINGS="ignore")
        log = Path(scratch) / "stderr.txt"
        with log.open("w") as stderr:
            proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
            began, seen, why = time.perf_counter(), 0.0, None
            while proc.poll() is None:
                seen = max(seen, _rss_mb(proc.pid))
                if seen > cap_mb:
                    why = f"killed at {seen / 1024:.1f} GB RSS (cap {cap_mb / 1024:.0f} GB)"
                elif time.perf_counter() - began > timeout:
                    why = f"killed after {timeout:.0f} s (timeout)"
                if why:
                    proc.kill()
                    proc.wait()
                    break
                time.sleep(0.1)
        if why:
            return {"failed": why, "seen_mb": seen}
        if proc.returncode != 0:
            tail = log.read_text()[-1500:]
            return {"failed": f"exit {proc.returncode}: {tail.strip().splitlines()[-1:]}",
                    "stderr": tail}  # fmt: skip
        measured: dict[str, Any] = json.loads(out.read_text())
        measured["check"] = check_result(result, paths)
        if keep is not None:
            result.replace(keep)
        return measured


# --- checking results -------------------------------------------------------------------------

# (entity file, feature file) -> the floor's rows, the reference for the other methods
_FLOOR_RESULTS: dict[tuple[Path, Path], Path] = {}


def check_result(result: Path, paths: tuple[Path, Path]) -> dict[str, int]:
    """Missing, extra and wrong rows against the floor (by rid); the floor is its own reference."""
    import duckdb

    entities = paths[0]
    floor = _FLOOR_RESULTS.get(paths)
    con = duckdb.connect()
    total = con.sql(f"SELECT count(*) FROM read_parquet('{entities}')").fetchall()[0]
    got = con.sql(f"SELECT count(*), count(DISTINCT rid) FROM read_parquet('{result}')").fetchall()[
        0
    ]
    assert total is not None and got is not None
    counts = {"rows": int(got[0]), "missing": int(total[0]) - int(got[1]),
              "extra": int(got[0]) - int(got[1]), "wrong": 0}  # fmt: skip
    if floor is not None:
        differs = " OR ".join(f'r."{VIEW}__{n}" IS DISTINCT FROM f."{VIEW}__{n}"' for n in FEATURES)
        wrong = con.sql(
            f"SELECT count(DISTINCT r.rid) FROM read_parquet('{result}') r "
            f"JOIN read_parquet('{floor}') f USING (rid) WHERE {differs}"
        ).fetchall()[0]
        assert wrong is not None
        counts["wrong"] = int(wrong[0])
    con.close()
    return counts


def oracle_check(floor_result: Path, entities: Path, features: Path) -> dict[str, int]:
    """The floor against brute force in Python on a random sample of entity rows."""
    import numpy as np
    import pyarrow.parquet as pq

    rows = pq.read_table(entities).to_pandas()
    sample = rows.sample(min(ORACLE_SAMPLE, len(rows)), random_state=SEED)
    feats = pq.read_table(features).to_pandas()
    by_driver = {k: g for k, g in feats.groupby("driver_id")}
    floor = pq.read_table(floor_result).to_pandas().set_index("rid")
    ttl = np.timedelta64(TTL_DAYS, "D")
    wrong = nulls = 0
    for row in sample.itertuples():
        group = by_driver.get(row.driver_id)
        expected = None
        if group is not None:
            t = row.event_timestamp
            ok = group[(group.event_timestamp <= t) & (group.event_timestamp >= t - ttl)]
            if len(ok):
                expected = ok.sort_values(["event_timestamp", "created"]).iloc[-1]
        got = floor.loc[row.rid]
        if expected is None:
            nulls += 1
            wrong += int(any(got[f"{VIEW}__{n}"] == got[f"{VIEW}__{n}"] for n in FEATURES))
        else:
            wrong += int(any(got[f"{VIEW}__{n}"] != expected[n] for n in FEATURES))
    return {"sampled": len(sample), "wrong": wrong, "expected_null": nulls}


# --- one size ---------------------------------------------------------------------------------


def run_size(
    entity_rows: int,
    feature_rows: int,
    folder: Path,
    args: argparse.Namespace,
    feast: str | None,
) -> dict[str, list[dict[str, Any]]]:
    paths = data_files(entity_rows, feature_rows, folder)
    print(f"\n=== {entity_rows:,} entity rows x {feature_rows:,} feature rows "
          f"(entities {paths[0].stat().st_size / 2**20:.0f} MB, features "
          f"{paths[1].stat().st_size / 2**20:.0f} MB Parquet) ===", flush=True)  # fmt: skip
    describe_data(*paths)
    pythons = {m: sys.executable for m in ("shipyard", "shipyard_parquet", "floor")}
    skipped: dict[str, str] = {}
    if feast is None:
        skipped |= {"feast_duckdb": "Feast not available", "feast_file": "Feast not available"}
    else:
        pythons["feast_duckdb"] = feast
        if entity_rows <= args.file_store_max_entity_rows:
            pythons["feast_file"] = feast
        else:
            skipped["feast_file"] = (
                f"skipped above {args.file_store_max_entity_rows:,} entity rows "
                "(runs out of memory at 1M x 1M)"
            )
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in METHODS}
    cap_mb = args.memory_cap_gb * 1024
    # The floor first: every other method is checked against its rows.
    keep = folder / f"floor_{entity_rows}x{feature_rows}.parquet"
    first = run_worker(sys.executable, "floor", paths, args.timeout, cap_mb, keep)
    report_run("floor", 1, args.repeat, first)
    runs["floor"].append(first)
    if "failed" in first:
        raise SystemExit(f"the floor failed: {first['failed']}\n{first.get('stderr', '')}")
    _FLOOR_RESULTS[paths] = keep
    print(f"  oracle (brute force on a sample) vs floor: {oracle_check(keep, *paths)}", flush=True)
    for i in range(args.repeat):
        order = [m for m in METHODS if m in pythons]
        for method in order if i % 2 == 0 else order[::-1]:
            if method == "floor" and i == 0:
                continue
            once = method == "feast_file"  # minutes per run: measured once
            if once and i > 0:
                continue
            result = run_worker(pythons[method], method, paths, args.timeout, cap_mb)
            runs[method].append(result)
            report_run(method, i + 1, 1 if once else args.repeat, result)
            if "failed" in result and method.startswith("feast"):
                pythons.pop(method)  # a peer that fails once is not run again at this size
    for method, why in skipped.items():
        runs[method].append({"failed": why})
    return runs


def describe_data(entities: Path, features: Path) -> None:
    import duckdb

    con = duckdb.connect()
    ties = con.sql(
        f"SELECT (SELECT count(*) FROM (SELECT count(*) n FROM read_parquet('{features}') "
        "GROUP BY driver_id, event_timestamp HAVING n > 1)), "
        f"(SELECT count(*) FROM (SELECT count(*) n FROM read_parquet('{features}') "
        "GROUP BY created HAVING n > 1)), "
        f"(SELECT count(*) - count(DISTINCT (driver_id, event_timestamp)) "
        f"FROM read_parquet('{entities}'))"
    ).fetchall()[0]
    assert ties is not None
    print(f"  data: {ties[0]:,} (driver, event time) pairs with 2+ feature rows (broken by created "
          f"time); {ties[1]:,} created times shared by 2+ rows; {ties[2]:,} duplicate entity "
          "rows", flush=True)  # fmt: skip
    con.close()


def report_run(method: str, i: int, repeat: int, result: dict[str, Any]) -> None:
    if "failed" in result:
        print(f"  run {i}/{repeat} {method:16}: FAILED {result['failed']}", flush=True)
        return
    check = result["check"]
    print(f"  run {i}/{repeat} {method:16}: {result['wall']:8.2f} s wall, {result['cpu']:8.2f} s "
          f"CPU, {result['peak_mb']:6.0f} MB peak ({result['loaded_mb']:5.0f} before), rows "
          f"{check['rows']:,}, missing {check['missing']:,}, extra {check['extra']:,}, wrong "
          f"{check['wrong']:,}; load {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip


# --- report -----------------------------------------------------------------------------------


def median(runs: list[dict[str, Any]], key: str) -> float | None:
    ok = [r[key] for r in runs if "failed" not in r]
    return statistics.median(ok) if ok else None


def print_size(size: str, runs: dict[str, list[dict[str, Any]]]) -> None:
    print(f"\n{size}: medians")
    print(f"  {'method':38} {'wall s':>8} {'CPU s':>8} {'peak MB':>8} {'+MB':>7} "
          f"{'missing':>8} {'extra':>7} {'wrong':>7}")  # fmt: skip
    for method in METHODS:
        done = [r for r in runs[method] if "failed" not in r]
        if not done:
            why = runs[method][0]["failed"] if runs[method] else "not run"
            print(f"  {LABELS[method]:38} {why}")
            continue
        check = done[-1]["check"]
        wall, cpu, peak = (median(done, k) or 0.0 for k in ("wall", "cpu", "peak_mb"))
        grown = statistics.median(r["peak_mb"] - r["loaded_mb"] for r in done)
        print(f"  {LABELS[method]:38} {wall:8.2f} {cpu:8.2f} {peak:8.0f} {grown:7.0f} "
              f"{check['missing']:8,} {check['extra']:7,} {check['wrong']:7,}")  # fmt: skip
        if "to_pandas_s" in done[0]:
            resolve, convert = (median(done, k) or 0.0 for k in ("resolve_s", "to_pandas_s"))
            print(f"  {'':38} of which, timed again after the call: resolving the view "
                  f"{resolve * 1e3:.0f} ms, the result to pandas {convert:.2f} s")  # fmt: skip


def _ratio(top: list[dict[str, Any]], bottom: list[dict[str, Any]], key: str) -> float | None:
    a, b = median(top, key), median(bottom, key)
    return a / b if a and b else None


def print_ratios(entity_rows: int, runs: dict[str, list[dict[str, Any]]]) -> None:
    ship, floor, feast = (runs[m] for m in ("shipyard", "floor", "feast_duckdb"))
    wall, cpu, peak = (_ratio(ship, floor, k) for k in ("wall", "cpu", "peak_mb"))
    if wall and cpu and peak:
        t_ok = "met" if wall <= TIME_GOAL else "NOT met"
        m_ok = "met" if peak <= TIME_GOAL else "NOT met"
        print(f"  Shipyard / floor: wall {wall:.2f}x ({t_ok}), CPU {cpu:.2f}x, peak RSS "
              f"{peak:.2f}x ({m_ok}); goal <= {TIME_GOAL}x")  # fmt: skip
    wall, cpu, peak = (_ratio(feast, ship, k) for k in ("wall", "cpu", "peak_mb"))
    if wall and cpu and peak:
        verdict = "n/a below 1M entity rows"
        if entity_rows >= 10**6:
            verdict = "met" if wall >= FEAST_GOAL else "NOT met"
        print(f"  Feast DuckDB / Shipyard: wall {wall:.1f}x, CPU {cpu:.1f}x, peak RSS {peak:.1f}x "
              f"(goal >= {FEAST_GOAL:.0f}x at 1M entity rows: {verdict})")  # fmt: skip
    wall = _ratio(runs["feast_file"], ship, "wall")
    if wall:
        print(f"  Feast file store / Shipyard: wall {wall:.0f}x")


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for part in text.split(","):
        entity, feature = part.lower().split("x")
        sizes.append((int(entity.replace("_", "")), int(feature.replace("_", ""))))
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000x1000000,1000000x1000000,1000000x5000000",
                        help="ENTITY_ROWSxFEATURE_ROWS, comma-separated")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-feast", action="store_true")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds per run")
    parser.add_argument("--memory-cap-gb", type=float, default=12.0, help="RSS per run")
    parser.add_argument("--file-store-max-entity-rows", type=int, default=100_000)
    parser.add_argument("--data", type=Path, help="folder for the generated Parquet files")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("worker_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        entities, features, result, scratch, out = args.worker_args
        measured = WORKERS[args.worker](entities, features, result, scratch)
        Path(out).write_text(json.dumps(measured))
        return

    feast, version = (None, "skipped (--skip-feast)")
    if not args.skip_feast:
        python, version = ensure_peer(FEAST)
        feast = None if python is None else str(python)
    import duckdb

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; python "
          f"{sys.version.split()[0]}; duckdb {duckdb.__version__}; feast: {version}")  # fmt: skip
    print(f"view: {DRIVERS:,} drivers, {len(FEATURES)} float features, ttl {TTL_DAYS} days, "
          f"{HISTORY_DAYS} days of history; seed {SEED}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
        folder = args.data or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        results = []
        for entity_rows, feature_rows in parse_sizes(args.sizes):
            runs = run_size(entity_rows, feature_rows, folder, args, feast)
            results.append((f"{entity_rows:,} x {feature_rows:,}", entity_rows, runs))
    print("\n--- summary (wall and CPU seconds, peak RSS of the whole process in MB, +MB over")
    print("    the process before the clock started; missing/extra/wrong rows vs the floor) ---")
    for size, entity_rows, runs in results:
        print_size(size, runs)
        print_ratios(entity_rows, runs)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
