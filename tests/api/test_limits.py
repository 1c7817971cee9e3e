"""Bounded requests: body size, item counts, unknown fields, key types and invalid text,
each refused with the API's JSON error body (not only the status)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import shipyard
from shipyard.api.app import create_app
from shipyard.api.body_limit import BodySizeLimit
from shipyard.api.limits import Limits
from shipyard.errors import InvalidConfig, InvalidInput
from shipyard.features.definitions import Entity, Feature, FeatureView, Source

MAX_BYTES = 64 * 1024
MAX_ITEMS = 100


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[shipyard.Workspace]:
    """Two views, one keyed by an integer (a dataset), one by a string (a Parquet file)."""
    now = datetime.now(UTC).replace(microsecond=0)
    with shipyard.connect(
        tmp_path / "home", max_request_bytes="64KiB", max_request_items=MAX_ITEMS
    ) as workspace:
        delays = pd.DataFrame({"flight_id": [1, 2], "ts": [now, now], "delay": [5.0, 7.0]})
        workspace.datasets.register("delays", delays, time_column="ts")
        weather = pd.DataFrame({"origin": ["JFK", "LGA"], "ts": [now, now], "temp": [50.0, 48.0]})
        weather.to_parquet(tmp_path / "weather.parquet")
        workspace.features.apply(
            [
                Entity("flight", ("flight_id",)),
                Entity("airport", ("origin",)),
                FeatureView("delays", ("flight",), Source(dataset="delays"), "ts",
                            (Feature("delay", "float64"),)),
                FeatureView("weather", ("airport",),
                            Source(parquet=str(tmp_path / "weather.parquet")), "ts",
                            (Feature("temp", "float64"),)),
            ]
        )  # fmt: skip
        workspace.features.materialize(["delays", "weather"], now - timedelta(days=1), now)
        yield workspace


@pytest.fixture
def client(ws: shipyard.Workspace) -> TestClient:
    return TestClient(create_app(ws), raise_server_exceptions=False)


def post(client: TestClient, body: str | bytes, **headers: str) -> Any:
    return client.post(
        "/features/online",
        content=body,
        headers={"content-type": "application/json", **headers},
    )


def assert_error(response: Any, status: int, code: str, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "message", "hint"} and body["error"] == code
    for word in words:
        assert word in body["message"], body["message"]
    return body


# -- size -----------------------------------------------------------------------------


def test_a_body_over_the_size_limit_is_a_413_saying_the_limit(client: TestClient) -> None:
    entities = [{"flight_id": 1, "padding": "x" * 1000} for _ in range(80)]
    body = json.dumps({"entities": entities, "features": ["delays/delay"]})
    assert len(body) > MAX_BYTES
    error = assert_error(post(client, body), 413, "request_too_large", "65,536 bytes")
    assert "max_request_bytes" in error["hint"]


def test_a_streamed_body_without_a_length_is_counted_as_it_arrives(client: TestClient) -> None:
    chunks = (b" " * 16384 for _ in range(1000))  # chunked: no Content-Length to check
    response = post(client, chunks)  # type: ignore[arg-type]
    assert_error(response, 413, "request_too_large", "bytes at most")


def test_reading_stops_at_the_first_chunk_past_the_limit() -> None:
    """The middleware itself: the app never gets more than the limit plus one chunk."""
    pulled: list[int] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        pulled.append(1)
        return {"type": "http.request", "body": b" " * 1000, "more_body": len(pulled) < 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        raise AssertionError("the app read the whole body")

    limit = BodySizeLimit(app, Limits(max_bytes=10_500))
    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    asyncio.run(limit(scope, receive, send))  # type: ignore[arg-type]
    assert len(pulled) == 11
    assert sent[0]["status"] == 413 and (b"connection", b"close") in sent[0]["headers"]
    assert json.loads(sent[1]["body"])["error"] == "request_too_large"


def test_a_body_within_the_limit_is_served(client: TestClient) -> None:
    body = {"entities": [{"flight_id": 1}, {"flight_id": 3}], "features": ["delays/delay"]}
    response = client.post("/features/online", json=body)
    assert response.status_code == 200, response.text
    first, unknown = response.json()["results"]
    assert first["values"] == {"delays__delay": 5.0}
    assert unknown["statuses"] == {"delays__delay": "missing"}


# -- items ----------------------------------------------------------------------------


def test_too_many_entities_is_a_413_saying_how_many(client: TestClient) -> None:
    body = {
        "entities": [{"flight_id": i} for i in range(MAX_ITEMS + 1)],
        "features": ["delays/delay"],
    }
    error = assert_error(
        client.post("/features/online", json=body), 413, "request_too_large", "101", "100"
    )
    assert "max_request_items" in error["hint"]


def test_entities_times_features_count_against_the_limit(client: TestClient) -> None:
    entities = [{"flight_id": 1, "origin": "JFK"}] * 60  # 60 entities, fine on their own
    body = {"entities": entities, "features": ["delays/delay", "weather/temp"]}
    assert_error(
        client.post("/features/online", json=body),
        413,
        "request_too_large",
        "120 values (60 entities x 2 features)",
    )
    assert (
        client.post("/features/online", json={**body, "features": ["delays/*"]}).status_code == 200
    )


def test_a_long_list_anywhere_in_a_body_is_refused_before_validation(client: TestClient) -> None:
    # Tiny items: few bytes, but each would cost a validation error and memory.
    body = {"entities": [0] * (MAX_ITEMS * 10), "features": ["delays/delay"]}
    assert_error(client.post("/features/online", json=body), 413, "request_too_large", "1,000")


def test_a_422_lists_a_few_problems_not_one_per_item(client: TestClient) -> None:
    body = {"entities": [0] * MAX_ITEMS, "features": ["delays/delay"]}
    error = assert_error(client.post("/features/online", json=body), 422, "invalid_input")
    assert "and 95 more" in error["message"] and len(error["message"]) < 1000


# -- shape ----------------------------------------------------------------------------


def test_an_unknown_field_is_a_422_naming_it(client: TestClient) -> None:
    body = {"entities": [{"flight_id": 1}], "features": ["delays/delay"], "servce": "x"}
    error = assert_error(client.post("/features/online", json=body), 422, "invalid_input")
    assert "servce" in error["message"] and "Extra inputs are not permitted" in error["message"]


# -- key types ------------------------------------------------------------------------


def test_a_string_for_an_integer_key_is_a_400_naming_the_key_and_both_types(
    client: TestClient,
) -> None:
    body = {"entities": [{"flight_id": 1}, {"flight_id": "5"}], "features": ["delays/delay"]}
    error = assert_error(
        client.post("/features/online", json=body),
        400,
        "invalid_input",
        "Entity 1",
        "'flight_id'",
        "'delays'",
        "an integer",
        "a string was given ('5')",
    )
    assert "such as 5" in error["hint"]


def test_a_number_for_a_string_key_is_refused_too(client: TestClient) -> None:
    body = {"entities": [{"origin": 7}], "features": ["weather/temp"]}  # a Parquet source
    assert_error(
        client.post("/features/online", json=body),
        400,
        "invalid_input",
        "'origin'",
        "is a string, but an integer was given (7)",
    )


def test_the_python_api_refuses_a_key_of_the_wrong_type(ws: shipyard.Workspace) -> None:
    with pytest.raises(InvalidInput, match=r"'flight_id'.*an integer, but a string was given"):
        ws.features.get_online([{"flight_id": "1"}], ["delays/delay"])
    with pytest.raises(InvalidInput, match=r"an integer, but a number was given \(1\.5\)"):
        ws.features.get_online([{"flight_id": 1.5}], ["delays/delay"])
    with pytest.raises(InvalidInput, match=r"an integer, but a boolean was given"):
        ws.features.get_online([{"flight_id": True}], ["delays/delay"])


def test_keys_of_the_right_type_in_any_python_form_are_read(ws: shipyard.Workspace) -> None:
    entities: list[dict[str, Any]] = [
        {"flight_id": np.int64(1)},
        {"flight_id": 2.0},
        {"flight_id": None},
    ]
    rows = ws.features.get_online(entities, ["delays/delay"]).rows
    assert [r.values["delays__delay"] for r in rows] == [5.0, 7.0, None]
    assert rows[2].statuses["delays__delay"] == "missing"  # no key: nothing to find


# -- text -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('{"entities": [{"flight_id": "\\ud800"}], "features": ["delays/delay"]}',
         "body.entities[0].flight_id"),
        ('{"entities": [{"flight_id": 1}], "features": ["delays/\\udfff"]}', "body.features[0]"),
        ('{"entities": [{"\\ud800": 1}], "features": ["delays/delay"]}',
         'body.entities[0] (the key "\\ud800")'),
    ],
)  # fmt: skip
def test_a_lone_surrogate_is_a_400_saying_where(client: TestClient, body: str, where: str) -> None:
    error = assert_error(post(client, body), 400, "invalid_input", where, "lone surrogate")
    assert "UTF-8" in error["hint"]


def test_a_surrogate_pair_is_ordinary_text(client: TestClient) -> None:
    body = '{"entities": [{"origin": "\\ud83d\\ude80"}], "features": ["weather/temp"]}'
    response = post(client, body)
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["entity"] == {"origin": "\U0001f680"}


# -- settings -------------------------------------------------------------------------


def test_the_limits_are_settings_with_defaults(tmp_path: Path) -> None:
    defaults = shipyard.load_settings(tmp_path, env={})
    assert (defaults.max_request_bytes, defaults.max_request_items) == (1 << 20, 10_000)
    env = {"SHIPYARD_MAX_REQUEST_BYTES": "4MiB", "SHIPYARD_MAX_REQUEST_ITEMS": "500"}
    chosen = shipyard.load_settings(tmp_path, env=env)
    assert (chosen.max_request_bytes, chosen.max_request_items) == (4 << 20, 500)


@pytest.mark.parametrize(
    ("name", "value"),
    [("MAX_REQUEST_BYTES", "0"), ("MAX_REQUEST_BYTES", "4MB"), ("MAX_REQUEST_ITEMS", "1KiB")],
)
def test_a_bad_limit_is_one_clear_line(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(InvalidConfig) as caught:
        shipyard.load_settings(tmp_path, env={f"SHIPYARD_{name}": value})
    message = str(caught.value)
    assert f"SHIPYARD_{name}" in message and repr(value) in message and "\n" not in message
