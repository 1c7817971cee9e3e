"""Micro-batching: the batcher alone (pure asyncio, a fake model) and over real HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from tests.conftest import serving_in_thread

import shipyard
from shipyard.serving.batching import Batcher
from shipyard.serving.inference import InvalidRequest
from shipyard.stores.control.base import Variant


class FakeModel:
    """Predicts 10 * x for column x, after ``seconds``; refuses x < 0, like a model
    refusing a category it never saw."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.calls: list[int] = []

    async def predict(self, arrays: Any, rows: int) -> np.ndarray:
        self.calls.append(rows)
        if self.seconds:
            await asyncio.sleep(self.seconds)
        x = arrays["x"]
        assert len(x) == rows
        if (x < 0).any():
            raise InvalidRequest(["the model refused the input: negative x"])
        return x * 10


def request(*values: float) -> dict[str, np.ndarray]:
    return {"x": np.array(values, dtype=np.float64)}


def test_concurrent_requests_share_predict_calls_and_get_their_own_rows() -> None:
    model = FakeModel(seconds=0.005)
    sizes: list[tuple[int, int]] = []
    batcher = Batcher(model.predict, on_batch=lambda n, rows: sizes.append((n, rows)))

    async def main() -> list[Any]:
        return await asyncio.gather(
            *(batcher.submit(request(i, i + 0.5), 2) for i in range(32)),
        )

    results = asyncio.run(main())
    assert len(model.calls) < 32
    assert max(model.calls) <= 64 and sum(model.calls) == 64
    assert [n for n, _ in sizes] and sum(n for n, _ in sizes) == 32
    for i, result in enumerate(results):
        assert result.tolist() == [i * 10, (i + 0.5) * 10]


def test_requests_arriving_during_a_predict_are_batched_after_it() -> None:
    model = FakeModel(seconds=0.02)
    batcher = Batcher(model.predict, max_wait=1.0)  # only the running predict's end flushes

    async def main() -> list[Any]:
        first = asyncio.ensure_future(batcher.submit(request(1), 1))
        await asyncio.sleep(0.005)  # the first predict is running now
        later = [batcher.submit(request(v), 1) for v in (2, 3, 4)]
        return await asyncio.gather(first, *later)

    started = time.perf_counter()
    results = asyncio.run(main())
    assert time.perf_counter() - started < 0.5  # not the max wait of one second
    assert model.calls == [1, 3]
    assert [r.tolist() for r in results] == [[10], [20], [30], [40]]


def test_one_request_alone_is_not_delayed_by_the_max_wait() -> None:
    model = FakeModel()
    batcher = Batcher(model.predict, max_wait=0.5)

    async def main() -> list[float]:
        took = []
        for i in range(20):
            started = time.perf_counter()
            assert (await batcher.submit(request(i), 1)).tolist() == [i * 10]
            took.append(time.perf_counter() - started)
        return took

    took = asyncio.run(main())
    assert model.calls == [1] * 20
    assert sorted(took)[10] < 0.1, took  # the median, far under the 0.5 s wait


def test_a_bad_request_fails_alone_and_the_batch_gets_its_results() -> None:
    model = FakeModel(seconds=0.001)
    batcher = Batcher(model.predict)

    async def main() -> list[Any]:
        values: list[tuple[float, ...]] = [(1, 2), (3,), (-1, 5), (6,)]
        return await asyncio.gather(
            *(batcher.submit(request(*v), len(v)) for v in values), return_exceptions=True
        )

    results = asyncio.run(main())
    assert results[0].tolist() == [10, 20]
    assert results[1].tolist() == [30]
    assert isinstance(results[2], InvalidRequest) and "negative" in results[2].problems[0]
    assert results[3].tolist() == [60]
    assert model.calls[0] == 6  # tried together first, then each alone


def test_batches_never_exceed_max_rows_but_a_large_request_goes_alone() -> None:
    model = FakeModel(seconds=0.001)
    batcher = Batcher(model.predict, max_rows=4)

    async def main() -> list[Any]:
        sizes = [3, 2, 10, 1, 1, 1, 1]
        return await asyncio.gather(
            *(batcher.submit(request(*range(n)), n) for n in sizes),
        )

    results = asyncio.run(main())
    assert all(rows <= 4 for rows in model.calls if rows != 10)
    assert 10 in model.calls and sum(model.calls) == 19
    assert [len(r) for r in results] == [3, 2, 10, 1, 1, 1, 1]


# -- over HTTP ----------------------------------------------------------------------------

COLUMNS = ["a", "b", "c"]


def frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, 3)), columns=COLUMNS)


@pytest.fixture(scope="module")
def two_endpoints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One model behind endpoint `batched` (batching on) and `single` (off), served by the
    app on uvicorn in a thread of this process."""

    home: Path = tmp_path_factory.mktemp("batching") / "ws"
    train = frame(200, 1)
    labels = (train["a"] + train["b"] > 0).astype(int)
    with shipyard.connect(home) as ws:
        ws.models.register(
            "delay", LogisticRegression().fit(train, labels), input_example=train.head(5)
        )
        for name, batching in (("batched", True), ("single", False)):
            ws.runtime.control.create_endpoint(
                name, {"batching": batching}, [Variant("main", "delay", 1, 1.0)], by="pipeline"
            )
    with serving_in_thread(home) as (base, _app):
        yield base


def test_concurrent_requests_predict_the_same_with_batching_on_and_off(two_endpoints: str) -> None:
    base = two_endpoints
    bodies = [{"records": frame(1 + i % 3, 10 + i).to_dict("records")} for i in range(24)]
    bodies.insert(5, {"records": [{"a": "x", "b": 1.0, "c": 2.0}]})  # refused: 422 alone

    async def run(endpoint: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            return await asyncio.gather(
                *(client.post(f"/endpoints/{endpoint}/invocations", json=b) for b in bodies)
            )

    on, off = asyncio.run(run("batched")), asyncio.run(run("single"))
    assert [r.status_code for r in on] == [r.status_code for r in off]
    assert on[5].status_code == 422 and sum(r.status_code == 200 for r in on) == 24
    for with_batching, without in zip(on, off, strict=True):
        if with_batching.status_code == 200:
            assert with_batching.json()["predictions"] == without.json()["predictions"]
    metrics = httpx.get(f"{base}/metrics", timeout=10).text
    assert 'shipyard_endpoint_batch_requests_count{endpoint="batched",variant="main"}' in metrics
    assert 'endpoint="single"' not in metrics.split("shipyard_endpoint_batch_requests")[-1]
