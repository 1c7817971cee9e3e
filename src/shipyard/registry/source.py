"""What is being packaged: the estimator inside an Experiment (with its labels), the
reference predictions a package must reproduce, and how predictions are compared."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from shipyard.errors import InvalidInput
from shipyard.registry.flavors import class_path
from shipyard.registry.signature import as_frame

EXAMPLE_ROWS = 5


@dataclass(frozen=True)
class Source:
    """A model to package, as the flavors and the round-trip check need it."""

    estimator: Any  # what the flavor saves
    owner: Any  # what the caller gave: its predict(_proba) is the reference for the round trip
    classes: list[Any] | None
    decode_labels: bool
    description: dict[str, Any]


def unwrap(model: Any) -> Source:
    """The estimator inside a Shipyard Experiment (with its labels), or the model itself."""
    from shipyard.training.experiment import Experiment

    if isinstance(model, str):
        raise InvalidInput(
            f"Got the text {model!r} where a model was expected.",
            hint="Pass the fitted model object; give a training run's id as run=... "
            "(tracked runs keep the recipe, not the fitted model).",
        )
    if not isinstance(model, Experiment):
        classes = _classes_of(model)
        description = {"kind": "model", "class": class_path(model)}
        return Source(model, model, classes, False, description)
    if model.model is None:
        raise InvalidInput(
            f"Experiment {model.name!r} is not fitted, so there is no model to package.",
            hint="Fit it first (experiment.fit(X, y)) or use the fitted experiment from a "
            "runner report.",
        )
    classes = _classes_of(model) if model.task != "regression" else None
    inner = _classes_of(model.model)
    decode = classes is not None and (inner is None or _typed(inner) != _typed(classes))
    description = {"kind": "experiment", "class": class_path(model), "name": model.name}
    return Source(model.model, model, classes, decode, description)


def _classes_of(model: Any) -> list[Any] | None:
    try:
        classes = model.classes_
    except (AttributeError, InvalidInput):
        return None
    return None if classes is None else list(np.asarray(classes).tolist())


def _typed(values: list[Any]) -> list[tuple[type, Any]]:
    # 0 == False in Python: labels [False, True] and codes [0, 1] must not look equal.
    return [(type(v), v) for v in values]


def example_frame(data: Any) -> pd.DataFrame:
    """The first few rows of the input example, as a DataFrame."""
    frame = as_frame(data)
    if frame.empty or not len(frame.columns):
        raise InvalidInput(
            "The input example is empty.", hint="Pass a few rows of the model's input."
        )
    return frame.head(EXAMPLE_ROWS).reset_index(drop=True)


def reference_predictions(owner: Any, example: pd.DataFrame) -> np.ndarray:
    """What the caller's model predicts on the example: what the package must reproduce."""
    if not callable(getattr(owner, "predict", None)):
        raise InvalidInput(
            f"A {type(owner).__name__} cannot be packaged: it has no predict method.",
            hint="Pass a fitted scikit-learn, XGBoost or LightGBM model, a fitted Shipyard "
            "Experiment, or any object with predict(DataFrame).",
        )
    try:
        return np.asarray(owner.predict(example))
    except InvalidInput:
        raise
    except Exception as exc:
        raise InvalidInput(
            f"The model could not predict on the input example: {type(exc).__name__}: {exc}",
            hint="Fit the model first, and pass rows with the columns it was trained on.",
        ) from None


# numpy dtype kinds that hold the same sort of values (text is 'O', 'U' or 'S').
_KIND_GROUPS = dict(b="bool", i="int", u="int", f="float", c="complex", M="datetime",
                    m="timedelta", O="object", U="object", S="object")  # fmt: skip


def same_predictions(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal shape, kind of values (so 0 is not False) and values, NaN equal to NaN."""
    a, b = _natural(a), _natural(b)
    kinds = {_KIND_GROUPS.get(a.dtype.kind), _KIND_GROUPS.get(b.dtype.kind)}
    if a.shape != b.shape or len(kinds) != 1:
        return False
    try:
        return bool(np.array_equal(a, b, equal_nan=True))
    except TypeError:  # object arrays cannot compare NaN
        return bool(np.array_equal(a, b))


def _natural(values: np.ndarray) -> np.ndarray:
    # An object array of bools compares as bools (labels read back may be typed).
    if values.dtype.kind != "O" or len({type(v) for v in values.flat}) != 1:
        return values
    return np.asarray(values.tolist())


def label_array(classes: list[Any]) -> np.ndarray:
    """Classes as an array of their own type (bool, int, str), or objects when mixed."""
    same_type = len({type(c) for c in classes}) <= 1
    return np.asarray(classes) if same_type else np.asarray(classes, dtype=object)
