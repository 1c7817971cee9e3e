"""Preprocessing shared by the ready-made experiments, decided from the training frame.

* Column kinds: numbers and booleans are numeric; text (object or string dtype) and
  pandas ``category`` columns are categorical; anything else (dates, durations) is
  refused with a hint to derive numbers from it first.
* Linear models: numerics get median imputation and standard scaling; categoricals
  get one-hot encoding that ignores categories unseen in training and folds rare ones
  (fewer than ``min_frequency`` training rows) into one "infrequent" column.
* Tree ensembles that take a pandas ``category`` dtype natively (HistGradientBoosting,
  XGBoost, LightGBM): numerics pass through (NaN is handled natively); categoricals
  become a ``category`` dtype whose categories are learned on training, so every set is
  encoded the same way and an unseen value becomes missing. (scikit-learn's other trees
  take no categories: give them :func:`linear_preprocessor`'s one-hot columns.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from shipyard.errors import InvalidInput

# HistGradientBoosting bins at most 255 values and keeps one bin for missing values.
MAX_TREE_CATEGORIES = 254


def column_kinds(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(numeric, categorical) column names of ``frame``, in column order.

    >>> column_kinds(pd.DataFrame({"a": [1.0], "b": ["x"], "c": [True]}))
    (['a', 'c'], ['b'])
    """
    numeric: list[str] = []
    categorical: list[str] = []
    for name in frame.columns:
        dtype = frame[name].dtype
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
            numeric.append(str(name))
        elif (
            isinstance(dtype, pd.CategoricalDtype)
            or pd.api.types.is_object_dtype(dtype)
            or pd.api.types.is_string_dtype(dtype)
        ):
            categorical.append(str(name))
        else:
            raise InvalidInput(
                f"Feature {name!r} has dtype {dtype}, which the ready-made experiments cannot use.",
                hint="Derive numbers from it (e.g. hour, day of week, age in days) or "
                "cast it to a category.",
            )
    return numeric, categorical


def linear_preprocessor(frame: pd.DataFrame, *, min_frequency: int | None = 20) -> Any:
    """Impute and scale numerics, one-hot encode categoricals (for linear models).

    >>> pre = linear_preprocessor(pd.DataFrame({"a": [1.0, None], "b": ["x", "y"]}),
    ...                           min_frequency=None)
    >>> pre.fit_transform(pd.DataFrame({"a": [1.0, None], "b": ["x", "y"]})).shape
    (2, 3)
    """
    numeric, categorical = column_kinds(frame)
    parts: list[tuple[str, Any, list[str]]] = []
    if numeric:
        scale = Pipeline(
            [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
        )
        parts.append(("numeric", scale, numeric))
    if categorical:
        encode = Pipeline(
            [
                ("text", TextCategories()),
                (
                    "onehot",
                    OneHotEncoder(
                        handle_unknown="ignore",
                        min_frequency=min_frequency,
                        sparse_output=True,
                    ),
                ),
            ]
        )
        parts.append(("categorical", encode, categorical))
    return ColumnTransformer(parts, remainder="drop", sparse_threshold=0.3)


def tree_pipeline(frame: pd.DataFrame, model: Any) -> Any:
    """``model`` behind :class:`ToCategorical` for the frame's categorical columns (for
    models that read the pandas category dtype, such as HistGradientBoosting).

    >>> from sklearn.tree import DecisionTreeClassifier
    >>> tree_pipeline(pd.DataFrame({"b": ["x"]}), DecisionTreeClassifier()).steps[0][0]
    'categories'
    """
    _, categorical = column_kinds(frame)
    return Pipeline([("categories", ToCategorical(columns=categorical)), ("model", model)])


class TextCategories(TransformerMixin, BaseEstimator):
    """Categorical columns as plain Python objects with ``None`` for missing values, the
    one representation OneHotEncoder treats alike for text, category and mixed columns."""

    def fit(self, X: pd.DataFrame, y: Any = None) -> TextCategories:
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        frame = pd.DataFrame(X).astype(object)
        return np.asarray(frame.where(frame.notna(), None), dtype=object)

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        return np.asarray(input_features if input_features is not None else [], dtype=object)


class ToCategorical(TransformerMixin, BaseEstimator):
    """Cast ``columns`` to a pandas ``category`` dtype with categories learned in ``fit``.

    The ``max_categories`` most frequent training values are kept (ties by text); other
    and unseen values become missing, which tree models route like any missing value.

    >>> enc = ToCategorical(columns=["o"]).fit(pd.DataFrame({"o": ["JFK", "LGA", "JFK"]}))
    >>> enc.transform(pd.DataFrame({"o": ["LGA", "EWR"]}))["o"].tolist()
    ['LGA', nan]
    """

    def __init__(
        self, columns: Sequence[str] | None = None, max_categories: int = MAX_TREE_CATEGORIES
    ) -> None:
        self.columns = columns
        self.max_categories = max_categories

    def fit(self, X: pd.DataFrame, y: Any = None) -> ToCategorical:
        columns = column_kinds(X)[1] if self.columns is None else list(self.columns)
        self.categories_: dict[str, list[Any]] = {}
        for name in columns:
            counts = X[name].value_counts(dropna=True)
            ranked = sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
            kept = [value for value, _ in ranked[: self.max_categories]]
            self.categories_[name] = sorted(kept, key=str)
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X.copy()
        for name, categories in self.categories_.items():
            values = out[name].astype(object)
            known = values.where(values.isin(categories))  # unseen values become missing
            out[name] = pd.Categorical(known, categories=pd.Index(categories, dtype=object))
        return out

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        return np.asarray(self.feature_names_in_, dtype=object)
