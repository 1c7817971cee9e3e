"""The response models are the one JSON shape: the CLI's --json and the API print the same
JSON for the same object, and it is the shape the CLI printed before the models existed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

import shipyard
from shipyard.api.app import create_app
from shipyard.api.schemas import to_json, to_jsonable
from shipyard.api.schemas.features import Freshness
from shipyard.api.schemas.quality import LeakageReport
from shipyard.cli.main import main
from shipyard.data.leakage.report import FeatureScore, Finding, ModelScore
from shipyard.data.leakage.report import LeakageReport as DomainLeakageReport
from shipyard.features.definitions import Entity, Feature, FeatureView, Source

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[shipyard.Workspace]:
    """A dataset, a materialized feature view, a registered model and a tracked run."""
    with shipyard.connect(tmp_path / "home") as workspace:
        frame = pd.DataFrame(
            {
                "origin": ["JFK", "LGA", "EWR", "JFK"] * 10,
                "ts": [NOW - timedelta(hours=h) for h in range(40)],
                "temp": np.linspace(30.0, 70.0, 40),
                "observed": [NOW - timedelta(hours=h, minutes=5) for h in range(40)],
                "late": [True, False] * 20,
            }
        )
        workspace.datasets.register("weather", frame, time_column="ts", target="late")
        workspace.features.apply(
            [
                Entity("airport", ("origin",)),
                FeatureView("weather", ("airport",), Source(dataset="weather"), "ts",
                            (Feature("temp", "float64"), Feature("observed", "timestamp")),
                            ttl=timedelta(days=2)),
            ]
        )  # fmt: skip
        workspace.features.materialize(["weather"], NOW - timedelta(days=3), NOW)
        model = LogisticRegression().fit(frame[["temp"]], frame["late"])
        workspace.models.register(
            "late", model, input_example=frame[["temp"]].head(),
            lineage={"datasets": ["dataset:weather@1"]},
        )  # fmt: skip
        with workspace.runs.start_run("weather", "logistic", record={"seed": 3}) as run:
            run.log_params({"model": "logistic"})
            run.log_metrics({"auc": 0.71, "loss": 0.5})
        yield workspace


def cli(ws: shipyard.Workspace, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    code = main(["--home", str(ws.settings.home), *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_the_cli_and_the_api_answer_the_same_json(
    ws: shipyard.Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    client = TestClient(create_app(ws))
    entities = [{"origin": "JFK"}, {"origin": "SFO"}]
    from_cli = cli(ws, capsys, "features", "online", "--entity", '{"origin": "JFK"}',
                   "--entity", '{"origin": "SFO"}', "--feature", "weather/*")  # fmt: skip
    from_api = client.post(
        "/features/online", json={"entities": entities, "features": ["weather/*"]}
    ).json()
    assert from_cli == from_api
    # ... and the shape the domain has always had, with a timestamp value as ISO 8601 text.
    domain = ws.features.get_online(entities, ["weather/*"]).to_dict()
    jfk = domain["results"][0]
    observed = jfk["values"]["weather__observed"]
    jfk["values"]["weather__observed"] = observed.isoformat()
    assert from_api == domain
    assert jfk["statuses"] == {"weather__temp": "present", "weather__observed": "present"}
    assert observed == NOW - timedelta(minutes=5)
    [served] = client.get("/features/freshness").json()["views"]
    [expected] = to_jsonable(Freshness.from_domain(ws.features.freshness()))["views"]
    lag = served.pop("lag_seconds")
    assert lag <= expected.pop("lag_seconds") <= lag + 5  # the API was asked a moment earlier
    assert served == expected and served["materialized_until"] == NOW.isoformat()


def test_cli_json_keeps_the_shapes_it_had(
    ws: shipyard.Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    version = ws.models.get("late")
    assert cli(ws, capsys, "models", "show", "late@1", "--json") == version.to_dict()
    [listed] = cli(ws, capsys, "models", "list", "--json")
    assert listed == {"name": "late", "latest": 1, "flavor": "sklearn",
                      "updated_at": version.created_at.isoformat(), "aliases": {}}  # fmt: skip

    traced = cli(ws, capsys, "lineage", "model:late@1", "--json")
    assert traced == {
        "subject": "model:late@1",
        **ws.lineage("model:late@1").to_dict(),
        "upstream": {"dataset:weather@1": None},  # registered without lineage: raw data
    }

    details = cli(ws, capsys, "data", "show", "weather@1", "--json")
    assert details == ws.datasets.describe("weather@1")
    assert {c["name"]: c["max"] for c in details["columns"]}["temp"] == 70.0

    [view] = cli(ws, capsys, "features", "list", "--json")
    stored = ws.features.list_views()[0]
    assert view == {**stored.definition.to_dict(), "version": 1}
    assert view["ttl_seconds"] == 2 * 86_400

    shown = cli(ws, capsys, "features", "show", "weather", "--json")
    assert shown["ttl"] == "2 days, 0:00:00" and shown["entities"] == {"airport": ["origin"]}
    # Times are ISO 8601 with the offset, as everywhere else (they were str(datetime)).
    assert shown["created_at"] == stored.created_at.isoformat()
    assert shown["materialized_until"] == NOW.isoformat()

    [run] = ws.runs.search("", max_results=1)
    printed = cli(ws, capsys, "runs", "show", run.uid, "--json")
    assert printed["params"] == {"model": "logistic"} and printed["record"]["seed"] == 3
    assert printed["metrics"] == {"auc": 0.71, "loss": 0.5}
    assert printed["start_time"] == run.start_time.isoformat()

    info = cli(ws, capsys, "info", "--json")
    assert info["home"] == str(ws.settings.home) and info["principal"] == ws.principal
    assert info["metadata"]["schema"] == info["metadata"]["schema_expected"]
    assert info["metadata"]["counts"]["versions"] >= 4


def test_quality_reports_keep_their_shapes(
    ws: shipyard.Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = cli(ws, capsys, "data", "profile", "weather@1", "--json")
    assert profile == ws.quality.profile("weather@1").to_dict()
    assert profile["format"] == "shipyard.profile.v1" and profile["rows"] == 40

    ws.quality.baseline("weather@1")
    checked = cli(ws, capsys, "data", "check", "weather@1", "--baseline", "dataset:weather",
                  "--json")  # fmt: skip
    report = ws.quality.check("weather@1", baseline="dataset:weather")
    assert checked == json.loads(report.to_json()) and checked["ok"] is True

    # A leakage report with the numpy values a real one holds.
    leaky = DomainLeakageReport(
        findings=(
            Finding("exact_duplicates", "error", ("train", "test"), ("a",), np.int64(3),
                    "3 rows of test are in train.", ({"a": np.float64(1.5)},),
                    {"share": np.float64(0.25), "when": pd.Timestamp("2024-01-01", tz="UTC")}),
        ),
        feature_scores=(FeatureScore("a", "roc_auc", np.float64(0.97), 10, "numeric"),
                        FeatureScore("b", "roc_auc", None, 10, "numeric")),
        full_model=ModelScore("roc_auc", 0.99, 2, 100, 20, 0.5),
        sets={"train": 100, "test": 20},
        settings={"near_decimals": 2},
    )  # fmt: skip
    assert json.loads(to_json(LeakageReport.from_domain(leaky))) == leaky.to_dict()
