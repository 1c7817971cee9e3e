"""``split_frame``: apply a :class:`SplitPlan` to a table.

Order of work: time windows take their rows first; the other sets are drawn from
the rows before the windows. Rows are either assigned one by one (exact counts,
stratified within 1 of ideal per class and set) or, when groups or exact
duplicates tie rows together, as whole units (fractions met as nearly as unit
sizes allow; stratification then best effort). The default draws the fraction
sets at random from the pre-window period; ``time_ordered`` cuts them in time
order instead (training earliest), and there time wins over duplicates: they are
not tied together, so no row lands in a set earlier or later than its time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from shipyard.data.rows import row_hashes
from shipyard.data.splits.allocate import (
    assign_rows,
    assign_units,
    random_keys,
    unit_max,
    unit_min,
    unit_strata,
)
from shipyard.data.splits.diagnostics import split_warnings
from shipyard.data.splits.groups import Units, build_units, default_feature_columns
from shipyard.data.splits.plan import SplitPlan
from shipyard.data.splits.result import SplitResult, hash_row_ids
from shipyard.data.splits.slices import report_slices
from shipyard.data.splits.windows import as_sortable, describe_range, utc_times, window_codes
from shipyard.errors import InvalidInput

MAX_CLASSES = 10_000


def split_frame(frame: pd.DataFrame, plan: SplitPlan) -> SplitResult:
    """Assign every row of ``frame`` to one of ``plan``'s sets, deterministically.

    >>> frame = pd.DataFrame({"x": range(100), "late": [i % 4 == 0 for i in range(100)]})
    >>> result = split_frame(frame, SplitPlan(stratify="late", seed=1))
    >>> result.counts
    {'training': 70, 'validation': 15, 'testing': 15}
    >>> result.class_counts["validation"]
    {False: 11, True: 4}

    Raises:
        InvalidInput: an empty table, missing columns, null labels when stratifying,
            a time column that is not a datetime, windows that leave no rows for the
            other sets, or fewer rows than sets.
    """
    _check_table(frame, plan)
    n_rows, names, n_fixed = len(frame), plan.set_names, len(plan.sets)
    fractions = list(plan.sets.values())
    times = utc_times(frame, plan.time_column) if plan.time_column is not None else None
    codes = np.full(n_rows, -1, dtype=np.int8)
    if plan.windows and times is not None:
        codes = window_codes(times, plan.windows, first_code=n_fixed)
    pool = np.flatnonzero(codes < 0)
    _check_pool(pool.size, plan, times)

    classes, labels = _classes(frame, plan.stratify)
    n_classes = max(len(labels), 1)
    ids = row_hashes(frame, plan.id_columns) if plan.id_columns else np.arange(n_rows)
    row_keys = random_keys(ids, plan.seed)[pool]
    ticks = as_sortable(times)[pool] if plan.time_ordered and times is not None else None
    features = default_feature_columns(frame.columns, plan)
    units = build_units(frame, plan, features)
    pool_units, n_units = _pool_units(units, pool)
    pool_classes = classes[pool]
    if pool_units is None:
        # One row per unit: exact counts per class. Times, when ordering, come first.
        keys = [row_keys] if ticks is None else [row_keys, ticks]
        codes[pool] = assign_rows(pool_classes, n_classes, keys, fractions)
    else:
        keys = [unit_min(pool_units, n_units, row_keys)]
        if ticks is not None:  # a unit is placed in time by its latest row
            keys.append(unit_max(pool_units, n_units, ticks))
        strata = unit_strata(pool_units, n_units, pool_classes, n_classes)
        codes[pool] = assign_units(pool_units, n_units, strata, keys, fractions)

    counts = np.bincount(codes, minlength=len(names))
    slices = report_slices(
        frame,
        codes,
        names,
        plan.slices,
        label=plan.label,
        max_halfwidth=plan.min_slice_halfwidth,
    )
    warnings = split_warnings(
        frame, plan, codes, pool, units, pool_units, features, classes, labels
    )
    stats = {"rows": n_rows, "rows_before_windows": int(pool.size)}
    if units is not None:
        stats |= {
            "units_before_windows": n_units if pool_units is not None else int(pool.size),
            "duplicate_rows": units.duplicate_rows,
            "null_group_rows": units.null_group_rows,
        }
    return SplitResult(
        assignment=codes,
        set_names=names,
        row_ids_hash={
            name: hash_row_ids(frame, np.flatnonzero(codes == i), plan.id_columns)
            for i, name in enumerate(names)
        },
        counts={name: int(c) for name, c in zip(names, counts, strict=True)},
        class_counts=_class_counts(codes, classes, labels, names) if plan.stratify else {},
        slices=slices,
        warnings=[*warnings, *slices.warnings],
        plan=plan,
        stats=stats,
    )


def _check_table(frame: pd.DataFrame, plan: SplitPlan) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInput(f"split_frame needs a pandas DataFrame, got {type(frame).__name__}.")
    if len(frame) == 0:
        raise InvalidInput("The table has no rows; there is nothing to split.")
    if not frame.columns.is_unique:
        repeated = sorted(map(str, frame.columns[frame.columns.duplicated()].unique()))
        raise InvalidInput(f"The table repeats column name(s): {', '.join(repeated)}.")
    roles: list[tuple[str, str]] = [
        (role, column)
        for role in ("stratify", "target", "group", "time_column")
        if (column := getattr(plan, role)) is not None
    ]
    roles += [("id_columns", c) for c in plan.id_columns]
    roles += [("feature_columns", c) for c in plan.feature_columns or ()]
    missing = [f"{role} {column!r}" for role, column in roles if column not in frame.columns]
    if missing:
        raise InvalidInput(
            f"Column(s) named in the split plan are not in the table: {', '.join(missing)}.",
            hint=f"The table has: {', '.join(map(str, frame.columns))}.",
        )
    if len(frame) < len(plan.set_names):
        raise InvalidInput(
            f"The table has {len(frame)} row(s), fewer than the plan's {len(plan.set_names)} "
            f"sets ({', '.join(plan.set_names)}).",
            hint="Split a larger table, or use fewer sets.",
        )


def _check_pool(n_pool: int, plan: SplitPlan, times: pd.Series | None) -> None:
    if n_pool >= len(plan.sets):
        return
    windows = ", ".join(f"{name!r} ({w.describe()})" for name, w in plan.windows.items())
    span = f"The times run {describe_range(times)}. " if times is not None else ""
    left = "no rows" if n_pool == 0 else f"only {n_pool} row(s)"
    raise InvalidInput(
        f"The time window(s) {windows} leave {left} before them for the "
        f"{len(plan.sets)} sets {', '.join(map(repr, plan.sets))}.",
        hint=f"{span}Start the window later or make it shorter.",
    )


def _classes(frame: pd.DataFrame, column: str | None) -> tuple[np.ndarray, list[Any]]:
    """Class code per row (sorted labels where they sort) and the labels."""
    if column is None:
        return np.zeros(len(frame), dtype=np.int64), []
    try:
        codes, uniques = pd.factorize(frame[column], sort=True)
    except TypeError:  # labels of mixed types do not sort: keep first-seen order
        codes, uniques = pd.factorize(frame[column])
    nulls = int((codes < 0).sum())
    if nulls:
        raise InvalidInput(
            f"Stratify column {column!r} has {nulls:,} null value(s) in {len(frame):,} rows; a "
            "stratified split needs a class for every row.",
            hint=f"Drop or fill them first, e.g. frame.dropna(subset=[{column!r}]).",
        )
    if len(uniques) > MAX_CLASSES:
        raise InvalidInput(
            f"Stratify column {column!r} has {len(uniques):,} distinct values; stratifying "
            f"needs classes (at most {MAX_CLASSES:,}), not a continuous value.",
            hint=f"Bin it first, e.g. pd.qcut(frame[{column!r}], 10, labels=False).",
        )
    labels = [v.item() if isinstance(v, np.generic) else v for v in uniques]
    return np.asarray(codes, dtype=np.int64), labels


def _pool_units(units: Units | None, pool: np.ndarray) -> tuple[np.ndarray | None, int]:
    """Compact unit codes of the pre-window rows; None when every unit is one row."""
    if units is None:
        return None, 0
    codes, uniques = pd.factorize(units.codes[pool])
    if len(uniques) == pool.size:
        return None, 0
    return np.asarray(codes, dtype=np.int64), len(uniques)


def _class_counts(
    codes: np.ndarray, classes: np.ndarray, labels: Sequence[Any], names: Sequence[str]
) -> dict[str, dict[Any, int]]:
    k = len(labels)
    table = np.bincount(codes.astype(np.int64) * k + classes, minlength=len(names) * k)
    table = table.reshape(len(names), k)
    return {
        name: dict(zip(labels, map(int, row), strict=True))
        for name, row in zip(names, table, strict=True)
    }
