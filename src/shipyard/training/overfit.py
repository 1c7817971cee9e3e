"""Can the model memorise a handful of rows? A cheap test of code and data before a long run.

A model with enough capacity fits ~10 training rows perfectly. If it cannot, either the
data is suspect (identical features with different labels: nothing can fit those) or
the code is (features not reaching the model, labels shuffled against rows) or the
model is too constrained (strong regularisation, few or shallow trees).

The check keeps the model's capacity (regularisation, depth, iterations) but relaxes
settings that only make sense for many rows, so 10 rows are not refused outright:
``min_samples_leaf``/``min_child_samples`` to 1, ``min_samples_split`` to 2,
``min_child_weight`` to 0, ``early_stopping`` off, one-hot ``min_frequency`` off. The
result lists what it relaxed. A baseline ignores its features by design, so it is
expected to fail; the message says so.
"""

from __future__ import annotations

import copy
import math
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shipyard.jsonsafe import jsonable
from shipyard.training.experiment import Experiment, ExperimentData
from shipyard.training.experiments import BaselineExperiment
from shipyard.training.metrics import classification_metrics, positive_index, regression_metrics

_RELAX: dict[str, Any] = {
    "min_samples_leaf": 1,
    "min_samples_split": 2,
    "min_child_samples": 1,
    "min_data_in_leaf": 1,
    "min_child_weight": 0.0,
    "early_stopping": False,
    "min_frequency": None,
}
# Settings that bound capacity: named in the message when the check fails.
_CAPACITY = (
    "C",
    "alpha",
    "l2_regularization",
    "max_depth",
    "max_iter",
    "n_estimators",
    "max_leaf_nodes",
    "learning_rate",
    "reg_lambda",
    "num_leaves",
)
R2_TO_PASS = 0.99


