"""Every experiment against the baseline: paired bootstrap comparisons and the report.

The difference is ``experiment - baseline`` on the validation set, with a 95%
percentile interval from a paired bootstrap (both models scored on the same resampled
rows). "Better beyond noise" means the whole interval is on the good side of zero:
above it for metrics where higher is better, below it for losses and errors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from rich.table import Table

from shipyard.errors import InvalidInput
from shipyard.jsonsafe import jsonable
from shipyard.training.bootstrap import bootstrap_samples, percentile_interval
from shipyard.training.metrics import higher_is_better
from shipyard.training.result import ExperimentResult

if TYPE_CHECKING:
    from shipyard.training.analysis import ErrorAnalysis
    from shipyard.training.experiment import ExperimentData


@dataclass(frozen=True)
class Comparison:
    """One experiment against the baseline on one set and metric.

    >>> c = Comparison("m", "baseline", "validation", "roc_auc", True, 0.7, 0.5, 0.2,
    ...                0.18, 0.22, 1000, 5000)
    >>> c.better_beyond_noise, c.verdict
    (True, 'better')
    """

    experiment: str
    baseline: str
    set_name: str
    metric: str
    higher_is_better: bool
    value: float
    baseline_value: float
    difference: float
    ci_low: float
    ci_high: float
    n_bootstrap: int
    rows: int

    @property
    def better_beyond_noise(self) -> bool:
        """The interval lies entirely on the good side of zero."""
        return self.ci_low > 0 if self.higher_is_better else self.ci_high < 0

    @property
    def worse_beyond_noise(self) -> bool:
        """The interval lies entirely on the bad side of zero."""
        return self.ci_high < 0 if self.higher_is_better else self.ci_low > 0

    @property
    def verdict(self) -> str:
        """``better``, ``worse``, ``no clear difference`` or ``not measured``."""
        if not (math.isfinite(self.ci_low) and math.isfinite(self.ci_high)):
            return "not measured"
        if self.better_beyond_noise:
            return "better"
        return "worse" if self.worse_beyond_noise else "no clear difference"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, with the verdict."""
        out: dict[str, Any] = jsonable(
            {
                **asdict(self),
                "better_beyond_noise": self.better_beyond_noise,
                "verdict": self.verdict,
            }
        )
        return out


def compare_to_baseline(
    results: Sequence[ExperimentResult],
    baseline: ExperimentResult,
    data: ExperimentData,
    *,
    set_name: str,
    metric: str,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> list[Comparison]:
    """A paired bootstrap comparison of each successful result with ``baseline``.

    >>> compare_to_baseline(results, results[0], data, set_name="validation",
    ...                     metric="roc_auc")  # doctest: +SKIP
    """
    others = [r for r in results if r.ok and r is not baseline and set_name in r.predictions]
    if not baseline.ok or not others:
        return []
    outcome = data.outcome(set_name, baseline.classes)
    scored = [baseline.scored(set_name), *(r.scored(set_name) for r in others)]
    samples = bootstrap_samples(metric, outcome, scored, n_bootstrap=n_bootstrap, seed=seed)
    out = []
    for i, result in enumerate(others, start=1):
        low, high = percentile_interval(samples[i] - samples[0])
        value, base = result.metric(set_name, metric), baseline.metric(set_name, metric)
        out.append(
            Comparison(
                result.name,
                baseline.name,
                set_name,
                metric,
                higher_is_better(metric),
                value,
                base,
                value - base,
                low,
                high,
                samples.shape[1],
                int(outcome.y.size),
            )
        )
    return out


@dataclass(frozen=True)
class RunnerReport:
    """What :class:`~shipyard.training.runner.ExperimentRunner` found.

    ``results`` start with the baseline; ``comparisons`` hold every other successful
    experiment against it on ``validation_set``; ``best`` is the successful experiment
    with the best ``primary_metric`` there (``None`` if none succeeded). ``environment``
    records the seed, what was seeded, jobs and thread limits.
    """

    results: tuple[ExperimentResult, ...]
    baseline: str
    primary_metric: str
    validation_set: str
    comparisons: tuple[Comparison, ...] = ()
    best: str | None = None
    analyses: Mapping[str, ErrorAnalysis] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    environment: Mapping[str, Any] = field(default_factory=dict)
    run_ids: Mapping[str, Any] = field(default_factory=dict)

    def result(self, name: str) -> ExperimentResult:
        """The result of the experiment called ``name``."""
        for result in self.results:
            if result.name == name:
                return result
        names = ", ".join(r.name for r in self.results)
        raise InvalidInput(f"No experiment named {name!r} in this report.", hint=f"Have: {names}.")

    def comparison(self, name: str) -> Comparison | None:
        """The comparison of ``name`` with the baseline (None for the baseline or a failure)."""
        return next((c for c in self.comparisons if c.experiment == name), None)

    @property
    def best_contender(self) -> str | None:
        """The best successful experiment on validation other than the baseline: the baseline
        is the yardstick, never a candidate (None when only the baseline succeeded)."""
        sign = 1 if higher_is_better(self.primary_metric) else -1
        scored = [
            (sign * r.metric(self.validation_set, self.primary_metric), r.name)
            for r in self.results
            if r.ok and r.name != self.baseline and self.validation_set in r.predictions
        ]
        scored = [(v, n) for v, n in scored if not math.isnan(v)]
        return max(scored)[1] if scored else None

    @property
    def failed(self) -> tuple[ExperimentResult, ...]:
        """The experiments that failed."""
        return tuple(r for r in self.results if not r.ok)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary: results (no predictions or models), comparisons, notes."""
        out: dict[str, Any] = jsonable(
            {
                "baseline": self.baseline,
                "primary_metric": self.primary_metric,
                "validation_set": self.validation_set,
                "best": self.best,
                "results": [r.to_dict() for r in self.results],
                "comparisons": [c.to_dict() for c in self.comparisons],
                "analyses": {k: a.to_dict() for k, a in self.analyses.items()},
                "notes": list(self.notes),
                "environment": dict(self.environment),
                "run_ids": dict(self.run_ids),
            }
        )
        return out

    def table(self) -> Table:
        """Experiments, the primary metric per set, and the verdict against the baseline."""
        metric, validation = self.primary_metric, self.validation_set
        sets = list(dict.fromkeys(s for r in self.results for s in r.metrics))
        others = [s for s in sets if s != validation]
        table = Table(title=f"Experiments by {metric} ({validation}); baseline: {self.baseline}")
        table.add_column("experiment")
        table.add_column("status")
        table.add_column("fit s", justify="right")
        table.add_column(validation, justify="right")
        table.add_column(f"Δ vs {self.baseline} [95% CI]", justify="right")
        table.add_column("verdict")
        for name in others:
            table.add_column(name, justify="right")
        for r in self.results:
            c = self.comparison(r.name)
            delta = f"{c.difference:+.4f} [{c.ci_low:+.4f}, {c.ci_high:+.4f}]" if c else ""
            verdict = c.verdict if c else ("baseline" if r.name == self.baseline else "")
            name = f"[bold]{r.name}[/]" if r.name == self.best else r.name
            status = r.status if r.ok else "[red]failed[/]"
            table.add_row(
                name,
                status,
                f"{r.fit_seconds:.2f}",
                _fmt(r.metric(validation, metric)),
                delta,
                verdict,
                *(_fmt(r.metric(s, metric)) for s in others),
            )
        table.caption = "\n".join([f"Best on {validation}: {self.best}", *self.notes])
        return table


def _fmt(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.4f}"
