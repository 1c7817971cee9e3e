"""The metrics every experiment is scored with, computed by scikit-learn.

Classification: ROC AUC, log loss, accuracy, precision, recall, F1, average precision
and Brier score. For a binary target the class-specific ones are about the positive
class and use P(positive); for more classes precision, recall, F1 and average
precision are macro averages, ROC AUC is one-vs-rest (macro) and Brier is not defined
(NaN). Regression: RMSE, MAE and R². A metric that cannot be computed on a set (ROC AUC
with one class present) is NaN rather than an error.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from shipyard.errors import InvalidInput

Task = Literal["classification", "regression"]
TASKS: tuple[Task, ...] = ("classification", "regression")
CLASSIFICATION_METRICS = (
    "roc_auc",
    "log_loss",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "average_precision",
    "brier",
)
REGRESSION_METRICS = ("rmse", "mae", "r2")
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "rmse", "mae"})


def metric_names(task: Task) -> tuple[str, ...]:
    """The metrics computed for ``task``.

    >>> metric_names("regression")
    ('rmse', 'mae', 'r2')
    """
    return CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS


def default_metric(task: Task) -> str:
    """The metric experiments are ranked by unless told otherwise.

    >>> default_metric("classification"), default_metric("regression")
    ('roc_auc', 'rmse')
    """
    return "roc_auc" if task == "classification" else "rmse"


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (False for losses and errors).

    >>> higher_is_better("roc_auc"), higher_is_better("log_loss")
    (True, False)
    """
    return metric not in LOWER_IS_BETTER


def check_metric(task: Task, metric: str) -> str:
    """``metric`` if it is computed for ``task``; else InvalidInput naming the choices."""
    if metric not in metric_names(task):
        raise InvalidInput(
            f"Unknown {task} metric {metric!r}.",
            hint=f"Choose one of: {', '.join(metric_names(task))}.",
        )
    return metric


def positive_index(classes: Sequence[Any], positive_label: Any) -> int:
    """The column of the positive class in ``predict_proba`` output.

    >>> positive_index([False, True], True), positive_index(["no", "yes"], "yes")
    (1, 1)
    """
    for i, value in enumerate(classes):
        if value == positive_label:
            return i
    raise InvalidInput(
        f"The positive label {positive_label!r} is not one of the classes {list(classes)!r}.",
        hint="Set ExperimentData(positive_label=...) to the class that counts as positive.",
    )


def _safe(fn: Callable[[], float]) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined metrics become NaN, said once in docs
        try:
            return float(fn())
        except ValueError:
            return math.nan


def classification_metrics(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    proba: np.ndarray,
    classes: Sequence[Any],
    positive_label: Any,
    *,
    only: Sequence[str] | None = None,
) -> dict[str, float]:
    """Classification metrics (all, or ``only`` those named); ``proba`` is P(positive)
    for a binary target, else one column per class.

    >>> m = classification_metrics([0, 1, 1, 0], [0, 1, 0, 0], np.array([.2, .9, .4, .3]),
    ...                            [0, 1], 1)
    >>> m["roc_auc"], m["accuracy"], m["recall"]
    (1.0, 0.75, 0.5)
    """
    from sklearn import metrics as skm
    from sklearn.preprocessing import label_binarize

    y = np.asarray(y_true)
    pred = np.asarray(y_pred)
    formulas: dict[str, Callable[[], float]]
    if len(classes) == 2:
        pos = y == positive_label
        hit = pred == positive_label
        p = np.asarray(proba, dtype="float64")
        formulas = {
            "roc_auc": lambda: skm.roc_auc_score(pos, p),
            "log_loss": lambda: skm.log_loss(pos, p, labels=[False, True]),
            "accuracy": lambda: skm.accuracy_score(y, pred),
            "precision": lambda: skm.precision_score(pos, hit, zero_division=0),
            "recall": lambda: skm.recall_score(pos, hit, zero_division=0),
            "f1": lambda: skm.f1_score(pos, hit, zero_division=0),
            "average_precision": lambda: (
                skm.average_precision_score(pos, p) if pos.any() else math.nan
            ),
            "brier": lambda: skm.brier_score_loss(pos, p),
        }
    else:
        labels = list(classes)
        macro: dict[str, Any] = {"labels": labels, "average": "macro", "zero_division": 0}
        formulas = {
            "roc_auc": lambda: skm.roc_auc_score(y, proba, multi_class="ovr", labels=labels),
            "log_loss": lambda: skm.log_loss(y, proba, labels=labels),
            "accuracy": lambda: skm.accuracy_score(y, pred),
            "precision": lambda: skm.precision_score(y, pred, **macro),
            "recall": lambda: skm.recall_score(y, pred, **macro),
            "f1": lambda: skm.f1_score(y, pred, **macro),
            "average_precision": lambda: skm.average_precision_score(
                label_binarize(y, classes=labels), proba
            ),
            "brier": lambda: math.nan,
        }
    names = CLASSIFICATION_METRICS if only is None else only
    return {name: _safe(formulas[name]) for name in names}


def regression_metrics(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    """RMSE, MAE and R².

    >>> regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])["mae"]
    0.3333333333333333
    """
    from sklearn import metrics as skm

    y = np.asarray(y_true, dtype="float64")
    p = np.asarray(y_pred, dtype="float64")
    return {
        "rmse": _safe(lambda: skm.root_mean_squared_error(y, p)),
        "mae": _safe(lambda: skm.mean_absolute_error(y, p)),
        "r2": _safe(lambda: skm.r2_score(y, p)),
    }
