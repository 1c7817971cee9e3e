"""The quickstart after training: the model behind a live endpoint, watched, replaced.

1. **Deploy.** The gated version is approved by the local user (a person approves) and
   the pipeline runs again with its ``deploy`` section: its cached steps are not redone,
   and its deploy step creates the production endpoint ``delay`` serving the version (a
   person never moves production).
2. **Replay.** September and October are replayed through the live endpoint
   (:mod:`.replay`): requests in time order, online features materialized as time
   moves, labels and outcomes a day later. Monitoring runs each week once it has ended,
   as the scheduler would; a drift alarm watches the seasonal temperature.
3. **Retrain.** A second candidate is trained on fresh months (up to October) by the
   same pipeline and deployed by canary behind guard alarms while November's traffic
   flows; the guards promote it or roll it back.
4. **A/B test.** The previous version is tested against the production one on the rest
   of the year's traffic, split by key; the report compares their outcomes.

Everything is in the workspace folder. A rerun in the same folder reuses what the
pipeline cached and shows the lifecycle's recorded results: its replay moved the
workspace's time (the online store, the endpoint) past December, so it does not replay.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput
from shipyard.quickstart.replay import Replayer, ReplayLog, hours_of

if TYPE_CHECKING:
    from shipyard.pipeline.graph import Pipeline
    from shipyard.pipeline.runner import PipelineRun, RunObserver
    from shipyard.quickstart.lifecycle_config import LifecycleConfig
    from shipyard.workspace import Workspace

RECORD = "lifecycle.json"  # in the home: what the lifecycle did, shown again on a rerun
# (lifecycle.started is there while it runs: one that was killed cannot run again there)
WEEK = timedelta(days=7)


@dataclass
class Lifecycle:
    """What the lifecycle did, for the quickstart's report and its test."""

    endpoint: str = ""
    alarm: str = ""  # the drift alarm's name
    outcome: str = ""  # the business event posted per request
    deployed: str = ""  # the first version's deployment (created, promoted)
    replay: ReplayLog = field(default_factory=ReplayLog)
    alarm_states: list[tuple[str, str]] = field(default_factory=list)  # (week, state)
    candidate: dict[str, Any] | None = None  # the second run's model version
    canary: dict[str, Any] | None = None  # its deployment as it ended
    canary_error: str | None = None
    ab: dict[str, Any] | None = None  # the A/B report
    plots: list[Path] = field(default_factory=list)
    labelled: int = 0  # requests whose labels arrived
    with_outcome: int = 0  # requests with the business event
    cached: bool = False  # read back from an earlier run in this workspace

    def to_dict(self) -> dict[str, Any]:
        """What a rerun shows again, as JSON (the replay's counts, not its requests)."""
        return {
            "endpoint": self.endpoint,
            "alarm": self.alarm,
            "outcome": self.outcome,
            "deployed": self.deployed,
            "replay": {
                "requests": self.replay.requests,
                "rows": self.replay.rows,
                "variants": self.replay.variants,
            },
            "alarm_states": [list(pair) for pair in self.alarm_states],
            "candidate": self.candidate,
            "canary": self.canary,
            "canary_error": self.canary_error,
            "ab": self.ab,
            "plots": [str(p) for p in self.plots],
            "labelled": self.labelled,
            "with_outcome": self.with_outcome,
        }

    @classmethod
    def from_dict(cls, found: dict[str, Any]) -> Lifecycle:
        replay = ReplayLog(**found["replay"])
        return cls(
            endpoint=found["endpoint"], alarm=found["alarm"], outcome=found["outcome"],
            deployed=found["deployed"], replay=replay,
            alarm_states=[(w, s) for w, s in found["alarm_states"]],
            candidate=found["candidate"], canary=found["canary"],
            canary_error=found["canary_error"], ab=found["ab"],
            plots=[Path(p) for p in found["plots"]], labelled=found["labelled"],
            with_outcome=found["with_outcome"], cached=True,
        )  # fmt: skip


