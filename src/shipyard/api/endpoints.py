"""Serving endpoints on the control plane: read them (the invocation routes are the
data plane's, in :mod:`shipyard.serving`)."""

from __future__ import annotations

from fastapi import APIRouter

from shipyard.api.deps import WorkspaceDep
from shipyard.api.schemas.endpoints import Endpoint

router = APIRouter(tags=["endpoints"])


@router.get(
    "/endpoints",
    summary="Every endpoint the caller may read, by name.",
    response_model=list[Endpoint],
)
def list_endpoints(workspace: WorkspaceDep) -> list[Endpoint]:
    return [Endpoint.from_domain(e) for e in workspace.endpoints.list()]


@router.get(
    "/endpoints/{name}",
    summary="One endpoint: its revision, variants with weights and shares, and spec.",
    response_model=Endpoint,
)
def get_endpoint(name: str, workspace: WorkspaceDep) -> Endpoint:
    return Endpoint.from_domain(workspace.endpoints.get(name))
