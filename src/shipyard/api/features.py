"""Feature store over HTTP: online reads for serving, freshness for operators."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from shipyard.workspace import Workspace

router = APIRouter(tags=["features"])


class OnlineRequest(BaseModel):
    """Entities by their join keys, and the features wanted (or a feature service)."""

    entities: list[dict[str, Any]] = Field(..., min_length=1, examples=[[{"origin": "JFK"}]])
    features: list[str] | None = Field(None, examples=[["weather/temp", "weather/wind_speed"]])
    service: str | None = Field(None, description="A feature service instead of features.")


@router.post("/features/online", summary="Latest feature values per entity, with a status each.")
def get_online(body: OnlineRequest, request: Request) -> dict[str, Any]:
    from shipyard.errors import InvalidInput

    if bool(body.features) == bool(body.service):
        raise InvalidInput("Send either 'features' (a non-empty list) or 'service'.")
    workspace: Workspace = request.app.state.workspace
    wanted = body.service if body.service else body.features
    assert wanted is not None
    return workspace.features.get_online(body.entities, wanted).to_dict()


@router.get("/features/freshness", summary="Each view's last materialized time and lag.")
def freshness(request: Request) -> dict[str, Any]:
    workspace: Workspace = request.app.state.workspace
    return {
        "views": [
            {
                "view": f.view,
                "materialized_until": None
                if f.materialized_until is None
                else f.materialized_until.isoformat(),
                "lag_seconds": None if f.lag is None else f.lag.total_seconds(),
            }
            for f in workspace.features.freshness()
        ]
    }


@router.get("/metrics", summary="Prometheus metrics.", response_class=PlainTextResponse)
def metrics(request: Request) -> str:
    workspace: Workspace = request.app.state.workspace
    lines = [
        "# HELP shipyard_feature_view_lag_seconds Seconds since the last materialized event time.",
        "# TYPE shipyard_feature_view_lag_seconds gauge",
    ]
    for fresh in workspace.features.freshness():
        if fresh.lag is not None:
            lines.append(
                f'shipyard_feature_view_lag_seconds{{view="{fresh.view}"}} '
                f"{fresh.lag.total_seconds():.3f}"
            )
    return "\n".join(lines) + "\n"
