"""Shadow copies run a batch at a time after the requests are done, over real HTTP: each
copy is captured under its request's id with the shadow model's own answer, a copy the
shadow refuses fails alone, every copy of a batch carries the model time of one copy
predicted alone, and copies still queued when the server stops are run and captured."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from tests.conftest import serving_in_thread

import shipyard
from shipyard.serving.capture import read_capture
from shipyard.stores.control.base import Variant

pytestmark = pytest.mark.filterwarnings("ignore:X has feature names:UserWarning")


def fitted(rows: pd.DataFrame, unknown: str, c: float) -> Any:
    encode = make_column_transformer(
        (OneHotEncoder(handle_unknown=unknown), ["city"]), remainder="passthrough"
    )
    return make_pipeline(encode, LogisticRegression(C=c)).fit(rows, rows["a"] > 0)


def test_shadow_copies_are_batched_captured_and_fail_alone(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    rng = np.random.default_rng(0)
    rows = pd.DataFrame({"a": rng.normal(size=300), "city": rng.choice(["x", "y"], 300)})
    with shipyard.connect(home) as ws:
        primary = fitted(rows, "ignore", 1.0)
        shadow = fitted(rows, "error", 0.01)  # refuses a city it never saw
        ws.models.register("m", primary, input_example=rows.head(3))
        ws.models.register("m", shadow, input_example=rows.head(3))
        variants = [Variant("main", "m", 1, 1.0), Variant("mirror", "m", 2, 0.0, role="shadow")]
        ws.runtime.control.create_endpoint("e", {"capture_rate": 1.0}, variants, by="pipeline")
    sent = [{"a": float(a), "city": "z" if i % 7 == 3 else str(c)}
            for i, (a, c) in enumerate(zip(rng.normal(size=120), rng.choice(["x", "y"], 120),
                                           strict=True))]  # fmt: skip
    with serving_in_thread(home) as (base, _app), httpx.Client(timeout=10) as client:

        def post(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
            answer = client.post(f"{base}/endpoints/e/invocations", json={"records": [row]})
            assert answer.status_code == 200, answer.text
            return row, answer.json()

        with ThreadPoolExecutor(8) as pool:  # concurrent: copies meet in batches
            answers = list(pool.map(post, sent))
        # the server stops at once: copies still queued are run and captured first
    captured = read_capture(home, "e").to_pandas()
    copies = captured[captured["variant"] == "mirror"].set_index("request_id")
    for row, answer in answers:
        frame = pd.DataFrame([row])
        assert answer["variant"] == "main"  # only the primary answers
        assert answer["predictions"] == primary.predict(frame).tolist()
        copy = copies.loc[answer["request_id"]]
        assert json.loads(copy["input"]) == {"a": [row["a"]], "city": [row["city"]]}
        if row["city"] == "z":
            assert copy["status"] == 422 and "refused" in copy["error"], copy["error"]
        else:
            assert copy["status"] == 200
            assert json.loads(copy["output"]) == shadow.predict(frame).tolist()
            assert np.allclose(json.loads(copy["scores"]), shadow.predict_proba(frame))
            assert 0 < copy["model_seconds"] <= copy["total_seconds"] < 1
    assert len(copies) == len(sent)
    answered = copies[copies["status"] == 200]
    # Batches formed, and each copy carries its batch's single-copy model time.
    assert answered["model_seconds"].nunique() < len(answered) / 2


def test_the_shadow_queue_is_bounded_by_the_bytes_of_its_copies() -> None:
    """Each copy holds its request's columns (a body may be a megabyte): past the byte
    bound copies are dropped and counted, never queued without limit."""
    import asyncio
    from datetime import UTC, datetime

    from prometheus_client import CollectorRegistry

    from shipyard.serving.shadowing import ShadowCopy, Shadows
    from shipyard.stores.control.base import Endpoint

    now = datetime.now(UTC)
    variant = Variant("mirror", "m", 2, 0.0, role="shadow")
    endpoint = Endpoint("e", 1, {}, (variant,), now, "pipeline", now, "pipeline")

    def copy(size: int) -> ShadowCopy:
        return ShadowCopy(endpoint, variant, "r", None, {}, 1, None, None, size=size)

    registry = CollectorRegistry()

    async def offer() -> None:
        shadows = Shadows(None, registry, queue_bytes=(3 << 20) + 1000, poll_seconds=3600)
        shadows.offer([copy(1 << 20) for _ in range(5)])  # two do not fit
        shadows.offer([copy(100)])  # a small one still does
        assert shadows._task is not None
        shadows._task.cancel()

    asyncio.run(offer())
    assert registry.get_sample_value("shipyard_shadow_dropped_total", {"endpoint": "e"}) == 2
