"""Allocation: turning fractions into a set per row or per unit, deterministically.

Randomness comes from hashing, not from a generator: each row's sort key is a
SplitMix64 hash of its row id (row position when there is no id column) salted
with the seed. The split therefore depends only on the data, the plan and the
seed -- not on NumPy's generator version -- and, with id columns, not on row order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(values: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser: a bijection on uint64 that scrambles every bit."""
    z = values.astype(np.uint64, copy=True)
    z ^= z >> np.uint64(30)
    z *= _M1  # uint64 arithmetic wraps, which is what the mixer wants
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


def random_keys(base: np.ndarray, seed: int) -> np.ndarray:
    """A pseudo-random uint64 per element of ``base`` (row ids or positions), by seed.

    >>> keys = random_keys(np.arange(3, dtype=np.uint64), seed=1)
    >>> keys.dtype, bool((keys == random_keys(np.arange(3, dtype=np.uint64), 1)).all())
    (dtype('uint64'), True)
    """
    salt = _mix(np.array([seed], dtype=np.uint64) + _GOLDEN)
    return _mix(base.astype(np.uint64, copy=False) + salt[0])


def apportion(totals: np.ndarray, fractions: Sequence[float]) -> np.ndarray:
    """Integer counts per (class, set): each the floor or ceiling of ``total * fraction``.

    Largest remainder per class: every class gets the floor of its ideal counts and
    its leftover rows go, among the sets with a remainder, to those with the largest
    remainders. The remainders
    are carried across classes, so a set passed over by one class is first in line
    for the next: the set totals stay within about 1 of ideal as well. One class
    is plain largest-remainder apportionment.

    >>> apportion(np.array([10, 7]), [0.7, 0.15, 0.15]).tolist()
    [[7, 2, 1], [5, 1, 1]]
    """
    share = np.asarray(fractions, dtype=np.float64)
    ideal = totals.astype(np.float64)[:, None] * share[None, :]
    counts = np.floor(ideal + 1e-9).astype(np.int64)  # 0.7 * 10 may be 6.9999...
    remainder = np.clip(ideal - counts, 0.0, None)
    leftover = totals - counts.sum(axis=1)
    carry = np.zeros(share.size)
    for cls in range(totals.size):
        carry += remainder[cls]
        k = int(leftover[cls])
        if k > 0:
            # Only sets this class has a remainder in may round up: that keeps every count
            # the floor or ceiling of its ideal. Stable sort: ties go to the earlier set.
            open_ = np.flatnonzero(remainder[cls] > 1e-12)
            chosen = open_[np.argsort(-carry[open_], kind="stable")[:k]]
            counts[cls, chosen] += 1
            carry[chosen] -= 1.0
    return counts


def _by_rank(rank: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Set index per element: how many of its class's cut points it has passed."""
    return (rank[:, None] >= bounds).sum(axis=1).astype(np.int8)


def assign_rows(
    classes: np.ndarray,
    n_classes: int,
    order_keys: Sequence[np.ndarray],
    fractions: Sequence[float],
) -> np.ndarray:
    """A set per row: rows of each class in ``order_keys`` order, cut at exact counts.

    ``order_keys`` are ``np.lexsort`` keys (last is primary) that order rows within
    a class: random keys, or (random keys, times) for a time-ordered split.

    >>> assign_rows(np.zeros(4, dtype=np.int64), 1, [np.arange(4)], [0.5, 0.5]).tolist()
    [0, 0, 1, 1]
    """
    totals = np.bincount(classes, minlength=n_classes)
    counts = apportion(totals, fractions)
    order = np.lexsort((*order_keys, classes))
    sorted_classes = classes[order]
    starts = np.concatenate(([0], np.cumsum(totals)[:-1]))
    rank = np.arange(classes.size) - starts[sorted_classes]
    bounds = np.cumsum(counts, axis=1)[:, :-1]
    out = np.empty(classes.size, dtype=np.int8)
    out[order] = _by_rank(rank, bounds[sorted_classes])
    return out


def unit_strata(
    units: np.ndarray, n_units: int, classes: np.ndarray, n_classes: int, bins: int = 8
) -> np.ndarray:
    """A stratum per unit: its most frequent class and how mixed it is.

    A unit's mix is the share of its rows in that class, in ``bins`` bands. Cutting
    each stratum at the fractions gives every set its share of pure and of mixed
    units alike, so the minority rows inside mixed units spread evenly too. Ties
    between classes go to the lower class code.

    >>> unit_strata(np.array([0, 0, 0, 1]), 2, np.array([1, 0, 1, 0]), 2, bins=4).tolist()
    [6, 3]
    """
    pairs, counts = np.unique(units * n_classes + classes, return_counts=True)
    unit_of, class_of = pairs // n_classes, pairs % n_classes
    order = np.lexsort((-counts, unit_of))  # per unit, the largest count first
    first = np.ones(order.size, dtype=bool)
    first[1:] = unit_of[order][1:] != unit_of[order][:-1]
    top = order[first]
    share = counts[top] / np.bincount(units, minlength=n_units)[unit_of[top]]
    band = np.minimum((share * bins).astype(np.int64), bins - 1)
    out = np.zeros(n_units, dtype=np.int64)
    out[unit_of[top]] = class_of[top] * bins + band
    return out


def assign_units(
    units: np.ndarray,
    n_units: int,
    strata: np.ndarray,
    order_keys: Sequence[np.ndarray],
    fractions: Sequence[float],
) -> np.ndarray:
    """A set per row, moving whole units: within each stratum, cut at the fractions.

    Units are ordered by (stratum, ``order_keys``) and a unit goes to the set whose
    share of its stratum the unit's midpoint falls in. Each cut misses its target by
    at most half the size of the unit that straddles it, so fractions are met as
    nearly as unit sizes allow; with mixed-class units (see :func:`unit_strata`)
    the per-class balance is best effort.

    >>> assign_units(np.array([0, 0, 1, 2]), 3, np.zeros(3, dtype=np.int64),
    ...              [np.arange(3)], [0.5, 0.5]).tolist()
    [0, 0, 1, 1]
    """
    sizes = np.bincount(units, minlength=n_units).astype(np.float64)
    n_strata = int(strata.max()) + 1 if n_units else 1
    stratum_rows = np.bincount(strata, weights=sizes, minlength=n_strata)
    order = np.lexsort((*order_keys, strata))
    ordered = sizes[order]
    stratum = strata[order]
    before = np.cumsum(ordered) - ordered  # rows ahead of each unit, over all strata
    stratum_start = np.concatenate(([0.0], np.cumsum(stratum_rows)[:-1]))
    midpoint = before - stratum_start[stratum] + ordered / 2
    cuts = stratum_rows[:, None] * np.cumsum(np.asarray(fractions, dtype=np.float64))[None, :-1]
    unit_set = np.empty(n_units, dtype=np.int8)
    unit_set[order] = _by_rank(midpoint, cuts[stratum])
    return unit_set[units]


def unit_min(units: np.ndarray, n_units: int, values: np.ndarray) -> np.ndarray:
    """The smallest of ``values`` within each unit (a unit's random key)."""
    out = np.full(n_units, np.iinfo(values.dtype).max, dtype=values.dtype)
    np.minimum.at(out, units, values)
    return out


def unit_max(units: np.ndarray, n_units: int, values: np.ndarray) -> np.ndarray:
    """The largest of ``values`` within each unit (a unit's latest time)."""
    out = np.full(n_units, np.iinfo(values.dtype).min, dtype=values.dtype)
    np.maximum.at(out, units, values)
    return out
