"""Batch transform on the local engine: what the output holds, the filters, the inputs
it reads, and the run it records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from tests.batch.data import FEATURES, ROWS, frame, read_output

from shipyard.errors import InvalidInput


def test_predictions_and_probabilities_match_the_model(ws: Any, source: str, tmp_path: Path):
    seen: list[tuple[int, int]] = []
    result = ws.batch.transform(
        "model:delay@1", source, str(tmp_path / "out"), progress=lambda d, t: seen.append((d, t))
    )
    assert (result.rows, result.parts, result.resumed) == (ROWS, 4, 0)
    out = read_output(tmp_path / "out")
    assert list(out.columns) == ["prediction", "proba_late", "proba_on_time"]
    model = ws.models.load("delay", 1)
    inputs = frame()[FEATURES]
    assert (out["prediction"].to_numpy() == model.predict(inputs)).all()
    np.testing.assert_allclose(
        out[["proba_late", "proba_on_time"]].to_numpy(), model.predict_proba(inputs)
    )
    assert seen[0] == (0, ROWS) and seen[-1] == (ROWS, ROWS) and len(seen) == 5
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    assert manifest["digest"] == result.digest and len(manifest["parts"]) == 4
    assert (tmp_path / "out" / "_SUCCESS").exists()


def test_join_source_and_filters(ws: Any, source: str, tmp_path: Path) -> None:
    ws.batch.transform("model:delay@1", source, str(tmp_path / "joined"), join_source=True)
    joined = read_output(tmp_path / "joined")
    assert list(joined.columns) == ["id", *FEATURES, "prediction", "proba_late", "proba_on_time"]
    pd.testing.assert_frame_equal(joined[["id", *FEATURES]], frame())

    ws.batch.transform(
        "model:delay@1", source, str(tmp_path / "kept"), join_source=True,
        output_filter=["id", "proba_late"], batch_rows=7,
    )  # fmt: skip
    kept = read_output(tmp_path / "kept")
    assert list(kept.columns) == ["id", "proba_late"]
    np.testing.assert_allclose(kept["proba_late"], joined["proba_late"])  # slices change nothing


def test_an_input_filter_sends_exactly_those_columns(ws: Any, source: str, tmp_path: Path):
    ws.batch.transform("model:delay@1", source, str(tmp_path / "out"), input_filter=FEATURES)
    assert len(read_output(tmp_path / "out")) == ROWS
    with pytest.raises(InvalidInput, match=r"unknown column\(s\) 'id'.*missing column 'd'"):
        ws.batch.transform(
            "model:delay@1", source, str(tmp_path / "bad"), input_filter=["id", "a", "b", "c"]
        )
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())


def test_a_regressor_has_a_prediction_only(ws: Any, source: str, tmp_path: Path) -> None:
    ws.batch.transform("model:minutes@1", source, str(tmp_path / "out"))
    out = read_output(tmp_path / "out")
    assert list(out.columns) == ["prediction"]
    np.testing.assert_allclose(out["prediction"], ws.models.load("minutes", 1).predict(frame()))
    with pytest.raises(InvalidInput, match="no class probabilities"):
        ws.batch.transform("model:minutes@1", source, str(tmp_path / "p"), proba=True)


def test_a_dataset_version_and_a_folder_of_files_are_inputs(ws: Any, tmp_path: Path) -> None:
    data = frame()
    ws.datasets.register("flights", data)
    by_dataset = ws.batch.transform("model:delay@1", "dataset:flights@1", str(tmp_path / "d"))
    folder = tmp_path / "files"
    folder.mkdir()
    data.iloc[:120].to_parquet(folder / "1.parquet")
    data.iloc[120:].to_parquet(folder / "2.parquet")
    (folder / "_ignored.parquet").write_bytes(b"not parquet: skipped, as Spark skips it")
    by_folder = ws.batch.transform("model:delay@1", str(folder), str(tmp_path / "f"))
    assert by_folder.parts == 2 and by_folder.rows == ROWS
    pd.testing.assert_frame_equal(read_output(tmp_path / "d"), read_output(tmp_path / "f"))
    record = ws.runs.get_run(by_dataset.run).record["batch_transform"]
    assert record["input"]["dataset"] == "dataset:flights@1"
    assert record["input"]["content_hash"] == ws.datasets.get("flights", 1).content_hash


def test_the_run_records_lineage_and_a_rerun_of_a_finished_job_does_nothing(
    ws: Any, source: str, tmp_path: Path
) -> None:
    output = str(tmp_path / "out")
    first = ws.batch.transform("delay@1", source, output, join_source=True)
    run = ws.runs.get_run(first.run)
    assert run.status == "finished" and run.experiment == "batch-transform"
    assert run.tags["kind"] == "batch-transform" and run.tags["model"] == "model:delay@1"
    assert run.params["join_source"] == "True" and run.metrics["rows"] == ROWS
    lineage = run.record["batch_transform"]
    assert lineage["model"] == "model:delay@1"
    assert lineage["package"] == ws.models.get("delay", 1).package
    assert lineage["output"] == {"url": output, "digest": first.digest, "rows": ROWS}
    assert "fingerprint" in lineage["input"] and "_manifest.json" in run.artifacts
    again = ws.batch.transform("delay@1", source, output, join_source=True)
    assert (again.run, again.digest, again.resumed) == (first.run, first.digest, 4)


def test_parts_in_two_local_processes_equal_one(ws: Any, source: str, tmp_path: Path) -> None:
    one = ws.batch.transform("model:delay@1", source, str(tmp_path / "one"))
    two = ws.batch.transform("model:delay@1", source, str(tmp_path / "two"), workers=2)
    assert one.digest == two.digest
    assert pq.read_table(tmp_path / "two" / "part-00003.parquet").num_rows == 50
