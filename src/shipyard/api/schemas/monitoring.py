"""Monitoring (``monitor points --json``, ``alarms ... --json`` and the HTTP routes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import JsonValue

from shipyard.api.schemas.base import Schema, Timestamp

if TYPE_CHECKING:
    from shipyard.stores.monitoring import Alarm as StoredAlarm
    from shipyard.stores.monitoring import AlarmEvent as StoredAlarmEvent
    from shipyard.stores.monitoring import SeriesPoint


class Accepted(Schema):
    """How many records were stored."""

    accepted: int


class Point(Schema):
    """One value of a monitored series over [start, end)."""

    variant: str
    stage: str
    metric: str
    feature: str
    start: Timestamp
    end: Timestamp
    value: float | None
    p_value: float | None
    flagged: bool
    rows: int
    detail: dict[str, JsonValue]

    @classmethod
    def from_domain(cls, point: SeriesPoint) -> Point:
        from shipyard.jsonsafe import jsonable

        return cls(
            variant=point.variant, stage=point.stage, metric=point.metric,
            feature=point.feature, start=point.start, end=point.end, value=point.value,
            p_value=point.p_value, flagged=point.flagged, rows=point.rows,
            detail=jsonable(dict(point.detail)),
        )  # fmt: skip


class Alarm(Schema):
    """An alarm: its rule and actions, and its current state."""

    name: str
    endpoint: str
    spec: dict[str, JsonValue]
    state: str
    reason: str
    revision: int
    state_changed_at: Timestamp
    created_at: Timestamp
    created_by: str

    @classmethod
    def from_domain(cls, alarm: StoredAlarm) -> Alarm:
        from shipyard.jsonsafe import jsonable

        return cls(
            name=alarm.name, endpoint=alarm.endpoint, spec=jsonable(dict(alarm.spec)),
            state=alarm.state, reason=alarm.reason, revision=alarm.revision,
            state_changed_at=alarm.state_changed_at, created_at=alarm.created_at,
            created_by=alarm.created_by,
        )  # fmt: skip


class AlarmEvent(Schema):
    """One change of an alarm's state."""

    alarm: str
    at: Timestamp
    old_state: str
    new_state: str
    reason: str
    detail: dict[str, JsonValue]

    @classmethod
    def from_domain(cls, event: StoredAlarmEvent) -> AlarmEvent:
        from shipyard.jsonsafe import jsonable

        return cls(
            alarm=event.alarm, at=event.at, old_state=event.old_state,
            new_state=event.new_state, reason=event.reason, detail=jsonable(dict(event.detail)),
        )  # fmt: skip
