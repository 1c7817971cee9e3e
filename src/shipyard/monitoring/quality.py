"""Model quality from labels: the metrics, and how sure each value is.

Classifiers (binary, the positive class's probability): ROC AUC, accuracy, precision,
recall, F1 and log loss; regressors: RMSE and MAE. A metric that a window cannot define
(ROC AUC with one class only) is None, never a made-up number.

Intervals (95%): Wilson's for the proportions (accuracy, precision, recall); Hanley and
McNeil's standard error for ROC AUC; a normal interval from the per-row errors for
MAE, and for RMSE the delta method on the mean squared error. F1 and log loss get none.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn import metrics as skm

Z95 = 1.959964
THRESHOLD = 0.5


def classification_metrics(
    y: np.ndarray, score: np.ndarray, *, threshold: float = THRESHOLD
) -> dict[str, float | None]:
    """Metrics of positive-class probabilities ``score`` against 0/1 labels ``y``."""
    y = np.asarray(y, dtype=np.int8)
    score = np.asarray(score, dtype=np.float64)
    if not len(y):
        return dict.fromkeys(("roc_auc", "accuracy", "precision", "recall", "f1", "log_loss"))
    predicted = (score >= threshold).astype(np.int8)
    both = len(np.unique(y)) == 2
    out: dict[str, float | None] = {
        "roc_auc": float(skm.roc_auc_score(y, score)) if both else None,
        "accuracy": float(np.mean(predicted == y)),
        "precision": _ratio(np.sum((predicted == 1) & (y == 1)), np.sum(predicted == 1)),
        "recall": _ratio(np.sum((predicted == 1) & (y == 1)), np.sum(y == 1)),
        "f1": None,
        "log_loss": float(skm.log_loss(y, np.clip(score, 1e-15, 1 - 1e-15), labels=[0, 1])),
    }
    precision, recall = out["precision"], out["recall"]
    if precision is not None and recall is not None and precision + recall > 0:
        out["f1"] = 2 * precision * recall / (precision + recall)
    elif precision is not None and recall is not None:
        out["f1"] = 0.0
    return out


def regression_metrics(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """RMSE and MAE of ``predicted`` against ``y``."""
    errors = np.asarray(predicted, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    if not len(errors):
        return {}
    return {"rmse": float(np.sqrt(np.mean(errors**2))), "mae": float(np.mean(np.abs(errors)))}


def interval(
    metric: str, y: np.ndarray, score: np.ndarray, *, threshold: float = THRESHOLD
) -> tuple[float, float] | None:
    """A 95% interval of ``metric`` over these rows, or None when it has no interval here."""
    y = np.asarray(y, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    if not len(y):
        return None
    if metric in ("accuracy", "precision", "recall"):
        predicted = score >= threshold
        hits = {"accuracy": predicted == (y == 1), "precision": y[predicted] == 1,
                "recall": predicted[y == 1]}[metric]  # fmt: skip
        return wilson(int(np.sum(hits)), len(hits))
    if metric == "roc_auc":
        positives, negatives = int(np.sum(y == 1)), int(np.sum(y == 0))
        if not positives or not negatives:
            return None
        auc = float(skm.roc_auc_score(y, score))
        return _around(auc, hanley_mcneil(auc, positives, negatives), 0.0, 1.0)
    if metric == "mae":
        errors = np.abs(score - y)
        return _around(
            float(errors.mean()),
            float(errors.std(ddof=1) / math.sqrt(len(y))) if len(y) > 1 else math.inf,
        )
    if metric == "rmse":
        squared = (score - y) ** 2
        mse = float(squared.mean())
        if mse <= 0 or len(y) < 2:
            return None
        se = float(squared.std(ddof=1) / math.sqrt(len(y))) / (2 * math.sqrt(mse))
        return _around(math.sqrt(mse), se, 0.0)
    return None


def wilson(successes: int, n: int) -> tuple[float, float] | None:
    """Wilson's 95% score interval of a proportion."""
    if n <= 0:
        return None
    p = successes / n
    center = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return max(0.0, center - half), min(1.0, center + half)


def hanley_mcneil(auc: float, positives: int, negatives: int) -> float:
    """The standard error of an ROC AUC (Hanley and McNeil, 1982)."""
    q1 = auc / (2 - auc)
    q2 = 2 * auc * auc / (1 + auc)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)
    ) / (positives * negatives)
    return math.sqrt(max(variance, 0.0))


def _ratio(part: float, whole: float) -> float | None:
    return float(part / whole) if whole else None


def _around(
    value: float, se: float, low: float = -math.inf, high: float = math.inf
) -> tuple[float, float] | None:
    if not math.isfinite(se):
        return None
    return max(low, value - Z95 * se), min(high, value + Z95 * se)
