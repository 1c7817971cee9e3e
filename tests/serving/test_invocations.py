"""Invocations over real HTTP: `shipyard serve` processes started by the test on 127.0.0.1."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from fastapi import FastAPI
from sklearn.linear_model import LogisticRegression
from tests.conftest import free_port, serving_in_thread, wait_healthy

import shipyard
from shipyard.api.deps import get_principal
from shipyard.stores.control.base import Variant

# The in-process reference call gives a DataFrame to a model fitted on a matrix.
pytestmark = pytest.mark.filterwarnings("ignore:X has feature names:UserWarning")

COLUMNS = ["a", "b", "c"]


def frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, 3)), columns=COLUMNS)


def start_serving(home: Path, endpoint: str) -> tuple[str, subprocess.Popen[str]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    shipyard_cli = str(Path(sys.executable).with_name("shipyard"))
    proc = subprocess.Popen(
        [
            shipyard_cli,
            "--home",
            str(home),
            "serve",
            endpoint,
            "--port",
            str(port),
            "--refresh-seconds",
            "0.5",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base, proc)
    return base, proc


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Endpoint `flights`: variant `main` (a model fitted on a DataFrame) at weight 1 and
    `spare` (a model fitted on a bare matrix) at weight 0, served by two processes."""
    home = tmp_path_factory.mktemp("serving") / "ws"
    train = frame(200, 1)
    labels = (train["a"] + train["b"] > 0).astype(int)
    with shipyard.connect(home) as ws:
        on_frame = LogisticRegression().fit(train, labels)
        on_matrix = LogisticRegression(C=0.01).fit(train.to_numpy(), 1 - labels)
        ws.models.register("delay", on_frame, input_example=train.head(5))
        ws.models.register("delay", on_matrix, input_example=train.head(5))
        ws.runtime.control.create_endpoint(
            "flights",
            {},
            [Variant("main", "delay", 1, 1.0), Variant("spare", "delay", 2, 0.0)],
            by="pipeline",
        )
        models = {"main": ws.models.load("delay", 1), "spare": ws.models.load("delay", 2)}
    procs: list[subprocess.Popen[str]] = []
    try:
        bases = []
        for _ in range(2):
            base, proc = start_serving(home, "flights")
            procs.append(proc)
            bases.append(base)
        yield {"home": home, "bases": bases, "models": models}
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)


