"""Monitoring runs over a live endpoint's capture: baseline, drift by window, stored series."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from tests.conftest import serving_in_thread

import shipyard
from shipyard.errors import InvalidInput
from shipyard.stores.control.base import Variant

CITIES = ["Oslo", "Rome", "Lima", "Pune"]
HOUR1 = datetime(2024, 3, 1, 10, tzinfo=UTC)
HOUR2 = HOUR1 + timedelta(hours=1)
HOUR3 = HOUR1 + timedelta(hours=2)


def frame(rows: int, seed: int, *, shift: float = 0.0, cities: list[str] = CITIES) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.normal(shift, 1, rows),
            "b": rng.normal(0, 1, rows),
            "city": rng.choice(cities, rows),
        }
    )


def label(data: pd.DataFrame, seed: int) -> pd.Series:
    rng = np.random.default_rng(seed)
    logit = data["a"] - data["b"] + (data["city"] == "Oslo") * 0.5
    return pd.Series((rng.random(len(data)) < 1 / (1 + np.exp(-logit))).astype(int))


def model() -> Any:
    encode = ColumnTransformer(
        [("city", OneHotEncoder(handle_unknown="ignore"), ["city"])], remainder="passthrough"
    )
    return make_pipeline(encode, LogisticRegression())


def post(base: str, rows: pd.DataFrame, at: datetime, key: str | None = None) -> httpx.Response:
    body = {"columns": {c: rows[c].tolist() for c in rows.columns}}
    headers = {"X-Shipyard-Event-Time": at.isoformat()}
    if key is not None:
        headers["X-Shipyard-Key"] = key
    return httpx.post(f"{base}/endpoints/e/invocations", json=body, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Endpoint `e` served in a thread; hour 1 replays training-like traffic, hour 2 a
    shifted `a` and a new city, hour 3 nothing; ground truth is not posted here."""
    home = tmp_path_factory.mktemp("monitor") / "ws"
    train, valid = frame(4000, 1), frame(2000, 2)
    with shipyard.connect(home) as ws:
        fitted = model().fit(train, label(train, 1))
        version = ws.models.register("m", fitted, input_example=train.head(5))
        ws.monitoring.baseline("m@1", train, validation=valid.assign(y=label(valid, 2)), target="y")
        ws.runtime.control.create_endpoint(
            "e", {}, [Variant("primary", "m", version.version, 1.0)], by="pipeline"
        )
    labels: list[dict[str, Any]] = []
    outcomes: list[dict[str, Any]] = []
    with serving_in_thread(home) as (base, app):
        for i in range(40):
            rows = frame(25, 100 + i)
            answer = post(base, rows, HOUR1 + timedelta(minutes=i))
            assert answer.status_code == 200
            request_id = answer.headers["X-Request-Id"]
            truth = label(rows, 100 + i).tolist()
            labels.append({"request_id": request_id, "label": truth})
            if i % 2:
                outcomes.append({"request_id": request_id, "event": "clicked"})
            drifted = frame(25, 200 + i, shift=1.0, cities=[*CITIES, "Gent"])
            at = HOUR2 + timedelta(minutes=i)
            assert post(base, drifted, at, key=f"user-{i}").status_code == 200
            # Known a day later, by routing key: it joins the request made in hour 2.
            late = (at + timedelta(days=1)).isoformat()
            labels.append({"key": f"user-{i}", "label": label(drifted, 200 + i).tolist(),
                           "time": late})  # fmt: skip
        refused = httpx.post(
            f"{base}/endpoints/e/invocations",
            json={"columns": {"a": [1.0]}},
            headers={"X-Shipyard-Event-Time": HOUR2.isoformat()},
        )
        assert refused.status_code in (400, 422)
        app.state.serving.capture.flush()
    with shipyard.connect(home) as ws:
        assert ws.monitoring.ground_truth("e", labels) == 80
        assert ws.monitoring.outcomes("e", outcomes) == 20
    yield {"home": home, "train": train}