def run_lifecycle(
    ws: Workspace,
    config: LifecycleConfig,
    *,
    stage: Callable[[str], None],
    first: PipelineRun | None = None,
    observer: RunObserver | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    replay_every_nth_day: int = 1,
) -> Lifecycle:
    """Deploy, replay, monitor, retrain and test (see the module docstring). ``first``: the
    pipeline's run that registered the first candidate (run here when None)."""
    from shipyard.serving.local_server import serving_locally

    record = Path(ws.settings.home) / RECORD
    if record.is_file():  # the replay happened in this workspace: its time has passed
        stage(f"the lifecycle ran in this workspace already: its results are in {record}")
        return Lifecycle.from_dict(json.loads(record.read_text(encoding="utf-8")))
    done = Lifecycle(endpoint=config.endpoint, alarm=str(config.alarm["name"]),
                     outcome=config.outcome)  # fmt: skip
    started = record.with_suffix(".started")
    try:  # created once: a second lifecycle at once, or after a kill, is refused here
        with started.open("x", encoding="utf-8") as mark:
            mark.write(datetime.now(UTC).isoformat(timespec="seconds"))
    except FileExistsError:
        raise InvalidInput(
            f"A lifecycle started in {ws.settings.home} at {started.read_text()} is running "
            "or stopped part way; its replay moves the online store and the endpoint on, so "
            "a second one cannot run here.",
            hint="Run it in a fresh workspace folder.",
        ) from None
    if first is None:
        stage(f"running the pipeline {config.pipeline.name}")
        first = _pipeline(ws, config, observer=observer)
    version = _registered(first)
    if version is None:
        first.check()  # it stopped before registering: say why
        raise AssertionError("unreachable")
    _approve(ws, version, stage)
    stage(f"the pipeline deploys it to endpoint {config.endpoint}")
    deployed = _pipeline(ws, config, observer=observer)
    deployed.check()
    done.deployed = str(deployed.outputs["deployment"]["state"])
    views = _views(ws, config)
    ws.features.materialize_incremental(views, end=config.start)
    _alarm(ws, config)
    rows = ws.datasets.load(config.dataset)
    rows = rows[_replayed_days(rows[config.time_column], replay_every_nth_day)]
    with serving_locally(ws.runtime) as base:
        replayer = Replayer(ws, base, config, _request_columns(ws, config), views)
        try:
            _replay_and_watch(ws, config, replayer, rows, done, stage, progress)
            _retrain_and_roll_out(ws, config, replayer, rows, done, stage, observer, progress)
        finally:
            replayer.post_feedback()
            replayer.close()
    stage("monitoring every replayed week again, now that all labels are in")
    ws.monitoring.run(config.endpoint, window=WEEK, start=config.start, end=config.end)
    folder = Path(ws.settings.home) / "monitoring"
    done.plots = ws.monitoring.plot(
        config.endpoint,
        html=folder / f"{config.endpoint}-drift.html",
        png=folder / f"{config.endpoint}-drift.png",
        start=config.start,  # the replayed months (its deployments happened today)
        end=config.end,
    )
    done.labelled, done.with_outcome = len(done.replay.labels), len(done.replay.outcomes)
    temp = record.with_suffix(".tmp")
    temp.write_text(json.dumps(done.to_dict(), default=str, indent=1), encoding="utf-8")
    temp.replace(record)
    started.unlink()
    return done


def _replay_and_watch(
    ws: Workspace,
    config: LifecycleConfig,
    replayer: Replayer,
    rows: Any,
    done: Lifecycle,
    stage: Callable[[str], None],
    progress: Callable[[str, int, int], None] | None,
) -> None:
    hours = hours_of(rows, config.time_column, config.start, config.fresh)
    stage(f"replaying {config.start:%Y-%m-%d} to {config.fresh:%Y-%m-%d}: {len(hours):,} hours")
    week = [config.start]

    def on_hour(at: datetime) -> None:
        while at >= week[0] + WEEK:  # a week has ended: monitor it, as the scheduler would
            ws.monitoring.run(config.endpoint, window=WEEK, start=week[0], end=week[0] + WEEK)
            state = ws.monitoring.alarm(str(config.alarm["name"])).state
            done.alarm_states.append((f"{week[0]:%Y-%m-%d}", state))
            week[0] += WEEK
        if progress is not None:
            progress("replay", hours_index[at] + 1, len(hours))

    hours_index = {at: i for i, (at, _) in enumerate(hours)}
    replayer.send(hours, done.replay, on_hour=on_hour)
    replayer.post_feedback(until=config.fresh)


