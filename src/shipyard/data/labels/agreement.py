"""Inter-annotator agreement: Krippendorff's alpha (nominal) and Fleiss' kappa.

Both work on the ``(n_items, n_labels)`` vote-count matrix, so they cost one
matrix product however many rows the table has.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from shipyard.data.labels.encode import Encoded, encode_annotations
from shipyard.errors import InvalidInput

Counts = npt.NDArray[np.int64]

ONE_WORKER = "only one worker labelled the data; agreement between annotators needs two or more"
NO_PAIRS = "no item has two or more labels, so there is nothing to compare"
NO_VARIATION = "every annotation has the same label; alpha is undefined without variation"


def alpha_from_counts(counts: Counts) -> tuple[float, str | None]:
    """Nominal Krippendorff's alpha from vote counts, with the reason when it is NaN.

    Items with a single label are not pairable and are left out, as the
    coefficient prescribes; items may carry different numbers of labels.
    """
    per_item = counts.sum(axis=1)
    pairable = per_item >= 2
    if not pairable.any():
        return math.nan, NO_PAIRS
    n_uk = counts[pairable].astype(np.float64)
    weight = 1.0 / (per_item[pairable] - 1.0)
    # Coincidence matrix: o_ck = sum_u (n_uc * n_uk - [c == k] * n_uc) / (m_u - 1).
    coincidence = (n_uk * weight[:, None]).T @ n_uk
    coincidence -= np.diag((n_uk * weight[:, None]).sum(axis=0))
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    observed = n - np.trace(coincidence)  # disagreeing pairs
    expected = (n * n - np.sum(n_c * n_c)) / (n - 1.0)
    if expected <= 0.0:
        return math.nan, NO_VARIATION
    return float(1.0 - observed / expected), None


def alpha_for(encoded: Encoded) -> tuple[float, str | None]:
    """Alpha for encoded annotations, NaN with a reason for a single worker."""
    if encoded.n_workers < 2:
        return math.nan, ONE_WORKER
    return alpha_from_counts(encoded.vote_counts())


def kappa_from_counts(counts: Counts) -> float | None:
    """Fleiss' kappa, or ``None`` when items do not all carry the same number (>= 2) of labels.

    NaN when every annotation has the same label (chance agreement is 1).
    """
    per_item = counts.sum(axis=1)
    raters = int(per_item[0])
    if raters < 2 or not np.all(per_item == raters):
        return None
    c = counts.astype(np.float64)
    p_item = ((c * c).sum(axis=1) - raters) / (raters * (raters - 1.0))
    p_label = c.sum(axis=0) / c.sum()
    chance = float(np.sum(p_label * p_label))
    if chance >= 1.0:
        return math.nan
    return float((p_item.mean() - chance) / (1.0 - chance))


def krippendorff_alpha(
    annotations: pd.DataFrame,
    *,
    item_col: str = "item",
    worker_col: str = "worker",
    label_col: str = "label",
    labels: Sequence[Hashable] | None = None,
) -> float:
    """Krippendorff's alpha for nominal labels; 1 is perfect agreement, 0 is chance.

    Handles any number of labels per item (items with one label are ignored).
    Returns NaN when it is undefined: a single worker, no item with two labels,
    or only one label value in the whole table.

    Example:
        >>> df = pd.DataFrame({"item": [1, 1, 2, 2], "worker": ["a", "b"] * 2,
        ...                    "label": ["x", "x", "y", "y"]})
        >>> krippendorff_alpha(df)
        1.0
    """
    encoded = encode_annotations(
        annotations, item_col=item_col, worker_col=worker_col, label_col=label_col, labels=labels
    )
    return alpha_for(encoded)[0]


def fleiss_kappa(
    annotations: pd.DataFrame,
    *,
    item_col: str = "item",
    worker_col: str = "worker",
    label_col: str = "label",
    labels: Sequence[Hashable] | None = None,
) -> float:
    """Fleiss' kappa; needs every item to carry the same number (two or more) of labels.

    Example:
        >>> df = pd.DataFrame({"item": [1, 1, 2, 2], "worker": ["a", "b"] * 2,
        ...                    "label": ["x", "x", "y", "y"]})
        >>> fleiss_kappa(df)
        1.0

    Raises:
        InvalidInput: items carry different numbers of labels; use
            :func:`krippendorff_alpha` instead.
    """
    encoded = encode_annotations(
        annotations, item_col=item_col, worker_col=worker_col, label_col=label_col, labels=labels
    )
    kappa = kappa_from_counts(encoded.vote_counts())
    if kappa is None:
        raise InvalidInput(
            "Fleiss' kappa needs every item to have the same number (two or more) of labels.",
            hint="Use krippendorff_alpha, which handles a varying number of labels per item.",
        )
    return kappa
