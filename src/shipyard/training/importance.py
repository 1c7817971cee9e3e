"""What each feature is worth: permutation importance, SHAP where available, redundancy.

Every extra feature is another thing that can drift, break upstream or leak, so a
feature should earn its place. :func:`feature_report` ranks features by permutation
importance on the validation set (how much the primary metric drops when the feature's
values are shuffled), adds mean |SHAP| for tree models when ``shap`` is installed (the
``explain`` extra), and names redundant features: of each pair whose association (see
:mod:`shipyard.training.correlation`) is above the threshold, the less important one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table

from shipyard.jsonsafe import jsonable
from shipyard.training.correlation import CorrelationReport, correlation_report
from shipyard.training.experiment import Experiment, ExperimentData
from shipyard.training.metrics import (
    check_metric,
    classification_metrics,
    default_metric,
    higher_is_better,
    positive_index,
    regression_metrics,
)

_TREES = (
    "HistGradientBoosting",
    "RandomForest",
    "ExtraTrees",
    "GradientBoosting",
    "DecisionTree",
    "XGB",
    "LGBM",
)


@dataclass(frozen=True)
class FeatureValue:
    """One feature's measured value; ``importance`` is the mean drop of the metric."""

    feature: str
    importance: float
    std: float
    shap: float | None = None
    redundant_with: list[str] = field(default_factory=list)


def _sample(data: ExperimentData, set_name: str, max_rows: int, seed: int) -> pd.DataFrame:
    frame = data.sets[set_name]
    return frame.sample(max_rows, random_state=seed) if len(frame) > max_rows else frame


def _scorer(data: ExperimentData, metric: str) -> Any:
    sign = 1.0 if higher_is_better(metric) else -1.0  # permutation_importance maximises

    def score(experiment: Experiment, X: pd.DataFrame, y: np.ndarray) -> float:
        predicted = experiment.predict(X)
        if data.task == "regression":
            return sign * regression_metrics(y, predicted)[metric]
        classes = tuple(experiment.classes_.tolist())
        proba = experiment.predict_proba(X)
        if len(classes) == 2:
            proba = proba[:, positive_index(classes, data.positive_label)]
        values = classification_metrics(y, predicted, proba, classes, data.positive_label)
        return sign * values[metric]

    return score


def permutation_importances(
    experiment: Experiment,
    data: ExperimentData,
    set_name: str = "validation",
    *,
    metric: str | None = None,
    n_repeats: int = 5,
    seed: int = 0,
    max_rows: int = 10_000,
) -> list[FeatureValue]:
    """Permutation importance of each feature of a fitted experiment, most important first.

    Scored with the experiment's own ``predict``/``predict_proba`` and the primary metric
    (signed so that a larger drop means more important, for losses too).

    >>> permutation_importances(hgb, data)[0].feature  # doctest: +SKIP
    'hour'
    """
    from sklearn.inspection import permutation_importance

    metric = check_metric(data.task, metric or default_metric(data.task))
    frame = _sample(data, set_name, max_rows, seed)
    found = permutation_importance(
        experiment,
        frame[list(data.features)],
        frame[data.target].to_numpy(),
        scoring=_scorer(data, metric),
        n_repeats=n_repeats,
        random_state=seed,
    )
    values = [
        FeatureValue(str(f), float(m), float(s))
        for f, m, s in zip(
            data.features, found.importances_mean, found.importances_std, strict=True
        )
    ]
    return sorted(values, key=lambda v: -v.importance)


