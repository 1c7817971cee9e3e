"""Shared fixtures. Tests that need a service find it through a setting:

- SHIPYARD_TEST_POSTGRES_URL: a PostgreSQL database the tests may create databases from.
- SHIPYARD_TEST_REDIS_URL: a Redis database the tests may write keys to (each test uses
  its own key prefix and removes its keys afterwards).
- SHIPYARD_TEST_S3_ENDPOINT: an S3-compatible server (moto's; tests/s3_server.py). Unset,
  the tests start moto's server themselves, so S3 tests skip only when moto or s3fs is
  missing.

Without it those tests are skipped with the reason shown; with
SHIPYARD_TEST_REQUIRE_SERVICES=1 (set by .ci/run) a missing service fails them instead,
so nothing is skipped silently in CI.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

POSTGRES_ENV = "SHIPYARD_TEST_POSTGRES_URL"
REDIS_ENV = "SHIPYARD_TEST_REDIS_URL"
REQUIRE_ENV = "SHIPYARD_TEST_REQUIRE_SERVICES"


def need_service(env_name: str, what: str) -> str:
    """The service URL from ``env_name``; skip (or fail in CI) when it is not set."""
    url = os.environ.get(env_name)
    if url:
        return url
    message = f"{what} not configured: set {env_name} to run this test"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{message} ({REQUIRE_ENV}=1 forbids skipping)")
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's SHIPYARD_* settings or a stray shipyard.toml."""
    for name in list(os.environ):
        if name.startswith("SHIPYARD_") and not name.startswith("SHIPYARD_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped after the test."""
    admin_url = need_service(POSTGRES_ENV, "PostgreSQL")
    import sqlalchemy as sa

    name = f"shipyard_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis URL with a fresh key prefix (``?prefix=``); the prefix's keys are removed after."""
    base = need_service(REDIS_ENV, "Redis")
    import redis

    prefix = f"shipyard-test-{uuid.uuid4().hex[:12]}:"
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}prefix={prefix}"
    client = redis.Redis.from_url(base)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(scope="session")
def s3_service() -> Iterator[Any]:
    """An S3 server and a bucket for this session (tests/s3_server.py): the AWS variables
    that reach it stay in ``os.environ`` until the session ends, for subprocesses too."""
    from tests.s3_server import ENDPOINT_ENV, missing_libraries, s3_service

    missing = missing_libraries()
    if missing:
        message = (
            f"S3 not available: {' and '.join(missing)} not installed "
            f"(the dev extra has both; with {ENDPOINT_ENV} set, s3fs is enough)"
        )
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{message} ({REQUIRE_ENV}=1 forbids skipping)")
        pytest.skip(message)
    with s3_service() as service:
        yield service


@pytest.fixture
def s3_url(s3_service: Any) -> str:
    """``s3://BUCKET/PREFIX`` with a prefix of this test's own, on the session's S3 server."""
    return str(s3_service.new_url())


@pytest.fixture(params=["sqlite", "redis"])
def online_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each online store backend in turn: a SQLite file, then Redis under a fresh prefix."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'online.db'}"
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture(params=["sqlite", "postgresql"])
def metadata_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each metadata backend in turn: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'metadata.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def workspace(metadata_url: str, tmp_path: Path) -> Iterator[object]:
    """A workspace on each metadata backend (PostgreSQL migrated first, as an operator would)."""
    import shipyard
    from shipyard.stores.metadata import open_metadata_store

    if not metadata_url.startswith("sqlite"):
        store = open_metadata_store(metadata_url)
        store.upgrade()
        store.close()
    with shipyard.connect(tmp_path / "home", metadata_url=metadata_url) as ws:
        yield ws


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(base: str, proc: Any = None, timeout: float = 60) -> None:
    """Wait until ``base``/health answers 200; fail if ``proc`` exits first or time runs out."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"server exited: {proc.stdout.read() if proc.stdout else ''}")
    pytest.fail(f"server did not become healthy within {timeout:.0f} s")


@pytest.fixture
def shipyard_server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """`shipyard server` as installed, as its own process on a free port: (base URL, pid)."""
    import subprocess
    import sys

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    shipyard = str(Path(sys.executable).with_name("shipyard"))
    proc = subprocess.Popen(
        [shipyard, "--home", str(tmp_path / "ws"), "server", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc)
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    return free_port()


@pytest.fixture
def healthy() -> Any:
    """``wait_healthy(base, proc=None)``: wait until a server started by the test answers."""
    return wait_healthy


@contextmanager
def serving_in_thread(home: Path, **options: Any) -> Iterator[tuple[str, Any]]:
    """The serving app over every endpoint of ``home`` (``options`` go to
    ``create_serving_app``) on uvicorn in a thread of this process: (base URL, app)."""
    import uvicorn

    import shipyard
    from shipyard.serving.app import create_serving_app

    runtime = shipyard.open_runtime(home)
    app = create_serving_app(runtime, **options)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base)
        yield base, app
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.serving.stop()
        runtime.close()
