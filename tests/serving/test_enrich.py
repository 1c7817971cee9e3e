"""The enrich stage over real HTTP on the quickstart's flights: a caller sends entity keys
and schedule values, the online store fills weather and carrier features as of the
request's time, and the served prediction equals the model's on the point-in-time
training row (no training/serving skew)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from fastapi import FastAPI
from tests.conftest import serving_in_thread

import shipyard
from shipyard.api.deps import get_principal
from shipyard.pipeline.standard import build, parse_config
from shipyard.quickstart.flights import load_tables
from shipyard.quickstart.run import copy_scenario
from shipyard.serving.capture import read_capture

VIEWS = ["weather", "carrier_daily"]
ROWS = 1_000


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The quickstart pipeline (one logistic experiment, every 14th day) run once; an
    endpoint `delay` over its production model; the app on uvicorn in this process."""
    tables = load_tables(every_nth_day=14)
    home = tmp_path_factory.mktemp("enrich") / "home"
    with shipyard.connect(home) as ws:
        ws.datasets.register(
            "flights", tables["flights"], time_column="event_timestamp",
            id_columns=["flight_id"], target="late", known_after=["dep_delay"],
        )  # fmt: skip
        ws.datasets.register("weather", tables["weather"], time_column="time_hour")
        ws.datasets.register("carrier_daily", tables["carrier_daily"], time_column="day_end")
        ws.quality.baseline("dataset:flights@1")
        scenario = copy_scenario(ws.settings.home)
        raw = yaml.safe_load((scenario / "pipeline.yaml").read_text(encoding="utf-8"))
        raw["experiments"] = [{"type": "logistic"}]
        raw["gate"]["n_bootstrap"] = 100
        run = ws.pipelines.run(build(parse_config(raw, base=scenario)))
        run.check()
        version = run.outputs["model_version"]["version"]
        ws.endpoints.create("delay", f"delay@{version}")
        ws.endpoints.create("strict", f"delay@{version}", on_missing=["*=refuse"])
        ws.endpoints.create(
            "lenient",
            f"delay@{version}",
            on_missing=["weather__temp=default:50"],
            postprocess="threshold:0.3",
        )
        training = ws.datasets.load(run.outputs["training_set"]["dataset"])
        model = ws.models.load("delay", version)
        ws.security.put_policy(
            "invoke-only",
            {"Statement": [{"Effect": "Allow", "Action": "endpoints:Invoke", "Resource": "*"}]},
        )
        ws.security.attach("invoke-only", principal="bob")
    with serving_in_thread(home) as (base, app):
        yield {"home": home, "base": base, "app": app, "tables": tables,
               "training": training, "model": model}  # fmt: skip


def request_columns(model: Any) -> list[str]:
    """What a caller sends: the model's inputs that no view fills, and the join keys."""
    return [c for c in model.signature.input_names if "__" not in c]


def post(base: str, endpoint: str, rows: pd.DataFrame, at: Any = None, **kw: Any) -> Any:
    headers = kw.pop("headers", {})
    if at is not None:
        headers["X-Shipyard-Event-Time"] = pd.Timestamp(at).isoformat()
    body = {"columns": json.loads(rows.to_json(orient="columns"))}
    body["columns"] = {k: list(v.values()) for k, v in body["columns"].items()}
    return httpx.post(
        f"{base}/endpoints/{endpoint}/invocations", json=body, headers=headers, timeout=30
    )