@dataclass(frozen=True)
class OverfitResult:
    """Whether ``experiment`` fitted ``rows`` training rows (almost) perfectly, and why not.

    ``value`` is training accuracy (classification; must be 1.0) or R² (regression; at
    least 0.99). ``conflicting_rows`` counts rows whose features are identical to
    another's but whose label differs.
    """

    experiment: str
    passed: bool
    rows: int
    metric: str
    value: float
    message: str
    log_loss: float | None = None
    conflicting_rows: int = 0
    relaxed: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe."""
        out: dict[str, Any] = jsonable(asdict(self))
        return out


def _sample(data: ExperimentData, n: int, seed: int) -> np.ndarray:
    """Positions of ``n`` training rows; a classification sample has every class it can."""
    y = data.y(data.training_set)
    order = np.random.default_rng(seed).permutation(y.size)
    if data.task == "regression":
        return order[:n]
    _, first = np.unique(y[order], return_index=True)  # first row of each class in order
    chosen = list(order[np.sort(first)][:n])
    picked = set(chosen)
    chosen += [i for i in order if i not in picked][: n - len(chosen)]
    return np.asarray(chosen)


def _conflicts(X: pd.DataFrame, y: np.ndarray) -> tuple[int, str]:
    keys = pd.util.hash_pandas_object(X, index=False).to_numpy()
    frame = pd.DataFrame({"key": keys, "y": y})
    labels = frame.groupby("key")["y"].nunique()
    clashing = labels[labels > 1].index
    rows = frame[frame["key"].isin(clashing)]
    if rows.empty:
        return 0, ""
    first = rows[rows["key"] == clashing[0]]
    example = f"e.g. rows {list(first.index[:4])} have labels {sorted(set(first['y'].tolist()))}"
    return len(rows), example


def _relax(estimator: Any, relaxed: dict[str, Any]) -> None:
    if not hasattr(estimator, "get_params"):
        return
    changes = {
        key: _RELAX[key.rsplit("__", 1)[-1]]
        for key, value in estimator.get_params(deep=True).items()
        if key.rsplit("__", 1)[-1] in _RELAX and value != _RELAX[key.rsplit("__", 1)[-1]]
    }
    if changes:
        estimator.set_params(**changes)
        relaxed.update(changes)


def _capacity(estimator: Any) -> str:
    if not hasattr(estimator, "get_params"):
        return ""
    found = {
        key.rsplit("__", 1)[-1]: value
        for key, value in estimator.get_params(deep=True).items()
        if key.rsplit("__", 1)[-1] in _CAPACITY and value is not None
    }
    return ", ".join(f"{k}={v}" for k, v in found.items())


def overfit_check(
    experiment: Experiment, data: ExperimentData, n: int = 10, seed: int = 0
) -> OverfitResult:
    """Fit a fresh copy of ``experiment`` on ``n`` training rows and check it memorises them.

    >>> overfit_check(HistGradientBoostingExperiment(max_iter=50), data).passed  # doctest: +SKIP
    True
    """
    positions = _sample(data, n, seed)
    frame = data.sets[data.training_set].iloc[positions].reset_index(drop=True)
    X, y = frame[list(data.features)], frame[data.target].to_numpy()
    n_conflicts, example = _conflicts(X, y)
    fresh = copy.copy(experiment)  # same settings, its own fitted state
    fresh.model = None
    fresh.task = fresh.task or data.task
    relaxed: dict[str, Any] = {}
    build = fresh.build

    def relaxed_build(features: pd.DataFrame) -> Any:
        estimator = build(features)
        _relax(estimator, relaxed)
        return estimator

    fresh.build = relaxed_build  # type: ignore[method-assign,assignment]
    classify = data.task == "classification"
    metric = "accuracy" if classify else "r2"
    from threadpoolctl import threadpool_limits

    try:
        with threadpool_limits(limits=1):  # threads only cost time on ten rows
            fresh.fit(X, y)
        predicted = fresh.predict(X)
        log_loss = None
        if classify:
            classes = tuple(fresh.classes_.tolist())
            proba = fresh.predict_proba(X)
            if len(classes) == 2:
                proba = proba[:, positive_index(classes, data.positive_label)]
            values = classification_metrics(y, predicted, proba, classes, data.positive_label)
            log_loss = values["log_loss"]
        else:
            values = regression_metrics(y, predicted)
    except Exception:
        return OverfitResult(
            fresh.name,
            False,
            len(y),
            metric,
            math.nan,
            f"Fitting {len(y)} rows failed, so the code is suspect:\n{traceback.format_exc()}",
            None,
            n_conflicts,
            relaxed,
        )
    value = values[metric]
    passed = value >= 1.0 if classify else value >= R2_TO_PASS
    target = "accuracy 1.0" if classify else f"R² ≥ {R2_TO_PASS}"
    reached = f"{fresh.name} reached training {metric} {value:.3f} on {len(y)} rows"
    if passed:
        message = f"{reached}: it can memorise a small sample, as a working model should."
    elif isinstance(experiment, BaselineExperiment):
        message = (
            f"{reached}, short of {target}, as expected: a baseline ignores the "
            "features, so it cannot memorise rows. Run this check on a real model."
        )
    elif n_conflicts:
        message = (
            f"{reached}, short of {target}: the data is suspect. {n_conflicts} of the "
            f"{len(y)} rows have identical features but different labels ({example}); "
            "no model can fit them. Check the labels, or the feature that tells those "
            "rows apart is missing."
        )
    else:
        limits = _capacity(fresh.model)
        message = (
            f"{reached}, short of {target}. Either the model is too constrained to "
            f"memorise {len(y)} rows ({limits or 'see its settings'}; a regularised "
            "linear model may simply lack the capacity), or the code is suspect: check "
            "that the features reach the model and that labels line up with rows."
        )
    return OverfitResult(
        fresh.name,
        bool(passed),
        len(y),
        metric,
        float(value),
        message,
        log_loss,
        n_conflicts,
        relaxed,
    )