def test_a_window_like_training_passes_and_a_drifted_one_names_its_features(
    monitored: dict[str, Any],
) -> None:
    with shipyard.connect(monitored["home"]) as ws:
        run = ws.monitoring.run("e", start=HOUR1, end=HOUR3 + timedelta(hours=1))
    first, second, third = run.windows
    assert first.requests == 40 and not first.violations, first.violations
    assert third.requests == 0 and "No captured requests" in third.notes[0]
    drifted = {(v.stage, v.feature_name, v.constraint_check_type) for v in second.violations}
    assert ("input", "a", "baseline_drift_check") in drifted
    assert ("input", "city", "categorical_values_check") in drifted
    assert ("input", "b", "baseline_drift_check") not in drifted
    # The model's scores moved with `a`: the scores stage drifts too.
    assert any(stage == "scores" for stage, _, _ in drifted)
    document = run.violations_document()
    assert json.loads(json.dumps(document))["violations"][0].keys() >= {
        "feature_name", "constraint_check_type", "description"
    }  # fmt: skip


def test_points_are_stored_per_window_and_a_rerun_replaces_them(
    monitored: dict[str, Any],
) -> None:
    with shipyard.connect(monitored["home"]) as ws:
        ws.monitoring.run("e", start=HOUR1, end=HOUR2 + timedelta(hours=1))
        ks = ws.monitoring.points("e", stage="input", metric="ks", feature="a")
        assert [p.start for p in ks] == [HOUR1, HOUR2]
        assert not ks[0].flagged and ks[1].flagged
        assert ks[1].value is not None and ks[1].value > ks[0].value
        again = ws.monitoring.run("e", start=HOUR1, end=HOUR2 + timedelta(hours=1))
        assert len(ws.monitoring.points("e", stage="input", metric="ks", feature="a")) == 2
        refused = ws.monitoring.points("e", stage="schema", metric="refused_share")
        assert refused[1].value == pytest.approx(1 / 41)
        assert again.windows[0].violations == ()


def test_an_hour_is_read_once_and_new_files_are_merged_in(monitored: dict[str, Any]) -> None:
    home: Path = monitored["home"]
    with shipyard.connect(home) as ws:
        ws.monitoring.run("e", start=HOUR1, end=HOUR1 + timedelta(hours=1))
        stored = ws.runtime.monitoring.profile("e", "primary", "capture", HOUR1)
        assert stored is not None and stored.rows == 40
        with serving_in_thread(home) as (base, app):
            assert post(base, frame(25, 999), HOUR1 + timedelta(minutes=59)).status_code == 200
            app.state.serving.capture.flush()
        run = ws.monitoring.run("e", start=HOUR1, end=HOUR1 + timedelta(hours=1))
        assert run.windows[0].requests == 41
        updated = ws.runtime.monitoring.profile("e", "primary", "capture", HOUR1)
        assert updated is not None and set(stored.files) < set(updated.files)


def test_bad_windows_are_refused_with_a_hint(monitored: dict[str, Any]) -> None:
    with shipyard.connect(monitored["home"]) as ws:
        with pytest.raises(InvalidInput, match="whole number of hours"):
            ws.monitoring.run("e", window=timedelta(minutes=30))
        with pytest.raises(InvalidInput, match="timezone"):
            ws.monitoring.run("e", start=datetime(2024, 3, 1))
        with pytest.raises(shipyard.errors.NotFound):
            ws.monitoring.run("nope")


def test_ground_truth_gives_quality_per_window_against_the_validation_level(
    monitored: dict[str, Any],
) -> None:
    with shipyard.connect(monitored["home"]) as ws:
        ws.monitoring.run("e", start=HOUR1, end=HOUR2 + timedelta(hours=1))
        auc = ws.monitoring.points("e", stage="quality", metric="roc_auc")
        baseline = ws.monitoring.get_baseline("m@1")
    assert baseline is not None and 0.7 < baseline.metrics["roc_auc"] < 0.95
    assert [p.start for p in auc] == [HOUR1, HOUR2]
    for point in auc:  # 1,000 labelled rows a window, by request id and by late key
        assert point.rows == 1000
        assert point.detail["low"] < point.value < point.detail["high"]
        assert abs(point.value - baseline.metrics["roc_auc"]) < 0.08
    accuracy = ws.runtime.monitoring.points("e", stage="quality", metric="accuracy")
    assert all(0.5 < p.value < 1 for p in accuracy if p.value is not None)


def test_outcomes_become_rates_per_variant(monitored: dict[str, Any]) -> None:
    with shipyard.connect(monitored["home"]) as ws:
        ws.monitoring.run("e", start=HOUR1, end=HOUR1 + timedelta(hours=1))
        (clicked,) = ws.monitoring.points("e", stage="outcome", metric="clicked")
    # 40 requests in hour 1, or 41 after the test that adds one.
    assert clicked.variant == "primary" and clicked.detail["requests"] in (40, 41)
    assert clicked.value == pytest.approx(20 / clicked.detail["requests"])
    assert clicked.detail["events"] == 20


