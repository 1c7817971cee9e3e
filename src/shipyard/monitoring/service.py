"""Monitoring as a service (``ws.monitoring``): baselines, monitoring runs, series.

>>> ws.monitoring.baseline("model:delay@3", data="flights-train.parquet")  # doctest: +SKIP
>>> run = ws.monitoring.run("delay", window=timedelta(hours=1))         # doctest: +SKIP
>>> run.violations_document()                                           # doctest: +SKIP
{'violations': [{'feature_name': 'temp', 'constraint_check_type': 'baseline_drift_check', ...}]}

A run reads the capture of each hour in its windows once (the hour's profile is stored
and later runs only add new files), checks each variant's traffic, per model version
that answered, against that version's baseline, and stores every statistic as a
series point; ground truth and outcomes that arrived add quality and outcome points.

Access: ``monitoring:Write`` on ``shipyard:endpoint:NAME`` to run, make baselines
(with ``models:Write`` on the model) and set alarms; ``monitoring:Read`` to read series
and alarms; ``monitoring:Report`` to post ground truth and outcomes.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.engines.given import engine_for, is_default
from shipyard.errors import AccessDenied, InvalidInput, NotFound
from shipyard.monitoring import alarms, feedback
from shipyard.monitoring.baseline import (
    ModelBaseline,
    load_baseline,
    make_baseline,
    validation_scores,
)
from shipyard.monitoring.cbpe import Calibration, calibration
from shipyard.monitoring.checks import Violation, WindowCheck, check_window, violations_document
from shipyard.monitoring.estimated import estimated_points
from shipyard.monitoring.joined import feedback_points
from shipyard.monitoring.parallel import update_hours
from shipyard.monitoring.windows import HOUR, variants, window
from shipyard.stores.monitoring import Alarm, AlarmEvent, SeriesPoint

if TYPE_CHECKING:
    from shipyard.engines import Engine
    from shipyard.monitoring.plot import TimelineEvent
    from shipyard.runtime import Runtime
    from shipyard.workspace import Workspace

Authorize = Callable[[str, "str | Sequence[str]"], None]
READ, WRITE, REPORT = "monitoring:Read", "monitoring:Write", "monitoring:Report"
MAX_WINDOWS = 24 * 400  # one run covers at most this many windows


def monitoring_resource(endpoint: str) -> str:
    return f"shipyard:endpoint:{endpoint}"


@dataclass(frozen=True)
class WindowResult:
    """One window of a run: what broke, and why some things were not checked."""

    start: datetime
    end: datetime
    violations: tuple[Violation, ...]
    notes: tuple[str, ...]
    requests: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "requests": self.requests,
            "violations": [v.to_dict() for v in self.violations],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class AlarmChange:
    """An alarm whose state a run changed, and what its actions did."""

    alarm: str
    old_state: str
    new_state: str
    reason: str
    actions: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"alarm": self.alarm, "old_state": self.old_state, "new_state": self.new_state,
                "reason": self.reason, "actions": list(self.actions)}  # fmt: skip


@dataclass(frozen=True)
class MonitorRun:
    """What a monitoring run found, window by window."""

    endpoint: str
    windows: tuple[WindowResult, ...]
    points: tuple[SeriesPoint, ...] = field(repr=False)
    alarms: tuple[AlarmChange, ...] = ()

    @property
    def violations(self) -> tuple[Violation, ...]:
        return tuple(v for w in self.windows for v in w.violations)

    @property
    def ok(self) -> bool:
        return not self.violations

    def violations_document(self) -> dict[str, Any]:
        """Every violation, as ``constraint_violations.json``."""
        return violations_document(self.violations)

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "ok": self.ok,
            **self.violations_document(),
            "windows": [w.to_dict() for w in self.windows],
            "alarms": [a.to_dict() for a in self.alarms],
        }


class MonitoringService:
    """Baselines of model versions and monitoring runs of endpoints."""

    def __init__(self, runtime: Runtime, workspace: Workspace, *, authorize: Authorize) -> None:
        self._runtime = runtime
        self._ws = workspace
        self._authorize = authorize

    @property
    def _home(self) -> Path:
        return Path(self._runtime.settings.home)

    # -- baselines -------------------------------------------------------------------------

    def baseline(
        self,
        model: str,
        data: Any,
        *,
        validation: Any = None,
        target: str | None = None,
        trust: bool = False,
    ) -> ModelBaseline:
        """Make and attach the baseline of ``model`` (``model:NAME@V`` or ``NAME@V``) from
        its training ``data``; ``validation`` with ``target`` adds the quality reference."""
        version = self._version(model)
        return make_baseline(
            self._ws, version, data, validation=validation, target=target, trust=trust
        )

    def get_baseline(self, model: str) -> ModelBaseline | None:
        """The baseline attached to ``model`` (``NAME@V``), or None."""
        version = self._version(model)
        return load_baseline(self._ws, version.name, version.version)

    # -- runs ------------------------------------------------------------------------------

    def run(
        self,
        endpoint: str,
        *,
        window: timedelta = HOUR,
        start: datetime | None = None,
        end: datetime | None = None,
        now: datetime | None = None,
        engine: str | Engine = "local",
        scheduler: str | None = None,
        workers: int | None = None,
    ) -> MonitorRun:
        """Check ``endpoint``'s capture window by window over ``[start, end)``.

        Windows are whole hours: ``window`` is a multiple of an hour. Without ``end``,
        the run covers one window from ``start``, or (without either) the window ending
        with the current hour. ``engine`` (``local``, ``dask`` or an
        :class:`~shipyard.engines.Engine`) profiles the hours not profiled yet on its
        workers first (:mod:`.parallel`); the points stored are the same."""
        self._authorize(WRITE, monitoring_resource(endpoint))
        self._ws.endpoints.get(endpoint)  # NotFound for an endpoint that does not exist
        step, first, last = _windows(window, start, end, now or datetime.now(UTC))
        runtime, baselines = self._runtime, _Baselines(self._ws)
        results: list[WindowResult] = []
        points: list[SeriesPoint] = []
        captured = variants(self._home, endpoint)  # listed once for every window
        if not is_default(engine, scheduler, workers):
            with engine_for(engine, scheduler=scheduler, workers=workers) as runner:
                update_hours(self._home, runtime.monitoring, runtime.artifacts, endpoint,
                             captured, first, last, baselines.kinds, runner)  # fmt: skip
        at = first
        while at < last:
            checks: list[WindowCheck] = []
            requests = 0
            for variant in captured:
                found = window_of(runtime, endpoint, variant, at, at + step, baselines.kinds)
                for model, traffic in sorted(found.items()):
                    requests += traffic.answered + traffic.refused
                    base = baselines.get(model)
                    checks.append(
                        check_window(endpoint, variant, model, traffic, base, at, at + step)
                    )
                    scores = traffic.profiles.get("scores")
                    if base is not None and base.positive is not None and scores is not None:
                        cal = baselines.calibration(model)
                        points += estimated_points(endpoint, variant, model, scores,
                                                   base.positive, cal, at, at + step)  # fmt: skip
            for check in checks:
                points.extend(check.points)
            results.append(
                WindowResult(
                    at,
                    at + step,
                    tuple(v for c in checks for v in c.violations),
                    tuple(n for c in checks for n in c.notes)
                    or (() if requests else ("No captured requests in this window.",)),
                    requests,
                )
            )
            at += step
        points += feedback_points(self._home, endpoint, first, last, step, baselines.info)
        runtime.monitoring.put_points(points)
        changes = self.evaluate_alarms(endpoint)
        return MonitorRun(endpoint, tuple(results), tuple(points), tuple(changes))

    # -- feedback --------------------------------------------------------------------------

    def ground_truth(self, endpoint: str, records: Sequence[Any]) -> int:
        """Store labels for ``endpoint``'s requests (see :mod:`.feedback`); returns how many.
        They count in the quality series when their windows are next computed."""
        return self._append(endpoint, feedback.GROUND_TRUTH, feedback.ground_truth_table(records))

    def outcomes(self, endpoint: str, records: Sequence[Any]) -> int:
        """Store business outcomes (``event``, ``value``) for ``endpoint``'s requests."""
        return self._append(endpoint, feedback.OUTCOMES, feedback.outcome_table(records))

    def _append(self, endpoint: str, kind: str, table: Any) -> int:
        self._authorize(REPORT, monitoring_resource(endpoint))
        self._ws.endpoints.get(endpoint)
        feedback.append(self._home, kind, endpoint, table)
        return int(table.num_rows)

    # -- alarms ----------------------------------------------------------------------------

    def put_alarm(self, name: str, endpoint: str, spec: Mapping[str, Any]) -> Alarm:
        """Create or replace alarm ``name`` on ``endpoint`` (spec: :mod:`.alarms`)."""
        self._authorize(WRITE, monitoring_resource(endpoint))
        self._ws.endpoints.get(endpoint)
        checked = alarms.parse_spec(spec)
        try:  # replacing another endpoint's alarm needs the right to change that one too
            existing = self._runtime.monitoring.alarm(name)
        except NotFound:
            existing = None
        if existing is not None and existing.endpoint != endpoint:
            self._authorize(WRITE, monitoring_resource(existing.endpoint))
        self._authorize_actions(endpoint, checked["actions"])
        return self._runtime.monitoring.put_alarm(name, endpoint, checked, by=self._ws.principal)

    def _authorize_actions(self, endpoint: str, actions: Sequence[Mapping[str, Any]]) -> None:
        """Actions run later as the pipeline principal, so whoever sets them must hold the
        rights they use: running the pipeline (as ``shipyard schedules add`` asks), and
        changing the endpoint (a production one's too) for a rollback."""
        from shipyard.pipeline import load_pipeline
        from shipyard.pipeline.runner import RUN_ACTION

        for action in actions:
            if action["kind"] == "pipeline":
                loaded = load_pipeline(action["path"])  # it loads now, not first at the alarm
                self._authorize(RUN_ACTION, f"shipyard:pipeline:{loaded.name}")
            elif action["kind"] == "rollback":
                self._ws.endpoints._for_writing(endpoint)

    def alarm(self, name: str) -> Alarm:
        found = self._runtime.monitoring.alarm(name)
        self._authorize(READ, monitoring_resource(found.endpoint))
        return found

    def alarms(self, endpoint: str | None = None) -> builtins.list[Alarm]:
        """Alarms (of ``endpoint``) this principal may read, by name."""
        found = self._runtime.monitoring.alarms(endpoint)
        return [a for a in found if self._may(READ, monitoring_resource(a.endpoint))]

    def alarm_history(self, name: str, *, limit: int = 100) -> builtins.list[AlarmEvent]:
        self.alarm(name)
        return self._runtime.monitoring.alarm_history(name, limit=limit)

    def delete_alarm(self, name: str) -> None:
        found = self._runtime.monitoring.alarm(name)
        self._authorize(WRITE, monitoring_resource(found.endpoint))
        self._runtime.monitoring.delete_alarm(name)

    def evaluate_alarms(self, endpoint: str) -> builtins.list[AlarmChange]:
        """Evaluate ``endpoint``'s alarms on its stored series; run the actions of each
        that enters ALARM. Returns the changes."""
        self._authorize(WRITE, monitoring_resource(endpoint))
        return [
            AlarmChange(
                c["alarm"], c["old_state"], c["new_state"], c["reason"], tuple(c["actions"])
            )
            for c in alarms.evaluate_endpoint(self._runtime, endpoint)
        ]

    # -- series ----------------------------------------------------------------------------

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
    ) -> builtins.list[SeriesPoint]:
        """Stored points of ``endpoint``'s series, oldest window first."""
        self._authorize(READ, monitoring_resource(endpoint))
        return self._runtime.monitoring.points(
            endpoint, stage=stage, metric=metric, feature=feature, variant=variant,
            start=start, end=end,
        )  # fmt: skip

    # -- plots -----------------------------------------------------------------------------

    def timeline(self, endpoint: str) -> builtins.list[TimelineEvent]:
        """Deployments (started, promoted, rolled back) and alarm changes of ``endpoint``,
        oldest first: what the drift plot marks on its time axis."""
        from shipyard.monitoring.plot import TimelineEvent

        self._authorize(READ, monitoring_resource(endpoint))
        events = []
        for d in self._ws.deployments.list(endpoint, limit=200):
            model = d.spec.get("model", "?")
            events.append(TimelineEvent(d.created_at, f"{model} {d.strategy}", "deployment"))
            if d.state == "rolled_back":
                events.append(TimelineEvent(d.updated_at, f"{model} rolled back", "rollback"))
            elif d.state == "promoted":
                events.append(TimelineEvent(d.updated_at, f"{model} promoted", "model"))
        for alarm in self._runtime.monitoring.alarms(endpoint):
            for change in self._runtime.monitoring.alarm_history(alarm.name):
                if change.new_state == "ALARM":
                    events.append(TimelineEvent(change.at, f"alarm {alarm.name}", "alarm"))
        return sorted(events, key=lambda e: e.at)

    def plot(
        self,
        endpoint: str,
        *,
        html: str | Path | None = None,
        png: str | Path | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> builtins.list[Path]:
        """Drift, quality and outcomes over time with the deployment timeline, written as
        self-contained HTML (Plotly) and/or PNG; returns the files written."""
        from shipyard.monitoring.plot import drift_figure, drift_png, write_html

        if html is None and png is None:
            raise InvalidInput("Name a file to write: html= and/or png=.")
        points = self.points(endpoint, start=start, end=end)
        events = self.timeline(endpoint)
        if start is not None or end is not None:
            low, high = (
                start or datetime.min.replace(tzinfo=UTC),
                end or datetime.max.replace(tzinfo=UTC),
            )
            events = [e for e in events if low <= e.at < high]
        title = f"endpoint {endpoint}: drift, quality and outcomes over time"
        written = []
        if html is not None:
            written.append(write_html(drift_figure(points, events, title=title), html))
        if png is not None:
            written.append(drift_png(points, events, png, title=title))
        return written

    def drift_profile(
        self,
        endpoint: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        png: str | Path | None = None,
    ) -> dict[str, Any]:
        """How often, how fast and how abruptly ``endpoint``'s data drifts
        (:mod:`.drift_profile`), from its stored series; ``png`` also draws it."""
        from shipyard.monitoring.drift_profile import drift_profile, profile_png

        points = self.points(endpoint, start=start, end=end)
        deployed = [d.created_at for d in self._ws.deployments.list(endpoint, limit=200)]
        found = drift_profile(points, deployed)
        if png is not None:
            profile_png(found, png, title=f"endpoint {endpoint}: drift profile")
        return found

    # -- helpers ---------------------------------------------------------------------------

    def _may(self, action: str, resource: str) -> bool:
        try:
            self._authorize(action, resource)
        except AccessDenied:
            return False
        return True

    def _version(self, text: str) -> Any:
        from shipyard.serving.endpoints import parse_model_ref

        name, version, alias = parse_model_ref(text)
        return self._ws.models.get(name, version, alias=alias)

    def __repr__(self) -> str:
        return f"MonitoringService(principal={self._ws.principal!r})"


def window_of(
    runtime: Runtime,
    endpoint: str,
    variant: str,
    start: datetime,
    end: datetime,
    kinds_of: Callable[[str], Any],
) -> Any:
    return window(
        Path(runtime.settings.home), runtime.monitoring, runtime.artifacts, endpoint, variant,
        start, end, kinds_of,
    )  # fmt: skip


class _Baselines:
    """Each model version's baseline, loaded once per run."""

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws
        self._found: dict[str, ModelBaseline | None] = {}
        self._calibrations: dict[str, Calibration | None] = {}

    def get(self, model: str) -> ModelBaseline | None:
        if model not in self._found:
            name, _, version = model.rpartition("@")
            self._found[model] = (
                load_baseline(self._ws, name, int(version)) if name and version.isdigit() else None
            )
        return self._found[model]

    def info(self, model: str) -> tuple[int | None, tuple[Any, ...] | None, dict[str, float]]:
        """What quality needs of a model version: its positive score column (None for a
        regressor), its classes, and its baseline's validation metrics."""
        base = self.get(model)
        if base is None:
            return None, None, {}
        classes = self._ws.models.get(base.model, base.version).signature.classes
        return base.positive, classes, base.metrics

    def calibration(self, model: str) -> Calibration | None:
        """The model's calibration on its validation scores (None when none were kept)."""
        if model not in self._calibrations:
            base = self.get(model)
            found = None
            if base is not None and base.validation is not None:
                score, label = validation_scores(self._ws, base)
                try:
                    found = calibration(label, score)
                except InvalidInput:  # one class in the validation set: nothing to check
                    found = None
            self._calibrations[model] = found
        return self._calibrations[model]

    def kinds(self, model: str) -> dict[str, dict[str, str]]:
        base = self.get(model)
        if base is None:
            return {}
        inputs: dict[str, str] = dict(base.input.statistics.kinds)
        outputs: dict[str, str] = dict(base.outputs.statistics.kinds) if base.outputs else {}
        return {"input": inputs, "enriched": inputs, "scores": outputs, "output": outputs}


def _windows(
    window: timedelta, start: datetime | None, end: datetime | None, now: datetime
) -> tuple[timedelta, datetime, datetime]:
    """The step and the whole-hour bounds of a run's windows (see :meth:`run`)."""
    if not isinstance(window, timedelta) or window < HOUR or window % HOUR:
        raise InvalidInput(
            f"A monitoring window is a whole number of hours, got {window}.",
            hint="Use 1h, 6h, 1d...: the capture is profiled by the hour.",
        )
    for bound, name in ((start, "start"), (end, "end")):
        if bound is not None and bound.tzinfo is None:
            raise InvalidInput(f"The {name} needs a timezone (UTC), got {bound}.")
    if end is None:  # one window from the start, or up to the end of this hour
        end = _floor_hour(start) + window if start is not None else _ceil_hour(now)
    end = _ceil_hour(end)
    start = end - window if start is None else _floor_hour(start)
    if start >= end:
        raise InvalidInput(f"The run's start {start} is not before its end {end}.")
    if (end - start) / window > MAX_WINDOWS:
        raise InvalidInput(
            f"{start} to {end} is more than {MAX_WINDOWS:,} windows of {window}.",
            hint="Use a longer window or a shorter period.",
        )
    return window, start, end


def _floor_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _ceil_hour(at: datetime) -> datetime:
    floor = _floor_hour(at)
    return floor if floor == at.astimezone(UTC) else floor + HOUR
