"""Units of assignment: rows that must land in the same set.

Two rows are in one unit when they share a group key, or (with ``dedupe``) are
exact duplicates on the feature columns, or are linked through a chain of such
rows: the units are the connected components of rows, keys and row hashes.

A time-ordered split does not link duplicates: there time decides. Tying two equal
rows of different hours together would move one of them to the other's side of a
time cut, into a set earlier or later than its own time. Duplicates are then
counted (for the split's warnings) and left where their time puts them; the
leakage report judges them across sets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shipyard.data.rows import row_hashes
from shipyard.data.splits.plan import SplitPlan


def default_feature_columns(columns: Iterable[object], plan: SplitPlan) -> list[str]:
    """The columns duplicates are judged on: ``plan.feature_columns``, else every
    column except the id, time, label, stratify and group columns.

    The group column is left out too: two rows that differ only in, say, a user id
    are the same example to a model that does not read the user id.

    >>> plan = SplitPlan(stratify="y", id_columns=["id"])
    >>> default_feature_columns(["id", "x", "y"], plan)
    ['x']
    """
    if plan.feature_columns is not None:
        return list(plan.feature_columns)
    roles = (plan.time_column, plan.stratify, plan.target, plan.group)
    excluded = set(plan.id_columns) | {c for c in roles if c is not None}
    return [str(c) for c in columns if c not in excluded]


@dataclass(frozen=True)
class Units:
    """A unit code per row of the table (0..n_units-1) and how they came about."""

    codes: np.ndarray
    n_units: int
    duplicate_rows: int  # rows that repeat an earlier row on the feature columns
    null_group_rows: int  # rows without a group key; each is its own group
    duplicates_linked: bool = True  # False in a time-ordered split: time decides


def _factorize(values: np.ndarray | pd.Series) -> tuple[np.ndarray, int]:
    codes, uniques = pd.factorize(values)
    return np.asarray(codes, dtype=np.int64), len(uniques)


def _group_codes(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, int, int]:
    codes, n_keys = _factorize(frame[column])
    missing = np.flatnonzero(codes < 0)
    # A row with no key is linked to nothing: give it a group of its own.
    codes[missing] = n_keys + np.arange(missing.size)
    return codes, n_keys + missing.size, int(missing.size)


def _components(left: np.ndarray, n_left: int, right: np.ndarray, n_right: int) -> np.ndarray:
    """Component per row of the bipartite graph with an edge (left[i], right[i]) per row."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    size = n_left + n_right
    edges = coo_matrix(
        (np.ones(left.size, dtype=np.int8), (left, right + n_left)), shape=(size, size)
    )
    _, labels = connected_components(edges.tocsr(), directed=False)
    return np.asarray(labels[left], dtype=np.int64)


def build_units(frame: pd.DataFrame, plan: SplitPlan, features: Sequence[str]) -> Units | None:
    """Units over the whole table, or None when rows are assigned one by one.

    ``features`` are the columns duplicates are judged on (empty: no dedupe). In a
    time-ordered split duplicates are only counted, never linked (see above): the
    units are the groups, or every row on its own (then ``codes`` numbers the rows).
    """
    dedupe = plan.dedupe and len(features) > 0
    if plan.group is None and not dedupe:
        return None
    duplicates = 0
    if dedupe:
        hashes, n_hashes = _factorize(row_hashes(frame, features))
        duplicates = len(frame) - n_hashes
        if plan.time_ordered:
            if plan.group is None:
                return Units(np.arange(len(frame)), len(frame), duplicates, 0, False)
            keys, n_keys, null_groups = _group_codes(frame, plan.group)
            return Units(keys, n_keys, duplicates, null_groups, False)
        if plan.group is None:
            return Units(hashes, n_hashes, duplicates, 0)
    assert plan.group is not None
    keys, n_keys, null_groups = _group_codes(frame, plan.group)
    if not duplicates:  # no duplicate links to add: the groups are the units
        return Units(keys, n_keys, 0, null_groups)
    codes, n_units = _factorize(_components(keys, n_keys, hashes, n_hashes))
    return Units(codes, n_units, duplicates, null_groups)