def test_bad_feedback_is_refused_whole(monitored: dict[str, Any]) -> None:
    with shipyard.connect(monitored["home"]) as ws:
        for records, message in (
            ([], "non-empty list"),
            ([{"label": 1}], "exactly one of request_id and key"),
            ([{"key": "k", "label": 1}, {"key": "k"}], "Record 1 has no label"),
            ([{"key": "k", "label": {"a": 1}}], "class or a number"),
            ([{"key": "k", "label": 1, "time": "2024-01-01T00:00"}], "timezone"),
        ):
            with pytest.raises(InvalidInput, match=message):
                ws.monitoring.ground_truth("e", records)
        with pytest.raises(InvalidInput, match="finite number"):
            ws.monitoring.outcomes("e", [{"key": "k", "event": "x", "value": "lots"}])


def test_feedback_and_points_over_http(monitored: dict[str, Any]) -> None:
    from fastapi.testclient import TestClient

    from shipyard.api.app import create_app

    with shipyard.connect(monitored["home"]) as ws:
        client = TestClient(create_app(ws), raise_server_exceptions=False)
        ok = client.post(
            "/endpoints/e/outcomes", json={"records": [{"key": "user-1", "event": "buy"}]}
        )
        assert ok.status_code == 202 and ok.json() == {"accepted": 1}
        for body, status in (
            ({"records": [{"key": "user-1"}]}, 400),  # no label
            ({"records": []}, 422),
            ({"rows": []}, 422),
        ):
            answer = client.post("/endpoints/e/ground-truth", json=body)
            assert answer.status_code == status, answer.text
            assert "Traceback" not in answer.text
        missing = client.post(
            "/endpoints/nope/ground-truth", json={"records": [{"key": "k", "label": 1}]}
        )
        assert missing.status_code == 404
        ws.monitoring.run("e", start=HOUR1, end=HOUR1 + timedelta(hours=1))
        points = client.get(
            "/endpoints/e/monitoring/points", params={"stage": "input", "metric": "ks"}
        )
        assert points.status_code == 200
        assert {p["feature"] for p in points.json()} == {"a", "b"}


def test_quality_is_estimated_from_the_scores_before_labels(monitored: dict[str, Any]) -> None:
    with shipyard.connect(monitored["home"]) as ws:
        ws.monitoring.run("e", start=HOUR1, end=HOUR2 + timedelta(hours=1))
        estimated = ws.monitoring.points("e", stage="estimated", metric="roc_auc")
        realized = ws.monitoring.points("e", stage="quality", metric="roc_auc")
    assert [p.start for p in estimated] == [HOUR1, HOUR2]
    for guess, truth in zip(estimated, realized, strict=True):
        assert guess.detail["method"] == "cbpe" and guess.rows >= 1000
        # 1,000 labelled rows: the realized AUC itself is only known to about +-0.03.
        assert abs(guess.value - truth.value) < 0.06, (guess.value, truth.value)


