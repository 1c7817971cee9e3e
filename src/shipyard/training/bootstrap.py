"""Bootstrap intervals for metrics, vectorised over resamples, paired across models.

A resample is a row of counts (how often each row was drawn, n draws with
replacement), so every metric becomes a weighted metric: for a block of resamples at
once, sums of per-row terms are one matrix product (accuracy, log loss, Brier,
precision, recall, F1, MAE, RMSE, R²), and ROC AUC and average precision come from
weighted positive and negative counts per distinct score (a sparse product, then
cumulative sums). Every model is scored on the same resamples, which is what makes a
difference between two models *paired*: the noise of which rows were drawn cancels.

Metrics without a vectorised form (the macro averages, one-vs-rest AUC and average
precision of a multi-class target) are computed resample by resample with
scikit-learn, on at most :data:`MAX_LOOPED` resamples.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shipyard.training.metrics import Task, classification_metrics

MAX_CELLS = 1 << 22  # resample counts held at once (about 32 MB as float64)
MAX_LOOPED = 200
_LINEAR = frozenset({"accuracy", "log_loss", "brier", "precision", "recall", "f1"})
_RANKED = frozenset({"roc_auc", "average_precision"})


@dataclass(frozen=True)
class Outcome:
    """The true values of a set and how to read them (classes and the positive one)."""

    y: np.ndarray
    task: Task
    classes: tuple[Any, ...] = ()
    positive_label: Any = True

    @property
    def binary(self) -> bool:
        return self.task == "classification" and len(self.classes) == 2


@dataclass(frozen=True)
class Scored:
    """A model's output on a set: predictions, and for classifiers P(positive) (binary)
    or one probability column per class."""

    predictions: np.ndarray
    proba: np.ndarray | None = None


def vectorised(metric: str, outcome: Outcome) -> bool:
    """Whether ``metric`` is computed for many resamples at once for this target."""
    if outcome.task == "regression":
        return True
    return outcome.binary or metric in {"accuracy", "log_loss"}


def resample_counts(n_rows: int, n_bootstrap: int, seed: int) -> Iterator[np.ndarray]:
    """Blocks of bootstrap resamples as draw counts, shape (resamples, n_rows).

    Float32 (exact for whole and half counts below 2**23 rows; float64 beyond).

    >>> sum(block.shape[0] for block in resample_counts(5, 3, seed=0))
    3
    """
    rng = np.random.default_rng(seed)
    per_block = max(1, min(n_bootstrap, MAX_CELLS // max(n_rows, 1)))
    # int32 draws and one bincount per resample: the cheapest exact resampling found.
    dtype = np.int32 if n_rows < 2**31 else np.int64
    exact = "float32" if n_rows < 2**23 else "float64"  # counts and half-counts stay exact
    done = 0
    while done < n_bootstrap:
        size = min(per_block, n_bootstrap - done)
        draws = rng.integers(0, n_rows, size=(size, n_rows), dtype=dtype)
        counts = np.empty((size, n_rows), dtype=exact)
        for i in range(size):
            counts[i] = np.bincount(draws[i], minlength=n_rows)
        yield counts
        done += size


def _clip(p: np.ndarray) -> np.ndarray:
    eps = np.finfo(p.dtype).eps  # what scikit-learn's log_loss clips to
    return np.clip(p, eps, 1 - eps)


def _row_terms(metric: str, outcome: Outcome, scored: Scored) -> np.ndarray:
    """Per-row terms whose weighted sums give the metric (see :func:`_finish`)."""
    y = outcome.y
    if outcome.task == "regression":
        err = np.asarray(scored.predictions, dtype="float64") - y.astype("float64")
        if metric == "mae":
            return np.abs(err)[:, None]
        if metric == "rmse":
            return (err**2)[:, None]
        yf = y.astype("float64")
        return np.column_stack([err**2, yf, yf**2])
    if metric == "accuracy":
        return (np.asarray(scored.predictions) == y).astype("float64")[:, None]
    proba = np.asarray(scored.proba, dtype="float64")
    if metric == "log_loss" and not outcome.binary:
        proba = proba / proba.sum(axis=1, keepdims=True)
        column = np.searchsorted(np.asarray(outcome.classes), y)
        return -np.log(_clip(proba[np.arange(y.size), column]))[:, None]
    pos = (y == outcome.positive_label).astype("float64")
    if metric == "log_loss":
        p = _clip(proba)
        return (-(pos * np.log(p) + (1 - pos) * np.log(1 - p)))[:, None]
    if metric == "brier":
        return ((proba - pos) ** 2)[:, None]
    hit = (np.asarray(scored.predictions) == outcome.positive_label).astype("float64")
    return np.column_stack([hit * pos, hit * (1 - pos), (1 - hit) * pos])  # tp, fp, fn


def _finish(metric: str, sums: np.ndarray, total: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "rmse":
            return np.sqrt(sums[:, 0] / total)
        if metric == "r2":
            spread = sums[:, 2] - sums[:, 1] ** 2 / total
            return 1 - sums[:, 0] / spread
        if metric in {"precision", "recall", "f1"}:
            tp, fp, fn = sums[:, 0], sums[:, 1], sums[:, 2]
            denominator = {"precision": tp + fp, "recall": tp + fn, "f1": tp + (fp + fn) / 2}
            out = np.where(denominator[metric] > 0, tp / denominator[metric], 0.0)
            return np.asarray(out)
        return np.asarray(sums[:, 0] / total)


class _Ranked:
    """ROC AUC / average precision from weighted counts per distinct score."""

    def __init__(self, metric: str, outcome: Outcome, scored: Scored) -> None:
        from scipy import sparse

        self.metric = metric
        scores = np.asarray(scored.proba, dtype="float64")
        _, block = np.unique(scores, return_inverse=True)  # blocks in ascending score order
        negative = outcome.y != outcome.positive_label
        self.k = int(block.max()) + 1 if scores.size else 0
        # One indicator (positive blocks, then negative blocks) x rows: a single sparse
        # product per resample block gives both weighted counts; float32 is exact for counts.
        rows = block + self.k * negative
        self.indicator = sparse.csr_matrix(
            (np.ones(scores.size, dtype="float32"), (rows, np.arange(scores.size))),
            shape=(2 * self.k, scores.size),
        )

    def __call__(self, counts: np.ndarray) -> np.ndarray:
        # Blocks x resamples. Counts and their running sums stay exact in the counts'
        # dtype; the products are accumulated in float64.
        both = self.indicator.astype(counts.dtype) @ counts.T
        pos, neg = both[: self.k], both[self.k :]
        n_pos, n_neg = pos.sum(axis=0, dtype="float64"), neg.sum(axis=0, dtype="float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.metric == "roc_auc":
                # Each positive beats the negatives below its score and ties half of them.
                beaten = np.cumsum(neg, axis=0)
                beaten -= neg / 2
                wins = np.einsum("kb,kb->b", pos, beaten, dtype="float64")
                return np.asarray(wins / (n_pos * n_neg))
            # Average precision: thresholds from the highest score down.
            pos, neg = pos[::-1], neg[::-1]
            true_hits = np.cumsum(pos, axis=0)
            flagged = true_hits + np.cumsum(neg, axis=0)
            flagged[flagged == 0] = 1  # only where pos is 0 too, so the term is 0
            precision = np.divide(true_hits, flagged, dtype="float64")
            return np.asarray(np.einsum("kb,kb->b", pos, precision, dtype="float64") / n_pos)


def _looped(
    metric: str, outcome: Outcome, scored: Sequence[Scored], n_bootstrap: int, seed: int
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = outcome.y.size
    out = np.full((len(scored), min(n_bootstrap, MAX_LOOPED)), np.nan)
    for b in range(out.shape[1]):
        idx = rng.integers(0, n, size=n)
        for m, s in enumerate(scored):
            values = classification_metrics(
                outcome.y[idx],
                s.predictions[idx],
                np.asarray(s.proba)[idx],
                outcome.classes,
                outcome.positive_label,
                only=[metric],
            )
            out[m, b] = values[metric]
    return out


def bootstrap_samples(
    metric: str,
    outcome: Outcome,
    scored: Sequence[Scored],
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """``metric`` of each model on the same bootstrap resamples: shape (models, resamples).

    NaN where a resample leaves the metric undefined (e.g. no positives).

    >>> y = np.array([0, 1] * 50)
    >>> models = [Scored(y, y.astype(float)), Scored(1 - y, 1 - y.astype(float))]
    >>> s = bootstrap_samples("roc_auc", Outcome(y, "classification", (0, 1), 1), models,
    ...                       n_bootstrap=20)
    >>> s.shape, float(s[0].min()), float(s[1].max())
    ((2, 20), 1.0, 0.0)
    """
    if not vectorised(metric, outcome):
        return _looped(metric, outcome, scored, n_bootstrap, seed)
    ranked = [_Ranked(metric, outcome, s) for s in scored] if metric in _RANKED else []
    terms = [] if ranked else [_row_terms(metric, outcome, s) for s in scored]
    blocks: list[np.ndarray] = []
    for counts in resample_counts(outcome.y.size, n_bootstrap, seed):
        if ranked:
            blocks.append(np.vstack([r(counts) for r in ranked]))
        else:
            wide = counts.astype("float64")  # sums of non-integer terms want float64
            total = wide.sum(axis=1)
            blocks.append(np.vstack([_finish(metric, wide @ t, total) for t in terms]))
    return np.hstack(blocks) if blocks else np.empty((len(scored), 0))


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of bootstrap ``samples`` (NaNs ignored; NaN if none left).

    >>> [round(v, 6) for v in percentile_interval(np.arange(101.0))]
    [2.5, 97.5]
    """
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return (math.nan, math.nan)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return (float(low), float(high))
