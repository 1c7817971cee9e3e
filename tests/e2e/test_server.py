"""`shipyard server` as a real process on a real port."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

SHIPYARD = str(Path(sys.executable).with_name("shipyard"))


@pytest.fixture
def server(shipyard_server: tuple[str, int]) -> str:
    return shipyard_server[0]


def test_the_server_answers_health_version_and_docs(server: str) -> None:
    assert httpx.get(f"{server}/health").json()["status"] == "ok"
    assert "version" in httpx.get(f"{server}/version").json()
    assert httpx.get(f"{server}/openapi.json").json()["info"]["title"] == "Shipyard"
    missing = httpx.get(f"{server}/nope")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_bad_settings_stop_the_server_before_it_listens(tmp_path: Path, port: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_METADATA_URL"] = "oracle://nope"
    done = subprocess.run(
        [SHIPYARD, "server", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: ") and "oracle" in done.stderr


def test_the_server_hosts_every_endpoint_beside_the_control_plane(
    shipyard_server: tuple[str, int], tmp_path: Path
) -> None:
    """Endpoints created after the server started are served from its port within a few
    seconds: a variant endpoint and a multi-model one, listed by the control plane."""
    import time

    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import shipyard

    server = shipyard_server[0]
    rng = np.random.default_rng(0)
    train = pd.DataFrame(rng.normal(size=(100, 2)), columns=["a", "b"])
    with shipyard.connect(tmp_path / "ws") as ws:
        for name, column in (("up", "a"), ("down", "b")):
            model = LogisticRegression().fit(train, (train[column] > 0).astype(int))
            ws.models.register(name, model, input_example=train.head(3))
        ws.endpoints.create("one", "up@1")
        ws.endpoints.create("many", models="*")
        expected = {m: ws.models.load(m, 1).predict(train).tolist() for m in ("up", "down")}
    body = {"columns": train.to_dict("list")}
    paths = {
        "up": "/endpoints/one/invocations",
        "down": "/endpoints/many/models/down@1/invocations",
    }
    for model, path in paths.items():
        deadline = time.monotonic() + 30
        while True:
            response = httpx.post(f"{server}{path}", json=body, timeout=30)
            if response.status_code != 404 or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        assert response.status_code == 200, response.text
        assert response.json()["predictions"] == expected[model]
    listed = httpx.get(f"{server}/endpoints").json()
    assert {"one", "many"} <= {e["name"] for e in listed}
