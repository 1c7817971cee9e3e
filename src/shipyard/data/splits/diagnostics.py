"""What is worth a look after a split: empty sets, missed fractions, duplicates, gaps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from shipyard.data.splits.groups import Units
from shipyard.data.splits.plan import SplitPlan

FRACTION_SLACK = 0.02  # grouped splits that miss a fraction by more than this warn
DUPLICATE_SHARE = 0.01  # warn when at least this share of rows are exact duplicates


def _stratification_miss(
    plan: SplitPlan, codes: np.ndarray, classes: np.ndarray, labels: Sequence[Any]
) -> list[str]:
    """With whole groups moving, say how far the worst class count is from ideal."""
    k, n_sets = len(labels), len(plan.sets)
    got = np.bincount(codes.astype(np.int64) * k + classes, minlength=n_sets * k)
    got = got.reshape(n_sets, k)
    ideal = np.outer(list(plan.sets.values()), np.bincount(classes, minlength=k))
    miss = np.abs(got - ideal)
    worst_set, worst_class = (int(i) for i in np.unravel_index(int(np.argmax(miss)), miss.shape))
    if miss[worst_set, worst_class] <= 1:
        return []
    return [
        f"stratification is best effort with groups: class {labels[worst_class]!r} has "
        f"{got[worst_set, worst_class]:,} rows in {plan.set_names[worst_set]!r} for an ideal of "
        f"{ideal[worst_set, worst_class]:,.1f} (the largest miss)."
    ]


def split_warnings(
    frame: pd.DataFrame,
    plan: SplitPlan,
    codes: np.ndarray,
    pool: np.ndarray,
    units: Units | None,
    pool_units: np.ndarray | None,
    features: Sequence[str],
    classes: np.ndarray,
    labels: Sequence[Any],
) -> list[str]:
    """One line per thing worth a look, in a fixed order (slice warnings come separately)."""
    out: list[str] = []
    names = plan.set_names
    counts = np.bincount(codes, minlength=len(names))
    where = " before the windows" if plan.windows else ""
    out += [f"set {names[i]!r} is empty." for i in np.flatnonzero(counts == 0)]
    if plan.dedupe and not features:
        out.append("dedupe is on but no feature columns are left to compare rows on; skipped.")
    if plan.stratify is not None:
        per_class = np.bincount(classes[pool], minlength=len(labels))
        for label, n in zip(labels, per_class, strict=True):
            if 0 < n < len(plan.sets):
                out.append(
                    f"class {label!r} has {n} row(s){where}, too few to appear in "
                    f"all {len(plan.sets)} sets."
                )
    if units is not None and units.duplicate_rows >= DUPLICATE_SHARE * len(frame):
        shown = ", ".join(features[:6]) + (", ..." if len(features) > 6 else "")
        repeating = (
            f"{units.duplicate_rows:,} row(s) ({units.duplicate_rows / len(frame):.0%}) repeat "
            f"another row on the feature columns ({shown})"
        )
        if units.duplicates_linked:
            out.append(
                f"{repeating} and were kept with it. If those columns do not tell rows apart, "
                "set feature_columns or dedupe: false."
            )
        else:
            out.append(
                f"{repeating}; the split is time_ordered, so each stays in the set its time "
                "puts it in and the leakage report counts those across sets."
            )
    if units is not None and units.null_group_rows:
        out.append(
            f"{units.null_group_rows:,} row(s) have no {plan.group!r} value; each was treated "
            "as a group of its own."
        )
    if pool_units is not None:
        largest = int(np.bincount(pool_units).max())
        for i, (name, target) in enumerate(plan.sets.items()):
            got = counts[i] / pool.size
            if abs(got - target) > FRACTION_SLACK:
                out.append(
                    f"set {name!r} got {got:.1%} of the rows{where} for a target of "
                    f"{target:.1%}: groups and duplicates move whole (the largest has "
                    f"{largest:,} rows)."
                )
    if pool_units is not None and plan.stratify is not None:
        out += _stratification_miss(plan, codes[pool], classes[pool], labels)
    if units is not None and plan.windows:
        inside = units.codes[codes >= len(plan.sets)]
        spanning = np.intersect1d(units.codes[pool], inside).size
        if spanning:
            out.append(
                f"{spanning:,} group(s) or duplicate row(s) fall both inside a time window and "
                "before it: windows are cut by time alone."
            )
    if plan.id_columns:
        repeated = int(frame.duplicated(subset=plan.id_columns).sum())
        if repeated:
            out.append(
                f"{repeated:,} row(s) repeat an earlier row's id ({', '.join(plan.id_columns)}); "
                "rows sharing an id may land in different sets unless you group by it."
            )
    return out