def test_served_predictions_equal_the_point_in_time_training_rows(
    trained: dict[str, Any],
) -> None:
    """For 1,000 training rows in time order, the online store is materialized up to
    each row's time and the row is sent with its entity keys and schedule values only,
    stating its time: the prediction and the scores equal the model's on the row the
    point-in-time join built for training."""
    base, model, tables = trained["base"], trained["model"], trained["tables"]
    training = trained["training"].sort_values("event_timestamp", kind="stable")
    rows = training[training["event_timestamp"] >= pd.Timestamp("2013-03-01", tz="UTC")]
    rows = rows.head(ROWS).reset_index(drop=True)
    # Rows between two feature timestamps see the same latest values: materialize up to
    # the newest timestamp at or before a row, once for all the rows after it.
    stamps = np.sort(pd.concat([tables["weather"]["time_hour"],
                                tables["carrier_daily"]["day_end"]]).unique())  # fmt: skip
    keys = stamps[np.searchsorted(stamps, rows["event_timestamp"].to_numpy(), "right") - 1]
    sent = request_columns(model)
    served: list[Any] = []
    ids: list[str] = []
    with shipyard.connect(trained["home"]) as ws:
        for key in pd.unique(keys):
            ws.features.materialize_incremental(VIEWS, end=pd.Timestamp(key).to_pydatetime())
            bucket = rows[keys == key]
            for at, group in bucket.groupby("event_timestamp", sort=True):
                response = post(base, "delay", group[sent], at=at)
                assert response.status_code == 200, response.text
                served += response.json()["predictions"]
                ids += [response.json()["request_id"]] * len(group)
    inputs = rows[model.signature.input_names]
    assert len(served) == ROWS
    assert served == model.predict(inputs).tolist()

    trained["app"].state.serving.capture.flush()
    captured = read_capture(trained["home"], "delay").to_pandas()
    captured = captured[captured["replayed"]].set_index("request_id")
    assert set(ids) <= set(captured.index)
    scores = np.concatenate([np.asarray(json.loads(captured.loc[i, "scores"]))
                             for i in pd.unique(np.asarray(ids))])  # fmt: skip
    np.testing.assert_allclose(scores, model.predict_proba(inputs), rtol=0, atol=1e-12)
    statuses = [json.loads(s) for s in captured["statuses"]]
    seen = {status for row in statuses for values in row.values() for status in values}
    assert "present" in seen
    first = captured.loc[ids[0]]
    assert set(json.loads(first["input"])) == set(sent)  # the raw input: keys and schedule
    assert set(json.loads(first["enriched"])) == {c for c in inputs if "__" in c}
    assert first["time"] == rows["event_timestamp"].iloc[0]  # the stated time, partitioned
    assert first["enrich_seconds"] > 0
    metrics = httpx.get(f"{base}/metrics", timeout=10).text
    assert 'shipyard_endpoint_stage_seconds_count{endpoint="delay",stage="enrich"' in metrics


def test_features_are_not_taken_from_callers_and_policies_apply(
    trained: dict[str, Any],
) -> None:
    base, model = trained["base"], trained["model"]
    row = trained["training"].head(1)
    sent = request_columns(model)

    forged = post(base, "delay", row[[*sent, "weather__temp"]], at="2013-06-01T12:00:00Z")
    assert forged.status_code == 422
    assert "comes from the online store" in forged.json()["problems"][0]

    late = "2014-06-01T12:00:00Z"  # long after anything materialized: all outside the ttl
    refused = post(base, "strict", row[sent], at=late)
    assert refused.status_code == 422, refused.text
    assert any("weather__temp is outside ttl" in p for p in refused.json()["problems"])

    lenient = post(base, "lenient", row[sent], at=late)
    assert lenient.status_code == 200, lenient.text
    trained["app"].state.serving.capture.flush()
    captured = read_capture(trained["home"], "lenient").to_pandas().iloc[-1]
    assert json.loads(captured["enriched"])["weather__temp"] == [50]
    assert json.loads(captured["statuses"])["weather__temp"] == ["outside_ttl"]
    probability = json.loads(captured["scores"])[0][1]
    assert lenient.json()["predictions"] == [bool(probability >= 0.3)]

    bad_time = post(base, "delay", row[sent], at=None, headers={"X-Shipyard-Event-Time": "soon"})
    assert bad_time.status_code == 400 and "ISO 8601" in bad_time.json()["message"]


def test_stating_a_time_needs_the_replay_permission(trained: dict[str, Any]) -> None:
    app: FastAPI = trained["app"]
    row = trained["training"].head(1)[request_columns(trained["model"])]
    app.dependency_overrides[get_principal] = lambda: "bob"
    try:
        now = post(trained["base"], "delay", row)
        replay = post(trained["base"], "delay", row, at="2013-06-01T12:00:00Z")
    finally:
        app.dependency_overrides.clear()
    assert now.status_code == 200, now.text
    assert replay.status_code == 403 and "endpoints:Replay" in replay.json()["message"]


def test_bad_policies_and_postprocess_steps_are_refused(tmp_path: Path) -> None:
    from shipyard.errors import InvalidInput
    from shipyard.serving.enrich import parse_policies
    from shipyard.serving.postprocess import parse_postprocess

    assert parse_policies(["*=refuse", "a__b=default:0.5"]) == {
        "*": {"action": "refuse"},
        "a__b": {"action": "default", "value": 0.5},
    }
    for bad in (["nope"], ["a=sometimes"], ["a=default:"], "a=refuse"):
        with pytest.raises(InvalidInput):
            parse_policies(bad)  # type: ignore[arg-type]
    assert parse_postprocess("top_k:3") == {"kind": "top_k", "k": 3}
    for bad in ("threshold:2", "top_k:0", "top_k:x", "argmax:1", "softmax"):
        with pytest.raises(InvalidInput):
            parse_postprocess(bad)
