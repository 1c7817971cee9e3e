"""The Dask engine writes the same bytes as the local engine: on one threaded local
cluster for the module (2 workers x 1 thread), and once on worker processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.batch.data import ROWS, part_bytes

from shipyard.engines.dask_engine import DaskEngine

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def dask_engine() -> Iterator[DaskEngine]:
    with DaskEngine(workers=2, threads_per_worker=1, processes=False) as engine:
        yield engine


def test_dask_output_is_the_local_output_byte_for_byte(
    ws: Any, source: str, tmp_path: Path, dask_engine: DaskEngine
) -> None:
    options = {"join_source": True, "output_filter": ["id", "prediction", "proba_late"]}
    local = ws.batch.transform("model:delay@1", source, str(tmp_path / "local"), **options)
    seen: list[int] = []
    on_dask = ws.batch.transform(
        "model:delay@1", source, str(tmp_path / "dask"), engine=dask_engine,
        progress=lambda done, total: seen.append(done), **options,
    )  # fmt: skip
    assert on_dask.digest == local.digest and on_dask.parts == 4
    assert part_bytes(tmp_path / "dask") == part_bytes(tmp_path / "local")
    assert seen[-1] == ROWS and len(seen) == 5
    engine = ws.runs.get_run(on_dask.run).record["batch_transform"]["engine"]
    assert engine == {"engine": "dask", "scheduler": "local cluster", "workers": 2}


def test_a_scheduler_address_reaches_an_existing_cluster(
    ws: Any, source: str, tmp_path: Path, dask_engine: DaskEngine
) -> None:
    address = dask_engine.client.scheduler.address
    local = ws.batch.transform("model:minutes@1", source, str(tmp_path / "local"))
    remote = ws.batch.transform(
        "model:minutes@1", source, str(tmp_path / "remote"), engine="dask", scheduler=address
    )
    assert remote.digest == local.digest
    assert dask_engine.client.status == "running"  # the job's own client closed, not the cluster


@pytest.mark.slow
def test_a_local_cluster_of_worker_processes(ws: Any, source: str, tmp_path: Path) -> None:
    local = ws.batch.transform("model:delay@1", source, str(tmp_path / "local"))
    on_dask = ws.batch.transform(
        "model:delay@1", source, str(tmp_path / "dask"), engine="dask", workers=2
    )
    assert part_bytes(tmp_path / "dask") == part_bytes(tmp_path / "local")
    assert on_dask.digest == local.digest


def test_a_part_s_error_comes_back_whole_from_a_worker(
    ws: Any, tmp_path: Path, dask_engine: DaskEngine
) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from tests.batch.data import GROUP, frame

    from shipyard.errors import InvalidInput

    data = frame()
    data.loc[2 * GROUP, "b"] = np.nan
    path = tmp_path / "input.parquet"
    pq.write_table(pa.Table.from_pandas(data, preserve_index=False), path, row_group_size=GROUP)
    with pytest.raises(InvalidInput, match=r"Part 2 .*column 'b', row 0: NaN") as error:
        ws.batch.transform("model:delay@1", str(path), str(tmp_path / "out"), engine=dask_engine)
    assert error.value.hint and "The model takes" in error.value.hint
