"""Aggregate crowd annotations into one label per item.

Input is a table of rows ``(item, worker, label)``; column names are
configurable. Two methods:

* ``"mv"`` -- majority vote with a deterministic tie policy
  (:func:`majority_vote`);
* ``"ds"`` -- Dawid-Skene EM over per-worker confusion matrices
  (:func:`dawid_skene`).

Both return a :class:`LabelAggregation` with per-item labels and agreement,
per-worker accuracy estimates, Krippendorff's alpha and a ``for_review``
list of items annotators disagreed on.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import pandas as pd

from shipyard.data.labels.agreement import fleiss_kappa, krippendorff_alpha
from shipyard.data.labels.dawid_skene import dawid_skene, dawid_skene_from_encoded
from shipyard.data.labels.encode import encode_annotations
from shipyard.data.labels.majority import majority_from_encoded, majority_vote
from shipyard.data.labels.result import LabelAggregation
from shipyard.errors import InvalidInput

__all__ = [
    "METHODS",
    "LabelAggregation",
    "aggregate",
    "dawid_skene",
    "fleiss_kappa",
    "krippendorff_alpha",
    "majority_vote",
]

METHODS: dict[str, frozenset[str]] = {
    "mv": frozenset(),
    "ds": frozenset({"max_iter", "tol"}),
}
"""Each method and the keyword options it accepts."""


def aggregate(
    annotations: pd.DataFrame,
    method: str = "mv",
    *,
    item_col: str = "item",
    worker_col: str = "worker",
    label_col: str = "label",
    labels: Sequence[Hashable] | None = None,
    **options: Any,
) -> LabelAggregation:
    """Aggregate annotations with ``method`` ``"mv"`` or ``"ds"``.

    ``labels`` declares the label set, in tie-breaking order; rows with other
    labels are an error. ``options`` go to the method (``max_iter``, ``tol``
    for ``"ds"``; none for ``"mv"``).

    Example:
        >>> df = pd.DataFrame({"item": [1, 1, 1, 2, 2, 2], "worker": ["a", "b", "c"] * 2,
        ...                    "label": ["cat", "cat", "dog", "dog", "dog", "dog"]})
        >>> result = aggregate(df, "ds", max_iter=50)
        >>> result.labels.to_dict(), result.summary()["items"]
        ({1: 'cat', 2: 'dog'}, 2)

    Raises:
        InvalidInput: unknown method or option, or bad annotations (see
            :func:`~shipyard.data.labels.encode.encode_annotations`).
    """
    if method not in METHODS:
        raise InvalidInput(
            f"Unknown aggregation method {method!r}.",
            hint=f"Use one of: {', '.join(sorted(METHODS))} (mv = majority vote, "
            "ds = Dawid-Skene).",
        )
    unknown = sorted(set(options) - METHODS[method])
    if unknown:
        accepted = ", ".join(sorted(METHODS[method])) or "none"
        raise InvalidInput(
            f"Method {method!r} does not take option(s) {unknown!r}.",
            hint=f"Options it accepts: {accepted}.",
        )
    encoded = encode_annotations(
        annotations, item_col=item_col, worker_col=worker_col, label_col=label_col, labels=labels
    )
    if method == "ds":
        return dawid_skene_from_encoded(encoded, **options)
    return majority_from_encoded(encoded)
