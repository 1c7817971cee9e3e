"""Feature store over HTTP: online reads for serving, freshness for operators and Prometheus."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from prometheus_client.core import GaugeMetricFamily, Metric
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from shipyard.api.deps import LimitsDep, WorkspaceDep
from shipyard.api.disconnect import run_while_connected
from shipyard.api.metrics import WorkspaceSource
from shipyard.api.request_model import RequestModel
from shipyard.api.schemas.features import Freshness, OnlineRead
from shipyard.errors import InvalidInput
from shipyard.features.online import ReadStopped

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
    response_model=OnlineRead,
)
async def get_online(
    body: OnlineRequest, request: Request, workspace: WorkspaceDep, limits: LimitsDep
) -> OnlineRead:
    if bool(body.features) == bool(body.service):
        raise InvalidInput("Send either 'features' (a non-empty list) or 'service'.")
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
    return OnlineRead.from_domain(result)


@router.get(
    "/features/freshness",
    summary="Each view's last materialized time and lag.",
    response_model=Freshness,
)
def freshness(workspace: WorkspaceDep) -> Freshness:
    return Freshness.from_domain(workspace.features.freshness())


class FeatureLagCollector:
    """``shipyard_feature_view_lag_seconds{view=...}``, read from the stores at each scrape.

    One gauge per materialized view: the seconds since its newest materialized
    event time. Views never materialized are left out.
    """

    NAME = "shipyard_feature_view_lag_seconds"
    HELP = "Seconds since the last materialized event time."

    def __init__(self, workspace: WorkspaceSource) -> None:
        self._workspace = workspace

    def describe(self) -> Iterator[Metric]:
        # Names only: registering the collector does not read the stores.
        yield GaugeMetricFamily(self.NAME, self.HELP, labels=["view"])

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(self.NAME, self.HELP, labels=["view"])
        for fresh in self._workspace().features.freshness():
            if fresh.lag is not None:
                gauge.add_metric([fresh.view], round(fresh.lag.total_seconds(), 3))
        yield gauge
