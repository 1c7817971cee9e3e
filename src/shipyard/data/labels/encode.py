"""Validate crowd annotations once and map items, workers and labels to integer codes.

Every aggregator works on the same :class:`Encoded` view of the table, so input
checks (and their error messages) live here and nowhere else. In row form an item
with no labels cannot occur: an item exists only through the rows that label it.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from shipyard.errors import InvalidInput

IntArray = npt.NDArray[np.intp]
FloatArray = npt.NDArray[np.float64]

# How many offending values or row labels an error message quotes before "...".
_QUOTE = 5


@dataclass(frozen=True, eq=False)
class Encoded:
    """Annotations as parallel integer code arrays, one entry per row.

    ``items[c]``, ``workers[c]`` and ``labels[c]`` map a code ``c`` back to the
    caller's value. Items and workers are numbered in order of first appearance;
    labels follow the *label order* (see :func:`encode_annotations`).
    """

    item_codes: IntArray
    worker_codes: IntArray
    label_codes: IntArray
    items: pd.Index
    workers: pd.Index
    labels: pd.Index

    @property
    def n_rows(self) -> int:
        return int(self.item_codes.size)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_workers(self) -> int:
        return len(self.workers)

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    def vote_counts(self) -> npt.NDArray[np.int64]:
        """Matrix ``(n_items, n_labels)``: how many rows gave item *i* label *k*."""
        flat = self.item_codes * self.n_labels + self.label_codes
        counts = np.bincount(flat, minlength=self.n_items * self.n_labels)
        return counts.reshape(self.n_items, self.n_labels).astype(np.int64)

    def worker_counts(self) -> npt.NDArray[np.int64]:
        """How many rows each worker contributed."""
        return np.bincount(self.worker_codes, minlength=self.n_workers).astype(np.int64)


def _quote(values: Sequence[object]) -> str:
    shown = ", ".join(repr(v) for v in values[:_QUOTE])
    return shown + (", ..." if len(values) > _QUOTE else "")


def _check_frame(
    annotations: object, item_col: str, worker_col: str, label_col: str
) -> pd.DataFrame:
    if not isinstance(annotations, pd.DataFrame):
        raise InvalidInput(
            f"Annotations must be a pandas DataFrame, got {type(annotations).__name__}.",
            hint="Load the table first, e.g. with pandas.read_csv or pandas.read_parquet.",
        )
    wanted = [item_col, worker_col, label_col]
    if len(set(wanted)) < 3:
        raise InvalidInput(
            f"item_col, worker_col and label_col must name three different columns, "
            f"got {wanted!r}.",
            hint="Pass a distinct column for each of item, worker and label.",
        )
    present = [str(c) for c in annotations.columns]
    missing = [c for c in wanted if c not in annotations.columns]
    if missing:
        raise InvalidInput(
            f"Annotations are missing column(s) {missing!r}; columns present: {present!r}.",
            hint="Rename the columns or pass item_col=, worker_col=, label_col= "
            "(--item-col/--worker-col/--label-col on the CLI).",
        )
    if len(annotations) == 0:
        raise InvalidInput(
            "Annotations table is empty: there is nothing to aggregate.",
            hint="Pass at least one (item, worker, label) row.",
        )
    problems = []
    for col in wanted:
        nulls = annotations[col].isna().to_numpy()
        if nulls.any():
            where = _quote(list(annotations.index[nulls]))
            problems.append(f"{int(nulls.sum())} null(s) in {col!r} (rows {where})")
    if problems:
        raise InvalidInput(
            "Annotations contain nulls: " + "; ".join(problems) + ".",
            hint="Drop or fill those rows; every row must name an item, a worker and a label.",
        )
    return annotations


def _label_order(values: pd.Series, labels: Sequence[Hashable] | None) -> pd.Index:
    if labels is None:
        seen = pd.Index(pd.unique(values), dtype=values.dtype)
        try:
            # Sorted order makes the tie policy independent of row order.
            return seen.sort_values()
        except TypeError:  # mixed, unorderable label types
            return seen
    declared = pd.Index(list(labels))
    if len(declared) == 0 or declared.hasnans or not declared.is_unique:
        raise InvalidInput(
            f"The declared label set must be non-empty, unique and without nulls, "
            f"got {list(labels)!r}.",
            hint="Pass labels= as a list of distinct values, in tie-breaking order.",
        )
    outside = ~values.isin(declared).to_numpy()
    if outside.any():
        bad = list(pd.unique(values[outside]))
        raise InvalidInput(
            f"{int(outside.sum())} row(s) have labels outside the declared label set "
            f"{_quote(list(declared))}: {_quote(bad)} ({len(bad)} distinct value(s)).",
            hint="Fix or drop those rows, or add the values to labels=.",
        )
    return declared


def encode_annotations(
    annotations: pd.DataFrame,
    *,
    item_col: str = "item",
    worker_col: str = "worker",
    label_col: str = "label",
    labels: Sequence[Hashable] | None = None,
) -> Encoded:
    """Check the table and return its integer-coded form.

    The *label order* is ``labels`` as declared, or else the sorted distinct
    labels (first-seen order if they cannot be sorted). Declared labels that no
    row uses still get a code. Every row counts as one vote, so a worker who
    labels an item twice votes twice.

    Raises:
        InvalidInput: not a DataFrame, missing columns, an empty table, nulls,
            unhashable values, or labels outside the declared set.
    """
    frame = _check_frame(annotations, item_col, worker_col, label_col)
    try:
        item_codes, items = pd.factorize(frame[item_col], sort=False)
        worker_codes, workers = pd.factorize(frame[worker_col], sort=False)
        order = _label_order(frame[label_col], labels)
        label_codes = order.get_indexer(pd.Index(frame[label_col]))
    except TypeError as exc:  # e.g. lists or dicts as values
        raise InvalidInput(
            f"Item, worker and label values must be hashable scalars: {exc}.",
            hint="Convert list or dict cells to strings or ids first.",
        ) from exc
    return Encoded(
        item_codes=np.asarray(item_codes, dtype=np.intp),
        worker_codes=np.asarray(worker_codes, dtype=np.intp),
        label_codes=np.asarray(label_codes, dtype=np.intp),
        items=pd.Index(items),
        workers=pd.Index(workers),
        labels=order,
    )