def test_alarms_change_state_by_their_rule_and_act(
    monitored: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib
    import hmac
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[tuple[bytes, str]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, self.headers.get("X-Shipyard-Signature", "")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    from shipyard.quickstart.run import copy_scenario

    pipeline = copy_scenario(tmp_path) / "pipeline.yaml"  # a real pipeline file
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        with shipyard.connect(monitored["home"]) as ws:
            hook = {"kind": "webhook", "url": url, "secret_env": "HOOK_SECRET"}
            retrain = {"kind": "pipeline", "path": str(pipeline)}
            series = {"stage": "input", "metric": "ks", "feature": "*"}
            drift = {"series": series, "actions": ["log", hook, retrain]}
            ws.monitoring.put_alarm("input-drift", "e", drift)
            patient = {"series": {"stage": "input", "metric": "ks"}, "n": 2, "m": 2}
            ws.monitoring.put_alarm("drift-twice", "e", patient)
            low = {"series": {"stage": "quality", "metric": "roc_auc"}, "rule": "below",
                   "threshold": 0.99}  # fmt: skip
            ws.monitoring.put_alarm("auc-low", "e", low)
            run = ws.monitoring.run("e", start=HOUR1, end=HOUR2 + timedelta(hours=1))
            states = {a.name: a.state for a in ws.monitoring.alarms("e")}
            assert states == {"input-drift": "ALARM", "drift-twice": "OK", "auc-low": "ALARM"}
            change = next(c for c in run.alarms if c.alarm == "input-drift")
            assert "a" in change.reason and all(a["ok"] for a in change.actions), change
            (event,) = ws.monitoring.alarm_history("input-drift")
            assert (event.old_state, event.new_state) == ("INSUFFICIENT_DATA", "ALARM")
            jobs = ws.runtime.jobs.list(kind="pipeline_run")
            assert [j.payload["path"] for j in jobs] == [str(pipeline)]
            # Evaluated again with nothing new: no second change, no second webhook.
            assert ws.monitoring.evaluate_alarms("e") == []
    finally:
        server.shutdown()
    ((body, signature),) = received
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert signature == f"sha256={expected}" and json.loads(body)["alarm"] == "input-drift"


def test_bad_alarm_specs_are_refused(monitored: dict[str, Any]) -> None:
    with shipyard.connect(monitored["home"]) as ws:
        for spec, message in (
            ({"series": {"stage": "input"}}, "stage and a metric"),
            ({"series": {"stage": "input", "metric": "ks"}, "rule": "above"}, "numeric threshold"),
            ({"series": {"stage": "input", "metric": "ks"}, "n": 3, "m": 2}, "n <= m"),
            ({"series": {"stage": "input", "metric": "ks"}, "actions": ["email"]}, "one of log"),
            ({"series": {"stage": "input", "metric": "ks"}, "colour": 1}, "Unknown alarm"),
        ):
            with pytest.raises(InvalidInput, match=message):
                ws.monitoring.put_alarm("bad", "e", spec)
        assert "bad" not in {a.name for a in ws.monitoring.alarms("e")}


def test_the_cli_runs_plots_and_reads_back(
    monitored: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from shipyard.cli.main import main

    home = str(monitored["home"])
    window = ["--start", HOUR2.isoformat(), "--end", (HOUR2 + timedelta(hours=1)).isoformat()]
    assert main(["--home", home, "monitor", "run", "e", *window, "--json"]) == 6
    out = capsys.readouterr()
    document = json.loads(out.out)
    assert {v["feature_name"] for v in document["violations"]} >= {"a", "city"}
    assert "violation(s) in e's monitored windows" in out.err
    labels = tmp_path / "labels.csv"
    labels.write_text("key,label,time\nuser-3,1,2024-03-02T12:00:00Z\n")
    assert main(["--home", home, "monitor", "ground-truth", str(labels), "--endpoint", "e"]) == 0
    assert "1 label(s) stored" in capsys.readouterr().out
    html, png = tmp_path / "drift.html", tmp_path / "drift.png"
    assert (
        main(["--home", home, "monitor", "plot", "e", "--html", str(html), "--png", str(png)]) == 0
    )
    assert html.stat().st_size > 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert '<script src="http' not in html.read_text()
    set_alarm = ["alarms", "set", "scores-drift", "--endpoint", "e", "--stage", "scores",
                 "--metric", "ks", "--action", "log"]  # fmt: skip
    assert main(["--home", home, *set_alarm]) == 0
    assert main(["--home", home, "alarms", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert "scores-drift" in {a["name"] for a in listed}
    assert main(["--home", home, "monitor", "profile", "e", "--json"]) == 0
    drifting = json.loads(capsys.readouterr().out)["summary"]["most_drifting"]
    assert "input/a" in drifting and "input/b" not in drifting
    assert main(["--home", home, "monitor", "schedule", "e", "--every", "1h"]) == 0
    assert "schedule monitor-e" in capsys.readouterr().out
    # Bad input: one readable line and a non-zero exit, never a traceback.
    for bad in (
        ["monitor", "run", "e", "--window", "30m"],
        ["monitor", "run", "e", "--start", "yesterday"],
        ["monitor", "ground-truth", str(tmp_path / "none.csv"), "--endpoint", "e"],
        ["alarms", "set", "x", "--endpoint", "e", "--stage", "input", "--metric", "ks",
         "--action", "email"],
        ["alarms", "show", "no-such-alarm"],
        ["monitor", "schedule", "e", "--engine", "local", "--scheduler", "tcp://x:8786"],
    ):  # fmt: skip
        code = main(["--home", home, *bad])
        err = capsys.readouterr().err
        assert code != 0 and "Traceback" not in err and err.strip(), (bad, err)


def test_a_scheduled_run_is_a_job_the_server_runs(monitored: dict[str, Any]) -> None:
    from shipyard.jobs.handlers import default_handlers
    from shipyard.monitoring.job import JOB_KIND, payload

    with shipyard.connect(monitored["home"]) as ws:
        body = payload("e", timedelta(hours=1), timedelta(hours=6), ws.principal)
        job = ws.runtime.jobs.enqueue(JOB_KIND, body, created_by=ws.principal)
        handler = default_handlers().get(JOB_KIND)
        assert handler is not None
        result = handler.run(ws.runtime, job)
    # The last six hours (and the one running now) of today: nothing captured in them.
    assert result["endpoint"] == "e" and result["windows"] in (6, 7)
    assert result["violations"] == 0


def test_a_schedule_carries_its_engine_and_refuses_a_bad_one(monitored: dict[str, Any]) -> None:
    """The engine is checked when the schedule is stored (not at 3 a.m. by the server),
    and the job opens it at each run: here the local engine with two processes profiles
    the hour captured just before the run."""
    from shipyard.jobs.handlers import default_handlers
    from shipyard.monitoring.job import JOB_KIND, payload

    hour = timedelta(hours=1)
    for bad in ({"engine": "spark"}, {"engine": "local", "scheduler": "tcp://x:8786"},
                {"engine": "dask", "scheduler": "tcp://x:8786", "workers": 2}):  # fmt: skip
        with pytest.raises(InvalidInput):
            payload("e", hour, hour, "alice", **bad)
    body = payload("e", hour, hour, "alice", engine="dask", scheduler="tcp://10.0.0.5:8786")
    assert (body["engine"], body["scheduler"], body["workers"]) == ("dask", "tcp://10.0.0.5:8786",
                                                                    None)  # fmt: skip
    now = datetime.now(UTC)
    with shipyard.connect(monitored["home"]) as ws:  # its own endpoint: the others' alarms
        served = ws.endpoints.get("e")  # look at their latest windows, these would be newer
        ws.runtime.control.create_endpoint("sched", served.spec, served.variants, by="pipeline")
    with serving_in_thread(monitored["home"]) as (base, app):
        for i in range(3):
            rows = frame(40, 900 + i)
            body = {"columns": {c: rows[c].tolist() for c in rows.columns}}
            answer = httpx.post(f"{base}/endpoints/sched/invocations", json=body, timeout=30)
            assert answer.status_code == 200, answer.text
        app.state.serving.capture.flush()
    with shipyard.connect(monitored["home"]) as ws:
        body = payload("sched", hour, 2 * hour, ws.principal, engine="local", workers=2)
        job = ws.runtime.jobs.enqueue(JOB_KIND, body, created_by=ws.principal)
        handler = default_handlers().get(JOB_KIND)
        assert handler is not None
        result = handler.run(ws.runtime, job)
        profiled = ws.monitoring.points("sched", stage="input", start=now - 2 * hour)
    assert result["windows"] >= 2 and profiled  # the captured hour was profiled
    assert {p.rows for p in profiled} >= {120}  # the three requests' 120 rows


def test_refusals_are_caught_as_the_capture_is_written_not_at_the_next_run(
    monitored: dict[str, Any],
) -> None:
    home = monitored["home"]
    at = datetime(2024, 3, 5, 9, tzinfo=UTC)
    with shipyard.connect(home) as ws:
        spec = {"series": {"stage": "schema", "metric": "refused_share"}, "rule": "flagged"}
        ws.monitoring.put_alarm("refusals", "e", spec)
    with serving_in_thread(home) as (base, app):
        for i in range(30):  # a caller that lost a column: every request refused
            body = {"columns": {"a": [0.1], "b": [0.2]}}
            headers = {"X-Shipyard-Event-Time": (at + timedelta(seconds=i)).isoformat()}
            answer = httpx.post(f"{base}/endpoints/e/invocations", json=body, headers=headers)
            assert answer.status_code in (400, 422)
        app.state.serving.capture.flush()
        with shipyard.connect(home) as ws:  # no monitoring run: the writer's watch did it
            deadline = time.monotonic() + 10  # the watch acts on a thread of its own
            while not (
                found := ws.monitoring.points(
                    "e",
                    stage="schema",
                    metric="refused_share",
                    start=at,
                    end=at + timedelta(hours=1),
                )
            ):
                assert time.monotonic() < deadline, "no schema point was written"
                time.sleep(0.05)
            while ws.monitoring.alarm("refusals").state != "ALARM":
                assert time.monotonic() < deadline, ws.monitoring.alarm("refusals")
                time.sleep(0.05)
            (point,) = found
            assert point.flagged and point.value == 1.0 and point.detail["at_once"]
            assert ws.monitoring.alarm("refusals").state == "ALARM"


def test_alarm_actions_need_the_rights_they_will_use(
    monitored: dict[str, Any], tmp_path: Path
) -> None:
    """Actions run as the pipeline principal: setting one needs the rights it uses."""
    from shipyard.errors import AccessDenied
    from shipyard.quickstart.run import copy_scenario

    pipeline = str(copy_scenario(tmp_path) / "pipeline.yaml")
    series = {"stage": "input", "metric": "ks"}
    with shipyard.connect(monitored["home"]) as ws:
        ws.security.put_policy("watcher", {"Statement": [
            {"Effect": "Allow", "Action": ["monitoring:*", "endpoints:Read"], "Resource": "*"}
        ]})  # fmt: skip
        ws.security.attach("watcher", principal="carol")
        carol = ws.as_principal("carol")
        carol.monitoring.put_alarm("carol-log", "e", {"series": series})  # a log line: fine
        for action in ({"kind": "pipeline", "path": pipeline}, "rollback"):
            with pytest.raises(AccessDenied):
                carol.monitoring.put_alarm("carol-acts", "e",
                                           {"series": series, "actions": [action]})  # fmt: skip
        ws.monitoring.put_alarm("owned", "e", {"series": series})
        ws.runtime.control.create_endpoint(
            "other", {}, [Variant("primary", "m", 1, 1.0)], by="pipeline"
        )
        ws.security.put_policy("e-only", {"Statement": [
            {"Effect": "Allow", "Action": "monitoring:*", "Resource": "shipyard:endpoint:other"},
            {"Effect": "Allow", "Action": "endpoints:Read", "Resource": "*"},
        ]})  # fmt: skip
        ws.security.attach("e-only", principal="dave")
        with pytest.raises(AccessDenied):  # dave may not take over e's alarm from "other"
            ws.as_principal("dave").monitoring.put_alarm("owned", "other", {"series": series})
        assert ws.monitoring.alarm("owned").endpoint == "e"
        assert "carol-acts" not in {a.name for a in ws.monitoring.alarms()}


def captured(model: str, requests: list[pd.DataFrame], at: datetime) -> Any:
    """A file as the capture writes it: one answered request of ``model`` per frame."""
    import pyarrow as pa

    from shipyard.serving.capture import ROW_SCHEMA

    n = len(requests)
    times = [at + timedelta(seconds=i) for i in range(n)]
    columns: dict[str, list[Any]] = {name: [None] * n for name in ROW_SCHEMA.names}
    columns.update(
        request_id=[f"r{i}" for i in range(n)], time=times, arrived=times,
        replayed=[True] * n, model=[model] * n, status=[200] * n,
        input=[json.dumps({c: rows[c].tolist() for c in rows.columns}) for rows in requests],
    )  # fmt: skip
    return pa.Table.from_pydict(columns, schema=ROW_SCHEMA)


def with_city(rows: int, seed: int, city: str, count: int) -> pd.DataFrame:
    """Training-like rows, the first ``count`` of them in ``city``."""
    data = frame(rows, seed)
    if count:
        data.loc[: count - 1, "city"] = city
    return data


def stored_at_once(ws: Any, endpoint: str, at: datetime) -> list[Any]:
    """The ``schema/new_categories`` points stored for the hour from ``at``, once the
    watch's thread has stored one."""
    deadline = time.monotonic() + 10
    while not (
        found := ws.monitoring.points(
            endpoint,
            stage="schema",
            metric="new_categories",
            start=at,
            end=at + timedelta(hours=1),
        )
    ):
        assert time.monotonic() < deadline, "no new_categories point was stored"
        time.sleep(0.05)
    return found


def test_new_categories_are_caught_as_the_capture_is_written_not_at_the_next_run(
    monitored: dict[str, Any],
) -> None:
    home = monitored["home"]
    at = datetime(2024, 3, 6, 9, tzinfo=UTC)
    with shipyard.connect(home) as ws:
        spec = {"series": {"stage": "schema", "metric": "new_categories"}, "rule": "flagged"}
        ws.monitoring.put_alarm("new-codes", "e", spec)
    with serving_in_thread(home) as (base, app):
        for i in range(30):  # a new city code upstream: 20 of each request's 40 rows
            rows = with_city(40, 500 + i, "Bergen", 20)
            assert post(base, rows, at + timedelta(seconds=i)).status_code == 200
        app.state.serving.capture.flush()
        with shipyard.connect(home) as ws:  # no monitoring run: the writer's watch did it
            deadline = time.monotonic() + 10  # the watch acts on a thread of its own

            def points() -> list[Any]:
                return ws.monitoring.points(
                    "e", stage="schema", metric="new_categories", start=at,
                    end=at + timedelta(hours=1),
                )  # fmt: skip

            # The writer may have cut the traffic into several files: a point per file.
            while sum(p.detail["categories"].get("Bergen", 0) for p in points()) < 600:
                assert time.monotonic() < deadline, points()
                time.sleep(0.05)
            while ws.monitoring.alarm("new-codes").state != "ALARM":
                assert time.monotonic() < deadline, ws.monitoring.alarm("new-codes")
                time.sleep(0.05)
            found = points()
    assert {p.feature for p in found} == {"city"}  # the numbers have no categories
    for point in found:
        assert point.flagged and point.value == 0.5 and point.detail["at_once"]
        assert point.detail["categories"] == {"Bergen": point.rows // 2}
        assert point.detail["threshold"] == 0.01 and point.detail["model"] == "m@1"


def test_a_few_rows_of_a_new_category_are_not_flagged_at_once(
    monitored: dict[str, Any],
) -> None:
    from shipyard.monitoring.schema_watch import SchemaWatch

    at = datetime(2024, 3, 7, 9, tzinfo=UTC)
    with shipyard.connect(monitored["home"]) as ws:
        watch = SchemaWatch(lambda: ws.runtime)
        # One odd value in 3 rows: under 20 rows. 25 rows of 3,000: under 1%.
        few = [with_city(25, 600 + i, "Bergen", 1 if i < 3 else 0) for i in range(30)]
        rare = [with_city(100, 700 + i, "Bergen", 1 if i < 25 else 0) for i in range(30)]
        assert watch("direct", "primary", captured("m@1", few, at)) == []
        assert watch("direct", "primary", captured("m@1", rare, at)) == []
        # 20 rows of 1,000, each request's own value: flagged, the values listed by count.
        many = [with_city(25, 800 + i, f"code-{i % 2}" if i < 20 else "x" * 500, 1)
                for i in range(40)]  # fmt: skip
        (point,) = watch("direct", "primary", captured("m@1", many, at))
        assert (point.stage, point.metric, point.feature) == ("schema", "new_categories", "city")
        assert point.flagged and point.rows == 1000 and point.value == 40 / 1000
        long = "x" * 99 + "\u2026"
        assert point.detail["categories"] == {long: 20, "code-0": 10, "code-1": 10}
        assert watch.known_categories("m@1").keys() == {"city"}
        assert [p.detail for p in stored_at_once(ws, "direct", at)] == [point.detail]


def test_a_model_without_a_baseline_does_not_fail_the_watch(monitored: dict[str, Any]) -> None:
    from shipyard.monitoring.schema_watch import SchemaWatch

    at = datetime(2024, 3, 8, 9, tzinfo=UTC)
    train = monitored["train"]
    with shipyard.connect(monitored["home"]) as ws:
        ws.models.register("unwatched", model().fit(train, label(train, 1)),
                           input_example=train.head(5))  # fmt: skip
        watch = SchemaWatch(lambda: ws.runtime)
        new = [with_city(25, 900 + i, "Bergen", 25) for i in range(30)]
        for ref in ("unwatched@1", "ghost@3", "no-version"):  # no baseline, no model, no ref
            assert watch("direct", "primary", captured(ref, new, at)) == []
            assert watch.known_categories(ref) == {}
        # One file, two models: only the one with a baseline is checked, on its own rows.
        both = pa_concat(captured("unwatched@1", new, at), captured("m@1", new[:2], at))
        (point,) = watch("direct", "primary", both)
        assert point.detail["model"] == "m@1" and point.rows == 50 and point.value == 1.0
        assert [p.rows for p in stored_at_once(ws, "direct", at)] == [50]


def pa_concat(*tables: Any) -> Any:
    import pyarrow as pa

    return pa.concat_tables(tables)
