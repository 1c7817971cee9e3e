"""Experiments as interchangeable classes, and the data every one of them is run on.

An :class:`Experiment` says how to build a model (``build``) and, if it must, how to fit
and predict with it. :meth:`Experiment.run` is written once here: fit on the training
set, predict on every set, score with the task's metrics, and record a failure instead
of raising. A new model is therefore a new subclass that overrides ``build`` (and
``fit``/``predict`` only when the model is not a scikit-learn estimator); the runner,
the comparisons, the analyses and the tracking need no change.
"""

from __future__ import annotations

import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import pandas as pd

from shipyard.data.splits.slices import check_expression
from shipyard.errors import InvalidInput
from shipyard.jsonsafe import jsonable
from shipyard.training.bootstrap import Outcome
from shipyard.training.metrics import (
    TASKS,
    Task,
    classification_metrics,
    positive_index,
    regression_metrics,
)
from shipyard.training.result import ExperimentResult


@dataclass(frozen=True)
class ExperimentData:
    """The sets an experiment is fitted and scored on, and how to read them.

    ``sets`` maps a set name to its rows (``training``, ``validation``, ``testing``,
    ``recent_testing``, ...); ``slices`` maps a slice name to a filter expression (see
    :mod:`shipyard.data.splits.slices`). ``positive_label`` is the class that counts as
    positive for a binary target.

    >>> frame = pd.DataFrame({"x": [0.1, 0.9, 0.2, 0.8], "late": [False, True, False, True]})
    >>> data = ExperimentData({"training": frame, "validation": frame}, ["x"], "late")
    >>> data.X("validation").shape, data.evaluation_sets
    ((4, 1), ['validation'])
    """

    sets: Mapping[str, pd.DataFrame]
    features: Sequence[str]
    target: str
    slices: Mapping[str, str] = field(default_factory=dict)
    task: Task = "classification"
    positive_label: Any = True
    training_set: str = "training"
    validation_set: str = "validation"

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise InvalidInput(
                f"Unknown task {self.task!r}.", hint="Use 'classification' or 'regression'."
            )
        if self.training_set not in self.sets:
            raise InvalidInput(
                f"There is no {self.training_set!r} set to train on.",
                hint=f"Sets given: {', '.join(self.sets) or 'none'}.",
            )
        if not self.features or self.target in self.features:
            raise InvalidInput(
                "Features must be a non-empty list that does not contain the target "
                f"({self.target!r}); got {list(self.features)!r}."
            )
        needed = [*self.features, self.target]
        for name, frame in self.sets.items():
            missing = [c for c in needed if c not in frame.columns]
            if missing:
                raise InvalidInput(f"Set {name!r} lacks column(s) {', '.join(missing)}.")
            nulls = int(frame[self.target].isna().sum())
            if nulls:
                raise InvalidInput(
                    f"Set {name!r} has {nulls:,} row(s) without a target ({self.target}).",
                    hint="Drop them or give them a label first: that is a labeling decision.",
                )
        for name, expression in self.slices.items():
            check_expression(name, expression)
        if self.task == "classification":
            classes = pd.unique(self.sets[self.training_set][self.target])
            if len(classes) == 2:
                positive_index(classes.tolist(), self.positive_label)

    @property
    def evaluation_sets(self) -> list[str]:
        """Every set but the training set, in order."""
        return [name for name in self.sets if name != self.training_set]

    def X(self, set_name: str) -> pd.DataFrame:
        """The feature columns of one set."""
        return self.sets[set_name][list(self.features)]

    def y(self, set_name: str) -> np.ndarray:
        """The target of one set as an array."""
        return self.sets[set_name][self.target].to_numpy()

    def outcome(self, set_name: str, classes: Sequence[Any] = ()) -> Outcome:
        """The target of one set in the form the bootstrap takes."""
        return Outcome(self.y(set_name), self.task, tuple(classes), self.positive_label)


