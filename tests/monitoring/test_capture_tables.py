"""Captured requests as rows per stage: alignment, nulls, odd shapes."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from shipyard.monitoring.capture_tables import stage_tables, status_counts


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
