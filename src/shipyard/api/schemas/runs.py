"""Tracked runs (``runs show --json``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, JsonValue

from shipyard.api.schemas.base import Schema, Timestamp

if TYPE_CHECKING:
    from shipyard.stores.tracking import RunInfo


class Run(Schema):
    """Everything recorded about one run; ``metrics`` holds each metric's latest value."""

    uid: str
    experiment: str
    name: str
    parent: str | None = Field(description="The parent run's uid.")
    status: Literal["running", "finished", "failed", "killed"]
    start_time: Timestamp
    end_time: Timestamp | None
    created_by: str
    params: dict[str, str]
    metrics: dict[str, float] = Field(description="Each metric's latest value (finite).")
    tags: dict[str, str]
    artifacts: dict[str, str] = Field(description="Path -> sha256 digest.")
    notes: str
    record: dict[str, JsonValue] = Field(
        description="How the run was made: seed, python, code, data, split."
    )
    heartbeat: Timestamp | None = Field(
        description="When its process last said it was alive (null: not tracked)."
    )

    @classmethod
    def from_domain(cls, info: RunInfo) -> Run:
        from shipyard.jsonsafe import jsonable

        return cls(
            uid=info.uid,
            experiment=info.experiment,
            name=info.name,
            parent=info.parent,
            status=info.status,
            start_time=info.start_time,
            end_time=info.end_time,
            created_by=info.created_by,
            params=dict(info.params),
            metrics=dict(info.metrics),
            tags=dict(info.tags),
            artifacts=dict(info.artifacts),
            notes=info.notes,
            record=jsonable(dict(info.record)),
            heartbeat=info.heartbeat,
        )
