"""A `shipyard server` killed in the middle of a canary: the restarted server's job
workers take the deployment over once its lease runs out and finish it from the stored
step, without starting the step again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from tests.conftest import free_port, wait_healthy
from tests.deploy.test_deploy_http import Traffic

import shipyard
from shipyard.deploy.job import launch

SHIPYARD = str(Path(sys.executable).with_name("shipyard"))


def start_server(home: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    proc = subprocess.Popen(
        [SHIPYARD, "--home", str(home), "server", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    wait_healthy(f"http://127.0.0.1:{port}", proc)
    return proc


def test_a_killed_server_resumes_the_canary_where_it_was(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    rng = np.random.default_rng(0)
    rows = pd.DataFrame({"a": rng.normal(size=300), "city": rng.choice(["x", "y"], 300)})
    rows["city"] = (rows["city"] == "x").astype(float)
    with shipyard.connect(home) as ws:
        for c in (1.0, 0.5):
            model = LogisticRegression(C=c).fit(rows, rows["a"] > 0)
            ws.models.register("m", model, input_example=rows.head(3))
        ws.endpoints.create("e", "m@1")
        deployment = ws.deployments.start("e", "m@2", steps="50,100", bake="3s", warm="1s")
        launch(ws.runtime, deployment.id, ws.principal, wait=False)  # for a server's workers
    port = free_port()
    server = start_server(home, port)
    with Traffic(f"http://127.0.0.1:{port}"), shipyard.connect(home) as ws:
        deadline = time.monotonic() + 60
        while ws.deployments.get(deployment.id).status["step"] < 0:
            assert time.monotonic() < deadline, "the server's workers never took the job"
            time.sleep(0.2)
        first = ws.deployments.get(deployment.id).status
        server.send_signal(signal.SIGKILL)  # mid-step: no chance to hand anything back
        server.wait(timeout=30)
    server = start_server(home, port)
    try:
        with Traffic(f"http://127.0.0.1:{port}"), shipyard.connect(home) as ws:
            deadline = time.monotonic() + 90
            while ws.deployments.get(deployment.id).state == "running":
                assert time.monotonic() < deadline, ws.deployments.get(deployment.id).status
                time.sleep(0.5)
            ended = ws.deployments.get(deployment.id)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert ended.state == "promoted", ended.status
    steps = ended.status["steps"]
    assert [s["share"] for s in steps] == [0.5, 1.0]  # step 1 was not started again
    assert steps[0]["at"] == first["step_started"]
