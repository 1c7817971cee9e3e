"""Ready-made experiments: baselines, linear models, gradient boosting, any estimator.

Every one is an :class:`~shipyard.training.experiment.Experiment`, so each runs through
the same :class:`~shipyard.training.runner.ExperimentRunner` unchanged. Preprocessing
comes from :mod:`shipyard.training.features`: linear models scale numerics and one-hot
encode categoricals; tree models take categoricals natively as a pandas category dtype.
XGBoost and LightGBM are optional (the ``boost`` extra).
"""

from __future__ import annotations

import importlib.util
from abc import abstractmethod
from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.pipeline import Pipeline

from shipyard.errors import BackendUnavailable, InvalidInput
from shipyard.training.experiment import Experiment
from shipyard.training.features import linear_preprocessor, tree_pipeline
from shipyard.training.metrics import Task

_CLASSIFY = ("prior", "most_frequent", "stratified", "uniform")
_REGRESS = ("mean", "median")


class BaselineExperiment(Experiment):
    """A model that ignores the features: what every other model must beat.

    ``strategy``: ``prior`` or ``most_frequent`` (also ``stratified``, ``uniform``) for
    classification, ``mean`` or ``median`` for regression; ``None`` picks ``prior`` or
    ``mean`` from the data's task. Its ROC AUC is 0.5 by construction.

    >>> BaselineExperiment("median").task
    'regression'
    """

    name = "baseline"

    def __init__(self, strategy: str | None = None, *, name: str | None = None) -> None:
        if strategy is not None and strategy not in (*_CLASSIFY, *_REGRESS):
            raise InvalidInput(
                f"Unknown baseline strategy {strategy!r}.",
                hint=f"Use one of: {', '.join((*_CLASSIFY, *_REGRESS))}.",
            )
        task: Task | None = None
        if strategy is not None:
            task = "classification" if strategy in _CLASSIFY else "regression"
        super().__init__(name=name, task=task)
        self.strategy = strategy

    def build(self, X: pd.DataFrame) -> Any:
        from sklearn.dummy import DummyClassifier, DummyRegressor

        if (self.task or "classification") == "classification":
            return DummyClassifier(strategy=self.strategy or "prior", random_state=0)
        return DummyRegressor(strategy=self.strategy or "mean")


class LogisticExperiment(Experiment):
    """L2-regularised logistic regression on scaled numerics and one-hot categoricals.

    >>> LogisticExperiment(C=0.5).params()
    {'C': 0.5, 'max_iter': 1000, 'min_frequency': 20, 'class_weight': None}
    """

    name = "logistic"
    task: Task | None = "classification"

    def __init__(
        self,
        C: float = 1.0,
        *,
        max_iter: int = 1000,
        min_frequency: int | None = 20,
        class_weight: str | dict[Any, float] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.C = C
        self.max_iter = max_iter
        self.min_frequency = min_frequency
        self.class_weight = class_weight

    def build(self, X: pd.DataFrame) -> Any:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=self.C, max_iter=self.max_iter, class_weight=self.class_weight)
        pre = linear_preprocessor(X, min_frequency=self.min_frequency)
        return Pipeline([("preprocess", pre), ("model", model)])


