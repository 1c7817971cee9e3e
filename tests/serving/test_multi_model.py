"""A multi-model endpoint over real HTTP: `shipyard serve` with a budget for two models
serving five, which evicts the least recently used and loads it again when asked."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from tests.serving.test_invocations import frame, start_serving

import shipyard
from shipyard.errors import InvalidInput
from shipyard.serving.inference import Predictor
from shipyard.serving.model_pool import model_bytes

pytestmark = pytest.mark.filterwarnings("ignore:X has feature names:UserWarning")

MODELS = 5


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Models delay-0..delay-4 (each keyed on a different sign of a different column, so
    their answers differ), `other` outside the glob, and endpoint `many` over `delay-*`
    with a memory budget of 2.5 models."""
    home = tmp_path_factory.mktemp("multi") / "ws"
    train = frame(300, 3)
    expected: dict[str, Any] = {}
    with shipyard.connect(home) as ws:
        for index in range(MODELS):
            column = train.columns[index % 3]
            labels = ((train[column] > 0) == (index < 3)).astype(int)
            model = LogisticRegression().fit(train, labels)
            ws.models.register(f"delay-{index}", model, input_example=train.head(5))
        ws.models.register("other", LogisticRegression().fit(train, labels), input_example=train)
        ws.models.set_alias("delay-2", "champion", 1)
        warm = Predictor(ws.models.load("delay-0", 1))
        warm.warm()  # as served: with its matrix twin
        size = model_bytes(warm)
        ws.endpoints.create("many", models="delay-*", memory_budget_mb=2.5 * size / 2**20)
        for index in range(MODELS):
            expected[f"delay-{index}"] = ws.models.load(f"delay-{index}", 1)
    base, proc = start_serving(home, "many")
    try:
        yield {"home": home, "base": base, "models": expected}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def invoke(base: str, model: str, data: pd.DataFrame, **kwargs: Any) -> httpx.Response:
    return httpx.post(
        f"{base}/endpoints/many/models/{model}/invocations",
        json={"records": data.to_dict("records")},
        timeout=30,
        **kwargs,
    )


def metric(base: str, name: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    found = re.search(rf'^{name}\{{endpoint="many"\}} (\S+)$', text, re.MULTILINE)
    assert found is not None, f"{name} not in /metrics"
    return float(found.group(1))


def test_a_budget_for_two_serving_five_evicts_and_reloads(served: dict[str, Any]) -> None:
    base, models = served["base"], served["models"]
    data = frame(40, 4)
    answers = {}
    for index in [*range(MODELS), 0]:  # delay-0 again: evicted by then, loaded again
        name = f"delay-{index}"
        response = invoke(base, f"{name}@1", data)
        assert response.status_code == 200, response.text
        assert response.json()["predictions"] == models[name].predict(data).tolist()
        assert response.json()["variant"] == response.headers["X-Shipyard-Variant"]
        assert response.json()["variant"] == f"{name}@1"
        answers[name] = tuple(response.json()["predictions"])
    assert len(set(answers.values())) == MODELS  # five different models answered

    assert metric(base, "shipyard_endpoint_model_loads_total") == MODELS + 1
    assert metric(base, "shipyard_endpoint_model_evictions_total") == MODELS + 1 - 2
    assert metric(base, "shipyard_endpoint_models_loaded") == 2
    assert metric(base, "shipyard_endpoint_model_load_seconds_count") == MODELS + 1

    again = invoke(base, "delay-0@1", data)  # held now: no load
    assert again.status_code == 200
    assert metric(base, "shipyard_endpoint_model_loads_total") == MODELS + 1


def test_an_alias_names_a_version(served: dict[str, Any]) -> None:
    data = frame(10, 5)
    response = invoke(served["base"], "delay-2@champion", data)
    assert response.status_code == 200, response.text
    assert response.json()["variant"] == "delay-2@1"
    assert response.json()["predictions"] == served["models"]["delay-2"].predict(data).tolist()


@pytest.mark.parametrize(
    ("model", "status", "says"),
    [
        ("other@1", 404, "serves models matching 'delay-*'"),
        ("delay-1", 400, "MODEL@VERSION or MODEL@ALIAS"),
        ("delay-1@9", 404, "version 9"),
        ("delay-1@" + "9" * 40, 404, "has no version"),
        ("delay-1@nowhere", 404, "nowhere"),
        ("delay-7@1", 404, "delay-7"),
    ],
)
def test_a_model_it_does_not_serve_is_a_clear_4xx(
    served: dict[str, Any], model: str, status: int, says: str
) -> None:
    response = invoke(served["base"], model, frame(2, 6))
    assert response.status_code == status, response.text
    assert says in response.json()["message"]
    # and it keeps serving
    assert invoke(served["base"], "delay-1@1", frame(2, 6)).status_code == 200


def test_routes_and_endpoint_kinds_must_match(served: dict[str, Any]) -> None:
    base = served["base"]
    plain = httpx.post(
        f"{base}/endpoints/many/invocations", json={"records": frame(1, 7).to_dict("records")}
    )
    assert plain.status_code == 400
    assert "/endpoints/many/models/MODEL@VERSION/invocations" in plain.json()["hint"]
    targeted = invoke(base, "delay-1@1", frame(1, 7), headers={"X-Shipyard-Target-Variant": "a"})
    assert targeted.status_code == 400
    bad_body = httpx.post(
        f"{base}/endpoints/many/models/delay-1@1/invocations", json={"records": [{"a": 1}]}
    )
    assert bad_body.status_code == 422


def test_the_capture_is_partitioned_by_model_version(served: dict[str, Any]) -> None:
    assert invoke(served["base"], "delay-3@1", frame(3, 8)).status_code == 200
    folder = Path(served["home"]) / "capture" / "endpoint=many" / "variant=delay-3@1"
    deadline = time.monotonic() + 30  # the writer flushes every 2 s
    while not any(folder.rglob("*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.2)
    rows = pd.read_parquet(next(folder.rglob("*.parquet")))
    assert (rows["status"] == 200).any()


def test_create_refuses_what_a_multi_model_endpoint_cannot_do(tmp_path: Path) -> None:
    with shipyard.connect(tmp_path / "ws") as ws:
        with pytest.raises(InvalidInput, match="does not micro-batch"):
            ws.endpoints.create("m", models="delay-*", batching=True)
        with pytest.raises(InvalidInput, match="exactly one of model"):
            ws.endpoints.create("m", "delay@1", models="delay-*")
        with pytest.raises(InvalidInput, match="memory budget"):
            ws.endpoints.create("m", models="delay-*", memory_budget_mb=0)
