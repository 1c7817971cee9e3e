"""Bad input is refused with one clear error, before any part runs where it can be."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.batch.data import GROUP, frame

from shipyard.errors import Conflict, InvalidInput, NotFound


def test_an_unknown_model_or_version(ws: Any, source: str, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="nope"):
        ws.batch.transform("model:nope@1", source, str(tmp_path / "out"))
    with pytest.raises(NotFound):
        ws.batch.transform("model:delay@9", source, str(tmp_path / "out"))
    with pytest.raises(InvalidInput, match="not a valid reference"):
        ws.batch.transform("model:", source, str(tmp_path / "out"))


def test_missing_columns_are_named(ws: Any, tmp_path: Path) -> None:
    path = tmp_path / "short.parquet"
    pq.write_table(pa.Table.from_pandas(frame()[["id", "a", "b"]], preserve_index=False), path)
    with pytest.raises(InvalidInput, match=r"missing column 'c'.*missing column 'd'") as error:
        ws.batch.transform("model:delay@1", str(path), str(tmp_path / "out"))
    assert "does not fit the model" in error.value.message
    assert not (tmp_path / "out").exists()


def test_a_bad_engine_name_input_or_filter(ws: Any, source: str, tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    with pytest.raises(InvalidInput, match=r"Unknown engine 'spark'.*local, dask"):
        ws.batch.transform("model:delay@1", source, out, engine="spark")
    with pytest.raises(NotFound, match="No file or folder"):
        ws.batch.transform("model:delay@1", str(tmp_path / "none.parquet"), out)
    (tmp_path / "text.parquet").write_text("a,b\n1,2\n")
    with pytest.raises(InvalidInput, match="not a readable Parquet file"):
        ws.batch.transform("model:delay@1", str(tmp_path / "text.parquet"), out)
    with pytest.raises(InvalidInput, match=r"output filter names column.*'id'"):
        ws.batch.transform("model:delay@1", source, out, output_filter=["id"])
    with pytest.raises(InvalidInput, match="--scheduler is for the dask engine"):
        ws.batch.transform("model:delay@1", source, out, scheduler="tcp://127.0.0.1:1")


def test_an_output_of_another_job_is_refused_unless_overwritten(
    ws: Any, source: str, tmp_path: Path
) -> None:
    out = str(tmp_path / "out")
    ws.batch.transform("model:delay@1", source, out)
    with pytest.raises(Conflict, match="output of another batch transform"):
        ws.batch.transform("model:delay@1", source, out, join_source=True)
    with pytest.raises(Conflict):
        ws.batch.transform("model:minutes@1", source, out)
    replaced = ws.batch.transform("model:minutes@1", source, out, overwrite=True)
    assert replaced.resumed == 0 and pq.read_table(out).column_names == ["prediction"]
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInput, match=r"holds other files \(notes.txt\)"):
        ws.batch.transform("model:delay@1", source, out, overwrite=True)
    assert (tmp_path / "out" / "notes.txt").exists()


def test_bad_values_in_a_later_part_name_the_part(ws: Any, tmp_path: Path) -> None:
    data = frame()
    data.loc[3 * GROUP + 5, "a"] = np.nan  # the model was never shown a missing value
    path = tmp_path / "input.parquet"
    pq.write_table(pa.Table.from_pandas(data, preserve_index=False), path, row_group_size=GROUP)
    with pytest.raises(InvalidInput, match=r"Part 3 .*row group 3.*column 'a', row 5: NaN"):
        ws.batch.transform("model:delay@1", str(path), str(tmp_path / "out"))
    assert len(list((tmp_path / "out").glob("part-*.parquet"))) == 3
    (run,) = ws.runs.runs("batch-transform")
    assert run.status == "failed" and "Part 3" in run.tags["shipyard.error"]
