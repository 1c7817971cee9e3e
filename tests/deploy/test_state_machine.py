"""The deployment state machine on a real workspace, judging real capture files, with
the clock given to each tick: steps, promotion, rollback by alarm and by hand, resuming
from the stored state, and what it refuses."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

import shipyard
from shipyard.cli.main import main
from shipyard.errors import Conflict, InvalidInput
from shipyard.serving.capture import CaptureRecord, CaptureWriter


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Any]:
    rng = np.random.default_rng(0)
    train = pd.DataFrame(rng.normal(size=(200, 2)), columns=["a", "b"])
    labels = (train["a"] > 0).astype(int)
    with shipyard.connect(tmp_path / "ws") as workspace:
        for model in (LogisticRegression(), LogisticRegression(C=0.5)):
            workspace.models.register("m", model.fit(train, labels), input_example=train.head(3))
        constant = DummyClassifier(strategy="constant", constant=1).fit(train, labels)
        workspace.models.register("m", constant, input_example=train.head(3))
        workspace.endpoints.create("e", "m@1")
        yield workspace


def captured(ws: Any, at: datetime, variant: str, count: int, *, fail: float = 0.0,
             outputs: tuple[int, ...] = (0, 1)) -> None:  # fmt: skip
    """``count`` requests of ``variant`` at ``at`` in the endpoint's capture files."""
    writer = CaptureWriter(Path(ws.runtime.settings.home) / "capture", autostart=False)
    for i in range(count):
        failed = i < fail * count
        writer.offer(
            CaptureRecord(
                f"{variant}-{at.timestamp()}-{i}", "e", variant, None,
                422 if failed else 200, 0.001, 0.002, 0.01,
                predictions=None if failed else [outputs[i % len(outputs)]],
                time=at + timedelta(milliseconds=i),
            )
        )  # fmt: skip
    writer.close()


def weights(ws: Any) -> dict[str, tuple[str, float]]:
    return {v.name: (f"{v.model}@{v.version}", v.weight) for v in ws.endpoints.get("e").variants}


def started(deployment: Any) -> datetime:
    return datetime.fromisoformat(deployment.status["step_started"])


def test_a_canary_warms_steps_and_promotes(ws: Any, capsys: pytest.CaptureFixture[str]) -> None:
    d = ws.deployments.start("e", "m@2", steps="50,100", bake="10s", warm="5s")
    assert weights(ws) == {"primary": ("m@1", 1.0), "candidate": ("m@2", 0.0)}
    t0 = started(d)
    assert ws.deployments.tick(d.id, t0 + timedelta(seconds=1)).status["step"] == -1
    d = ws.deployments.tick(d.id, t0 + timedelta(seconds=6))
    assert d.status["step"] == 0
    assert weights(ws) == {"primary": ("m@1", 0.5), "candidate": ("m@2", 0.5)}

    t1 = started(d)
    captured(ws, t1 + timedelta(seconds=1), "candidate", 30)
    captured(ws, t1 + timedelta(seconds=1), "primary", 30)
    assert ws.deployments.tick(d.id, t1 + timedelta(seconds=5)).status["step"] == 0  # baking
    d = ws.deployments.tick(d.id, t1 + timedelta(seconds=11))
    assert d.status["step"] == 1
    assert weights(ws) == {"primary": ("m@1", 0.0), "candidate": ("m@2", 1.0)}  # blue kept

    t2 = started(d)
    d = ws.deployments.tick(d.id, t2 + timedelta(seconds=11))
    assert d.state == "running"  # the last step has no candidate traffic captured yet
    captured(ws, t2 + timedelta(seconds=1), "candidate", 25)
    d = ws.deployments.tick(d.id, t2 + timedelta(seconds=12))
    assert d.state == "promoted"
    assert weights(ws) == {"primary": ("m@2", 1.0)}
    events = [e.event for e in ws.deployments.history(d.id)]
    assert events == ["created", "step", "step", "promoted"]
    home = str(ws.runtime.settings.home)
    assert main(["--home", home, "deployments", "show", d.id, "--follow"]) == 0
    shown = capsys.readouterr().out
    assert "promoted, step 2/2 (100%)" in shown and "every step baked" in shown
    assert shown.count(" step ") >= 2


def test_an_alarm_rolls_back_and_a_new_canary_leaves_no_trace(ws: Any) -> None:
    d = ws.deployments.start("e", "m@3", steps="50,100", bake="10s", warm="0s")
    d = ws.deployments.tick(d.id, started(d) + timedelta(seconds=1))
    at = started(d) + timedelta(seconds=1)
    captured(ws, at, "primary", 40)
    captured(ws, at, "candidate", 40, outputs=(1,))  # predicts one class only
    d = ws.deployments.tick(d.id, at + timedelta(seconds=2))  # before the bake ends
    assert d.state == "rolled_back"
    assert d.status["alarms"][0]["alarm"] == "prediction_drift>0.2"
    assert "predictions differ" in d.status["reason"]
    assert weights(ws) == {"primary": ("m@1", 1.0)}

    again = ws.deployments.start("e", "m@2", steps="100", bake="1s", warm="0s")
    assert weights(ws) == {"primary": ("m@1", 1.0), "candidate": ("m@2", 0.0)}
    ws.deployments.rollback(again.id, "changed my mind")
    assert weights(ws) == {"primary": ("m@1", 1.0)}
    with pytest.raises(Conflict, match="already ended"):
        ws.deployments.rollback(again.id)


