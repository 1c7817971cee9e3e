"""XGBoost and LightGBM models in their native formats (data, never code).

A booster file is read only into the classes listed here, by the class path the
package recorded; a LightGBM classifier comes back as its Booster wrapped to
give labels and probabilities as ``LGBMClassifier`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.errors import IntegrityError

# The only classes a native booster file is read into (by their recorded class path).
XGBOOST_CLASSES = {
    "xgboost.sklearn.XGBClassifier": "XGBClassifier",
    "xgboost.sklearn.XGBRegressor": "XGBRegressor",
    "xgboost.sklearn.XGBRanker": "XGBRanker",
    "xgboost.sklearn.XGBRFClassifier": "XGBRFClassifier",
    "xgboost.sklearn.XGBRFRegressor": "XGBRFRegressor",
    "xgboost.core.Booster": "Booster",
}
LIGHTGBM_CLASSES = {
    "lightgbm.sklearn.LGBMClassifier": "classifier",
    "lightgbm.sklearn.LGBMRegressor": "regressor",
    "lightgbm.sklearn.LGBMRanker": "regressor",
    "lightgbm.basic.Booster": "booster",
}


def load_xgboost(path: Path, model_class: str) -> Any:
    """An XGBoost model of the recorded class, read from its JSON file."""
    import xgboost

    if model_class not in XGBOOST_CLASSES:
        raise IntegrityError(f"{model_class!r} is not an XGBoost class Shipyard loads.")
    if model_class == "xgboost.core.Booster":
        return _XGBoostBooster(xgboost.Booster(model_file=str(path)))
    model = getattr(xgboost, XGBOOST_CLASSES[model_class])()
    model.load_model(str(path))
    return model


def load_lightgbm(path: Path, model_class: str, classes: Sequence[Any] | None) -> Any:
    """A LightGBM Booster read from its text file (wrapped for a classifier's ``classes``)."""
    import lightgbm

    role = LIGHTGBM_CLASSES.get(model_class)
    if role is None:
        raise IntegrityError(f"{model_class!r} is not a LightGBM class Shipyard loads.")
    booster = lightgbm.Booster(model_file=str(path))
    if role == "classifier":
        return _LightGBMClassifier(booster, list(classes or []))
    return booster


class _XGBoostBooster:
    """A raw XGBoost Booster that predicts from a DataFrame."""

    def __init__(self, booster: Any) -> None:
        self.booster = booster

    def predict(self, frame: Any) -> np.ndarray:
        import xgboost

        return np.asarray(self.booster.predict(xgboost.DMatrix(frame, enable_categorical=True)))


class _LightGBMClassifier:
    """A LightGBM classifier read back as its Booster: probabilities, then labels by argmax
    (as LGBMClassifier.predict does)."""

    def __init__(self, booster: Any, classes: list[Any]) -> None:
        self.booster = booster
        self.classes_ = np.asarray(classes)

    def predict_proba(self, frame: Any) -> np.ndarray:
        raw = np.asarray(self.booster.predict(frame))
        return np.column_stack([1.0 - raw, raw]) if raw.ndim == 1 else raw

    def predict(self, frame: Any) -> np.ndarray:
        return np.asarray(self.classes_[np.argmax(self.predict_proba(frame), axis=1)])