class RidgeExperiment(Experiment):
    """Ridge regression on scaled numerics and one-hot categoricals.

    >>> RidgeExperiment(alpha=10.0).task
    'regression'
    """

    name = "ridge"
    task: Task | None = "regression"

    def __init__(
        self, alpha: float = 1.0, *, min_frequency: int | None = 20, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        self.alpha = alpha
        self.min_frequency = min_frequency

    def build(self, X: pd.DataFrame) -> Any:
        from sklearn.linear_model import Ridge

        pre = linear_preprocessor(X, min_frequency=self.min_frequency)
        return Pipeline([("preprocess", pre), ("model", Ridge(alpha=self.alpha))])


class _Boosting(Experiment):
    """A tree ensemble given keyword settings, with categoricals as a category dtype."""

    def __init__(self, *, task: Task | None = None, name: str | None = None, **params: Any) -> None:
        super().__init__(name=name, task=task)
        self.settings = {"random_state": 0, **params}

    def params(self) -> dict[str, Any]:
        return dict(self.settings)

    @abstractmethod
    def estimator(self, task: Task) -> Any:
        """The unfitted booster for ``task``; each subclass names its library's class."""

    def build(self, X: pd.DataFrame) -> Any:
        return tree_pipeline(X, self.estimator(self.task or "classification"))


class HistGradientBoostingExperiment(_Boosting):
    """scikit-learn's histogram gradient boosting; NaN and categoricals handled natively.

    Settings are passed to ``HistGradientBoostingClassifier`` (or ``...Regressor``);
    ``random_state`` defaults to 0 so reruns agree.

    >>> HistGradientBoostingExperiment(max_iter=50).params()
    {'random_state': 0, 'max_iter': 50}
    """

    name = "hist_gradient_boosting"

    def estimator(self, task: Task) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        cls = (
            HistGradientBoostingClassifier
            if task == "classification"
            else (HistGradientBoostingRegressor)
        )
        return cls(categorical_features="from_dtype", **self.settings)


def _require(module: str, what: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise BackendUnavailable(
            f"{what} needs the {module!r} package, which is not installed.",
            hint="Install the boost extra: pip install 'shipyard[boost]'.",
        )


class XGBoostExperiment(_Boosting):
    """XGBoost (``boost`` extra) with native categoricals; labels are encoded as 0..k-1.

    >>> XGBoostExperiment()  # doctest: +SKIP
    """

    name = "xgboost"

    def __init__(self, *, task: Task | None = None, name: str | None = None, **params: Any) -> None:
        _require("xgboost", "XGBoostExperiment")
        super().__init__(task=task, name=name, **params)

    def estimator(self, task: Task) -> Any:
        import xgboost

        settings = {"tree_method": "hist", "enable_categorical": True, **self.settings}
        if task == "classification":
            return xgboost.XGBClassifier(**settings)
        return xgboost.XGBRegressor(**settings)

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> Self:
        if (self.task or "classification") == "regression":
            return super().fit(X, y)
        # XGBoost wants class indices; keep the labels to map predictions back.
        labels, codes = np.unique(y, return_inverse=True)
        self._labels = labels
        self.model = self.build(X)
        self.model.fit(X, codes)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        raw = np.asarray(self._fitted().predict(X))
        return raw if self.task == "regression" else self._labels[raw.astype(int)]

    @property
    def classes_(self) -> np.ndarray:
        self._fitted()
        return np.asarray(self._labels)


class LightGBMExperiment(_Boosting):
    """LightGBM (``boost`` extra) with native categoricals.

    >>> LightGBMExperiment()  # doctest: +SKIP
    """

    name = "lightgbm"

    def __init__(self, *, task: Task | None = None, name: str | None = None, **params: Any) -> None:
        _require("lightgbm", "LightGBMExperiment")
        super().__init__(task=task, name=name, **{"verbose": -1, **params})

    def estimator(self, task: Task) -> Any:
        import lightgbm

        cls = lightgbm.LGBMClassifier if task == "classification" else lightgbm.LGBMRegressor
        return cls(**self.settings)


class SklearnExperiment(Experiment):
    """Any scikit-learn estimator or Pipeline, cloned fresh for every fit.

    The task comes from the estimator (classifier or regressor); it gets the feature
    columns exactly as they are, so put any preprocessing in the Pipeline.

    >>> from sklearn.linear_model import LinearRegression
    >>> e = SklearnExperiment(LinearRegression())
    >>> e.name, e.task
    ('LinearRegression', 'regression')
    """

    def __init__(
        self, estimator: Any, *, name: str | None = None, task: Task | None = None
    ) -> None:
        if task is None:
            if is_classifier(estimator):
                task = "classification"
            elif is_regressor(estimator):
                task = "regression"
        final = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
        super().__init__(name=name or type(final).__name__, task=task)
        self.estimator = estimator

    def build(self, X: pd.DataFrame) -> Any:
        return clone(self.estimator)

    def params(self) -> dict[str, Any]:
        plain = (str, int, float, bool, type(None))
        found = self.estimator.get_params(deep=True)
        settings = {k: v for k, v in found.items() if isinstance(v, plain)}
        return {"estimator": type(self.estimator).__name__, **settings}