def _retrain_and_roll_out(
    ws: Workspace,
    config: LifecycleConfig,
    replayer: Replayer,
    rows: Any,
    done: Lifecycle,
    stage: Callable[[str], None],
    observer: RunObserver | None,
    progress: Callable[[str, int, int], None] | None,
) -> None:
    """Train on the data before ``fresh``; deploy by canary while the traffic up to
    ``ab_start`` flows (again and again, until the canary ends); then A/B test the two
    versions on the rest."""
    stage(f"training a second candidate on fresh data (before {config.fresh:%Y-%m-%d})")
    run = _pipeline(ws, config, observer=observer, fresh=True)
    candidate = _registered(run)
    if candidate is None:  # the gate refused it: the guardrail held, nothing to deploy
        done.canary_error = f"{run.failed_step}: {run.error}"
        return
    done.candidate = candidate
    _approve(ws, candidate, stage)
    stage("the pipeline deploys it by canary while the next weeks' traffic flows")
    traffic = _Traffic(ws, config, replayer, rows, done, progress)
    traffic.start()
    try:
        run = _pipeline(ws, config, observer=observer, fresh=True)
        if run.failed_step:
            done.canary_error = f"{run.failed_step}: {run.error}"
        deployments = ws.deployments.list(config.endpoint, limit=1)
        if deployments and deployments[0].strategy == "canary":
            found = deployments[0]
            done.canary = {"id": found.id, "state": found.state, "model": found.spec.get("model"),
                           "reason": found.status.get("reason")}  # fmt: skip
        traffic.ab_test(stage)
    finally:
        traffic.stop()


class _Traffic:
    """The replay of November and December on a thread of its own: the canary's traffic
    (the first half of November, looped without feedback after the first pass), then,
    once the A/B test has started, the rest of the year with labels and outcomes."""

    def __init__(
        self,
        ws: Workspace,
        config: LifecycleConfig,
        replayer: Replayer,
        rows: Any,
        done: Lifecycle,
        progress: Callable[[str, int, int], None] | None,
    ) -> None:
        from shipyard.pipeline import PIPELINE_PRINCIPAL

        self.system = ws.as_principal(PIPELINE_PRINCIPAL)
        self.replayer = replayer
        self.done = done
        self.progress = progress
        self.config = config
        self.canary_hours = hours_of(rows, config.time_column, config.fresh, config.ab_start)
        self.rest = hours_of(rows, config.time_column, config.ab_start, config.end)
        self.test: Any = None
        self.error: BaseException | None = None
        self._ticked = 0.0
        self._go = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._flow, name="quickstart-traffic", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._go.set()
        self._thread.join(timeout=120)

    def ab_test(self, stage: Callable[[str], None]) -> None:
        """Start the A/B test, let the rest of the year through it, report, end it."""
        endpoint = self.system.endpoints.get(self.config.endpoint)
        serving = next(v for v in endpoint.variants if v.weight > 0)
        model = self.config.model
        others = [v.version for v in self.system.models.versions(model)
                  if v.version != serving.version]  # fmt: skip
        if others:
            challenger = f"{model}@{max(others)}"
            stage(f"A/B test: model:{challenger} against model:{model}@{serving.version}, by key")
            self.test = self.system.deployments.start(
                self.config.endpoint, challenger, strategy="ab", weight=50, warm="1s",
                alarms=list(self.config.ab_alarms) or None,
            )  # fmt: skip
        self._go.set()
        self._thread.join()
        if self.error is not None:
            raise self.error
        if self.test is not None:
            self.replayer.post_feedback()
            self.done.ab = self.system.deployments.report(self.test.id)
            if self.system.deployments.get(self.test.id).state == "running":
                self.system.deployments.rollback(self.test.id, "the A/B test ended")

    def _flow(self) -> None:
        try:
            first = True
            while not self._go.is_set():
                for hour in self.canary_hours:
                    if self._go.is_set():
                        break
                    self.replayer.send([hour], self.done.replay, feedback=first)
                first = False
                if not self.canary_hours:
                    self._go.wait()
            if not self._stop.is_set():
                index = {at: i for i, (at, _) in enumerate(self.rest)}
                self.replayer.send(
                    self.rest, self.done.replay, on_hour=lambda at: self._tick(at, index)
                )
        except BaseException as exc:  # the main thread raises it
            self.error = exc

    def _tick(self, at: datetime, index: dict[datetime, int]) -> None:
        if self._stop.is_set():
            raise InterruptedError("the quickstart stopped")
        if self.test is not None and time.monotonic() - self._ticked > 1.0:
            self.system.deployments.tick(self.test.id)  # past its warm-up, it splits by key
            self._ticked = time.monotonic()
        if self.progress is not None:
            self.progress("A/B test", index[at] + 1, len(self.rest))


