"""The app factory: health, version, docs, and errors as JSON with the right status."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from pydantic import BaseModel

import shipyard
from shipyard.api.app import ROUTERS, create_app
from shipyard.config import load_settings
from shipyard.errors import ERRORS_BY_CODE, AccessDenied, NotFound

probe = APIRouter()


class Payload(BaseModel):
    rows: int


@probe.get("/probe/raise/{code}")
def raise_error(code: str) -> None:
    raise ERRORS_BY_CODE[code]("probe says no", hint="do something else")


@probe.post("/probe/echo")
def echo(payload: Payload) -> dict[str, int]:
    return {"rows": payload.rows}


@probe.get("/probe/bug")
def bug() -> None:
    raise ZeroDivisionError("secret internals")


@pytest.fixture
def client(workspace: shipyard.Workspace) -> TestClient:
    app = create_app(workspace, routers=(*ROUTERS, probe))
    return TestClient(app, raise_server_exceptions=False)


def test_health_and_version(client: TestClient) -> None:
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert health.json()["schema"] == health.json()["schema_expected"]
    assert client.get("/version").json() == {"version": shipyard.__version__}


def test_openapi_docs(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/health", "/version"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize("code", sorted(ERRORS_BY_CODE))
def test_shipyard_errors_map_to_their_status(client: TestClient, code: str) -> None:
    response = client.get(f"/probe/raise/{code}")
    cls = ERRORS_BY_CODE[code]
    assert response.status_code == cls.http_status
    expected = {"error": code, "message": "probe says no", "hint": "do something else"}
    assert response.json() == expected


def test_access_denied_and_not_found_are_4xx(client: TestClient) -> None:
    assert client.get("/probe/raise/access_denied").status_code == AccessDenied.http_status == 403
    assert client.get("/probe/raise/not_found").status_code == NotFound.http_status == 404


def test_a_bad_payload_is_a_422_that_says_what_was_wrong(client: TestClient) -> None:
    response = client.post("/probe/echo", json={"rows": "many"})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_input" and "rows" in body["message"]
    assert client.post("/probe/echo", content=b"{not json").status_code == 422


def test_unknown_routes_and_methods(client: TestClient) -> None:
    missing = client.get("/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert client.delete("/health").status_code == 405


def test_a_bug_is_a_500_without_internals(client: TestClient) -> None:
    response = client.get("/probe/bug")
    assert response.status_code == 500
    assert response.json()["error"] == "internal"
    assert "secret" not in response.text and "Traceback" not in response.text


def test_an_app_from_settings_opens_and_closes_its_workspace(tmp_path: Path) -> None:
    app = create_app(settings=load_settings(tmp_path / "ws"))
    with TestClient(app) as client:
        assert client.get("/health").json()["status"] == "ok"
    assert (tmp_path / "ws" / "metadata.db").is_file()
