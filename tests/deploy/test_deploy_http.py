"""Deployments against a real `shipyard serve` process under steady traffic: a good
model is promoted through every step, planted bad models are rolled back within their
bake period (one that fails on a share of inputs, one that predicts one class), the
CLI exits 6 on a rollback, and no client request fails because of a move."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from tests.serving.test_invocations import start_serving

import shipyard
from shipyard.deploy.job import launch

pytestmark = pytest.mark.filterwarnings("ignore:X has feature names:UserWarning")
SHIPYARD = str(Path(sys.executable).with_name("shipyard"))
CITIES = ["x", "y", "z"]


def fitted(rows: pd.DataFrame, unknown: str, c: float = 1.0) -> Any:
    encode = make_column_transformer(
        (OneHotEncoder(handle_unknown=unknown), ["city"]), remainder="passthrough"
    )
    return make_pipeline(encode, LogisticRegression(C=c)).fit(rows, rows["a"] > 0)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Endpoint `e` on model `m`: version 1 stable; 2 good; 3 never saw city z (fails on
    a third of the requests); 4 predicts True always."""
    home = tmp_path_factory.mktemp("deploy") / "ws"
    rng = np.random.default_rng(0)
    rows = pd.DataFrame({"a": rng.normal(size=400), "city": rng.choice(CITIES, 400)})
    known = rows[rows["city"] != "z"]
    with shipyard.connect(home) as ws:
        ws.models.register("m", fitted(rows, "ignore"), input_example=rows.head(3))
        ws.models.register("m", fitted(rows, "ignore", c=0.5), input_example=rows.head(3))
        ws.models.register("m", fitted(known, "error"), input_example=known.head(3))
        always = DummyClassifier(strategy="constant", constant=True).fit(rows, rows["a"] > 0)
        ws.models.register("m", always, input_example=rows.head(3))
        ws.endpoints.create("e", "m@1")
    base, proc = start_serving(home, "e")
    try:
        yield {"home": home, "base": base}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