def _pipeline(
    ws: Workspace, config: LifecycleConfig, *, observer: RunObserver | None, fresh: bool = False
) -> PipelineRun:
    return ws.pipelines.run(lifecycle_pipeline(config, fresh=fresh), observer=observer)


def lifecycle_pipeline(config: LifecycleConfig, *, fresh: bool = False) -> Pipeline:
    """The lifecycle's pipeline: its YAML with the lifecycle's deploy section; ``fresh``:
    trained on everything before ``fresh``, tested on what came after."""
    from shipyard.pipeline.standard import build, parse_config

    raw = config.pipeline_raw()
    raw["deploy"] = dict(config.deploy)
    if fresh:
        testing, recent = f"{config.fresh:%Y-%m-%d}", f"{config.ab_start:%Y-%m-%d}"
        raw["split"]["windows"] = {"testing": {"start": testing},
                                   "recent_testing": {"start": recent}}  # fmt: skip
    pipeline = build(parse_config(raw, base=config.pipeline.parent))
    pipeline.source = config.pipeline
    return pipeline


def _registered(run: PipelineRun) -> dict[str, Any] | None:
    """The version a run registered (None when it stopped before registering)."""
    try:
        found: dict[str, Any] | None = run.outputs["model_version"]
    except Exception:  # the step did not run: the gate refused the candidate
        return None
    return found


def _approve(ws: Workspace, version: dict[str, Any], stage: Callable[[str], None]) -> None:
    """Approve ``version`` as the local user (a person approves; the pipeline deploys)."""
    name, number = version["model"], int(version["version"])
    if ws.models.approval(name, number).status != "approved":
        stage(f"approving model:{name}@{number} as the local approver")
        ws.models.approve(name, number, comment="quickstart: the gate passed it; looks good")


def _alarm(ws: Workspace, config: LifecycleConfig) -> None:
    """The drift alarm: ``n`` of the latest ``m`` weeks with the feature drifted (the KS
    statistic flagged) as the endpoint reads it (after enrichment)."""
    alarm = dict(config.alarm)
    series = {"stage": alarm.get("stage", "enriched"), "metric": alarm.get("metric", "ks"),
              "feature": alarm["feature"]}  # fmt: skip
    spec = {"series": series, "n": int(alarm.get("n", 2)), "m": int(alarm.get("m", 2)),
            "actions": ["log"]}  # fmt: skip
    ws.monitoring.put_alarm(str(alarm["name"]), config.endpoint, spec)


def _views(ws: Workspace, config: LifecycleConfig) -> list[str]:
    """The feature views the production model reads online (its lineage names them)."""
    production = ws.models.get(config.model, alias="production")
    return sorted({str(v).split("@")[0] for v in production.lineage.get("feature_views") or []})


def _request_columns(ws: Workspace, config: LifecycleConfig) -> list[str]:
    """What a request carries: the columns the pipeline offers its models (the entity keys
    among them), not the features the online store fills. Versions may take fewer (the
    leakage check refuses some), so requests say the endpoint may drop the rest."""
    offered = [str(c) for c in config.pipeline_raw().get("columns") or []]
    production = ws.models.get(config.model, alias="production")
    taken = [c for c in production.signature.input_names if "__" not in c]
    return list(dict.fromkeys([*offered, *taken]))


def _replayed_days(times: Any, every: int) -> Any:
    if every <= 1:
        return times.notna()
    return (times.dt.dayofyear % every) == 0
