"""Logging a runner's experiments to a tracker as each one finishes: one run per experiment.

A run starts when its experiment finishes, with what that experiment alone
decides: its params (and the seed), its metrics as ``{set}_{metric}``, fit and
predict seconds, and tags (class, status, task, whether it is the baseline, the
primary metric); the run is flushed at once when the tracker can (``flush()``).
So when a later experiment crashes the process, hangs or gets it killed, the
finished experiments are already in the tracking store with their metrics (the
open runs of a killed process then read as killed: their heartbeat stopped).

A successful experiment's run, and the baseline's, stay open until the report
is complete. Then each gets what needs every result: the verdict against the
baseline (tag, metrics, note), the error analysis (``error_analysis.json``) and,
on the baseline's run, the runner's notes; and ends finished. A failed
experiment's run gets its traceback as a note and ends failed at once (the
baseline's at the end), by the run's own context manager, the way the tracker
marks any crashed run.
"""

from __future__ import annotations

import json
import math
from types import TracebackType
from typing import Any

from shipyard.jsonsafe import jsonable
from shipyard.training.report import RunnerReport
from shipyard.training.result import ExperimentResult
from shipyard.training.run_logger import RunLogger


class ExperimentFailed(Exception):
    """Ends a failed experiment's run, so the tracker records the run as failed."""


class LiveRuns:
    """The open runs of one runner, started as experiments finish, ended with the report.

    ``tracker`` is anything whose ``start_run(experiment, name)`` returns a
    :class:`~shipyard.training.run_logger.RunLogger`. Used as a context manager, an
    error (or an interrupt) ends the runs still open the way their context managers do.

    >>> with LiveRuns(ws.runs, "delays", seed=0, baseline="baseline") as live:  # doctest: +SKIP
    ...     live.finished(result, primary_metric="roc_auc")
    ...     run_ids = live.complete(report)
    """

    def __init__(self, tracker: Any, experiment: str, *, seed: int, baseline: str) -> None:
        self._tracker = tracker
        self._experiment = experiment
        self._seed = seed
        self._baseline = baseline
        self._open: dict[str, RunLogger] = {}
        self.run_ids: dict[str, Any] = {}  # the run's uid, else its id, else None

    def finished(self, result: ExperimentResult, *, primary_metric: str) -> None:
        """Start ``result``'s run and log what it alone decides, written at once."""
        run = self._tracker.start_run(self._experiment, result.name)
        self.run_ids[result.name] = getattr(run, "uid", None) or getattr(run, "id", None)
        run.__enter__()
        self._open[result.name] = run
        try:
            run.log_params(_params(result, self._seed))
            run.set_tags(
                {
                    "experiment_class": result.experiment_class,
                    "status": result.status,
                    "task": result.task,
                    "baseline": str(result.name == self._baseline).lower(),
                    "primary_metric": primary_metric,
                }
            )
            run.log_metrics(_metrics(result))
            if not result.ok:
                run.note(f"Experiment failed:\n{result.error}")
            flush = getattr(run, "flush", None)
            if callable(flush):
                flush()  # durable now, not ~100 ms later: the process may not live that long
        except BaseException as exc:
            self._end(result.name, exc)
            raise
        if not result.ok and result.name != self._baseline:
            self._end(result.name, _failure(result))

    def complete(self, report: RunnerReport) -> dict[str, Any]:
        """Log what needs the whole report and end every open run; run ids by name."""
        for result in report.results:
            run = self._open.get(result.name)
            if run is None:
                continue
            try:
                _log_verdict(run, result, report)
            except BaseException as exc:
                self._end(result.name, exc)
                raise
            self._end(result.name, None if result.ok else _failure(result))
        return {r.name: self.run_ids.get(r.name) for r in report.results}

    def _end(self, name: str, error: BaseException | None) -> None:
        run = self._open.pop(name)
        if error is None:
            run.__exit__(None, None, None)
        else:
            run.__exit__(type(error), error, error.__traceback__)

    def __enter__(self) -> LiveRuns:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        error = exc or RuntimeError("the runner stopped before its report was complete")
        for name in list(self._open):
            self._end(name, error)


def _params(result: ExperimentResult, seed: int) -> dict[str, Any]:
    params = {
        k: v if isinstance(v, str | int | float | bool) or v is None else json.dumps(v)
        for k, v in jsonable(result.params).items()
    }
    return {**params, "seed": seed}


def _metrics(result: ExperimentResult) -> dict[str, float]:
    out = {
        f"{set_name}_{metric}": float(value)
        for set_name, values in result.metrics.items()
        for metric, value in values.items()
        if math.isfinite(value)
    }
    out["fit_seconds"] = result.fit_seconds
    out["predict_seconds"] = result.predict_seconds
    return out


def _log_verdict(run: RunLogger, result: ExperimentResult, report: RunnerReport) -> None:
    comparison = report.comparison(result.name)
    if comparison is not None:
        run.set_tags({"vs_baseline": comparison.verdict})
        prefix = f"vs_baseline_{comparison.set_name}_{comparison.metric}"
        values = {
            f"{prefix}_difference": comparison.difference,
            f"{prefix}_ci_low": comparison.ci_low,
            f"{prefix}_ci_high": comparison.ci_high,
        }
        run.log_metrics({k: v for k, v in values.items() if math.isfinite(v)})
        run.note(
            f"Against {comparison.baseline} on {comparison.set_name}: {comparison.metric} "
            f"{comparison.difference:+.4f} (95% CI {comparison.ci_low:+.4f} to "
            f"{comparison.ci_high:+.4f}, paired bootstrap of {comparison.n_bootstrap} "
            f"resamples): {comparison.verdict}."
        )
    if result.name == report.baseline:
        for note in report.notes:
            run.note(note)
    analysis = report.analyses.get(result.name)
    if analysis is not None:
        body = json.dumps(analysis.to_dict(), indent=2, ensure_ascii=False)
        run.log_bytes("error_analysis.json", body.encode("utf-8"))


def _failure(result: ExperimentResult) -> ExperimentFailed:
    last = (result.error or "").strip().splitlines()[-1:] or ["unknown error"]
    return ExperimentFailed(f"experiment {result.name!r} failed: {last[0]}")
