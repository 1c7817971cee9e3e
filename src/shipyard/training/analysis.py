"""Error analysis of one model on one set: where it is wrong, and on which slices.

* Worst-predicted rows: the largest log-loss contribution ``-log p(true class)``
  (classification) or absolute error (regression), with their feature values.
* Confusion pairs (classification): (actual, predicted) pairs that differ, by count.
* Per-slice metrics: each slice expression (from the plan, evaluated with
  :func:`~shipyard.data.splits.slices.evaluate_slice`, plus one slice per frequent
  value of any ``by`` column) with its row count, a bootstrap 95% interval and the
  half-width a 95% interval on accuracy would have there (the rule in
  :mod:`shipyard.data.splits.slices`, with the slice's own positive rate in this set).
  A slice wider than ``max_halfwidth`` is "too small to trust" and is never ranked.
* Worst slices: trusted slices ranked by the metric, worst first.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table

from shipyard.data.splits.slices import evaluate_slice, halfwidth
from shipyard.errors import InvalidInput
from shipyard.jsonsafe import jsonable
from shipyard.training.bootstrap import Outcome, Scored, bootstrap_samples, percentile_interval
from shipyard.training.experiment import Experiment, ExperimentData
from shipyard.training.metrics import (
    check_metric,
    classification_metrics,
    default_metric,
    higher_is_better,
    positive_index,
    regression_metrics,
)
from shipyard.training.result import ExperimentResult


@dataclass(frozen=True)
class SliceMetrics:
    """One slice of the analysed set: its size, metrics and how far to trust them."""

    name: str
    expression: str
    rows: int
    positive_rate: float | None
    value: float
    ci_low: float
    ci_high: float
    halfwidth: float
    too_small: bool
    below_overall: bool
    metrics: dict[str, float]


@dataclass(frozen=True)
class ErrorAnalysis:
    """What :func:`analyze_errors` found; ``to_dict()`` is JSON-safe, ``table()`` prints."""

    experiment: str
    set_name: str
    metric: str
    higher_is_better: bool
    rows: int
    overall: dict[str, float]
    overall_ci: tuple[float, float]
    worst_rows: list[dict[str, Any]]
    confusion: list[dict[str, Any]]
    slices: list[SliceMetrics]
    worst_slices: list[str]
    max_halfwidth: float

    def slice(self, name: str) -> SliceMetrics:
        """The metrics of one slice by name."""
        for measured in self.slices:
            if measured.name == name:
                return measured
        have = ", ".join(s.name for s in self.slices) or "none"
        raise InvalidInput(f"No slice named {name!r} in this analysis.", hint=f"Have: {have}.")

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON values (NaN and infinities become null)."""
        out: dict[str, Any] = jsonable({**asdict(self), "slices": [asdict(s) for s in self.slices]})
        return out

    def table(self) -> Table:
        """Slices worst first (untrusted ones last), with intervals and row counts."""
        low, high = self.overall_ci
        table = Table(
            title=f"{self.experiment} on {self.set_name}: {self.metric} "
            f"{self.overall.get(self.metric, math.nan):.4f} [{low:.4f}, {high:.4f}], "
            f"{self.rows:,} rows"
        )
        for column in ("slice", "rows", self.metric, "95% interval", "trust"):
            table.add_column(column, justify="left" if column == "slice" else "right")
        order = {name: i for i, name in enumerate(self.worst_slices)}
        for s in sorted(self.slices, key=lambda s: order.get(s.name, len(order))):
            trust = "below overall" if s.below_overall else "ok"
            trust = "too small to trust" if s.too_small else trust
            table.add_row(
                s.name, f"{s.rows:,}", f"{s.value:.4f}", f"[{s.ci_low:.4f}, {s.ci_high:.4f}]", trust
            )
        top = self.confusion[:3]
        pairs = ", ".join(f"{c['actual']}→{c['predicted']} {c['count']:,}" for c in top)
        table.caption = f"Commonest confusions: {pairs}" if pairs else None
        return table


def _scored(
    model: ExperimentResult | Experiment, data: ExperimentData, set_name: str
) -> tuple[Scored, tuple[Any, ...]]:
    if isinstance(model, ExperimentResult):
        return model.scored(set_name), model.classes
    X = data.X(set_name)
    if data.task == "regression":
        return Scored(model.predict(X)), ()
    classes = tuple(model.classes_.tolist())
    proba = model.predict_proba(X)
    if len(classes) == 2:
        proba = proba[:, positive_index(classes, data.positive_label)]
    return Scored(model.predict(X), proba), classes


def _row_losses(
    data: ExperimentData, y: np.ndarray, scored: Scored, classes: Sequence[Any]
) -> np.ndarray:
    if data.task == "regression":
        return np.abs(np.asarray(scored.predictions, dtype="float64") - y.astype("float64"))
    proba = np.asarray(scored.proba, dtype="float64")
    if len(classes) == 2:
        p_true = np.where(y == data.positive_label, proba, 1 - proba)
    else:
        columns = np.searchsorted(np.asarray(classes), y)
        p_true = proba[np.arange(y.size), columns]
    return -np.log(np.clip(p_true, 1e-15, 1.0))


def _metrics(
    data: ExperimentData, y: np.ndarray, s: Scored, classes: Sequence[Any]
) -> dict[str, float]:
    if data.task == "regression" or s.proba is None:
        return regression_metrics(y, s.predictions)
    return classification_metrics(y, s.predictions, s.proba, classes, data.positive_label)


