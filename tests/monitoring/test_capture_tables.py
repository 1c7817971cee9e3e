"""Captured requests as rows per stage: alignment, nulls, odd shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from shipyard.monitoring.capture_tables import (
    PARSED,
    parsed_columns,
    stage_tables,
    status_counts,
)
from shipyard.monitoring.windows import profile_files
from shipyard.serving.capture import CaptureRecord, CaptureWriter


def captured(*requests: dict[str, Any]) -> pa.Table:
    columns = ("status", "input", "enriched", "scores", "output", "statuses")
    rows = {c: [r.get(c) for r in requests] for c in columns}
    for c in columns[1:]:
        rows[c] = [None if v is None else json.dumps(v) for v in rows[c]]
    return pa.table(rows)


def test_rows_of_many_requests_line_up_across_stages() -> None:
    tables = stage_tables(captured(
        {"status": 200, "input": {"a": [1, 2], "c": ["x", "y"]}, "enriched": {"w": [0.5, 0.6]},
         "scores": [[0.1, 0.9], [0.3, 0.7]], "output": [1, 1]},
        {"status": 422, "input": {"a": "not a list"}},
        {"status": 200, "input": {"a": [3.5], "c": ["z"]}, "scores": [[0.8, 0.2]], "output": [0]},
    ))  # fmt: skip
    assert tables["input"].to_pydict() == {"a": [1.0, 2.0, 3.5], "c": ["x", "y", "z"]}
    assert tables["enriched"].to_pydict() == {"w": [0.5, 0.6, None]}
    assert tables["scores"].column("score_1").to_pylist() == [0.9, 0.7, 0.2]
    assert tables["output"].to_pydict() == {"prediction": [1, 1, 0]}


def test_lists_of_nulls_keep_their_rows() -> None:
    """Arrow's JSON reader miscounts a list that holds only nulls: read it again typed."""
    tables = stage_tables(captured(
        {"status": 200, "input": {"a": [None, None], "b": [None]}},
        {"status": 200, "input": {"a": [1.5], "b": [None]}},
        {"status": 200, "input": {"a": [2, None], "b": [None, None]}},
    ))  # fmt: skip
    assert tables["input"].to_pydict() == {
        "a": [None, None, 1.5, 2.0, None],
        "b": [None] * 5,
    }


def test_a_column_of_mixed_types_is_read_as_text() -> None:
    tables = stage_tables(captured(
        {"status": 200, "input": {"a": [1]}}, {"status": 200, "input": {"a": ["one"]}}
    ))  # fmt: skip
    assert tables["input"].to_pydict() == {"a": ["1", "one"]}


def test_enrichment_statuses_are_counted_per_feature() -> None:
    counts = status_counts(captured(
        {"status": 200, "input": {"a": [1, 2]},
         "statuses": {"w": ["present", "missing"]}},
        {"status": 200, "input": {"a": [3]}, "statuses": {"w": ["outside_ttl"]}},
        {"status": 500, "input": {"a": [4]}, "statuses": {"w": ["missing"]}},
    ))  # fmt: skip
    assert counts == {"w": {"present": 1, "missing": 1, "outside_ttl": 1}}


