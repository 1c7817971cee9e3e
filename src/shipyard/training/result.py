"""What running one experiment produced: metrics and predictions per set, or the error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from shipyard.errors import InvalidInput
from shipyard.jsonsafe import jsonable
from shipyard.training.bootstrap import Scored
from shipyard.training.metrics import Task

Status = Literal["ok", "failed"]


@dataclass(frozen=True)
class ExperimentResult:
    """One experiment's outcome on every set of an :class:`ExperimentData`.

    ``metrics`` maps set -> metric -> value (NaN where undefined). ``predictions`` holds
    ``predict`` output per set; ``probabilities`` (classifiers) holds P(positive) per row
    for a binary target, else one column per class in ``classes`` order. A failed
    experiment has ``status == "failed"``, the traceback in ``error`` and whatever was
    measured before the failure.

    >>> r = ExperimentResult(name="m", experiment_class="X", task="regression")
    >>> r.ok, r.to_dict()["status"]
    (True, 'ok')
    """

    name: str
    experiment_class: str
    task: Task
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    probabilities: dict[str, np.ndarray] = field(default_factory=dict)
    classes: tuple[Any, ...] = ()
    positive_label: Any = True
    fit_seconds: float = 0.0
    predict_seconds: float = 0.0
    model: Any = None
    status: Status = "ok"
    error: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True unless the experiment failed."""
        return self.status == "ok"

    def metric(self, set_name: str, metric: str) -> float:
        """One metric on one set (NaN when it was not measured).

        >>> ExperimentResult("m", "X", "regression", metrics={"v": {"mae": 1.0}}).metric("v", "mae")
        1.0
        """
        return float(self.metrics.get(set_name, {}).get(metric, float("nan")))

    def scored(self, set_name: str) -> Scored:
        """This experiment's output on ``set_name`` in the form the bootstrap takes."""
        if set_name not in self.predictions:
            raise InvalidInput(
                f"Experiment {self.name!r} has no predictions for set {set_name!r}"
                + (" (it failed)." if not self.ok else "."),
                hint=f"Sets with predictions: {', '.join(self.predictions) or 'none'}.",
            )
        return Scored(self.predictions[set_name], self.probabilities.get(set_name))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (no predictions, no model)."""
        out: dict[str, Any] = jsonable(
            {
                "name": self.name,
                "experiment_class": self.experiment_class,
                "task": self.task,
                "status": self.status,
                "params": self.params,
                "metrics": self.metrics,
                "classes": list(self.classes),
                "positive_label": self.positive_label,
                "fit_seconds": round(self.fit_seconds, 4),
                "predict_seconds": round(self.predict_seconds, 4),
                "error": self.error,
                "notes": list(self.notes),
            }
        )
        return out
