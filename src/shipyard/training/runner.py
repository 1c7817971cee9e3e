"""The one runner: every experiment on the same data, baseline first, compared fairly.

:class:`ExperimentRunner` lines the experiments up behind a baseline (adding
:class:`~shipyard.training.experiments.BaselineExperiment` when none is given), seeds
everything, runs them with deliberate thread limits (in parallel processes when
``n_jobs > 1``), records failures and goes on, compares each with the baseline on the
validation set by a paired bootstrap, analyses each model's errors there, and logs it
all to a tracker when one is given: each experiment's run as soon as the experiment
finishes (:mod:`~shipyard.training.live_tracking`), so one that crashes the process, hangs
or gets it killed loses none of those that finished before it.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import replace
from typing import Any

from shipyard.errors import InvalidInput
from shipyard.training.analysis import ErrorAnalysis, analyze_errors
from shipyard.training.as_completed import results_as_completed
from shipyard.training.experiment import Experiment, ExperimentData
from shipyard.training.experiments import BaselineExperiment
from shipyard.training.live_tracking import LiveRuns
from shipyard.training.metrics import check_metric, default_metric, higher_is_better
from shipyard.training.parallel import available_cores
from shipyard.training.report import RunnerReport, compare_to_baseline
from shipyard.training.result import ExperimentResult
from shipyard.training.seeding import seed_everything


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"{name} must be a positive integer, got {value!r}.")
    return value


class ExperimentRunner:
    """Run experiments on one :class:`ExperimentData` and report them against a baseline.

    ``baseline`` is an experiment (or the name of one of ``experiments``); by default
    the first :class:`BaselineExperiment` among them, else one is added. ``n_jobs``
    processes run at once (``-1``: one per core), each limited to ``threads_per_job``
    native threads (default: cores // n_jobs). ``n_bootstrap`` resamples give the 95%
    intervals (0 skips them). ``primary_metric`` ranks experiments (ROC AUC for
    classification, RMSE for regression). With ``analyze``, each model's errors on the
    validation set are analysed (:func:`~shipyard.training.analysis.analyze_errors`).
    With a ``tracker`` (anything with ``start_run(experiment, name)`` returning a
    :class:`~shipyard.training.run_logger.RunLogger`), each experiment becomes a run,
    started (with its params and metrics) as soon as the experiment finishes.
    Each result holds its fitted model (``result.model``); with ``n_jobs=1`` the given
    experiment objects are fitted in place, with more jobs copies are fitted in workers.

    >>> from shipyard.training import HistGradientBoostingExperiment, LogisticExperiment
    >>> runner = ExperimentRunner(LogisticExperiment(), HistGradientBoostingExperiment())
    >>> report = runner.run(data)  # doctest: +SKIP
    >>> report.best, report.comparison("logistic").better_beyond_noise  # doctest: +SKIP
    ('hist_gradient_boosting', True)
    """

    def __init__(
        self,
        *experiments: Experiment,
        baseline: Experiment | str | None = None,
        tracker: Any = None,
        experiment_name: str = "default",
        n_jobs: int = 1,
        threads_per_job: int | None = None,
        seed: int = 0,
        n_bootstrap: int = 1000,
        primary_metric: str | None = None,
        analyze: bool = True,
    ) -> None:
        for experiment in (*experiments, *([baseline] if isinstance(baseline, Experiment) else [])):
            if not isinstance(experiment, Experiment):
                raise InvalidInput(
                    f"ExperimentRunner takes Experiment objects, got {type(experiment).__name__}.",
                    hint="Wrap a scikit-learn estimator in SklearnExperiment(estimator).",
                )
        if tracker is not None and not callable(getattr(tracker, "start_run", None)):
            raise InvalidInput("tracker must have a start_run(experiment, name) method.")
        self.experiments = experiments
        self.baseline = baseline
        self.tracker = tracker
        self.experiment_name = experiment_name
        self.n_jobs = available_cores() if n_jobs == -1 else _positive_int("n_jobs", n_jobs)
        self.threads_per_job = (
            None if threads_per_job is None else _positive_int("threads_per_job", threads_per_job)
        )
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InvalidInput(f"seed must be a non-negative integer, got {seed!r}.")
        self.seed = seed
        if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int) or n_bootstrap < 0:
            raise InvalidInput(f"n_bootstrap must be a non-negative integer, got {n_bootstrap!r}.")
        self.n_bootstrap = n_bootstrap
        self.primary_metric = primary_metric
        self.analyze = analyze

    def _line_up(self) -> tuple[list[Experiment], list[str]]:
        """The baseline first, then the others in the order given; and notes."""
        experiments = list(self.experiments)
        notes: list[str] = []
        if isinstance(self.baseline, Experiment):
            baseline = self.baseline
        elif isinstance(self.baseline, str):
            found = [e for e in experiments if e.name == self.baseline]
            if not found:
                names = ", ".join(e.name for e in experiments)
                raise InvalidInput(
                    f"No experiment named {self.baseline!r} to use as baseline.",
                    hint=f"Have: {names}.",
                )
            baseline = found[0]
        else:
            chosen = next((e for e in experiments if isinstance(e, BaselineExperiment)), None)
            if chosen is None:
                chosen = BaselineExperiment()
                notes.append(
                    "No baseline among the experiments: added BaselineExperiment() (class "
                    "prior or mean), so every model is judged against one that ignores features."
                )
            baseline = chosen
        return [baseline, *(e for e in experiments if e is not baseline)], notes

    def run(self, data: ExperimentData) -> RunnerReport:
        """Run every experiment on ``data`` and return the report (never raises for a
        failing experiment; see ``report.failed``)."""
        started = time.perf_counter()
        metric = check_metric(data.task, self.primary_metric or default_metric(data.task))
        experiments, notes = self._line_up()
        names = _unique_names([e.name for e in experiments], notes)
        if self.tracker is None:
            return self._run(data, experiments, names, notes, metric, started, None)
        live = LiveRuns(self.tracker, self.experiment_name, seed=self.seed, baseline=names[0])
        with live:
            return self._run(data, experiments, names, notes, metric, started, live)

    def _run(
        self,
        data: ExperimentData,
        experiments: list[Experiment],
        names: list[str],
        notes: list[str],
        metric: str,
        started: float,
        live: LiveRuns | None,
    ) -> RunnerReport:
        cores = available_cores()
        threads = self.threads_per_job or max(1, cores // self.n_jobs)
        if threads * min(self.n_jobs, len(experiments)) > cores:
            notes.append(
                f"{self.n_jobs} jobs x {threads} threads exceed {cores} cores: "
                "expect them to slow each other down."
            )
        seeding = seed_everything(self.seed)
        finished: dict[int, ExperimentResult] = {}
        for index, result in results_as_completed(
            experiments, data, n_jobs=self.n_jobs, threads=threads, seed=self.seed
        ):
            finished[index] = replace(result, name=names[index])
            if live is not None:
                live.finished(finished[index], primary_metric=metric)
        results = [finished[index] for index in range(len(experiments))]
        for r in results:
            if not r.ok:
                last = (r.error or "").strip().splitlines()[-1:] or ["unknown error"]
                notes.append(f"{r.name} failed: {last[0]}")
        validation = _validation_set(data, notes)
        if not results[0].ok:
            notes.append(f"The baseline {results[0].name} failed: nothing to compare against.")
        clock = time.perf_counter()
        comparisons = []
        if self.n_bootstrap:
            comparisons = compare_to_baseline(
                results,
                results[0],
                data,
                set_name=validation,
                metric=metric,
                n_bootstrap=self.n_bootstrap,
                seed=self.seed,
            )
        bootstrap_seconds = time.perf_counter() - clock
        analyses: dict[str, ErrorAnalysis] = {}
        if self.analyze:
            for r in results:
                if r.ok:
                    analyses[r.name] = analyze_errors(
                        r,
                        data,
                        validation,
                        metric=metric,
                        n_bootstrap=self.n_bootstrap,
                        seed=self.seed,
                    )
        best = _best(results, validation, metric)
        beating = [c for c in comparisons if c.better_beyond_noise]
        if comparisons and not beating:
            notes.append(f"No experiment beats the baseline on {validation} beyond noise.")
        report = RunnerReport(
            results=tuple(results),
            baseline=results[0].name,
            primary_metric=metric,
            validation_set=validation,
            comparisons=tuple(comparisons),
            best=best,
            analyses=analyses,
            notes=tuple(notes),
            environment={
                "seed": self.seed,
                "seeding": seeding,
                "n_jobs": self.n_jobs,
                "threads_per_job": threads,
                "cores": cores,
                "n_bootstrap": self.n_bootstrap,
                "bootstrap_seconds": round(bootstrap_seconds, 3),
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        if live is None:
            return report
        return replace(report, run_ids=live.complete(report))


def _unique_names(names: list[str], notes: list[str]) -> list[str]:
    seen: Counter[str] = Counter()
    out = []
    for name in names:
        seen[name] += 1
        unique = name if seen[name] == 1 else f"{name}-{seen[name]}"
        if unique != name:
            notes.append(f"Two experiments are called {name!r}: the later one is {unique!r}.")
        out.append(unique)
    return out


def _validation_set(data: ExperimentData, notes: list[str]) -> str:
    if data.validation_set in data.sets:
        return data.validation_set
    fallback = (data.evaluation_sets or [data.training_set])[0]
    notes.append(f"No {data.validation_set!r} set: comparing on {fallback!r}.")
    return fallback


def _best(results: list[ExperimentResult], set_name: str, metric: str) -> str | None:
    scored = [(r.metric(set_name, metric), r.name) for r in results if r.ok]
    scored = [(v, n) for v, n in scored if not math.isnan(v)]
    if not scored:
        return None
    sign = 1 if higher_is_better(metric) else -1
    return max(scored, key=lambda item: sign * item[0])[1]