class Experiment(ABC):
    """A model to try: override :meth:`build`; override ``fit``/``predict`` only if needed.

    ``name`` and ``task`` are class attributes a subclass may set, or constructor
    arguments; a ``task`` of ``None`` takes the data's task. After fitting, ``model``
    holds the fitted estimator.

    >>> from sklearn.tree import DecisionTreeClassifier
    >>> class Tree(Experiment):
    ...     name = "tree"
    ...     def build(self, X):
    ...         return DecisionTreeClassifier(max_depth=2, random_state=0)
    >>> frame = pd.DataFrame({"x": [0.1, 0.9, 0.2, 0.8], "late": [False, True, False, True]})
    >>> result = Tree().run(ExperimentData({"training": frame}, ["x"], "late"))
    >>> result.status, result.metrics["training"]["accuracy"]
    ('ok', 1.0)
    """

    name: str = "experiment"
    task: Task | None = None
    model: Any = None

    def __init__(self, *, name: str | None = None, task: Task | None = None) -> None:
        if name is not None:
            self.name = name
        if task is not None:
            if task not in TASKS:
                raise InvalidInput(
                    f"Unknown task {task!r}.", hint="Use one of: " + ", ".join(TASKS)
                )
            self.task = task

    @abstractmethod
    def build(self, X: pd.DataFrame) -> Any:
        """A new, unfitted estimator for training features ``X`` (used for dtypes only)."""

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> Self:
        """Build a fresh model and fit it on ``X``, ``y``."""
        self.model = self.build(X)
        self.model.fit(X, y)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predicted labels (classification) or values (regression)."""
        return np.asarray(self._fitted().predict(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities, one column per class in :attr:`classes_` order."""
        if self.task == "regression":
            raise InvalidInput(
                f"Experiment {self.name!r} is a regression: it has no probabilities."
            )
        return np.asarray(self._fitted().predict_proba(X))

    @property
    def classes_(self) -> np.ndarray:
        """The classes a fitted classifier knows, in probability-column order."""
        return np.asarray(self._fitted().classes_)

    def params(self) -> dict[str, Any]:
        """Settings worth tracking: by default the public instance attributes other than
        ``model``, ``name`` and ``task`` (which are tracked separately)."""
        skip = {"model", "name", "task"}
        found = {k: v for k, v in vars(self).items() if not k.startswith("_") and k not in skip}
        out: dict[str, Any] = jsonable(found)
        return out

    def _fitted(self) -> Any:
        if self.model is None:
            raise InvalidInput(f"Experiment {self.name!r} is not fitted.", hint="Call fit() first.")
        return self.model

    def _resolve_task(self, data: ExperimentData) -> Task:
        if self.task is None:
            self.task = data.task
        elif self.task != data.task:
            raise InvalidInput(
                f"Experiment {self.name!r} does {self.task} but the data is a {data.task} task."
            )
        return self.task

    def run(self, data: ExperimentData) -> ExperimentResult:
        """Fit on the training set, predict on every set, and score. Never raises for a
        failure inside the experiment: the result says ``failed`` and holds the traceback.

        The training set is scored too, so the gap between training and validation
        (overfitting) is in plain sight. Written once for every experiment; subclasses
        do not override it.
        """
        metrics: dict[str, dict[str, float]] = {}
        predictions: dict[str, np.ndarray] = {}
        probabilities: dict[str, np.ndarray] = {}
        classes: tuple[Any, ...] = ()
        fit_seconds = predict_seconds = 0.0
        task: Task = self.task or data.task
        try:
            task = self._resolve_task(data)
            started = time.perf_counter()
            self.fit(data.X(data.training_set), data.y(data.training_set))
            fit_seconds = time.perf_counter() - started
            if task == "classification":
                classes = tuple(self.classes_.tolist())
            started = time.perf_counter()
            for set_name in data.sets:
                X, y = data.X(set_name), data.y(set_name)
                predictions[set_name] = self.predict(X)
                if task == "regression":
                    metrics[set_name] = regression_metrics(y, predictions[set_name])
                    continue
                proba = self.predict_proba(X)
                if len(classes) == 2:  # keep P(positive) only: what every binary metric uses
                    proba = proba[:, positive_index(classes, data.positive_label)]
                probabilities[set_name] = proba
                metrics[set_name] = classification_metrics(
                    y, predictions[set_name], proba, classes, data.positive_label
                )
            predict_seconds = time.perf_counter() - started
            status, error = "ok", None
        except Exception:
            status, error = "failed", traceback.format_exc()
        try:
            params = self.params()
        except Exception as err:  # a broken params() must not hide the run's outcome
            params = {"params_error": repr(err)}
        return ExperimentResult(
            name=self.name,
            experiment_class=f"{type(self).__module__}.{type(self).__qualname__}",
            task=task,
            params=params,
            metrics=metrics,
            predictions=predictions,
            probabilities=probabilities,
            classes=classes,
            positive_label=data.positive_label,
            fit_seconds=fit_seconds,
            predict_seconds=predict_seconds,
            model=self.model,
            status="ok" if status == "ok" else "failed",
            error=error,
        )
