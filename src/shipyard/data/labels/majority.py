"""Majority vote with a deterministic tie policy."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import pandas as pd

from shipyard.data.labels.encode import Encoded, FloatArray, IntArray, encode_annotations
from shipyard.data.labels.result import LabelAggregation, assemble


def majority_codes(encoded: Encoded) -> IntArray:
    """Label code with the most votes per item; ties go to the earliest label in label order."""
    # argmax returns the first maximum, and label codes follow the label order.
    return np.asarray(encoded.vote_counts().argmax(axis=1), dtype=np.intp)


def agreement_with(encoded: Encoded, winners: IntArray) -> FloatArray:
    """Per worker, the share of their labels that equal the item's label in ``winners``."""
    hits = (encoded.label_codes == winners[encoded.item_codes]).astype(np.float64)
    agreed = np.bincount(encoded.worker_codes, weights=hits, minlength=encoded.n_workers)
    return agreed / encoded.worker_counts()


def majority_from_encoded(encoded: Encoded) -> LabelAggregation:
    """Majority vote on already encoded annotations."""
    winners = majority_codes(encoded)
    return assemble(encoded, winners, agreement_with(encoded, winners), "mv")


def majority_vote(
    annotations: pd.DataFrame,
    *,
    item_col: str = "item",
    worker_col: str = "worker",
    label_col: str = "label",
    labels: Sequence[Hashable] | None = None,
) -> LabelAggregation:
    """Label each item with the label most of its annotators chose.

    Tie policy: when several labels share the top vote count, the one that comes
    first in the *label order* wins. The label order is ``labels`` as declared,
    or else the distinct labels sorted ascending (in first-seen order only if
    they cannot be sorted, e.g. mixed types). The result does not depend on row
    order, and ``items["tied"]`` flags the items where the policy decided.

    ``agreement`` is the winning label's share of the item's votes (1.0 for an
    item with a single vote); a worker's ``accuracy`` is the share of their
    labels that match the majority label.

    Example:
        >>> df = pd.DataFrame({"item": [1, 1, 1, 2, 2], "worker": ["a", "b", "c", "a", "b"],
        ...                    "label": ["cat", "cat", "dog", "dog", "cat"]})
        >>> r = majority_vote(df)
        >>> r.labels.to_dict()
        {1: 'cat', 2: 'cat'}
        >>> r.items["agreement"].round(2).tolist(), r.items["tied"].tolist()
        ([0.67, 0.5], [False, True])
    """
    encoded = encode_annotations(
        annotations, item_col=item_col, worker_col=worker_col, label_col=label_col, labels=labels
    )
    return majority_from_encoded(encoded)