BATCHES = {
    "multi-row, refused, enriched": [
        {"status": 200, "input": {"a": [1, 2], "c": ["x", "y"]}, "enriched": {"w": [0.5, 0.6]},
         "scores": [[0.1, 0.9], [0.3, 0.7]], "output": [1, 1]},
        {"status": 422, "input": {"a": "not a list"}},
        {"status": 200, "input": {"a": [3.5], "c": ["z"]}, "scores": [[0.8, 0.2]], "output": [0]},
    ],
    "lists of nulls": [
        {"status": 200, "input": {"a": [None, None], "b": [None]}},
        {"status": 200, "input": {"a": [1.5], "b": [None]}},
    ],
    "mixed types": [{"status": 200, "input": {"a": [1]}}, {"status": 200, "input": {"a": ["o"]}}],
    "missing and late columns, regression scores": [
        {"status": 200, "input": {"a": [1.0]}, "scores": [0.4], "output": [0.4]},
        {"status": 200, "input": {"a": [2.0], "late": ["x"]}, "scores": [1.2], "output": [1.2]},
        {"status": 200, "input": {"a": [3.0, 4.0]}, "scores": [2.0], "output": [2.0, 2.5]},
    ],
    "null input among answered": [
        {"status": 200, "input": None}, {"status": 200, "input": {"a": [1]}, "output": ["yes"]},
    ],
    "nothing answered": [{"status": 500, "input": {"a": [1]}}],
    "one row each (kept as one value a request), some not enriched": [
        {"status": 200, "input": {"a": [1.5], "c": ["x"]}, "enriched": {"w": [0.5]},
         "scores": [[0.1, 0.9]], "output": [1]},
        {"status": 200, "input": {"a": [None], "c": ["y"]}, "scores": [[0.6, 0.4]],
         "output": [0]},
        {"status": 404, "input": {"a": "refused"}},
    ],
    "one row each, a nested value": [
        {"status": 200, "input": {"a": [[1, 2]], "c": ["x"]}},
        {"status": 200, "input": {"a": [[3]], "c": ["y"]}},
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", list(BATCHES))
def test_json_parsed_at_write_time_gives_the_same_tables(name: str) -> None:
    """The capture writer stores the JSON parsed (``parsed_columns``); the stage tables
    made from it are those made from the text."""
    batch = captured(*BATCHES[name])
    stored = batch
    for column_name, column in parsed_columns(batch).items():
        stored = stored.append_column(column_name, column)
    assert set(stored.column_names) > set(batch.column_names) or not stage_tables(batch)
    expected, got = stage_tables(batch), stage_tables(stored)
    assert {s: t.to_pydict() for s, t in got.items()} == {
        s: t.to_pydict() for s, t in expected.items()
    }
    # The parsed column is what is read: other text beside it changes nothing.
    texts = pc.if_else(pc.is_valid(stored["input"]), '{"other": [0]}', stored["input"])
    other = stored.set_column(stored.column_names.index("input"), "input", texts)
    assert {s: t.to_pydict() for s, t in stage_tables(other).items()} == {
        s: t.to_pydict() for s, t in expected.items()
    }


def test_files_with_and_without_parsed_json_profile_as_the_text_does(tmp_path: Path) -> None:
    """Files written by the capture writer for an endpoint with ``capture_parsed`` carry
    parsed JSON (in its helper process); a file typed otherwise
    (text where another file has numbers) or written before the parsed columns makes
    its piece parse the text: the profiles equal those of the text alone."""
    writer = CaptureWriter(tmp_path / "capture", autostart=False)
    at = datetime(2026, 1, 1, 10, tzinfo=UTC)
    for values in ([1.0, 2.0], [3.0], ["three"]):  # three files; the last one is text
        for i, value in enumerate(values):
            writer.offer(CaptureRecord(f"{value}-{i}", "e", "v", None, 200, 0.0, 0.0, 0.0,
                                       columns={"a": [value], "b": [i]}, predictions=[i],
                                       time=at, model="m@1", parsed=True))  # fmt: skip
        writer.flush()
    old = tmp_path / "old.parquet"
    files = sorted((tmp_path / "capture").rglob("*.parquet"), key=lambda f: f.stat().st_mtime_ns)
    assert len(files) == 3 and all("parsed_input" in pq.read_schema(f).names for f in files)
    first = pq.read_table(files[0])
    pq.write_table(first.drop_columns([n for n in PARSED.values() if n in first.column_names]), old)

    def profiles(paths: list[Path]) -> dict[str, Any]:
        found = profile_files(paths, lambda _: {})["m@1"].profiles
        return {stage: json.loads(p.to_json()) for stage, p in found.items()}

    def text_only(paths: list[Path]) -> list[Path]:
        out = []
        for i, path in enumerate(paths):
            plain = tmp_path / f"plain-{i}.parquet"
            table = pq.read_table(path)
            parsed = [n for n in PARSED.values() if n in table.column_names]
            pq.write_table(table.drop_columns(parsed), plain)
            out.append(plain)
        return out

    for paths in (files[:2], files, [old, files[1]]):
        assert profiles(paths) == profiles(text_only(paths))
    typed = {c["name"]: c for c in profiles(files[:2])["input"]["columns"]}
    assert typed["a"]["arrow_type"] == "double" and typed["a"]["count"] == 3


def test_pieces_made_ahead_on_a_thread_raise_here_and_stop_with_the_caller() -> None:
    import threading

    from shipyard.monitoring.windows import _ahead

    def failing() -> Any:
        yield 1
        raise ValueError("a broken capture file")

    with pytest.raises(ValueError, match="broken capture file"):
        list(_ahead(failing(), 2))
    endless = _ahead(iter(range(10**9)), 2)
    assert [next(endless) for _ in range(5)] == [0, 1, 2, 3, 4]
    endless.close()  # the caller stops taking: the thread ends, nothing hangs
    assert not any(t.name == "shipyard-capture-read" for t in threading.enumerate())


def test_a_flush_is_parsed_at_once_and_each_file_keeps_its_own_columns() -> None:
    """The writer parses a flush's files (one a variant) in one call: each file's parsed
    columns give the tables its own text gives, without the other files' columns."""
    from shipyard.monitoring.capture_tables import parsed_parts

    parts = [
        captured({"status": 200, "input": {"a": [1.5], "c": ["x"]}, "output": [1]},
                 {"status": 200, "input": {"a": [2.5], "c": ["y"]}, "output": [0]}),
        captured({"status": 422, "input": {"a": "refused"}},
                 {"status": 200, "input": {"a": [3.5], "late": ["z"]}, "enriched": {"w": [1.0]},
                  "output": [1]}),
        captured({"status": 500, "input": {"a": [9.5]}}),
    ]  # fmt: skip
    for part, parsed in zip(parts, parsed_parts(parts), strict=True):
        stored = part
        for name, column in parsed.items():
            stored = stored.append_column(name, column)
        if "parsed_input" in parsed:
            assert pa.types.is_struct(parsed["parsed_input"].type)
            assert not any(pa.types.is_list(f.type) for f in parsed["parsed_input"].type)
        assert {s: t.to_pydict() for s, t in stage_tables(stored).items()} == {
            s: t.to_pydict() for s, t in stage_tables(part).items()
        }
    first = parsed_parts(parts)[0]["parsed_input"].type
    assert [f.name for f in first] == ["a", "c"]  # not the second file's "late"


def test_only_endpoints_that_ask_keep_parsed_json(tmp_path: Path) -> None:
    writer = CaptureWriter(tmp_path / "capture", autostart=False)
    for endpoint, parsed in (("plain", False), ("typed", True)):
        record = CaptureRecord("r", endpoint, "v", None, 200, 0.0, 0.0, 0.0,
                               columns={"a": [1.0]}, predictions=[1], parsed=parsed)  # fmt: skip
        writer.offer(record)
    writer.close()
    for endpoint, parsed in (("plain", False), ("typed", True)):
        (path,) = (tmp_path / "capture" / f"endpoint={endpoint}").rglob("*.parquet")
        assert ("parsed_input" in pq.read_schema(path).names) == parsed
