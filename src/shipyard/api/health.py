"""Liveness and version: what a load balancer and an operator ask first."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from shipyard.api.deps import RuntimeDep
from shipyard.api.schemas import to_jsonable
from shipyard.api.schemas.health import Health, Version

router = APIRouter(tags=["health"])

UNAVAILABLE = "The metadata store is unreachable, or its schema is not the one Shipyard needs."


@router.get(
    "/health",
    summary="Is the server up and its metadata store reachable?",
    response_model=Health,
    responses={503: {"model": Health, "description": UNAVAILABLE}},
)
def health(runtime: RuntimeDep) -> JSONResponse:
    found = Health.from_domain(runtime.metadata)
    return JSONResponse(to_jsonable(found), status_code=200 if found.healthy else 503)


@router.get("/version", summary="The Shipyard version this server runs.", response_model=Version)
def version() -> Version:
    return Version.current()
