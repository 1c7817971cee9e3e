"""What `shipyard quickstart` shows of the lifecycle: progress bars for the replays, and
the report: the endpoint, the drift alarm, the quality series, the canary, the A/B test
and where to look next."""

from __future__ import annotations

import shlex
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from shipyard.quickstart.lifecycle import Lifecycle
    from shipyard.quickstart.lifecycle_config import LifecycleConfig
    from shipyard.workspace import Workspace


class ReplayBars:
    """One bar per replay (``update("replay", done, total)``), shown while it runs; and,
    as a pipeline run's observer, a bar for the running step and a line per finished one."""

    def __init__(self, out: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("hours"),
            TimeElapsedColumn(),
            console=out,
            transient=False,
        )
        self.tasks: dict[str, Any] = {}
        self._step: Any = None
        self._index = self._total = 0

    def update(self, what: str, done: int, total: int) -> None:
        if what not in self.tasks:
            self.tasks[what] = self.progress.add_task(what, total=total)
        self.progress.update(self.tasks[what], completed=done)

    def step_started(self, step: str, index: int, total: int) -> None:
        self._step = self.progress.add_task(f"[{index + 1}/{total}] {step}", total=None)
        self._index, self._total = index, total

    def step_finished(self, record: Any) -> None:
        if self._step is not None:
            self.progress.remove_task(self._step)
            self._step = None
        took = "" if record.status == "cached" else f" {record.duration or 0:.1f}s"
        self.progress.console.print(
            f"  [{self._index + 1}/{self._total}] {record.name}: {record.status}{took}"
        )

    def __enter__(self) -> ReplayBars:
        self.progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.progress.stop()


def report_lifecycle(
    out: Console,
    ws: Workspace,
    done: Lifecycle,
    config: LifecycleConfig,
    folder: Path,
    command: str,
) -> None:
    """The lifecycle's outcome, then the commands that show more."""
    replay, endpoint, alarm = done.replay, config.endpoint, str(config.alarm["name"])
    shares = ", ".join(f"{name} {count:,}" for name, count in sorted(replay.variants.items()))
    out.print(f"\nEndpoint {endpoint}: {done.deployed} by the pipeline; replayed "
              f"{replay.requests:,} requests ({replay.rows:,} rows; {shares})")  # fmt: skip
    out.print(f"Ground truth: {done.labelled:,} requests labelled a day later; "
              f"{done.with_outcome:,} with the outcome {config.outcome!r}")  # fmt: skip
    alarmed = [week for week, state in done.alarm_states if state == "ALARM"]
    feature = config.alarm["feature"]
    if alarmed:
        out.print(f"[yellow]Drift alarm {alarm}[/yellow]: ALARM from the week of "
                  f"{alarmed[0]} ({feature} drifted)")  # fmt: skip
    else:
        out.print(f"Drift alarm {alarm}: no alarm")
    quality = ws.monitoring.points(endpoint, stage="quality", metric="roc_auc")
    if quality:
        values = ", ".join("n/a" if p.value is None else f"{p.value:.3f}" for p in quality[:8])
        out.print(f"Quality (ROC AUC per week, from the labels): {values}"
                  f"{' ...' if len(quality) > 8 else ''}")  # fmt: skip
    if done.canary is not None:
        colour = "green" if done.canary["state"] == "promoted" else "red"
        out.print(f"Canary of {done.canary['model']}: [{colour}]{done.canary['state']}"
                  f"[/{colour}] ({done.canary['reason']})")  # fmt: skip
    elif done.canary_error:
        out.print(f"[red]Second candidate not deployed[/red]: {done.canary_error}")
    if done.ab is not None:
        _ab(out, done.ab)
    home = f"--home {shlex.quote(str(folder))}"
    production = ws.models.get(config.model, alias="production").version
    out.print("\nWhere to look:")
    for line in (
        f"{command} {home} server      # then http://127.0.0.1:8080/endpoints/{endpoint}"
        "/invocations, /docs",
        f"{command} {home} lineage model:{config.model}@{production}",
        f"{command} {home} monitor points {endpoint} --stage quality",
        f"{command} {home} alarms history {alarm}",
        *(f"open {shlex.quote(str(p))}" for p in done.plots),
        *([f"{command} {home} deployments report {done.ab['deployment']}"] if done.ab else []),
    ):
        out.print(f"  {line}", markup=False, highlight=False)


def _ab(out: Console, report: dict[str, Any]) -> None:
    stable, candidate = report["stable"], report["candidate"]
    out.print(f"A/B test: model:{stable.get('model')}@{stable.get('version')} (stable) against "
              f"model:{candidate.get('model')}@{candidate.get('version')}")  # fmt: skip
    for event, found in (report.get("outcomes") or {}).items():
        a, b = found["stable"], found["candidate"]
        out.print(f"  {event}: {_rate(a)} against {_rate(b)}; {found['decision']}")


def _rate(side: dict[str, Any]) -> str:
    rate = side.get("rate")
    shown = "n/a" if rate is None else f"{rate:.1%}"
    return f"{shown} of {side['requests']:,} requests"