class Traffic:
    """A client sending one-row requests until stopped; what it got, by variant."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.answers: list[tuple[dict[str, Any], Any, str]] = []  # row, answer, request id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        rng = np.random.default_rng(1)
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                row = {"a": float(rng.normal()), "city": str(rng.choice(CITIES))}
                answer = client.post(
                    f"{self.base}/endpoints/e/invocations", json={"records": [row]}
                )
                variant = answer.headers.get("X-Shipyard-Variant", "?")
                self.statuses[(variant, answer.status_code)] += 1
                if answer.status_code == 200:
                    body = answer.json()
                    self.answers.append((row, body["predictions"][0], body["request_id"]))
                time.sleep(0.005)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def deploy(home: Path, model: str, bake: str) -> tuple[Any, float]:
    with shipyard.connect(home) as ws:
        found = ws.deployments.start("e", model, steps="50,100", bake=bake, warm="1s")
        began = time.monotonic()
        ended = launch(ws.runtime, found.id, ws.principal, wait=True)
        return ended, time.monotonic() - began


def test_a_good_model_is_promoted_and_no_request_fails(served: dict[str, Any]) -> None:
    with Traffic(served["base"]) as traffic:
        ended, _ = deploy(served["home"], "m@2", bake="2s")
    assert ended.state == "promoted", ended.status
    assert [s["share"] for s in ended.status["steps"]] == [0.5, 1.0]
    assert {status for (_, status) in traffic.statuses} == {200}
    assert traffic.statuses[("candidate", 200)] >= 20  # the candidate served its share
    with shipyard.connect(served["home"]) as ws:
        [variant] = ws.endpoints.get("e").variants
    assert (variant.name, variant.version, variant.weight) == ("primary", 2, 1.0)


def test_a_model_failing_on_a_share_of_inputs_is_rolled_back(served: dict[str, Any]) -> None:
    with Traffic(served["base"]):
        ended, took = deploy(served["home"], "m@3", bake="60s")
    assert ended.state == "rolled_back", ended.status
    assert took < 60  # within the first bake period
    [alarm] = [a for a in ended.status["alarms"] if a["alarm"].startswith("error_rate")]
    assert 0.15 < alarm["candidate"] < 0.5 and alarm["stable"] == 0.0
    with shipyard.connect(served["home"]) as ws:
        assert [v.version for v in ws.endpoints.get("e").variants] == [2]


def test_the_cli_exits_6_when_one_class_predictions_roll_back(served: dict[str, Any]) -> None:
    with Traffic(served["base"]):
        done = subprocess.run(
            [SHIPYARD, "--home", str(served["home"]), "deploy", "e", "m@4", "--steps", "50,100",
             "--bake", "60s", "--warm", "1s", "--wait"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 6, done.stdout + done.stderr
    assert "rolled back" in done.stderr and "predictions differ" in done.stderr
    listed = subprocess.run(
        [SHIPYARD, "--home", str(served["home"]), "deployments", "list", "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert '"state": "rolled_back"' in listed.stdout


def test_a_shadow_sees_copies_answers_nobody_and_is_reported(served: dict[str, Any]) -> None:
    home, base = served["home"], served["base"]
    with shipyard.connect(home) as ws:
        shadow = ws.deployments.start("e", "m@1", strategy="shadow", sample=1.0)
        serving = ws.models.load("m", 2)
    time.sleep(2)  # every serving process sees the shadow (refresh 0.5 s) and warms it
    with Traffic(base) as traffic:
        time.sleep(4)
    time.sleep(3)  # the capture writer's flush
    assert set(traffic.statuses) == {("primary", 200)}  # only the primary answers
    rows = pd.DataFrame([row for row, _, _ in traffic.answers])
    answered = [answer for _, answer, _ in traffic.answers]
    assert answered == serving.predict(rows).tolist()  # the shadow changed no answer
    with shipyard.connect(home) as ws:
        from shipyard.serving.capture import read_capture

        captured = read_capture(home, "e", start=shadow.created_at).to_pandas()
        copies = set(captured[captured["variant"] == "candidate"]["request_id"])
        sent = {request_id for _, _, request_id in traffic.answers}
        assert sent <= copies  # a copy of every request, under its request id
        report = ws.deployments.report(shadow.id)
        assert report["paired"]["requests"] >= len(sent)
        assert 0.8 < report["paired"]["agreement"] <= 1.0  # C=1 beside C=0.5
        assert report["paired"]["score_difference"]["max"] > 0
        ws.deployments.rollback(shadow.id, "seen enough")
        assert [v.name for v in ws.endpoints.get("e").variants] == ["primary"]


def test_an_ab_test_keeps_each_key_on_its_variant_over_http(served: dict[str, Any]) -> None:
    home, base = served["home"], served["base"]
    with shipyard.connect(home) as ws:
        test = ws.deployments.start("e", "m@1", strategy="ab", weight=30, warm="0s")
        ws.deployments.tick(test.id)
    time.sleep(1.5)  # the serving process's refresh (0.5 s) picks up weights and salt
    row = {"records": [{"a": 0.3, "city": "x"}]}
    with httpx.Client(timeout=10) as client:

        def variant(key: str) -> str:
            answer = client.post(f"{base}/endpoints/e/invocations", json=row,
                                 headers={"X-Shipyard-Key": key})  # fmt: skip
            assert answer.status_code == 200, answer.text
            return str(answer.headers["X-Shipyard-Variant"])

        assert len({variant("user-7") for _ in range(50)}) == 1
        served_by = {f"user-{i}": variant(f"user-{i}") for i in range(300)}
        split = Counter(served_by.values())
    assert set(split) == {"primary", "candidate"}
    assert 0.15 < split["candidate"] / 300 < 0.45
    # Business outcomes by routing key: the candidate's users click far more often.
    rng = np.random.default_rng(1)
    clicks = [{"key": key, "event": "clicked"} for key, side in served_by.items()
              if rng.random() < (0.7 if side == "candidate" else 0.2)]  # fmt: skip
    time.sleep(2.5)  # the serving process writes its capture every 2 s
    with shipyard.connect(home) as ws:
        ws.monitoring.outcomes("e", clicks)
        clicked = ws.deployments.report(test.id)["outcomes"]["clicked"]
        ws.deployments.rollback(test.id, "done")
    repeats = 50 if served_by["user-7"] == "candidate" else 0  # user-7 was sent 50 more times
    assert clicked["candidate"]["requests"] == split["candidate"] + repeats
    # Rates are per request: user-7's 50 repeats dilute its variant's rate, not the verdict.
    assert clicked["significant"] and clicked["difference"] > 0.1
    assert clicked["interval"][0] > 0 and "candidate has the higher" in clicked["decision"]


def variant_loads(client: httpx.Client, base: str) -> float:
    """Model loads the server has made for endpoint variants so far, from /metrics."""
    text = client.get(f"{base}/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("shipyard_variant_model_loads_total{")
    )


def test_blue_green_switches_once_green_is_warm_and_rolls_back_at_once(
    served: dict[str, Any],
) -> None:
    """Green (m@1) takes all traffic in one step once warm; blue stays loaded at weight 0
    through the bake, so a rollback is a weight change the server sees at its next
    refresh (0.5 s here): no model load, no failed request."""
    home, base = served["home"], served["base"]
    row = {"records": [{"a": 0.3, "city": "x"}]}
    with shipyard.connect(home) as ws, httpx.Client(timeout=10) as client:
        blue = ws.endpoints.get("e").variants[0]
        green = ws.deployments.start("e", "m@1", strategy="blue-green", bake="60s", warm="1s")
        time.sleep(1.2)
        assert ws.deployments.tick(green.id).status["step"] == 0  # warm: all at once
        assert ws.endpoints.effective_split("e") == {"primary": 0.0, "candidate": 1.0}

        def served_by() -> str:
            answer = client.post(f"{base}/endpoints/e/invocations", json=row)
            assert answer.status_code == 200, answer.text
            return str(answer.headers["X-Shipyard-Variant"])

        deadline = time.monotonic() + 5
        while served_by() != "candidate":
            assert time.monotonic() < deadline, "green never took the traffic"
        loads = variant_loads(client, base)
        assert loads >= 2  # blue and green were loaded (and counted)
        ws.deployments.rollback(green.id, "shown to roll back at once")
        began, answers = time.monotonic(), []
        while not answers or answers[-1] != "primary":
            answers.append(served_by())
            assert time.monotonic() - began < 10, answers  # the refresh period (0.5 s)
        assert variant_loads(client, base) == loads  # blue was still loaded: no load
        [variant] = ws.endpoints.get("e").variants
    assert (variant.model, variant.version) == (blue.model, blue.version)