def _value_slices(frame: pd.DataFrame, by: Sequence[str], max_values: int) -> dict[str, str]:
    """``col == value`` for the ``max_values`` commonest values of each ``by`` column."""
    out: dict[str, str] = {}
    for column in by:
        for value in frame[column].value_counts().index[:max_values]:
            literal = repr(value.item() if isinstance(value, np.generic) else value)
            out[f"{column} == {literal}"] = f"`{column}` == {literal}"
    return out


def _worst_rows(
    features: pd.DataFrame, y: np.ndarray, scored: Scored, losses: np.ndarray, n_worst: int
) -> list[dict[str, Any]]:
    binary = scored.proba is not None and scored.proba.ndim == 1
    return [
        {
            "row": int(i),
            "target": y[i],
            "prediction": scored.predictions[i],
            "score": scored.proba[i] if binary and scored.proba is not None else None,
            "loss": float(losses[i]),
            "features": features.iloc[int(i)].to_dict(),
        }
        for i in np.argsort(-losses, kind="stable")[:n_worst]
    ]


def _confusion(y: np.ndarray, predictions: np.ndarray) -> list[dict[str, Any]]:
    pairs = Counter(zip(y.tolist(), np.asarray(predictions).tolist(), strict=True))
    totals = Counter(y.tolist())
    wrong = [(a, p, n) for (a, p), n in pairs.items() if a != p]
    wrong.sort(key=lambda item: (-item[2], str(item[0]), str(item[1])))
    return [
        {"actual": a, "predicted": p, "count": n, "share_of_actual": n / totals[a]}
        for a, p, n in wrong
    ]


@dataclass(frozen=True)
class _Context:
    data: ExperimentData
    set_name: str
    y: np.ndarray
    scored: Scored
    classes: tuple[Any, ...]
    metric: str
    n_bootstrap: int
    seed: int
    max_halfwidth: float
    reference: float


def _measure_slice(c: _Context, name: str, expression: str) -> SliceMetrics:
    mask = evaluate_slice(c.data.sets[c.set_name], name, expression)
    n = int(mask.sum())
    binary = len(c.classes) == 2
    rate = float((c.y[mask] == c.data.positive_label).mean()) if n and binary else None
    width = halfwidth(n, rate)
    values: dict[str, float] = {}
    low = high = math.nan
    if n:
        proba = None if c.scored.proba is None else c.scored.proba[mask]
        part = Scored(c.scored.predictions[mask], proba)
        values = _metrics(c.data, c.y[mask], part, c.classes)
        outcome = Outcome(c.y[mask], c.data.task, c.classes, c.data.positive_label)
        samples = bootstrap_samples(
            c.metric, outcome, [part], n_bootstrap=c.n_bootstrap, seed=c.seed
        )
        low, high = percentile_interval(samples[0])
    below = high < c.reference if higher_is_better(c.metric) else low > c.reference
    return SliceMetrics(
        name=name,
        expression=expression,
        rows=n,
        positive_rate=rate,
        value=float(values.get(c.metric, math.nan)),
        ci_low=low,
        ci_high=high,
        halfwidth=width,
        too_small=width > c.max_halfwidth,
        below_overall=bool(below),
        metrics=values,
    )


def analyze_errors(
    model: ExperimentResult | Experiment,
    data: ExperimentData,
    set_name: str = "validation",
    *,
    slices: Mapping[str, str] | None = None,
    by: Sequence[str] = (),
    metric: str | None = None,
    n_worst: int = 10,
    n_bootstrap: int = 1000,
    seed: int = 0,
    max_halfwidth: float = 0.05,
    max_values: int = 30,
) -> ErrorAnalysis:
    """Analyse a fitted experiment (or its result) on ``set_name`` of ``data``.

    ``slices`` defaults to ``data.slices``; ``by`` adds one slice per frequent value
    (at most ``max_values``) of each named column. ``metric`` defaults to ROC AUC
    (classification) or RMSE. A slice is too small to trust when a 95% interval on
    accuracy there would be wider than ``±max_halfwidth``.

    >>> analysis = analyze_errors(result, data, "validation", by=["origin"])  # doctest: +SKIP
    >>> analysis.worst_slices[:2], analysis.slice("origin == 'JFK'").ci_low  # doctest: +SKIP
    """
    metric = check_metric(data.task, metric or default_metric(data.task))
    y = data.y(set_name)
    scored, classes = _scored(model, data, set_name)
    overall = _metrics(data, y, scored, classes)
    samples = bootstrap_samples(
        metric, data.outcome(set_name, classes), [scored], n_bootstrap=n_bootstrap, seed=seed
    )
    losses = _row_losses(data, y, scored, classes)
    context = _Context(
        data,
        set_name,
        y,
        scored,
        tuple(classes),
        metric,
        n_bootstrap,
        seed,
        max_halfwidth,
        overall[metric],
    )
    plan_slices = data.slices if slices is None else slices
    expressions = {**plan_slices, **_value_slices(data.sets[set_name], by, max_values)}
    measured = [_measure_slice(context, name, expr) for name, expr in expressions.items()]
    better = higher_is_better(metric)
    trusted = [s for s in measured if not s.too_small and math.isfinite(s.value)]
    trusted.sort(key=lambda s: s.value if better else -s.value)
    return ErrorAnalysis(
        experiment=model.name,
        set_name=set_name,
        metric=metric,
        higher_is_better=better,
        rows=int(y.size),
        overall=overall,
        overall_ci=percentile_interval(samples[0]),
        worst_rows=_worst_rows(data.X(set_name), y, scored, losses, n_worst),
        confusion=_confusion(y, scored.predictions) if data.task == "classification" else [],
        slices=measured,
        worst_slices=[s.name for s in trusted],
        max_halfwidth=max_halfwidth,
    )
