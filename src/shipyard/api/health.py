"""Liveness and version: what a load balancer and an operator ask first."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from shipyard._version import __version__
from shipyard.errors import ShipyardError
from shipyard.workspace import Workspace

router = APIRouter(tags=["health"])


@router.get("/health", summary="Is the server up and its metadata store reachable?")
def health(request: Request) -> JSONResponse:
    workspace: Workspace = request.app.state.workspace
    try:
        status = workspace.metadata.schema_status()
    except ShipyardError as exc:
        return JSONResponse({"status": "unavailable", "metadata": exc.message}, status_code=503)
    healthy = status.up_to_date
    body: dict[str, object] = {
        "status": "ok" if healthy else "unavailable",
        "metadata": workspace.metadata.backend,
        "schema": status.current,
        "schema_expected": status.head,
    }
    return JSONResponse(body, status_code=200 if healthy else 503)


@router.get("/version", summary="The Shipyard version this server runs.")
def version() -> dict[str, str]:
    return {"version": __version__}
