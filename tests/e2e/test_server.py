"""`shipyard server` as a real process on a real port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

SHIPYARD = str(Path(sys.executable).with_name("shipyard"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    proc = subprocess.Popen(
        [SHIPYARD, "--home", str(tmp_path / "ws"), "server", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
        if proc.poll() is not None:
            pytest.fail(f"server exited: {proc.stdout.read() if proc.stdout else ''}")
    else:
        proc.kill()
        pytest.fail("server did not become healthy within 60 s")
    yield base
    proc.terminate()
    proc.wait(timeout=30)


def test_the_server_answers_health_version_and_docs(server: str) -> None:
    assert httpx.get(f"{server}/health").json()["status"] == "ok"
    assert "version" in httpx.get(f"{server}/version").json()
    assert httpx.get(f"{server}/openapi.json").json()["info"]["title"] == "Shipyard"
    missing = httpx.get(f"{server}/nope")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_bad_settings_stop_the_server_before_it_listens(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_METADATA_URL"] = "oracle://nope"
    done = subprocess.run(
        [SHIPYARD, "server", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: ") and "oracle" in done.stderr
