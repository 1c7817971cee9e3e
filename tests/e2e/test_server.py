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