def invoke(base: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{base}/endpoints/flights/invocations", timeout=10, **kwargs)


def arrow_bytes(data: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(data, preserve_index=False)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def test_predictions_equal_the_model_for_records_columns_and_arrow(served: dict[str, Any]) -> None:
    base = served["bases"][0]
    assert httpx.get(f"{base}/ready", timeout=10).json() == {"ready": True, "pending": []}
    data = frame(25, 2)
    expected = served["models"]["main"].predict(data).tolist()
    bodies = [
        {"json": {"records": data.to_dict("records")}},
        {"json": {"columns": data.to_dict("list")}},
        {
            "content": arrow_bytes(data),
            "headers": {"Content-Type": "application/vnd.apache.arrow.stream"},
        },
    ]
    for body in bodies:
        response = invoke(base, **body)
        assert response.status_code == 200, response.text
        assert response.json()["predictions"] == expected
        assert response.headers["X-Shipyard-Variant"] == response.json()["variant"] == "main"
        assert response.headers["X-Request-Id"] == response.json()["request_id"]

    mine = invoke(
        base,
        json={"records": data.head(1).to_dict("records")},
        headers={"X-Request-Id": "req-42", "X-Shipyard-Key": "user-7"},
    )
    assert mine.headers["X-Request-Id"] == mine.json()["request_id"] == "req-42"
    assert mine.json()["key"] == "user-7"
    for header in ("X-Request-Id", "X-Shipyard-Key"):  # echoed and stored: bounded
        huge = invoke(base, json={"records": data.head(1).to_dict("records")},
                      headers={header: "x" * 5000})  # fmt: skip
        assert huge.status_code == 400 and header in huge.json()["message"]


def test_weight_zero_gets_nothing_and_a_target_variant_overrides(served: dict[str, Any]) -> None:
    base = served["bases"][0]
    data = frame(10, 3)
    body = {"records": data.to_dict("records")}
    assert {invoke(base, json=body).json()["variant"] for _ in range(20)} == {"main"}
    targeted = invoke(base, json=body, headers={"X-Shipyard-Target-Variant": "spare"})
    assert targeted.headers["X-Shipyard-Variant"] == "spare"
    assert targeted.json()["predictions"] == served["models"]["spare"].predict(data).tolist()
    unknown = invoke(base, json=body, headers={"X-Shipyard-Target-Variant": "nope"})
    assert unknown.status_code == 400 and "no variant 'nope'" in unknown.json()["message"]


def test_bad_input_gets_its_4xx_listing_every_problem_and_serving_goes_on(
    served: dict[str, Any],
) -> None:
    base = served["bases"][0]
    cases = [
        ({"json": {"records": []}}, 422, ["no rows"]),
        (
            {"json": {"records": [{"a": "x", "b": None, "z": 1}]}},
            422,
            ["unknown column(s) 'z'", "missing column 'c'", "'a', row 0", "'b', row 0"],
        ),
        (
            {
                "content": b'{"columns": {"a": [NaN], "b": [Infinity], "c": [1]}}',
                "headers": {"Content-Type": "application/json"},
            },
            422,
            ["NaN", "finite"],
        ),
        (
            {
                "content": b'{"records": [{"a": "\xff"}]}',
                "headers": {"Content-Type": "application/json"},
            },
            400,
            ["UTF-8"],
        ),
        (
            {
                "content": b"[" * 100_000 + b"]" * 100_000,
                "headers": {"Content-Type": "application/json"},
            },
            400,
            ["nested"],
        ),
        ({"content": b"a,b,c", "headers": {"Content-Type": "text/csv"}}, 415, ["text/csv"]),
        ({"content": b"x" * (2 << 20), "headers": {"Content-Type": "application/json"}}, 413, []),
    ]
    for kwargs, status, says in cases:
        response = invoke(base, **kwargs)
        assert response.status_code == status, (kwargs, response.text)
        problems = " | ".join(response.json().get("problems", []))
        for text in says:
            assert text in problems, (text, problems)
        good = invoke(base, json={"records": frame(1, 4).to_dict("records")})
        assert good.status_code == 200
    metrics = httpx.get(f"{base}/metrics", timeout=10).text
    assert 'shipyard_endpoint_requests_total{endpoint="flights",status="422",variant="main"}' in (
        metrics
    )
    for stage in ("parse", "model"):  # this model has no enrich stage
        assert f'shipyard_endpoint_stage_seconds_count{{endpoint="flights",stage="{stage}",' in (
            metrics
        )
    assert 'stage="enrich"' not in metrics


def test_a_second_process_picks_up_a_weight_change(served: dict[str, Any]) -> None:
    body = {"records": frame(1, 5).to_dict("records")}
    with shipyard.connect(served["home"]) as ws:
        control = ws.runtime.control
        current = control.endpoint("flights")
        control.update_endpoint(
            "flights",
            expected_revision=current.revision,
            by="pipeline",
            event="weights",
            variants=[Variant("main", "delay", 1, 0.0), Variant("spare", "delay", 2, 1.0)],
        )
    try:
        deadline = time.monotonic() + 5
        for base in served["bases"]:
            while invoke(base, json=body).json()["variant"] != "spare":
                assert time.monotonic() < deadline, f"{base} still serves the old weights"
                time.sleep(0.1)
            assert {invoke(base, json=body).json()["variant"] for _ in range(10)} == {"spare"}
    finally:
        with shipyard.connect(served["home"]) as ws:
            control = ws.runtime.control
            control.update_endpoint(
                "flights",
                expected_revision=control.endpoint("flights").revision,
                by="pipeline",
                event="weights",
                variants=[Variant("main", "delay", 1, 1.0), Variant("spare", "delay", 2, 0.0)],
            )


@pytest.fixture
def in_process(served: dict[str, Any]) -> Iterator[tuple[str, FastAPI]]:
    """The serving app over every endpoint, with a request timeout no prediction on a
    worker thread meets, on uvicorn in a thread of this process."""
    with serving_in_thread(served["home"], request_timeout=1e-6) as (base, app):
        yield base, app


def test_unknown_endpoints_timeouts_and_denials_get_their_status(
    in_process: tuple[str, FastAPI], served: dict[str, Any]
) -> None:
    base, app = in_process
    small = {"records": frame(1, 6).to_dict("records")}
    assert httpx.post(f"{base}/endpoints/nope/invocations", json=small).status_code == 404
    assert httpx.post(f"{base}/endpoints/flights/invocations", json=small).status_code == 200

    slow = httpx.post(
        f"{base}/endpoints/flights/invocations", json={"records": frame(100, 6).to_dict("records")}
    )
    assert slow.status_code == 503 and slow.headers["Retry-After"] == "1"
    assert "took over" in slow.json()["message"]

    with shipyard.connect(served["home"]) as ws:
        ws.security.put_policy(
            "other-endpoint",
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "endpoints:Invoke",
                        "Resource": "shipyard:endpoint:other",
                    }
                ]
            },
        )
        ws.security.attach("other-endpoint", principal="bob")
    app.dependency_overrides[get_principal] = lambda: "bob"
    try:
        denied = httpx.post(f"{base}/endpoints/flights/invocations", json=small)
    finally:
        app.dependency_overrides.clear()
    assert denied.status_code == 403 and "endpoints:Invoke" in denied.json()["message"]
