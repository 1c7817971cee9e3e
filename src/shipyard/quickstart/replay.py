"""Later months of flights replayed through a live endpoint, in time order.

Each hour's departures go as one request stating the hour as its event time
(``X-Shipyard-Event-Time``) and carrying what a booking system knows then: the entity
keys and the schedule. The endpoint fills weather and carrier features from the online
store, which is materialized up to each hour before its request, so a request sees
what was known at its time. Each request's labels (late or not) arrive a day later, as
ground truth; its business outcome is the number of passengers' flights rebooked
(flights late that the model called late).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from shipyard.errors import BackendUnavailable

if TYPE_CHECKING:
    from shipyard.workspace import Workspace

VIEWS = ("weather", "carrier_daily")
LABEL_DELAY = timedelta(days=1)


@dataclass
class ReplayLog:
    """What a replay sent and got: requests per variant, and the feedback it posted."""

    requests: int = 0
    rows: int = 0
    variants: dict[str, int] = field(default_factory=dict)
    labels: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)


def hours_of(flights: pd.DataFrame, start: datetime, end: datetime) -> list[tuple[datetime, Any]]:
    """The departures from ``start`` to ``end``, grouped by scheduled hour, in order."""
    chosen = flights[(flights["event_timestamp"] >= pd.Timestamp(start))
                     & (flights["event_timestamp"] < pd.Timestamp(end))]  # fmt: skip
    by_hour = chosen.groupby(chosen["event_timestamp"].dt.floor("h"), sort=True)
    return [(pd.Timestamp(hour).to_pydatetime(), group) for hour, group in by_hour]


class Replayer:
    """Sends hours of departures to ``endpoint`` at ``base`` and posts their feedback."""

    def __init__(self, ws: Workspace, base: str, endpoint: str, columns: list[str]) -> None:
        import httpx

        self.ws = ws
        self.url = f"{base}/endpoints/{endpoint}/invocations"
        self.endpoint = endpoint
        self.columns = columns
        self.client = httpx.Client(timeout=60)
        self._materialized: datetime | None = None  # the online store is up to here
        self._labels: list[dict[str, Any]] = []  # known a day after their request
        self._outcomes: list[dict[str, Any]] = []

    def send(
        self,
        hours: list[tuple[datetime, Any]],
        log: ReplayLog,
        *,
        on_hour: Callable[[datetime], None] | None = None,
        feedback: bool = True,
    ) -> ReplayLog:
        """Replay ``hours`` in order; labels are posted once a day has passed."""
        for at, group in hours:
            if self._materialized is None or at > self._materialized:  # a loop goes back
                self.ws.features.materialize_incremental(list(VIEWS), end=at)
                self._materialized = at
            answer = self._invoke(at, group)
            log.requests += 1
            log.rows += len(group)
            variant = answer["variant"]
            log.variants[variant] = log.variants.get(variant, 0) + 1
            if feedback:
                self._feedback(at, group, answer, log)
            if on_hour is not None:
                on_hour(at)
        return log

    def _invoke(self, at: datetime, group: pd.DataFrame) -> dict[str, Any]:
        body = {"columns": {c: group[c].tolist() for c in self.columns}}
        headers = {"X-Shipyard-Event-Time": at.isoformat(), "X-Shipyard-Key": at.isoformat()}
        answer = self.client.post(self.url, json=body, headers=headers)
        if answer.status_code != 200:
            raise BackendUnavailable(
                f"The replay's request for {at:%Y-%m-%d %H:00} got {answer.status_code}: "
                f"{answer.text[:300]}"
            )
        found: dict[str, Any] = answer.json()
        return found

    def _feedback(self, at: datetime, group: Any, answer: dict[str, Any], log: ReplayLog) -> None:
        """The request's labels and outcome, known a day later: posted in daily batches."""
        late = group["late"].astype(bool).tolist()
        request_id = answer["request_id"]
        known = (at + LABEL_DELAY).isoformat()
        label = {"request_id": request_id, "label": late, "time": known}
        log.labels.append(label)
        self._labels.append(label)
        rebooked = sum(1 for p, y in zip(answer["predictions"], late, strict=True) if p and y)
        if rebooked:
            outcome = {"request_id": request_id, "event": "rebooked", "value": rebooked,
                       "time": known}  # fmt: skip
            log.outcomes.append(outcome)
            self._outcomes.append(outcome)
        if self._labels and self._labels[0]["time"] <= (at - LABEL_DELAY).isoformat():
            self.post_feedback(until=at)

    def post_feedback(self, until: datetime | None = None) -> None:
        """Post the labels and outcomes known by ``until`` (all of them when None)."""
        cut = None if until is None else until.isoformat()
        for kind, pending in (("labels", self._labels), ("outcomes", self._outcomes)):
            due = [r for r in pending if cut is None or r["time"] <= cut]
            if not due:
                continue
            if kind == "labels":
                self.ws.monitoring.ground_truth(self.endpoint, due)
            else:
                self.ws.monitoring.outcomes(self.endpoint, due)
            pending[:] = [r for r in pending if not (cut is None or r["time"] <= cut)]

    def close(self) -> None:
        self.client.close()
