"""Logging a runner's report to a tracker: one run per experiment.

Each run gets the experiment's params (and the seed), its metrics as
``{set}_{metric}``, fit and predict seconds, tags (class, status, task, whether it is
the baseline, the verdict against it), the comparison with the baseline as metrics,
notes, and the error analysis as ``error_analysis.json``. A failed experiment's run
gets its traceback as a note and is then failed by raising inside the run's context,
so the tracker marks it as failed the same way it marks any crashed run.
"""

from __future__ import annotations

import json
import math
from typing import Any

from shipyard.jsonsafe import jsonable
from shipyard.training.report import RunnerReport
from shipyard.training.result import ExperimentResult
from shipyard.training.run_logger import RunLogger


class ExperimentFailed(Exception):
    """Raised inside a tracked run so the tracker records the experiment as failed."""


def _params(result: ExperimentResult, report: RunnerReport) -> dict[str, Any]:
    params = {
        k: v if isinstance(v, str | int | float | bool) or v is None else json.dumps(v)
        for k, v in jsonable(result.params).items()
    }
    return {**params, "seed": report.environment.get("seed")}


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


def _log_one(run: RunLogger, result: ExperimentResult, report: RunnerReport) -> None:
    comparison = report.comparison(result.name)
    is_baseline = result.name == report.baseline
    run.log_params(_params(result, report))
    tags = {
        "experiment_class": result.experiment_class,
        "status": result.status,
        "task": result.task,
        "baseline": str(is_baseline).lower(),
        "primary_metric": report.primary_metric,
    }
    if comparison is not None:
        tags["vs_baseline"] = comparison.verdict
    run.set_tags(tags)
    run.log_metrics(_metrics(result))
    if comparison is not None:
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
    if is_baseline:
        for note in report.notes:
            run.note(note)
    analysis = report.analyses.get(result.name)
    if analysis is not None:
        body = json.dumps(analysis.to_dict(), indent=2, ensure_ascii=False)
        run.log_bytes("error_analysis.json", body.encode("utf-8"))
    if not result.ok:
        run.note(f"Experiment failed:\n{result.error}")


def log_report(tracker: Any, experiment: str, report: RunnerReport) -> dict[str, Any]:
    """Log every result of ``report`` as a run of ``experiment``; return run ids by name
    (the run's ``uid``, else its ``id``, else ``None``).

    >>> log_report(ws.runs, "delays", report)  # doctest: +SKIP
    {'baseline': 'run-1', 'logistic': 'run-2'}
    """
    ids: dict[str, Any] = {}
    for result in report.results:
        run = tracker.start_run(experiment, result.name)
        ids[result.name] = getattr(run, "uid", None) or getattr(run, "id", None)
        try:
            with run:
                _log_one(run, result, report)
                if not result.ok:
                    last = (result.error or "").strip().splitlines()[-1:] or ["unknown error"]
                    raise ExperimentFailed(f"experiment {result.name!r} failed: {last[0]}")
        except ExperimentFailed:
            pass  # recorded as failed by the run's context manager
    return ids
