"""The serving parser and input checks: pure, no server."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from shipyard.registry.package import LoadedModel
from shipyard.registry.signature import infer_signature
from shipyard.serving.inference import (
    ARROW_TYPE,
    JSON_TYPE,
    InputSchema,
    InvalidRequest,
    Predictor,
    parse_body,
)

EXAMPLE = pd.DataFrame({"x": [1.0, np.nan], "n": [1, 2], "origin": ["JFK", "LGA"]})
SCHEMA = InputSchema.compile(infer_signature(EXAMPLE, np.array([0, 1])), EXAMPLE)


def checked(body: bytes, content_type: str = JSON_TYPE) -> dict[str, np.ndarray]:
    columns, rows = parse_body(body, content_type)
    return SCHEMA.convert(columns, rows)


def problems(body: bytes, content_type: str = JSON_TYPE) -> tuple[int, list[str]]:
    with pytest.raises(InvalidRequest) as caught:
        checked(body, content_type)
    assert caught.value.to_dict()["problems"] == caught.value.problems
    return caught.value.http_status, caught.value.problems


def test_the_signature_compiles_to_order_types_and_missing() -> None:
    assert [(c.name, c.kind, c.allows_missing) for c in SCHEMA.columns] == [
        ("x", "float", True),
        ("n", "integer", False),
        ("origin", "string", False),
    ]


def test_records_columns_and_arrow_give_the_same_arrays() -> None:
    records = {
        "records": [{"x": 0.5, "n": 3, "origin": "JFK"}, {"x": None, "n": 4, "origin": "EWR"}]
    }
    columns = {"columns": {"x": [0.5, None], "n": [3, 4], "origin": ["JFK", "EWR"]}}
    table = pa.table({"x": [0.5, None], "n": [3, 4], "origin": ["JFK", "EWR"]})
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    results = [
        checked(json.dumps(records).encode()),
        checked(json.dumps(columns).encode()),
        checked(sink.getvalue(), ARROW_TYPE),
    ]
    for arrays in results:
        assert list(arrays) == ["x", "n", "origin"]
        np.testing.assert_array_equal(arrays["x"], [0.5, math.nan])
        assert arrays["n"].tolist() == [3, 4]
        assert list(arrays["origin"]) == ["JFK", "EWR"]


def test_every_problem_is_listed_at_once() -> None:
    body = {
        "records": [
            {"x": "high", "n": True, "origin": 7, "extra": 1},
            {"x": 1.0, "n": None, "origin": "JFK", "extra": 2},
        ]
    }
    status, found = problems(json.dumps(body).encode())
    assert status == 422
    text = " | ".join(found)
    assert "unknown column(s) 'extra'" in text
    assert "column 'x', row 0: \"high\" is not a number" in text
    assert "column 'n', row 0: true is not a number" in text
    assert "column 'n', row 1: null, but this column may not be missing" in text
    assert "column 'origin', row 0: 7 is not text" in text
    assert len(found) == 5


def test_nan_and_infinity_only_where_allowed() -> None:
    status, found = problems(b'{"columns": {"x": [Infinity], "n": [NaN], "origin": ["a"]}}')
    assert status == 422
    assert found == [
        "column 'x', row 0: inf is not a finite number",
        "column 'n', row 0: NaN, but this column may not be missing",
    ]
    assert math.isnan(checked(b'{"columns": {"x": [NaN], "n": [1], "origin": ["a"]}}')["x"][0])


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        (b'{"records": []}', JSON_TYPE, 422, "no rows"),
        (b'{"records": [{"x": 1.0, "n": 1}]}', JSON_TYPE, 422, "missing column 'origin'"),
        (b'{"records": [{"x": 1.0, "n": 1, "origin": ["a"]}]}', JSON_TYPE, 422, "nested list"),
        (b'{"rows": []}', JSON_TYPE, 422, 'exactly one of "records" or "columns"'),
        (b'{"records": [', JSON_TYPE, 400, "not valid JSON"),
        (b'{"records": [{"origin": "\xff"}]}', JSON_TYPE, 400, "not valid UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, JSON_TYPE, 400, "nested too deeply"),
        (b"x=1", "text/csv", 415, "'text/csv' is not served"),
        (b"not arrow", ARROW_TYPE, 400, "not an Arrow IPC stream"),
    ],
)
def test_each_kind_of_bad_body(body: bytes, content_type: str, status: int, says: str) -> None:
    found_status, found = problems(body, content_type)
    assert found_status == status
    assert says in " | ".join(found)


def test_arrow_columns_of_the_wrong_type_are_named() -> None:
    table = pa.table({"x": ["a"], "n": [1.5], "origin": [3]})
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    status, found = problems(sink.getvalue(), ARROW_TYPE)
    assert status == 422
    assert any("'x'" in p and "numbers" in p for p in found)
    assert "column 'origin' is int64, but the model takes text" in found


def loaded_model(model: Any, example: pd.DataFrame) -> LoadedModel:
    signature = infer_signature(example, model.predict(example))
    manifest = {"signature": signature.to_dict(), "flavor": "sklearn", "requirements": []}
    return LoadedModel(model, manifest, example, "0" * 64)


def pipelines() -> dict[str, tuple[Any, pd.DataFrame, bool]]:
    """name -> (fitted model, its input example, whether it can take a bare matrix)."""
    rng = np.random.default_rng(0)
    numbers = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    labels = (numbers["a"] > 0).astype(int)
    by_name = ColumnTransformer([("scale", StandardScaler(), ["a", "b"])])
    text = numbers.assign(origin=np.where(labels, "JFK", "LGA"))
    encode = ColumnTransformer([("one_hot", OneHotEncoder(), ["origin"])], remainder="passthrough")
    return {
        "estimator": (LogisticRegression().fit(numbers, labels), numbers, True),
        "pipeline": (
            make_pipeline(StandardScaler(), LogisticRegression()).fit(numbers, labels),
            numbers,
            True,
        ),
        "columns_by_name": (
            make_pipeline(by_name, LogisticRegression()).fit(numbers, labels),
            numbers,
            False,
        ),
        "text_column": (make_pipeline(encode, LogisticRegression()).fit(text, labels), text, False),
    }


@pytest.mark.parametrize("name", list(pipelines()))
def test_the_predictor_takes_the_cheapest_call_that_predicts_the_same(name: str) -> None:
    model, example, matrix = pipelines()[name]
    predictor = Predictor(loaded_model(model, example.head(5)))
    predictor.warm()
    assert predictor.matrix is matrix
    arrays = {column: example[column].to_numpy() for column in predictor.schema.names}
    expected = predictor.loaded.predict(example)
    np.testing.assert_array_equal(predictor.predict(arrays), expected)
    assert hasattr(model, "feature_names_in_")  # the served twin is a copy


def test_a_value_the_model_refuses_is_the_callers_problem() -> None:
    model, example, _ = pipelines()["text_column"]
    predictor = Predictor(loaded_model(model, example.head(5)))
    predictor.warm()
    arrays = {column: example[column].head(1).to_numpy() for column in predictor.schema.names}
    arrays["origin"] = np.array(["EWR"], dtype=object)  # never seen in training
    with pytest.raises(InvalidRequest, match="the model refused the input") as caught:
        predictor.predict(arrays)
    assert caught.value.http_status == 422
