"""Drift statistics for one categorical column, from category counts.

Categories the reference never saw are pooled into one "new" bucket: it takes
part in every statistic, and its share of current rows is reported as its own
finding. For the chi-square test only, categories whose expected count is
below ``min_expected`` (5, the usual rule for the chi-square approximation) in
either sample are merged into one "rare" bucket; if that bucket is itself
still below ``min_expected`` it is merged into the smallest remaining category.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from shipyard.data.drift.decision import ColumnStats, StatResult
from shipyard.data.drift.divergence import js_distance, psi
from shipyard.errors import InvalidInput

_LISTED = 10  # how many new / vanished categories the details name


def _counts(counts: Mapping[Any, Any], which: str) -> dict[Hashable, int]:
    if not isinstance(counts, Mapping):
        raise InvalidInput(
            f"{which} counts must be a mapping of category to count, got {type(counts).__name__}.",
            hint="For raw values use pandas: series.value_counts().to_dict().",
        )
    out: dict[Hashable, int] = {}
    bad = []
    for key, value in counts.items():
        number = float(value) if isinstance(value, int | float | np.number) else math.nan
        if isinstance(value, bool) or not (number >= 0 and number.is_integer()):
            bad.append((key, value))
        else:
            out[key] = int(number)
    if bad:
        raise InvalidInput(
            f"{which} counts must be non-negative whole numbers; got {bad[:3]}.",
            hint="Pass how many rows fall in each category (no negatives, NaN or fractions).",
        )
    if sum(out.values()) == 0:
        raise InvalidInput(
            f"{which} counts are all zero.", hint="Each side needs at least one row."
        )
    return out


def _pool_rare(table: npt.NDArray[np.float64], min_expected: float) -> tuple[Any, int]:
    """Merge columns whose expected count is below ``min_expected``; return (table, merged)."""
    rows = table.sum(axis=1)
    rare = table.sum(axis=0) * rows.min() / rows.sum() < min_expected
    if not rare.any():
        return table, 0
    kept, bucket = table[:, ~rare], table[:, rare].sum(axis=1)
    if kept.shape[1] == 0:
        return bucket[:, None], int(rare.sum())
    if bucket.sum() * rows.min() / rows.sum() < min_expected:
        kept = kept.copy()
        kept[:, np.argmin(kept.sum(axis=0))] += bucket
        return kept, int(rare.sum())
    return np.column_stack([kept, bucket]), int(rare.sum())


def cramers_v_equal_size(table: npt.ArrayLike) -> float:
    """Cramér's V of a 2 x k table after rescaling both rows to the same total.

    The usual V of a 2 x k table shrinks as the rows become unequal (a 1M-row
    reference against a 10k-row window), so it would measure the sizes as much
    as the change. With equal rows ``V**2 = 0.5 * sum((p - q)**2 / (p + q))``
    over the row shares p and q: 0 for equal mixes, 1 for disjoint ones, and the
    usual V whenever the samples have the same size.

    Example:
        >>> round(cramers_v_equal_size([[50, 50], [25, 75]]), 4)
        0.2582
    """
    t = np.asarray(table, dtype=np.float64)
    p, q = t[0] / t[0].sum(), t[1] / t[1].sum()
    mix = p + q
    mask = mix > 0
    return float(math.sqrt(0.5 * np.sum((p[mask] - q[mask]) ** 2 / mix[mask])))


def categorical_drift(
    ref_counts: Mapping[Any, int], cur_counts: Mapping[Any, int], *, min_expected: float = 5.0
) -> ColumnStats:
    """Chi-square (homogeneity), Cramér's V, JS, PSI and new categories from counts.

    The reference is a sample too, so the test is the 2 x k contingency test
    (no Yates correction), not goodness of fit against fixed shares.

    Example:
        >>> s = categorical_drift({"a": 500, "b": 500}, {"a": 250, "b": 700, "z": 50})
        >>> s.tests["new_categories"].effect, s.details["new_categories"]
        (0.05, ['z'])
    """
    ref, cur = _counts(ref_counts, "Reference"), _counts(cur_counts, "Current")
    if not min_expected > 0:
        raise InvalidInput(f"min_expected must be > 0, got {min_expected!r}.", hint="Try 5.")
    seen = sorted((k for k, c in ref.items() if c > 0), key=lambda k: -ref[k])
    new = sorted(
        ((k, c) for k, c in cur.items() if c > 0 and ref.get(k, 0) == 0), key=lambda kc: -kc[1]
    )
    n_new = sum(c for _, c in new)
    ref_row = [ref[k] for k in seen] + ([0] if new else [])
    cur_row = [cur.get(k, 0) for k in seen] + ([n_new] if new else [])
    table = np.array([ref_row, cur_row], dtype=np.float64)

    pooled, merged = _pool_rare(table, min_expected)
    if pooled.shape[1] < 2:
        # One bucket left: nothing to compare, so no evidence of a change.
        chi2, p_value, v, v_raw = 0.0, 1.0, 0.0, 0.0
    else:
        res = stats.chi2_contingency(pooled, correction=False)
        chi2, p_value = float(res.statistic), float(res.pvalue)
        v, v_raw = cramers_v_equal_size(pooled), math.sqrt(chi2 / pooled.sum())
    js_value, psi_value = js_distance(ref_row, cur_row), psi(ref_row, cur_row)
    n_cur = sum(cur.values())
    new_share = n_new / n_cur
    vanished = [k for k in seen if cur.get(k, 0) == 0]

    tests = {
        "chi2": StatResult(chi2, p_value, v),
        "js": StatResult(js_value, None, js_value),
        "psi": StatResult(psi_value, None, psi_value),
        "new_categories": StatResult(new_share, None, new_share),
    }
    details: dict[str, Any] = {
        "n_ref": sum(ref.values()),
        "n_cur": n_cur,
        "categories_ref": len(seen),
        "categories_tested": int(pooled.shape[1]),
        "categories_pooled_as_rare": merged,
        "new_share": new_share,
        "n_new_rows": n_new,
        "n_new_categories": len(new),
        "new_categories": [str(k) for k, _ in new[:_LISTED]],
        "new_category_counts": {str(k): c for k, c in new[:_LISTED]},
        "n_vanished_categories": len(vanished),
        "vanished_categories": [str(k) for k in vanished[:_LISTED]],
        "cramers_v_raw": v_raw,
    }
    return ColumnStats("categorical", tests, details)
