"""Monitoring over HTTP: ground truth and business outcomes posted for an endpoint's
requests, and the monitored series read back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from shipyard.api.deps import LimitsDep, WorkspaceDep
from shipyard.api.request_model import RequestModel
from shipyard.api.schemas.monitoring import Accepted, Point

router = APIRouter(tags=["monitoring"])


class FeedbackPost(RequestModel):
    """Records about earlier requests, each naming its request by id or routing key."""

    records: list[dict[str, Any]] = Field(
        ...,
        min_length=1,
        examples=[[{"request_id": "0b5e...", "label": 1, "time": "2024-03-01T10:00:00Z"}]],
    )


@router.post(
    "/endpoints/{name}/ground-truth",
    summary="Labels for earlier requests (by request_id or key), for the quality series.",
    response_model=Accepted,
    status_code=202,
)
def post_ground_truth(
    name: str, body: FeedbackPost, workspace: WorkspaceDep, limits: LimitsDep
) -> Accepted:
    limits.check_items(len(body.records), "records")
    return Accepted(accepted=workspace.monitoring.ground_truth(name, body.records))


@router.post(
    "/endpoints/{name}/outcomes",
    summary="Business outcomes (event, value) for earlier requests, rates per variant.",
    response_model=Accepted,
    status_code=202,
)
def post_outcomes(
    name: str, body: FeedbackPost, workspace: WorkspaceDep, limits: LimitsDep
) -> Accepted:
    limits.check_items(len(body.records), "records")
    return Accepted(accepted=workspace.monitoring.outcomes(name, body.records))


@router.get(
    "/endpoints/{name}/monitoring/points",
    summary="Monitored series points of an endpoint, oldest window first.",
    response_model=list[Point],
)
def get_points(
    name: str,
    workspace: WorkspaceDep,
    stage: str | None = None,
    metric: str | None = None,
    feature: str | None = None,
    variant: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[Point]:
    found = workspace.monitoring.points(
        name, stage=stage, metric=metric, feature=feature, variant=variant, start=start, end=end
    )
    return [Point.from_domain(p) for p in found]
