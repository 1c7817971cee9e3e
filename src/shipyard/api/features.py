"""Feature store over HTTP: online reads for serving, freshness for operators."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import PlainTextResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from shipyard.api.disconnect import run_while_connected
from shipyard.api.limits import Limits
from shipyard.api.request_model import RequestModel
from shipyard.errors import InvalidInput
from shipyard.features.online import ReadStopped
from shipyard.workspace import Workspace

router = APIRouter(tags=["features"])
log = logging.getLogger("shipyard.api")

CLIENT_GONE = 499  # nginx's "client closed request": for the access log; nobody reads it


class OnlineRequest(RequestModel):
    """Entities by their join keys, and the features wanted (or a feature service)."""

    entities: list[dict[str, Any]] = Field(..., min_length=1, examples=[[{"origin": "JFK"}]])
    features: list[str] | None = Field(None, examples=[["weather/temp", "weather/wind_speed"]])
    service: str | None = Field(None, description="A feature service instead of features.")


@router.post(
    "/features/online",
    summary="Latest feature values per entity, with a status each.",
    description="At most max_request_items values (entities x features) per request; "
    'a join key must have its view\'s type (5, not "5", for an integer key).',
)
async def get_online(body: OnlineRequest, request: Request) -> dict[str, Any]:
    if bool(body.features) == bool(body.service):
        raise InvalidInput("Send either 'features' (a non-empty list) or 'service'.")
    workspace: Workspace = request.app.state.workspace
    limits: Limits = request.app.state.limits
    wanted = body.service if body.service else body.features
    assert wanted is not None
    width = await run_in_threadpool(workspace.features.online_width, wanted)
    limits.check_items(
        len(body.entities) * width,
        f"values ({len(body.entities):,} entities x {width} features)",
    )
    try:
        result = await run_while_connected(
            request,
            lambda stopped: workspace.features.get_online(body.entities, wanted, stop=stopped),
        )
    except ReadStopped:
        log.info(
            "online read of %d entities abandoned: the client disconnected", len(body.entities)
        )
        raise HTTPException(CLIENT_GONE, detail="The client closed the request.") from None
    return result.to_dict()


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
                "last_event": None if f.last_event is None else f.last_event.isoformat(),
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
