"""What the monitoring store keeps, and the interface its backends implement."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ALARM_STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")


@dataclass(frozen=True)
class SeriesPoint:
    """One value of one monitored series over ``[start, end)`` (see
    :mod:`shipyard.monitoring.series`).

    ``flagged`` says the value broke its rule (drift found, a quality drop); ``detail``
    holds what explains it (the thresholds, the test's effect size, an interval).
    """

    endpoint: str
    variant: str
    stage: str
    metric: str
    feature: str
    start: datetime
    end: datetime
    value: float | None
    p_value: float | None = None
    flagged: bool = False
    rows: int = 0
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str, str, str, datetime, datetime]:
        """What identifies the point: a recomputed window replaces the point of this key."""
        return (self.endpoint, self.variant, self.stage, self.metric, self.feature,
                self.start, self.end)  # fmt: skip


@dataclass(frozen=True)
class WindowProfile:
    """The stored profile of one hour of capture (one variant, one stage)."""

    endpoint: str
    variant: str
    stage: str
    hour: datetime
    rows: int
    files: tuple[str, ...]
    artifact: str
    updated_at: datetime


@dataclass(frozen=True)
class Alarm:
    """A rule on monitored series with actions, and its current state at ``revision``."""

    name: str
    endpoint: str
    spec: Mapping[str, Any]
    state: str
    reason: str
    revision: int
    state_changed_at: datetime
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class AlarmEvent:
    """One change of an alarm's state, with the values that caused it and what was done."""

    alarm: str
    at: datetime
    old_state: str
    new_state: str
    reason: str
    detail: Mapping[str, Any]


class MonitorStore(abc.ABC):
    """Window profiles, series points and alarms, each written in one transaction."""

    # -- window profiles -------------------------------------------------------------------

    @abc.abstractmethod
    def profile(
        self, endpoint: str, variant: str, stage: str, hour: datetime
    ) -> WindowProfile | None:
        """The stored profile of that hour, or None."""

    @abc.abstractmethod
    def put_profile(self, profile: WindowProfile) -> None:
        """Create or replace the profile of its (endpoint, variant, stage, hour)."""

    # -- series ----------------------------------------------------------------------------

    @abc.abstractmethod
    def put_points(self, points: Sequence[SeriesPoint]) -> None:
        """Write points, replacing any stored point of the same key, in one transaction."""

    @abc.abstractmethod
    def points(
        self,
        endpoint: str,
        *,
        stage: str | None = None,
        metric: str | None = None,
        feature: str | None = None,
        variant: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[SeriesPoint]:
        """Points of ``endpoint`` whose window starts in ``[start, end)``, oldest first."""

    # -- alarms ----------------------------------------------------------------------------

    @abc.abstractmethod
    def put_alarm(self, name: str, endpoint: str, spec: Mapping[str, Any], *, by: str) -> Alarm:
        """Create an alarm (state INSUFFICIENT_DATA) or replace the spec of an existing one."""

    @abc.abstractmethod
    def alarm(self, name: str) -> Alarm:
        """One alarm; NotFound if there is none."""

    @abc.abstractmethod
    def alarms(self, endpoint: str | None = None) -> list[Alarm]:
        """Every alarm (of ``endpoint``), by name."""

    @abc.abstractmethod
    def delete_alarm(self, name: str) -> None:
        """Remove an alarm and its history; NotFound if there is none."""

    @abc.abstractmethod
    def set_alarm_state(
        self,
        name: str,
        state: str,
        reason: str,
        *,
        expected_revision: int,
        detail: Mapping[str, Any] | None = None,
    ) -> Alarm | None:
        """Move an alarm to ``state`` by compare-and-set on its revision, appending an event
        when the state changes; None when another writer moved it first."""

    @abc.abstractmethod
    def alarm_history(self, name: str, *, limit: int = 100) -> list[AlarmEvent]:
        """An alarm's state changes, newest first."""
