"""A quick model on all the features: the yardstick a single feature is held against.

A target proxy shows as one feature that alone does about as well as everything
together. To measure "everything together", one scikit-learn histogram gradient
boosting model (``ITERATIONS`` rounds, no early stopping, fixed seed) is fitted on
at most ``MAX_ROWS`` training rows drawn at random, and scored on the validation
set with the univariate scores' metric: ROC AUC of the positive-class probability
(binary), accuracy (multi-class) or |Spearman| of the prediction (numeric target).

Encoding is kept simple: numbers, datetimes (as seconds), timedeltas and booleans
as floats, nulls left to the model; any other column is categorical, its
``MAX_CATEGORIES`` commonest training values as codes and the rest (and nulls) as
missing. Rows with a null target are left out.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from shipyard.data.leakage.proxies import abs_spearman, encode_target, roc_auc
from shipyard.data.leakage.report import ModelScore, as_float, is_numeric

MAX_ROWS = 50_000  # keeps the fit to seconds on a 300k-row training set
ITERATIONS = 50
MAX_CATEGORIES = 250  # below the 255 bins a categorical feature may use
MAX_CLASSES = 50  # a tree per class and round: more classes would not be quick


def full_model_score(
    training: pd.DataFrame,
    validation: pd.DataFrame,
    *,
    features: Sequence[str],
    target: str,
    seed: int = 0,
) -> tuple[ModelScore | None, str | None]:
    """The full model's score on ``validation``, or ``None`` and why it was skipped.

    >>> rng = np.random.default_rng(0)
    >>> frame = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
    >>> frame["y"] = frame["a"] + frame["b"] > 0
    >>> model, _ = full_model_score(frame[:300], frame[300:], features=["a", "b"], target="y")
    >>> model.metric, model.score > 0.85
    ('roc_auc', True)
    """
    started = time.perf_counter()
    tr = training.loc[training[target].notna().to_numpy(), [*features, target]]
    va = validation.loc[validation[target].notna().to_numpy(), [*features, target]]
    if len(tr) > MAX_ROWS:
        chosen = np.random.default_rng(seed).choice(len(tr), MAX_ROWS, replace=False)
        tr = tr.iloc[np.sort(chosen)]
    if len(tr) < 2 or len(va) == 0:
        return None, "too few rows with a target to fit the full model"
    kind, y_tr, y_va = encode_target(tr[target], va[target])
    n_classes = len(np.unique(y_tr))
    if kind == "constant" or n_classes < 2:
        return None, "the target takes one value in training"
    if kind == "multiclass" and n_classes > MAX_CLASSES:
        return None, f"{n_classes} classes are too many for a quick full model"
    from threadpoolctl import threadpool_limits

    x_tr, x_va, categorical = _matrices(tr, va, features)
    model: Any = _model(kind, categorical, seed)
    # One thread: on a shared, busy machine OpenMP threads waiting on each other cost
    # more than they bring to a model this small.
    with threadpool_limits(limits=1):
        model.fit(x_tr, y_tr)
        if kind == "binary":
            predicted = model.predict_proba(x_va)[:, list(model.classes_).index(True)]
        else:
            predicted = model.predict(x_va)
    baseline = None
    if kind == "binary":
        score, metric = roc_auc(predicted, y_va), "roc_auc"
    elif kind == "multiclass":
        score, metric = float((predicted == y_va).mean()), "accuracy"
        baseline = float((y_va == np.bincount(y_tr).argmax()).mean())
    else:
        score = abs_spearman(np.asarray(predicted, dtype="float64"), y_va)
        metric = "spearman"
    seconds = time.perf_counter() - started
    return ModelScore(metric, score, len(features), len(tr), len(va), seconds, baseline), None


def _model(kind: str, categorical: np.ndarray, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingRegressor if kind == "continuous" else HistGradientBoostingClassifier
    return cls(
        max_iter=ITERATIONS,
        early_stopping=False,
        random_state=seed,
        categorical_features=categorical if categorical.any() else None,
    )


def _matrices(
    tr: pd.DataFrame, va: pd.DataFrame, features: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float matrices for training and validation and which columns are categorical."""
    columns_tr, columns_va, categorical = [], [], []
    for name in features:
        a, b = tr[name], va[name]
        if _as_number(a) and _as_number(b):
            columns_tr.append(_floats(a))
            columns_va.append(_floats(b))
            categorical.append(False)
        else:
            counts = a.value_counts(dropna=True)
            commonest = pd.Index(counts[counts > 0].index[:MAX_CATEGORIES].astype(object))
            for column, out in ((a, columns_tr), (b, columns_va)):
                codes = commonest.get_indexer(column.astype(object)).astype("float64")
                out.append(np.where(codes < 0, np.nan, codes))
            categorical.append(True)
    return np.column_stack(columns_tr), np.column_stack(columns_va), np.array(categorical)


def _as_number(column: pd.Series) -> bool:
    return is_numeric(column) or pd.api.types.is_bool_dtype(column)


def _floats(column: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype="float64", na_value=np.nan)
    return as_float(column)
