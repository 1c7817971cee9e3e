"""Later months of a dataset replayed through a live endpoint, in time order.

Each hour's rows go as one request stating the hour as its event time
(``X-Shipyard-Event-Time``) and carrying what the caller knows then: the entity keys and
the model's other inputs (for flights, the schedule). The endpoint fills the features of
its views from the online store, which is materialized up to each hour before its
request, so a request sees what was known at its time. Each request's labels arrive a
day later, as ground truth; its business outcome counts the rows labelled positive that
the model called positive (for flights, the passengers rebooked: late and predicted late).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from shipyard.errors import BackendUnavailable

if TYPE_CHECKING:
    from shipyard.quickstart.lifecycle_config import LifecycleConfig
    from shipyard.workspace import Workspace

LABEL_DELAY = timedelta(days=1)


@dataclass
class ReplayLog:
    """What a replay sent and got: requests per variant, and the feedback it posted."""

    requests: int = 0
    rows: int = 0
    variants: dict[str, int] = field(default_factory=dict)
    labels: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)


def hours_of(
    rows: pd.DataFrame, time_column: str, start: datetime, end: datetime
) -> list[tuple[datetime, Any]]:
    """The rows from ``start`` to ``end``, grouped by the hour of ``time_column``, in order."""
    times = rows[time_column]
    chosen = rows[(times >= pd.Timestamp(start)) & (times < pd.Timestamp(end))]
    by_hour = chosen.groupby(chosen[time_column].dt.floor("h"), sort=True)
    return [(pd.Timestamp(hour).to_pydatetime(), group) for hour, group in by_hour]


class Replayer:
    """Sends hours of departures to ``endpoint`` at ``base`` and posts their feedback."""

    def __init__(
        self,
        ws: Workspace,
        base: str,
        config: LifecycleConfig,
        columns: list[str],
        views: list[str],
    ) -> None:
        import httpx

        self.ws = ws
        self.url = f"{base}/endpoints/{config.endpoint}/invocations"
        self.endpoint = config.endpoint
        self.target = config.target
        self.outcome = config.outcome
        self.columns = columns
        self.views = views
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
                if self.views:
                    self.ws.features.materialize_incremental(self.views, end=at)
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
        headers = {
            "X-Shipyard-Event-Time": at.isoformat(),
            "X-Shipyard-Key": at.isoformat(),
            "X-Shipyard-Extra-Columns": "ignore",  # each variant takes the columns it needs
        }
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
        late = group[self.target].astype(bool).tolist()
        request_id = answer["request_id"]
        known = (at + LABEL_DELAY).isoformat()
        label = {"request_id": request_id, "label": late, "time": known}
        log.labels.append(label)
        self._labels.append(label)
        # The business event: rows labelled positive that the model called positive.
        events = sum(1 for p, y in zip(answer["predictions"], late, strict=True) if p and y)
        if events:
            outcome = {"request_id": request_id, "event": self.outcome, "value": events,
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
