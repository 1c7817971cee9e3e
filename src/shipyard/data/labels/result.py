"""The result of aggregating crowd labels: per-item labels, per-worker quality, agreement."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from shipyard.data.labels.agreement import alpha_for, kappa_from_counts
from shipyard.data.labels.encode import Encoded, FloatArray, IntArray
from shipyard.errors import InvalidInput

Method = Literal["mv", "ds"]


@dataclass(frozen=True, eq=False)
class LabelAggregation:
    """Aggregated labels and the quality figures that go with them.

    Attributes:
        items: one row per item, in order of first appearance, with columns
            ``item``, ``label`` (the aggregated label), ``agreement`` (share of the
            item's votes that went to ``label``), ``n_votes``, ``tied`` (more than
            one label shares the top vote count) and, for Dawid-Skene only,
            ``confidence`` (posterior probability of ``label``).
        workers: one row per worker: ``worker``, ``n_labels`` and ``accuracy``
            (Dawid-Skene: confusion-matrix diagonal weighted by class priors;
            majority vote: share of the worker's labels equal to the MV label).
        alpha: Krippendorff's alpha (nominal) over all annotations; NaN when
            undefined, with the reason in ``alpha_note``.
        method: ``"mv"`` or ``"ds"``.
        iterations: EM iterations run (Dawid-Skene), 0 when it fell back to
            majority vote, ``None`` for majority vote.
        converged: whether EM met its tolerance (Dawid-Skene only).
        kappa: Fleiss' kappa when every item has the same number (>= 2) of
            votes, else ``None``.
        n_annotations: number of input rows.
        alpha_note: why ``alpha`` is NaN, else ``None``.
        notes: other things worth knowing about this result (fallbacks).
    """

    items: pd.DataFrame
    workers: pd.DataFrame
    alpha: float
    method: Method
    iterations: int | None = None
    converged: bool | None = None
    kappa: float | None = None
    n_annotations: int = 0
    alpha_note: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def labels(self) -> pd.Series:
        """The aggregated label of each item, indexed by item."""
        return pd.Series(
            self.items["label"].to_numpy(),
            index=pd.Index(self.items["item"], name="item"),
            name="label",
        )

    def for_review(self, threshold: float = 0.6) -> pd.DataFrame:
        """Items whose agreement is below ``threshold``, least agreed first.

        These are the ambiguous samples worth a second look, or a sign that the
        labelling instructions need to be clearer.

        Example:
            >>> result.for_review(0.7)[["item", "label", "agreement"]]  # doctest: +SKIP
        """
        if not 0.0 <= threshold <= 1.0:
            raise InvalidInput(
                f"Review threshold must be between 0 and 1, got {threshold!r}.",
                hint="Agreement is a share of votes; try 0.6.",
            )
        low = self.items[self.items["agreement"] < threshold]
        return low.sort_values("agreement", kind="stable").reset_index(drop=True)

    def summary(self, review_threshold: float = 0.6) -> dict[str, Any]:
        """Headline numbers as a flat dict, for printing or logging."""
        return {
            "method": self.method,
            "items": len(self.items),
            "workers": len(self.workers),
            "annotations": self.n_annotations,
            "alpha": self.alpha,
            "alpha_note": self.alpha_note,
            "kappa": self.kappa,
            "mean_agreement": float(self.items["agreement"].mean()),
            "review_threshold": review_threshold,
            "items_below_threshold": len(self.for_review(review_threshold)),
            "iterations": self.iterations,
            "converged": self.converged,
            "notes": list(self.notes),
        }


def assemble(
    encoded: Encoded,
    winners: IntArray,
    worker_accuracy: FloatArray,
    method: Method,
    *,
    confidence: FloatArray | None = None,
    iterations: int | None = None,
    converged: bool | None = None,
    notes: tuple[str, ...] = (),
) -> LabelAggregation:
    """Build the result frames from label codes chosen per item."""
    counts = encoded.vote_counts()
    n_votes = counts.sum(axis=1)
    won = counts[np.arange(encoded.n_items), winners]
    top = counts.max(axis=1)
    items = pd.DataFrame(
        {
            "item": encoded.items,
            "label": encoded.labels.take(winners),
            "agreement": won / n_votes,
            "n_votes": n_votes,
            "tied": (counts == top[:, None]).sum(axis=1) > 1,
        }
    )
    if confidence is not None:
        items["confidence"] = confidence
    workers = pd.DataFrame(
        {
            "worker": encoded.workers,
            "n_labels": encoded.worker_counts(),
            "accuracy": worker_accuracy,
        }
    )
    alpha, alpha_note = alpha_for(encoded)
    return LabelAggregation(
        items=items,
        workers=workers,
        alpha=alpha,
        method=method,
        iterations=iterations,
        converged=converged,
        kappa=kappa_from_counts(counts),
        n_annotations=encoded.n_rows,
        alpha_note=alpha_note if math.isnan(alpha) else None,
        notes=notes,
    )
