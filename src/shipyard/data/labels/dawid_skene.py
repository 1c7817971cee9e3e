"""Dawid-Skene: EM over one confusion matrix per worker.

Dawid & Skene (1979), "Maximum likelihood estimation of observer error-rates
using the EM algorithm". Each worker *w* has a matrix ``pi[w, true, given]``;
items have a latent true label with class priors. Every step is a ``bincount``
over the rows, so the cost per iteration is linear in the number of rows.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np
import pandas as pd

from shipyard.data.labels.encode import Encoded, FloatArray, encode_annotations
from shipyard.data.labels.majority import agreement_with, majority_codes
from shipyard.data.labels.result import LabelAggregation, assemble
from shipyard.errors import InvalidInput

# Floor for probabilities before taking logs: a worker who never gave a label
# for some class must not make that class impossible for every item forever.
_FLOOR = 1e-10

ONE_WORKER_FALLBACK = (
    "only one worker: Dawid-Skene cannot tell that worker's errors from the truth, "
    "so labels are the majority vote and confidence is the vote share"
)


def _confusions(encoded: Encoded, posteriors: FloatArray) -> FloatArray:
    """M-step: expected counts ``[worker, true, given]``, floored and row-normalised."""
    k = encoded.n_labels
    # Row r adds posteriors[item_r, t] to cell (worker_r, t, label_r) for every t.
    cells = (encoded.worker_codes[:, None] * k + np.arange(k)[None, :]) * k
    cells = cells + encoded.label_codes[:, None]
    weights = posteriors[encoded.item_codes]
    flat = np.bincount(cells.ravel(), weights=weights.ravel(), minlength=encoded.n_workers * k * k)
    confusion = np.maximum(flat.reshape(encoded.n_workers, k, k), _FLOOR)
    return confusion / confusion.sum(axis=2, keepdims=True)


def _posteriors(
    encoded: Encoded, priors: FloatArray, confusion: FloatArray
) -> tuple[FloatArray, float]:
    """E-step: item posteriors and the data's log-likelihood under these parameters."""
    k = encoded.n_labels
    # Per row: log P(given label | true = t) for every t, summed per item (logs avoid underflow).
    per_row = np.log(confusion[encoded.worker_codes, :, encoded.label_codes])
    cells = encoded.item_codes[:, None] * k + np.arange(k)[None, :]
    summed = np.bincount(cells.ravel(), weights=per_row.ravel(), minlength=encoded.n_items * k)
    log_joint = summed.reshape(encoded.n_items, k) + np.log(np.maximum(priors, _FLOOR))
    peak = log_joint.max(axis=1, keepdims=True)
    scaled = np.exp(log_joint - peak)
    total = scaled.sum(axis=1, keepdims=True)
    log_likelihood = float(np.sum(np.log(total) + peak))
    return scaled / total, log_likelihood


def _check_options(max_iter: int, tol: float) -> None:
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise InvalidInput(
            f"max_iter must be a positive integer, got {max_iter!r}.",
            hint="The default, 200, is enough for most data.",
        )
    if not isinstance(tol, int | float) or not math.isfinite(tol) or tol <= 0:
        raise InvalidInput(
            f"tol must be a positive number, got {tol!r}.",
            hint="The default, 1e-8, stops when the log-likelihood per row gains less than that.",
        )


def dawid_skene_from_encoded(
    encoded: Encoded, *, max_iter: int = 200, tol: float = 1e-8
) -> LabelAggregation:
    """Dawid-Skene on already encoded annotations."""
    _check_options(max_iter, tol)
    if encoded.n_workers < 2:
        winners = majority_codes(encoded)
        counts = encoded.vote_counts()
        share = counts[np.arange(encoded.n_items), winners] / counts.sum(axis=1)
        return assemble(
            encoded,
            winners,
            agreement_with(encoded, winners),
            "ds",
            confidence=share.astype(np.float64),
            iterations=0,
            converged=None,
            notes=(ONE_WORKER_FALLBACK,),
        )
    counts = encoded.vote_counts().astype(np.float64)
    # Start from the soft majority vote: each item's vote shares.
    posteriors = counts / counts.sum(axis=1, keepdims=True)
    previous = -math.inf
    converged = False
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 - read after the loop
        priors = posteriors.mean(axis=0)
        confusion = _confusions(encoded, posteriors)
        posteriors, log_likelihood = _posteriors(encoded, priors, confusion)
        if (log_likelihood - previous) / encoded.n_rows < tol:
            converged = True
            break
        previous = log_likelihood
    # Parameters that match the final posteriors, for the worker estimates.
    priors = posteriors.mean(axis=0)
    confusion = _confusions(encoded, posteriors)
    accuracy = np.einsum("k,wkk->w", priors, confusion)
    winners = np.asarray(posteriors.argmax(axis=1), dtype=np.intp)
    notes: tuple[str, ...] = ()
    if not converged:
        notes = (f"EM stopped at max_iter={max_iter} before the tolerance tol={tol} was met",)
    return assemble(
        encoded,
        winners,
        accuracy,
        "ds",
        confidence=posteriors.max(axis=1),
        iterations=iterations,
        converged=converged,
        notes=notes,
    )


def dawid_skene(
    annotations: pd.DataFrame,
    *,
    item_col: str = "item",
    worker_col: str = "worker",
    label_col: str = "label",
    labels: Sequence[Hashable] | None = None,
    max_iter: int = 200,
    tol: float = 1e-8,
) -> LabelAggregation:
    """Aggregate labels with Dawid-Skene, learning each worker's confusion matrix.

    EM starts from the soft majority vote (each item's vote shares) and stops
    when the log-likelihood per annotation improves by less than ``tol``, or
    after ``max_iter`` iterations (then ``converged`` is False and a note says
    so). EM creeps near its optimum and an iteration is cheap, hence the tight
    default ``tol``: stopping early leaves borderline items undecided.

    Posterior ties go to the earliest label in the label order, as in
    :func:`~shipyard.data.labels.majority_vote`. ``confidence`` is the posterior
    probability of the chosen label; ``agreement`` is still its share of votes.
    A worker's ``accuracy`` is their confusion-matrix diagonal weighted by the
    class priors.

    With a single worker there is nothing to learn from: the result equals the
    majority vote (``confidence`` = vote share, ``iterations`` = 0) and a note
    says so.

    Example:
        >>> df = pd.DataFrame({"item": [1, 1, 1, 2, 2, 2], "worker": ["a", "b", "c"] * 2,
        ...                    "label": ["cat", "cat", "dog", "dog", "dog", "dog"]})
        >>> dawid_skene(df).labels.to_dict()
        {1: 'cat', 2: 'dog'}
    """
    encoded = encode_annotations(
        annotations, item_col=item_col, worker_col=worker_col, label_col=label_col, labels=labels
    )
    return dawid_skene_from_encoded(encoded, max_iter=max_iter, tol=tol)
