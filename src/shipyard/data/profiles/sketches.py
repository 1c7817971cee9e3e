"""The mergeable parts of a column profile: sketch sizes, and exact merge arithmetic.

Sketch sizes, fixed so that any two profiles merge:

- KLL quantiles, ``k = 400``: normalized rank error 0.86% double-sided (for
  PMF, CDF and histograms; ``get_normalized_rank_error(400, True)``) and 0.68%
  single-sided (one rank or quantile), each at 99% confidence.
- HLL distinct counts, ``lg_k = 12`` (4,096 registers; Shipyard's array-updated
  sketch in ``hll.py``): relative standard error 1.6%, unchanged by a union.
- Frequent strings, ``lg_max_k = 10``: a count's error is at most 0.34% of
  the column's present values (``epsilon`` 3.5 / 1,024).
"""

from __future__ import annotations

from typing import Any

import datasketches as ds
import numpy as np

from shipyard.data.profiles.hll import LG_K, VectorHLL

KLL_K = 400
HLL_LG_K = LG_K
FREQUENT_LG_MAX_K = 10
# How each sketch attribute of a ColumnProfile is written and read back.
WRITERS = {"_kll": "serialize", "_hll": "serialize_compact", "_freq": "serialize"}
NO_FALSE_NEGATIVES = ds.frequent_items_error_type.NO_FALSE_NEGATIVES
READERS = {
    "_kll": ds.kll_doubles_sketch,
    "_hll": VectorHLL,
    "_freq": ds.frequent_strings_sketch,
}


def kll_rank_error() -> float:
    """The double-sided normalized rank error of a KLL sketch with ``k = KLL_K``."""
    return float(ds.kll_doubles_sketch.get_normalized_rank_error(KLL_K, True))


def new_kll() -> Any:
    return ds.kll_doubles_sketch(KLL_K)


def new_hll() -> VectorHLL:
    return VectorHLL()


def new_frequent() -> Any:
    return ds.frequent_strings_sketch(FREQUENT_LG_MAX_K)


def union_hll(a: VectorHLL, b: VectorHLL) -> VectorHLL:
    """A new HLL sketch of both inputs' values."""
    return a.union(b)


def chan(n_a: int, mean_a: float, m2_a: float, n_b: int, mean_b: float, m2_b: float) -> Any:
    """Chan, Golub and LeVeque's pairwise update of (mean, sum of squared deviations).

    >>> chan(2, 1.5, 0.5, 1, 3.0, 0.0)  # [1, 2] and [3]
    (2.0, 2.0)
    """
    if not n_b or not n_a:
        return (mean_a, m2_a) if n_a else (mean_b, m2_b)
    n, delta = n_a + n_b, mean_b - mean_a
    with np.errstate(invalid="ignore"):  # infinite values: NaN, not a warning
        return mean_a + delta * n_b / n, m2_a + m2_b + delta * delta * n_a * n_b / n


def add_counts(a: dict[str, int], b: dict[str, int], cap: int) -> dict[str, int] | None:
    """Summed category counts, or None past ``cap`` categories (then they stay dropped)."""
    if len(a.keys() | b.keys()) > cap:
        return None
    out = dict(a)  # keeps first-seen order, so the JSON is the same on every run
    for key, count in b.items():
        out[key] = out.get(key, 0) + count
    return out


def pick(choose: Any, a: float | None, b: float | None) -> float | None:
    """``choose(a, b)`` (min or max), where None means "no value yet"."""
    return b if a is None else a if b is None else choose(a, b)