def shap_importances(
    experiment: Experiment,
    data: ExperimentData,
    set_name: str = "validation",
    *,
    max_rows: int = 2_000,
    seed: int = 0,
) -> tuple[dict[str, float], str | None]:
    """Mean |SHAP| per feature for a tree model, and a note when skipped (no ``shap``,
    not a tree model, or preprocessing that does not keep one column per feature)."""
    try:
        import shap
    except ImportError:
        return {}, "SHAP values skipped: shap is not installed (pip install 'shipyard[explain]')."
    from sklearn.pipeline import Pipeline

    model = experiment.model
    final = model.steps[-1][1] if isinstance(model, Pipeline) else model
    if not type(final).__name__.startswith(_TREES):
        return {}, f"SHAP values skipped: {type(final).__name__} is not a tree model."
    frame = _sample(data, set_name, max_rows, seed)[list(data.features)]
    try:
        matrix = model[:-1].transform(frame) if isinstance(model, Pipeline) else frame
        if matrix.shape[1] != len(data.features):
            return {}, "SHAP values skipped: preprocessing changes the number of columns."
        values = np.abs(np.asarray(shap.TreeExplainer(final).shap_values(matrix)))
    except Exception as err:  # shap supports some models and dtypes, not all
        return {}, f"SHAP values skipped: {type(err).__name__}: {err}"
    if values.ndim == 3:  # one slice per class: classes last, or first (older shap)
        values = values.mean(axis=2) if values.shape[0] == len(frame) else values.mean(axis=0)
    means = values.mean(axis=0)
    return {str(f): float(v) for f, v in zip(data.features, means, strict=True)}, None


@dataclass(frozen=True)
class FeatureReport:
    """Features ranked by permutation importance, with redundancy and SHAP where measured."""

    experiment: str
    set_name: str
    metric: str
    ranking: list[FeatureValue]
    correlation: CorrelationReport
    drop_candidates: list[str]
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe."""
        out: dict[str, Any] = jsonable(
            {
                "experiment": self.experiment,
                "set_name": self.set_name,
                "metric": self.metric,
                "ranking": [asdict(v) for v in self.ranking],
                "correlation": self.correlation.to_dict(),
                "drop_candidates": self.drop_candidates,
                "notes": self.notes,
            }
        )
        return out

    def table(self) -> Table:
        """Features most important first, with their redundant partners."""
        table = Table(title=f"Feature value: {self.experiment}, {self.metric} on {self.set_name}")
        for column in ("feature", "importance", "± std", "mean |SHAP|", "redundant with"):
            table.add_column(column, justify="left" if column == "feature" else "right")
        for v in self.ranking:
            shap = "" if v.shap is None else f"{v.shap:.4f}"
            name = f"[yellow]{v.feature}[/]" if v.feature in self.drop_candidates else v.feature
            table.add_row(
                name, f"{v.importance:.4f}", f"{v.std:.4f}", shap, ", ".join(v.redundant_with)
            )
        table.caption = "\n".join(self.notes) or None
        return table


def feature_report(
    experiment: Experiment,
    data: ExperimentData,
    set_name: str = "validation",
    *,
    metric: str | None = None,
    threshold: float = 0.9,
    n_repeats: int = 5,
    seed: int = 0,
    max_rows: int = 10_000,
) -> FeatureReport:
    """Rank a fitted experiment's features and name the redundant ones.

    >>> report = feature_report(hgb, data)  # doctest: +SKIP
    >>> report.drop_candidates  # doctest: +SKIP
    ['sched_dep_time']
    """
    metric = check_metric(data.task, metric or default_metric(data.task))
    ranking = permutation_importances(
        experiment, data, set_name, metric=metric, n_repeats=n_repeats, seed=seed, max_rows=max_rows
    )
    shap_values, shap_note = shap_importances(experiment, data, set_name, seed=seed)
    training = data.sets[data.training_set]
    correlation = correlation_report(training, data.features, threshold=threshold, seed=seed)
    importance = {v.feature: v.importance for v in ranking}
    drop: list[str] = []
    notes = [shap_note] if shap_note else []
    for a, b, score in correlation.redundant:
        weaker, stronger = (a, b) if importance[a] <= importance[b] else (b, a)
        if weaker not in drop:
            drop.append(weaker)
            notes.append(
                f"Consider dropping {weaker}: association {score:.3f} with {stronger}, which "
                "matters more here. Every extra feature is another thing that can drift."
            )
    # Within twice the spread of the shuffles from zero: indistinguishable from noise.
    useless = [v.feature for v in ranking if v.importance - 2 * v.std <= 0]
    if useless:
        notes.append(f"No measurable value on {set_name}: {', '.join(useless)}.")
    ranking = [
        FeatureValue(
            v.feature,
            v.importance,
            v.std,
            shap_values.get(v.feature),
            correlation.redundant_with(v.feature),
        )
        for v in ranking
    ]
    return FeatureReport(experiment.name, set_name, metric, ranking, correlation, drop, notes)
