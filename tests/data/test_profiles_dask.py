"""Profiles made row group by row group on Dask and merged equal the single-pass profile:
exactly where the merge is exact, within the sketch's error where it is not; and the
constraints and check verdicts built from either are the same."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipyard.data.checks import run_checks
from shipyard.data.profiles import TableProfile, profile_table, suggest_constraints
from shipyard.data.profiles.parallel import profile_parquet

pytest.importorskip("distributed")

ROWS, GROUP = 120_000, 30_000
QS = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]


def table(rows: int = ROWS, seed: int = 7, shift: float = 0.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1, rows)
    x[rng.random(rows) < 0.05] = np.nan
    n = pd.array(rng.integers(0, 1000, rows), dtype="Int64")
    n[rng.random(rows) < 0.02] = pd.NA
    city = rng.choice(["Oslo", "Rome", "Lima", "Pune", None], rows, p=[0.4, 0.3, 0.2, 0.09, 0.01])
    frame = pd.DataFrame(
        {
            "x": x,
            "n": n,
            "city": city,
            "user": [f"u{i}" for i in rng.integers(0, 20_000, rows)],  # text: past 1,000
            "t": pd.Timestamp("2024-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 86_400 * 30, rows), unit="s"),
            "flag": rng.random(rows) < 0.3,
        }
    )
    return pa.Table.from_pandas(frame, preserve_index=False).append_column("note", pa.nulls(rows))


@pytest.fixture(scope="module")
def dask_engine() -> Iterator[Any]:
    from shipyard.engines.dask_engine import DaskEngine

    with DaskEngine(workers=2, threads_per_worker=1, processes=False) as engine:
        yield engine


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("profiles") / "data.parquet"
    pq.write_table(table(), path, row_group_size=GROUP)
    return path


def assert_same_profile(merged: TableProfile, single: TableProfile, data: pa.Table) -> None:
    """Exact statistics equal; moments to rounding; quantiles within the KLL's rank error."""
    assert list(merged.columns) == list(single.columns) and merged.kinds == single.kinds
    for name, one in single.columns.items():
        other = merged[name]
        assert (other.count, other.missing, other.min, other.max) == (
            one.count, one.missing, one.min, one.max
        ), name  # fmt: skip
        assert other.category_counts() == one.category_counts(), name
        # HLL union is the registers' maximum: the same sketch, the same estimate.
        assert other.distinct() == one.distinct(), name
        assert other.distinct_bounds() == one.distinct_bounds(), name
        if one.path != "numeric" or not one.n:
            continue
        assert other.mean == pytest.approx(one.mean, rel=1e-12, abs=1e-12), name
        assert other.variance == pytest.approx(one.variance, rel=1e-12), name
        values = np.sort(_numbers(data.column(name)))
        for profile in (other, one):
            ranks = np.searchsorted(values, profile.quantiles(QS), side="right") / values.size
            assert np.all(np.abs(ranks - QS) <= profile.rank_error), (name, ranks)


def _numbers(column: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.int64())
    values = column.to_numpy(zero_copy_only=False).astype(np.float64)
    return values[~np.isnan(values)]


def test_the_merged_profile_equals_one_pass_and_checks_agree(
    source: Path, dask_engine: Any
) -> None:
    single = profile_table(source)
    merged = profile_parquet(source, dask_engine)
    assert merged.rows == single.rows == ROWS
    assert_same_profile(merged, single, pq.read_table(source))
    assert single["user"].kind == "text" and single["city"].kind == "categorical"

    rules = suggest_constraints(merged)
    assert rules.to_dict() == suggest_constraints(single).to_dict()
    drifted = table(5_000, seed=9, shift=1.5)  # `x` moved; the rest as before
    verdicts = []
    for reference in (single, merged):
        report = run_checks(drifted, constraints=rules, reference=reference)
        verdicts.append(sorted((r.check, r.column or "", r.status) for r in report.results))
    assert verdicts[0] == verdicts[1]
    failed = {(check, column) for check, column, status in verdicts[0] if status == "fail"}
    assert any(column == "x" for _, column in failed), verdicts[0]


def test_a_folder_of_files_is_one_profile(tmp_path: Path, dask_engine: Any) -> None:
    data = table(20_000)
    folder = tmp_path / "parts"
    folder.mkdir()
    for i, start in enumerate(range(0, 20_000, 5_000)):
        pq.write_table(data.slice(start, 5_000), folder / f"part-{i}.parquet", row_group_size=2_500)
    (folder / "_SUCCESS.parquet").write_bytes(b"")  # a marker: left out
    merged = profile_parquet(folder, dask_engine)
    assert merged.rows == 20_000
    assert_same_profile(merged, profile_table(data), data)


def test_the_quality_service_and_cli_profile_on_a_scheduler(
    tmp_path: Path, source: Path, dask_engine: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import shipyard
    from shipyard.cli.main import main

    home = tmp_path / "home"
    with shipyard.connect(home) as ws:
        ws.datasets.register("events", str(source))
        ws.datasets.register("later", table(70_000, seed=3))
        on_dask = ws.quality.profile("events@1", engine=dask_engine)
        # Before any query: a KLL query sorts the sketch in place, which changes its bytes.
        assert ws.quality.profile("events@1") == on_dask  # stored, and reused
        assert_same_profile(on_dask, profile_table(source), pq.read_table(source))
    address = dask_engine.client.scheduler.address
    for bad, message in (
        (["--engine", "local", "--scheduler", address], "--scheduler is for the dask engine"),
        (["--engine", "spark"], "Unknown engine 'spark'"),
    ):
        assert main(["--home", str(home), "data", "profile", "later@1", *bad]) == 2
        assert message in capsys.readouterr().err
    cli = ["--home", str(home), "data", "baseline", "later@1", "--engine", "dask",
           "--scheduler", address]  # fmt: skip
    assert main(cli) == 0
    assert "Stored baseline:later@1" in capsys.readouterr().out
    with shipyard.connect(home) as ws:
        stored = ws.quality.profile("later@1")
    later = table(70_000, seed=3)
    assert_same_profile(stored, profile_table(later), later)


@pytest.mark.slow
def test_partial_profiles_cross_worker_processes(source: Path) -> None:
    """Worker processes: the partial profiles (sketches included) are pickled back."""
    from shipyard.engines.dask_engine import DaskEngine

    with DaskEngine(workers=2, threads_per_worker=1) as engine:
        merged = profile_parquet(source, engine)
    assert_same_profile(merged, profile_table(source), pq.read_table(source))
