"""The approval gate: a candidate model against the reference (production, else the baseline).

Both models are scored on the same fixed set, overall and on every slice; the
candidate fails when any metric on any of them is worse than the reference's by
more than its threshold (optionally: and worse beyond noise, by a paired
bootstrap on the same resamples), or when it breaks a non-functional limit
(prediction latency per row, model size). A slice too small to judge is
reported and never fails the gate on its own, so noise cannot block a release.

Two rules, and the report says which applied:

- ``not_worse`` (against production): no metric may drop by more than its
  threshold, overall or on a slice.
- ``beats_baseline`` (when there is no production model, the reference is the
  baseline, the yardstick): the candidate must *beat* it beyond noise on the
  primary metric overall (the lower end of the paired bootstrap interval of the
  difference above zero), and be significantly worse on no other metric and no
  slice. A model with no demonstrated signal never reaches production.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table

from shipyard.data.splits.slices import evaluate_slice
from shipyard.errors import GateFailed, InvalidInput
from shipyard.jsonsafe import jsonable
from shipyard.training.bootstrap import Outcome, Scored, bootstrap_samples, percentile_interval
from shipyard.training.metrics import (
    check_metric,
    classification_metrics,
    higher_is_better,
    positive_index,
    regression_metrics,
)


@dataclass(frozen=True)
class Thresholds:
    """How much worse than the reference a candidate may be, and its hard limits.

    ``max_drop`` is per metric (default ``default_drop``), in the metric's units;
    ``slice_max_drop`` is the same on slices (defaults to ``max_drop``). With
    ``significant_only`` a drop fails only when the paired bootstrap interval of
    the difference lies entirely on the bad side of zero.
    """

    default_drop: float = 0.0
    max_drop: Mapping[str, float] = field(default_factory=dict)
    slice_max_drop: Mapping[str, float] | None = None
    significant_only: bool = False
    min_slice_rows: int = 30
    max_latency_ms_per_row: float | None = None
    max_model_bytes: int | None = None

    def drop(self, metric: str, scope: str) -> float:
        table = (
            self.max_drop
            if scope == "overall" or self.slice_max_drop is None
            else self.slice_max_drop
        )
        return float(table.get(metric, self.max_drop.get(metric, self.default_drop)))


@dataclass(frozen=True)
class GateCheck:
    """One metric on one scope (``overall`` or a slice): candidate against reference."""

    scope: str
    metric: str
    rows: int
    candidate: float
    reference: float
    difference: float  # candidate - reference, signed so that > 0 is better
    ci_low: float
    ci_high: float
    allowed_drop: float
    passed: bool
    reason: str


@dataclass(frozen=True)
class LimitCheck:
    """A non-functional limit: latency per row or model size."""

    name: str
    value: float
    limit: float
    passed: bool


RULES = {
    "not_worse": "no metric worse than the reference beyond its allowed drop, overall or on "
    "a slice",
    "beats_baseline": "better than the baseline beyond noise on the primary metric overall "
    "(95% interval of the difference above zero), and significantly worse nowhere",
}


@dataclass(frozen=True)
class GateReport:
    """Every check the gate made, and its verdict."""

    candidate: str
    reference: str
    set_name: str
    checks: tuple[GateCheck, ...]
    limits: tuple[LimitCheck, ...]
    notes: tuple[str, ...] = ()
    rule: str = "not_worse"

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks) and all(lim.passed for lim in self.limits)

    @property
    def failures(self) -> list[str]:
        found = [f"{c.metric} on {c.scope}: {c.reason}" for c in self.checks if not c.passed]
        found += [
            f"{lim.name} {lim.value:.4g} exceeds {lim.limit:.4g}"
            for lim in self.limits
            if not lim.passed
        ]
        return found

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = jsonable(
            {
                "candidate": self.candidate,
                "reference": self.reference,
                "set": self.set_name,
                "rule": self.rule,
                "rule_text": RULES[self.rule],
                "passed": self.passed,
                "failures": self.failures,
                "checks": [asdict(c) for c in self.checks],
                "limits": [asdict(lim) for lim in self.limits],
                "notes": list(self.notes),
            }
        )
        return body

    def table(self) -> Table:
        verdict = "[green]PASSED[/green]" if self.passed else "[red]FAILED[/red]"
        table = Table(
            title=f"Gate: {self.candidate} vs {self.reference} on {self.set_name}: {verdict}",
            caption=f"rule {self.rule}: {RULES[self.rule]}",
        )
        for column in (
            "scope",
            "metric",
            "rows",
            "candidate",
            "reference",
            "diff",
            "95% CI",
            "verdict",
        ):
            table.add_column(column, no_wrap=column in ("scope", "metric"))
        for c in self.checks:
            table.add_row(
                c.scope,
                c.metric,
                f"{c.rows:,}",
                _fmt(c.candidate),
                _fmt(c.reference),
                _fmt(c.difference),
                f"[{_fmt(c.ci_low)}, {_fmt(c.ci_high)}]",
                "ok" if c.passed else f"[red]{c.reason}[/red]",
            )
        return table

    def raise_for_failure(self) -> None:
        if not self.passed:
            lead = (
                "has no demonstrated signal: it does not beat the baseline beyond noise"
                if self.rule == "beats_baseline"
                else "failed the gate"
            )
            raise GateFailed(
                f"{self.candidate} {lead} against {self.reference}: " + "; ".join(self.failures),
                hint="See the gate report stored with the version for every check.",
            )


def gate(
    candidate: Any,
    reference: Any,
    frame: pd.DataFrame,
    *,
    target: str,
    features: Sequence[str],
    metrics: Sequence[str],
    task: str = "classification",
    positive_label: Any = True,
    slices: Mapping[str, str] | None = None,
    thresholds: Thresholds | None = None,
    names: tuple[str, str] = ("candidate", "production"),
    set_name: str = "validation",
    model_bytes: int | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    rule: str = "not_worse",
) -> GateReport:
    """Judge ``candidate`` against ``reference`` on the fixed set ``frame`` and its slices.

    ``rule`` is ``not_worse`` (the reference is production) or ``beats_baseline``
    (the reference is the baseline; the first metric is the primary one).
    """
    limits = thresholds or Thresholds()
    if not metrics:
        raise InvalidInput(
            "The gate needs at least one metric.", hint="For example metrics=['roc_auc']."
        )
    if rule not in RULES:
        raise InvalidInput(f"Unknown gate rule {rule!r}.", hint=f"Use one of {', '.join(RULES)}.")
    for metric in metrics:
        check_metric(task, metric)  # type: ignore[arg-type]
    missing = [c for c in [*features, target] if c not in frame.columns]
    if missing:
        raise InvalidInput(f"The gate's set has no column(s) {', '.join(missing)}.")
    X, y = frame[list(features)], frame[target].to_numpy()
    everything = frame.drop(columns=[target])
    started = time.perf_counter()
    cand, classes = _score(candidate, _inputs(candidate, X, everything), task, positive_label)
    latency_ms = (time.perf_counter() - started) * 1000 / max(len(frame), 1)
    ref, _ = _score(reference, _inputs(reference, X, everything), task, positive_label)
    outcome = Outcome(y, task, classes, positive_label)  # type: ignore[arg-type]
    scopes: dict[str, np.ndarray] = {"overall": np.ones(len(frame), dtype=bool)}
    for name, expression in (slices or {}).items():
        scopes[name] = evaluate_slice(frame, name, expression)
    checks, notes = [], []
    for scope, mask in scopes.items():
        if scope != "overall" and mask.sum() < limits.min_slice_rows:
            notes.append(
                f"slice {scope} has {int(mask.sum())} rows (< {limits.min_slice_rows}): not judged"
            )
            continue
        for metric in metrics:
            judge = _judge(rule, primary=scope == "overall" and metric == metrics[0])
            checks.append(
                _check(scope, metric, mask, outcome, cand, ref, limits, n_bootstrap, seed, judge)
            )
    return GateReport(
        names[0],
        names[1],
        set_name,
        tuple(checks),
        _limits(limits, latency_ms, model_bytes),
        tuple(notes),
        rule,
    )


def _judge(rule: str, *, primary: bool) -> str:
    """How one check decides: by the allowed drop, by beating the reference, or by
    being significantly worse (the baseline rule's other checks)."""
    if rule == "not_worse":
        return "drop"
    return "beat" if primary else "significantly_worse"


def _check(
    scope: str,
    metric: str,
    mask: np.ndarray,
    outcome: Outcome,
    cand: Scored,
    ref: Scored,
    limits: Thresholds,
    n_bootstrap: int,
    seed: int,
    judge: str = "drop",
) -> GateCheck:
    sub = Outcome(outcome.y[mask], outcome.task, outcome.classes, outcome.positive_label)
    pair = [_subset(ref, mask), _subset(cand, mask)]
    value_c, value_r = (_metric(metric, sub, s) for s in (pair[1], pair[0]))
    sign = 1.0 if higher_is_better(metric) else -1.0
    difference = sign * (value_c - value_r)
    samples = bootstrap_samples(metric, sub, pair, n_bootstrap=n_bootstrap, seed=seed)
    low, high = percentile_interval(sign * (samples[1] - samples[0]))
    allowed = limits.drop(metric, scope)
    too_worse = not math.isfinite(difference) or difference < -allowed
    significant = math.isfinite(high) and high < 0
    if judge == "beat":
        allowed = 0.0
        failed = not (math.isfinite(low) and low > 0)
    elif judge == "significantly_worse":
        allowed = 0.0
        failed = not math.isfinite(difference) or significant
    else:
        failed = too_worse and (significant or not limits.significant_only)
    if not math.isfinite(difference):
        reason = "could not be measured"
    elif judge == "beat":
        reason = (
            f"better by {difference:.4g}, beyond noise"
            if not failed
            else f"not better beyond noise (difference {difference:.4g}, "
            f"95% CI [{low:.4g}, {high:.4g}] reaches zero)"
        )
    elif failed:
        reason = (
            f"worse by {-difference:.4g} beyond noise"
            if judge == "significantly_worse"
            else f"worse by {-difference:.4g} (allowed {allowed:.4g})"
        )
    elif too_worse:
        reason = "worse, but not beyond noise"
    else:
        reason = "ok"
    return GateCheck(
        scope,
        metric,
        int(mask.sum()),
        value_c,
        value_r,
        difference,
        low,
        high,
        allowed,
        not failed,
        reason,
    )


def _limits(
    limits: Thresholds, latency_ms: float, model_bytes: int | None
) -> tuple[LimitCheck, ...]:
    found = []
    if limits.max_latency_ms_per_row is not None:
        found.append(
            LimitCheck(
                "latency_ms_per_row",
                latency_ms,
                limits.max_latency_ms_per_row,
                latency_ms <= limits.max_latency_ms_per_row,
            )
        )
    if limits.max_model_bytes is not None:
        if model_bytes is None:
            raise InvalidInput("A model size limit was set but the model's size is unknown.")
        found.append(
            LimitCheck(
                "model_bytes",
                float(model_bytes),
                float(limits.max_model_bytes),
                model_bytes <= limits.max_model_bytes,
            )
        )
    return tuple(found)


def _score(
    model: Any, X: pd.DataFrame, task: str, positive_label: Any
) -> tuple[Scored, tuple[Any, ...]]:
    if not hasattr(model, "predict"):
        raise InvalidInput(f"{type(model).__name__} has no predict(); the gate needs a model.")
    predictions = np.asarray(model.predict(X))
    if task == "regression" or not hasattr(model, "predict_proba"):
        return Scored(predictions), ()
    classes = _classes(model)
    proba = np.asarray(model.predict_proba(X))
    if len(classes) == 2:
        proba = proba[:, positive_index(classes, positive_label)]
    return Scored(predictions, proba), classes


def _inputs(model: Any, features: pd.DataFrame, everything: pd.DataFrame) -> pd.DataFrame:
    # A registered model knows its own input columns (its signature), which may
    # differ from the candidate's; anything else is given the candidate's features.
    return everything if hasattr(model, "signature") else features


def _classes(model: Any) -> tuple[Any, ...]:
    for holder in (model, getattr(model, "model", None), getattr(model, "estimator", None)):
        for attribute in ("classes_", "classes"):
            found = getattr(holder, attribute, None)
            if found is not None and not callable(found):
                return tuple(np.asarray(found).tolist())
    raise InvalidInput(f"{type(model).__name__} does not say its classes (no classes_).")


def _subset(scored: Scored, mask: np.ndarray) -> Scored:
    return Scored(scored.predictions[mask], None if scored.proba is None else scored.proba[mask])


def _metric(metric: str, outcome: Outcome, scored: Scored) -> float:
    if outcome.task == "regression" or scored.proba is None:
        return regression_metrics(outcome.y, scored.predictions)[metric]
    return classification_metrics(
        outcome.y,
        scored.predictions,
        scored.proba,
        outcome.classes,
        outcome.positive_label,
        only=[metric],
    )[metric]


def _fmt(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.4f}"
