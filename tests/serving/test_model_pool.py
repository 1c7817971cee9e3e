"""The model pool of multi-model endpoints, over real models in a real workspace."""

from __future__ import annotations

import pickle
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import shipyard
from shipyard.errors import InvalidInput, NotFound
from shipyard.serving.inference import Predictor
from shipyard.serving.model_pool import ModelPool, ModelTooLarge, PoolMetrics, model_bytes

COLUMNS = ["a", "b", "c"]
NAMES = [f"route{i}" for i in range(5)]


def frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, 3)), columns=COLUMNS)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Five LogisticRegressions (route0..route4, one version each) and a big forest."""
    home: Path = tmp_path_factory.mktemp("pool") / "ws"
    train = frame(200, 1)
    fitted = {}
    with shipyard.connect(home) as ws:
        for i, name in enumerate(NAMES):
            labels = (train["a"] + (i - 2) * train["b"] > 0).astype(int)
            fitted[name] = LogisticRegression(C=0.1 + i).fit(train, labels)
            ws.models.register(name, fitted[name], input_example=train.head(5))
        big = RandomForestClassifier(n_estimators=30, random_state=0)
        ws.models.register("big", big.fit(train, train["a"] > 0), input_example=train.head(5))
        yield {"ws": ws, "fitted": fitted}


class Loader:
    """Loads and warms through the workspace, as the serving app does; counts its calls."""

    def __init__(self, ws: Any, before: Callable[[str], object] | None = None) -> None:
        self.ws = ws
        self.before = before
        self.calls: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def __call__(self, model: str, version: int) -> Predictor:
        with self._lock:
            self.calls.append((model, version))
        if self.before is not None:
            self.before(model)
        predictor = Predictor(self.ws.models.load(model, version))
        predictor.warm()
        return predictor


def sample(registry: CollectorRegistry, name: str) -> float:
    value = registry.get_sample_value(name, {"endpoint": "multi"})
    return 0.0 if value is None else value


def predict(predictor: Predictor, rows: pd.DataFrame) -> np.ndarray:
    """Through the request path: columns of plain values, checked, then predicted."""
    columns = {name: rows[name].tolist() for name in rows.columns}
    return predictor.predict(predictor.schema.convert(columns, len(rows)))


def sizes(ws: Any) -> dict[str, int]:
    return {name: model_bytes(Loader(ws)(name, 1)) for name in NAMES}


def test_model_bytes_counts_the_model_its_matrix_twin_and_its_example(
    workspace: dict[str, Any],
) -> None:
    ws = workspace["ws"]
    cold = Predictor(ws.models.load("route0", 1))
    warm = Loader(ws)("route0", 1)
    assert warm.matrix and not cold.matrix
    example = int(cold.loaded.example_frame.memory_usage(deep=True).sum())
    pickled = len(pickle.dumps(cold.loaded.model, protocol=5))
    assert abs((model_bytes(cold) - example) - pickled) <= 0.05 * pickled
    assert model_bytes(warm) - example == 2 * (model_bytes(cold) - example)  # the twin
    big = Loader(ws)("big", 1)
    assert model_bytes(big) > 20 * model_bytes(warm)  # thirty trees against one row of weights


def test_a_budget_for_two_serving_five_evicts_the_least_recently_used(
    workspace: dict[str, Any],
) -> None:
    ws, fitted = workspace["ws"], workspace["fitted"]
    size = sizes(ws)
    budget = 2 * max(size.values())
    assert 3 * min(size.values()) > budget  # exactly two fit, never three
    registry = CollectorRegistry()
    loader = Loader(ws)
    pool = ModelPool("multi", loader, budget_bytes=budget, metrics=PoolMetrics(registry))
    rows = frame(50, 7)

    order = [
        "route0",
        "route1",
        "route0",
        "route2",
        "route0",
        "route3",
        "route4",
        "route1",
        "route4",
    ]
    for name in order:
        predictions = predict(pool.get(name, 1), rows)
        assert np.array_equal(predictions, fitted[name].predict(rows)), name
        assert pool.bytes_used <= budget

    # Using route0 again made route1 the least recently used, so route2 evicted route1 and
    # route0 stayed; route1, evicted, was loaded again when it came back.
    loads = ["route0", "route1", "route2", "route3", "route4", "route1"]
    assert loader.calls == [(name, 1) for name in loads]
    assert pool.loaded() == [("route1", 1), ("route4", 1)]
    assert pool.bytes_used == size["route1"] + size["route4"]
    assert sample(registry, "shipyard_endpoint_model_loads_total") == 6
    assert sample(registry, "shipyard_endpoint_model_evictions_total") == 4
    assert sample(registry, "shipyard_endpoint_model_load_seconds_count") == 6
    assert sample(registry, "shipyard_endpoint_model_load_seconds_sum") > 0
    assert sample(registry, "shipyard_endpoint_models_loaded") == 2
    assert sample(registry, "shipyard_endpoint_model_bytes") == pool.bytes_used


def test_an_evicted_model_still_serves_the_request_holding_it(workspace: dict[str, Any]) -> None:
    ws, fitted = workspace["ws"], workspace["fitted"]
    budget = max(sizes(ws).values())  # one at a time
    pool = ModelPool("multi", Loader(ws), budget_bytes=budget, metrics=PoolMetrics(None))
    held = pool.get("route2", 1)
    pool.get("route3", 1)
    assert pool.loaded() == [("route3", 1)]
    rows = frame(20, 3)
    assert np.array_equal(predict(held, rows), fitted["route2"].predict(rows))


def test_concurrent_callers_of_one_model_share_one_load(workspace: dict[str, Any]) -> None:
    loader = Loader(workspace["ws"], before=lambda _: time.sleep(0.2))  # callers overlap it
    registry = CollectorRegistry()
    pool = ModelPool("multi", loader, budget_bytes=10**9, metrics=PoolMetrics(registry))
    start = threading.Barrier(8)

    def get(_: int) -> Predictor:
        start.wait(timeout=5)
        return pool.get("route1", 1)

    with ThreadPoolExecutor(8) as threads:
        found = list(threads.map(get, range(8)))
    assert loader.calls == [("route1", 1)]
    assert all(predictor is found[0] for predictor in found)
    assert sample(registry, "shipyard_endpoint_model_loads_total") == 1


def test_different_models_load_in_parallel(workspace: dict[str, Any]) -> None:
    both_loading = threading.Barrier(2)  # broken if one load waited for the other
    loader = Loader(workspace["ws"], before=lambda _: both_loading.wait(timeout=5))
    pool = ModelPool("multi", loader, budget_bytes=10**9, metrics=PoolMetrics(None))
    with ThreadPoolExecutor(2) as threads:
        list(threads.map(lambda name: pool.get(name, 1), ["route0", "route3"]))
    assert sorted(pool.loaded()) == [("route0", 1), ("route3", 1)]


def test_a_model_larger_than_the_budget_is_refused_and_evicts_nothing(
    workspace: dict[str, Any],
) -> None:
    ws = workspace["ws"]
    budget = 2 * max(sizes(ws).values())
    big = model_bytes(Loader(ws)("big", 1))
    registry = CollectorRegistry()
    loader = Loader(ws)
    pool = ModelPool("multi", loader, budget_bytes=budget, metrics=PoolMetrics(registry))
    pool.get("route0", 1)
    pool.get("route1", 1)
    before = (pool.loaded(), pool.bytes_used)

    with pytest.raises(ModelTooLarge) as refused:
        pool.get("big", 1)
    error = refused.value
    assert isinstance(error, InvalidInput) and error.http_status == 422
    assert "big version 1" in error.message
    assert f"({big} bytes)" in error.message and f"({budget} bytes)" in error.message
    assert error.hint is not None and "budget" in error.hint
    assert (pool.loaded(), pool.bytes_used) == before
    assert sample(registry, "shipyard_endpoint_model_evictions_total") == 0
    assert sample(registry, "shipyard_endpoint_models_loaded") == 2

    with pytest.raises(ModelTooLarge):  # known now: refused without loading it again
        pool.get("big", 1)
    assert loader.calls.count(("big", 1)) == 1
    assert pool.loaded() == before[0]


def test_a_failed_load_changes_nothing_and_the_next_call_tries_again(
    workspace: dict[str, Any],
) -> None:
    ws = workspace["ws"]
    registry = CollectorRegistry()
    loader = Loader(ws)
    pool = ModelPool("multi", loader, budget_bytes=10**9, metrics=PoolMetrics(registry))
    pool.get("route0", 1)
    with pytest.raises(NotFound):
        pool.get("late", 1)  # not registered yet
    assert pool.loaded() == [("route0", 1)]
    assert sample(registry, "shipyard_endpoint_model_loads_total") == 1
    assert sample(registry, "shipyard_endpoint_models_loaded") == 1

    train = frame(100, 5)
    model = LogisticRegression().fit(train, (train["c"] > 0).astype(int))
    ws.models.register("late", model, input_example=train.head(5))
    predictions = predict(pool.get("late", 1), train)
    assert np.array_equal(predictions, model.predict(train))
    assert loader.calls.count(("late", 1)) == 2
    assert pool.loaded() == [("route0", 1), ("late", 1)]


def test_a_budget_must_be_positive(workspace: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput, match="positive"):
        ModelPool("multi", Loader(workspace["ws"]), budget_bytes=0, metrics=PoolMetrics(None))