def test_errors_roll_back_and_the_record_has_the_values(ws: Any) -> None:
    d = ws.deployments.start("e", "m@2", steps="100", bake="10s", warm="0s")
    d = ws.deployments.tick(d.id, started(d))
    at = started(d) + timedelta(seconds=1)
    captured(ws, at, "primary", 40)
    captured(ws, at, "candidate", 40, fail=0.25)
    d = ws.deployments.tick(d.id, at + timedelta(seconds=1))
    assert d.state == "rolled_back"
    [alarm] = d.status["alarms"]
    assert alarm["alarm"] == "error_rate>0.01" and alarm["candidate"] == pytest.approx(0.25)


def test_a_new_process_resumes_at_the_stored_step(ws: Any, tmp_path: Path) -> None:
    d = ws.deployments.start("e", "m@2", steps="50,100", bake="60s", warm="0s")
    d = ws.deployments.tick(d.id, started(d))
    step_started = d.status["step_started"]
    with shipyard.connect(tmp_path / "ws") as other:  # another process, as far as state goes
        resumed = other.deployments.tick(d.id, started(d) + timedelta(seconds=30))
    assert resumed.status["step"] == 0 and resumed.status["step_started"] == step_started
    assert resumed.revision == d.revision  # nothing moved: still baking


def test_what_a_deployment_refuses(ws: Any) -> None:
    with pytest.raises(InvalidInput, match="no guard alarm"):
        ws.deployments.start("e", "m@2", alarms=[])
    forced = ws.deployments.start("e", "m@2", alarms=[], force=True)
    assert forced.spec["forced"] is True
    with pytest.raises(Conflict, match="running deployment"):
        ws.deployments.start("e", "m@3")
    ws.deployments.rollback(forced.id)
    with pytest.raises(InvalidInput, match="already serves"):
        ws.deployments.start("e", "m@1")
    ws.endpoints.create("quiet", "m@1", capture_rate=0.0)
    with pytest.raises(InvalidInput, match="captures no requests"):
        ws.deployments.start("quiet", "m@2")


def test_an_ab_test_salts_the_endpoint_until_promoted(ws: Any) -> None:
    d = ws.deployments.start("e", "m@2", strategy="ab", weight=30, warm="0s")
    d = ws.deployments.tick(d.id, started(d))
    assert weights(ws) == {"primary": ("m@1", 0.7), "candidate": ("m@2", 0.3)}
    salt = ws.endpoints.get("e").spec["ab"]["salt"]
    assert salt == d.spec["salt"]
    later = ws.deployments.tick(d.id, started(d) + timedelta(days=3))
    assert later.state == "running" and later.revision == d.revision  # ends by hand only
    ws.deployments.promote(d.id, "B won")
    assert weights(ws) == {"primary": ("m@2", 1.0)}
    assert "ab" not in ws.endpoints.get("e").spec
    second = ws.deployments.start("e", "m@1", strategy="ab", weight=50)
    assert second.spec["salt"] != salt
    with pytest.raises(InvalidInput, match="weight"):
        ws.deployments.start("e", "m@3", strategy="ab", weight=100)


def test_a_step_without_traffic_to_judge_rolls_back_in_the_end(ws: Any) -> None:
    d = ws.deployments.start("e", "m@2", steps="100", bake="10s", warm="0s")
    d = ws.deployments.tick(d.id, started(d))
    assert ws.deployments.tick(d.id, started(d) + timedelta(seconds=99)).state == "running"
    ended = ws.deployments.tick(d.id, started(d) + timedelta(seconds=101))
    assert ended.state == "rolled_back" and "0 captured requests" in ended.status["reason"]


def test_two_deployments_started_at_once_on_one_endpoint_cannot_both_run(ws: Any) -> None:
    """The service refuses a second start it can see; the database refuses the one it
    cannot (two starts that both passed the check): one running deployment an endpoint."""
    from shipyard.errors import Conflict

    spec = {"model": "m@2"}
    first = ws.runtime.control.create_deployment("e", "canary", spec, by="pipeline",
                                                 state="running")  # fmt: skip
    with pytest.raises(Conflict, match="already has a running deployment"):
        ws.runtime.control.create_deployment("e", "canary", spec, by="pipeline", state="running")
    ws.runtime.control.create_deployment("e", "canary", spec, by="pipeline", state="pending")
    ws.runtime.control.update_deployment(
        first.id, expected_revision=first.revision, state="rolled_back", by="pipeline",
        event="rolled_back",
    )  # fmt: skip
    ws.runtime.control.create_deployment("e", "canary", spec, by="pipeline", state="running")


def test_an_ab_test_hands_its_job_on_instead_of_holding_a_worker(ws: Any) -> None:
    """Once warm, an A/B test's job does not loop until a person ends the test: it queues
    a job due in OPEN_ENDED_EVERY that checks the guards again, and the worker is free."""
    from shipyard.deploy.job import JOB_KIND, OPEN_ENDED_EVERY, launch
    from shipyard.jobs import default_handlers
    from shipyard.jobs.worker import WorkerPool

    d = ws.deployments.start("e", "m@2", strategy="ab", weight=50, warm="1s")
    launch(ws.runtime, d.id, ws.principal, wait=False)
    pool = WorkerPool(ws.runtime, default_handlers(), threads=0)
    began = datetime.now(UTC)
    done = pool.run_once()  # warms (about a second), splits, then hands on
    assert done is not None and done.state == "succeeded", done
    assert done.result["state"] == "running" and (datetime.now(UTC) - began).seconds < 10
    follow = ws.runtime.jobs.get(done.result["next_job"])
    assert follow.kind == JOB_KIND and follow.state == "queued"
    assert follow.available_at >= done.finished_at + OPEN_ENDED_EVERY - timedelta(seconds=1)
    assert weights(ws)["candidate"] == ("m@2", 0.5)
    ws.deployments.rollback(d.id, "the test is over")
