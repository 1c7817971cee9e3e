"""The HTTP layer's dependencies: every request gets a workspace of the app's one runtime
(no connection opened per request), acting as the principal the seam says."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.testclient import TestClient

import shipyard
from shipyard.api.app import ROUTERS, build_app, create_app
from shipyard.api.deps import WorkspaceDep, get_principal
from shipyard.config import load_settings
from shipyard.runtime import Runtime

probe = APIRouter()


@probe.get("/probe/workspace")
def which_workspace(workspace: WorkspaceDep) -> dict[str, Any]:
    engine = workspace.metadata.engine  # type: ignore[attr-defined]
    return {
        "workspace": id(workspace),
        "runtime": id(workspace.runtime),
        "pool": id(engine.pool),
        "principal": workspace.principal,
        # A service of the workspace: exists once, so it is reused by the next request.
        "features": id(workspace.features),
    }


@pytest.fixture
def runtime(metadata_url: str, tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on each metadata backend (PostgreSQL migrated first)."""
    from shipyard.stores.metadata import open_metadata_store

    if not metadata_url.startswith("sqlite"):
        store = open_metadata_store(metadata_url)
        store.upgrade()
        store.close()
    with shipyard.open_runtime(tmp_path / "home", metadata_url=metadata_url) as opened:
        yield opened


def test_requests_share_the_runtime_and_open_no_connection_each(runtime: Runtime) -> None:
    engine = runtime.metadata.engine  # type: ignore[attr-defined]
    connects: list[object] = []
    sa.event.listen(engine, "connect", lambda *_: connects.append(1))
    client = TestClient(create_app(runtime=runtime, routers=(*ROUTERS, probe)))
    first = client.get("/probe/workspace").json()
    assert client.get("/health").status_code == 200
    opened = len(connects)
    seen = [client.get("/probe/workspace").json() for _ in range(30)]
    for _ in range(10):
        assert client.get("/health").status_code == 200
    assert len(connects) == opened, "a request opened a database connection of its own"
    assert {s["runtime"] for s in seen} == {first["runtime"]} == {id(runtime)}
    assert {s["pool"] for s in seen} == {id(engine.pool)}
    # One workspace per principal, kept: its services (and their caches) outlive a request.
    assert {(s["workspace"], s["features"]) for s in seen} == {
        (first["workspace"], first["features"])
    }
    assert first["principal"] == runtime.settings.principal


def test_the_principal_comes_from_one_seam(workspace: shipyard.Workspace) -> None:
    alice = workspace.as_principal("alice")
    app = create_app(alice, routers=(*ROUTERS, probe))
    client = TestClient(app)
    served = client.get("/probe/workspace").json()
    # The workspace the app was given is served as is to its principal.
    assert served["principal"] == "alice" and served["workspace"] == id(alice)
    # What authentication will do: replace get_principal, and every route follows.
    app.dependency_overrides[get_principal] = lambda: "Bob"
    bob = client.get("/probe/workspace").json()
    assert bob["principal"] == "bob" and bob["runtime"] == id(workspace.runtime)
    assert client.get("/probe/workspace").json()["workspace"] == bob["workspace"]


def test_an_app_from_settings_opens_its_runtime_at_start_and_closes_it(tmp_path: Path) -> None:
    app = create_app(settings=load_settings(tmp_path / "ws"), routers=(*ROUTERS, probe))
    early = TestClient(app).get("/probe/workspace")  # no start-up has run: no stores yet
    assert early.status_code == 503 and early.json()["error"] == "backend_unavailable"
    with TestClient(app) as client:
        assert client.get("/probe/workspace").status_code == 200
        assert client.get("/health").json()["status"] == "ok"
        engine = app.state.runtime.metadata.engine
        pool = engine.pool
        assert pool.checkedin() >= 1  # the requests' connections, back in the pool
    # Closed at shutdown: the pool was disposed of (a new, empty one replaces it).
    assert engine.pool is not pool and engine.pool.checkedin() == 0


def test_a_second_plane_has_the_shared_parts_and_its_own_routes(
    workspace: shipyard.Workspace,
) -> None:
    data_plane = build_app(
        title="Shipyard serving",
        description="Inference endpoints.",
        routers=(probe,),
        workspace=workspace,
    )
    client = TestClient(data_plane, raise_server_exceptions=False)
    assert client.get("/probe/workspace").json()["runtime"] == id(workspace.runtime)
    assert client.get("/health").json()["status"] == "ok"
    missing = client.post("/features/online", json={"entities": [{"origin": "JFK"}]})
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    too_big = client.post(
        "/probe/workspace", content=b"x" * (workspace.settings.max_request_bytes + 1)
    )
    assert too_big.status_code == 413 and too_big.json()["error"] == "request_too_large"
    scraped = client.get("/metrics").text
    assert "process_" in scraped or "python_gc_" in scraped
    assert "shipyard_feature_view_lag_seconds" not in scraped  # the control plane's, not its
    assert data_plane.openapi()["info"]["title"] == "Shipyard serving"


def test_build_app_needs_exactly_one_source_of_stores(workspace: shipyard.Workspace) -> None:
    with pytest.raises(ValueError, match="one of workspace, runtime or settings"):
        build_app(title="x", description="x", routers=())
    with pytest.raises(ValueError, match="one of workspace, runtime or settings"):
        build_app(
            title="x", description="x", routers=(), workspace=workspace, runtime=workspace.runtime
        )
