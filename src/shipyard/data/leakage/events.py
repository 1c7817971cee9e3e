"""Rows equal on the features: one event copied, or different events alike.

Two rows equal on every feature are the *same event* when they share an id (the
values of all id columns) or a time; they are *different events* when both the
ids (if any) and the times differ. Hourly rentals of two Saturdays at 15:00 with
the same weather are different events: a fact of the data, not a leak. Without a
time column nothing shows that rows are different events, so every equal row counts
as a copy. Null ids or times are values like any other (two nulls match).

Keys are the per-row ids of :func:`~shipyard.data.leakage.duplicates.shared_keys`
(``-1``: no equal row in another set); an event key pairs such a key with an id or
time code, so "equal and same event" is a plain key match, vectorised.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from shipyard.data import rows as row_module


def occurs_in(keys: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Which ``keys`` (-1 = none) occur among ``other``'s valid keys."""
    return (keys >= 0) & np.isin(keys, other[other >= 0])


def event_codes(
    combined: pd.DataFrame, id_columns: Sequence[str], time_column: str | None
) -> list[tuple[np.ndarray, int]]:
    """Codes that make rows the same event (id, then time) with how many there are;
    empty without a time column: events cannot be told apart then."""
    if time_column is None:
        return []
    out = []
    if id_columns:
        # A 64-bit hash collision could only make two events look like one: a copy, the
        # stricter reading.
        ids, distinct_ids = pd.factorize(row_module.row_hashes(combined, list(id_columns)))
        out.append((np.asarray(ids, dtype=np.int64), len(distinct_ids)))
    times, distinct_times = pd.factorize(combined[time_column], use_na_sentinel=False)
    out.append((np.asarray(times, dtype=np.int64), len(distinct_times)))
    return out


def event_keys(keys: np.ndarray, events: list[tuple[np.ndarray, int]]) -> list[np.ndarray]:
    """Per way of being the same event, a key equal only for equal rows of that event.

    Without events (no time column) the keys themselves: equal rows are copies.
    """
    if not events:
        return [keys]
    return [np.where(keys >= 0, keys * n + codes, -1) for codes, n in events]


def same_event(keys_a: list[np.ndarray], keys_b: list[np.ndarray]) -> np.ndarray:
    """For rows of B: is some row of A equal to it and the same event?"""
    out = np.zeros(keys_b[0].size, dtype=bool)
    for a, b in zip(keys_a, keys_b, strict=True):
        out |= occurs_in(b, a)
    return out
