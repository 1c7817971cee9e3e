"""Checks of a current profile against constraints: schema, missing values, ranges, categories.

Every check reads only profiles: the reference is never scanned again.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal

from shipyard.data.checks.result import CheckResult, Status

if TYPE_CHECKING:
    from shipyard.data.profiles import ColumnProfile, Constraints, FeatureConstraint, TableProfile

Unexpected = Literal["ignore", "warn", "fail"]


def schema_checks(
    current: TableProfile, constraints: Constraints, unexpected: Unexpected
) -> Iterator[CheckResult]:
    """Columns present, of the expected kind; columns nobody expected."""
    expected = {f.name: f for f in constraints.features}
    for name, feature in expected.items():
        if name not in current.columns:
            yield CheckResult(
                "column_present",
                name,
                "fail",
                "missing",
                "present",
                "A column the model was built on is gone; upstream renamed or dropped it.",
            )
            continue
        kind = current.columns[name].kind
        if kind != feature.kind and current.columns[name].n:
            yield CheckResult(
                "kind",
                name,
                "fail",
                kind,
                feature.kind,
                f"The column now holds {kind} values where {feature.kind} values were expected.",
            )
        else:
            yield CheckResult("kind", name, "pass", kind, feature.kind, "As expected.")
    if unexpected == "ignore":
        return
    for name in current.columns:
        if name not in expected:
            yield CheckResult(
                "unexpected_column",
                name,
                unexpected,
                "present",
                "absent",
                "A column not in the baseline appeared; add it to the "
                "constraints if it is meant to be there.",
            )


def column_checks(current: TableProfile, constraints: Constraints) -> Iterator[CheckResult]:
    """Completeness, non-negativity, ranges, categories and distinct counts per column."""
    for feature in constraints.features:
        column = current.columns.get(feature.name)
        if column is None:
            continue
        yield _completeness(column, feature)
        if column.n == 0:
            continue
        yield from _ranges(column, feature)
        yield from _domain(column, feature)
        yield from _distinct(column, feature)


MISSING_Z = 3.09  # a missing share fails when past its bound at this many standard errors


def _completeness(column: ColumnProfile, feature: FeatureConstraint) -> CheckResult:
    observed = column.n / column.count if column.count else 0.0
    missing = 1.0 - observed
    allowed = 1.0 - feature.completeness
    expected = f"<= {allowed:.4g}"
    if observed + 1e-12 >= feature.completeness:
        return CheckResult("missing_fraction", feature.name, "pass", missing, expected,
                           "Within the bound.")  # fmt: skip
    # A small window's share wobbles: 70 missing of 500 where the baseline had 12% is
    # chance. It fails only when even the lower end of its interval is past the bound.
    low = _wilson_low(column.missing, column.count)
    if low <= allowed:
        return CheckResult(
            "missing_fraction", feature.name, "warn", missing, expected,
            f"{column.missing:,} of {column.count:,} values are missing, above the bound, "
            f"but within chance for {column.count:,} rows (at least {low:.2%}).",
        )  # fmt: skip
    return CheckResult(
        "missing_fraction",
        feature.name,
        "fail",
        missing,
        expected,
        f"{column.missing:,} of {column.count:,} values are missing, more than "
        "the baseline allows: an upstream join or feed may be broken.",
    )


def _wilson_low(successes: int, n: int, z: float = MISSING_Z) -> float:
    """The lower end of Wilson's one-sided interval of a share (z = 3.09: 0.1%)."""
    if n <= 0:
        return 0.0
    p = successes / n
    center = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, center - half)


NEW_CATEGORY_SHARE_TO_FAIL = 0.01
# ...and at least this many rows: one new value in a small window is not a new code.
NEW_CATEGORY_ROWS_TO_FAIL = 20

# A fresh sample of unchanged data often reaches past the baseline's min or max, so a
# few values outside the range only warn; a share past this fails.
OUTSIDE_SHARE_TO_FAIL = 0.01


def _ranges(column: ColumnProfile, feature: FeatureConstraint) -> Iterator[CheckResult]:
    if column.min is None or column.max is None:
        return
    if feature.is_non_negative and column.min < 0:
        share = float(column.cdf([-1e-300])[0]) if column.kind == "numeric" else 1.0
        yield _outside("non_negative", column, feature, share, ">= 0")
    elif feature.is_non_negative:
        yield CheckResult("non_negative", feature.name, "pass", column.min, ">= 0", "As expected.")
    if column.kind == "timestamp" or (feature.min_value is None and feature.max_value is None):
        return  # time moves on: later data is always past the baseline's last timestamp
    low = feature.min_value if feature.min_value is not None else float("-inf")
    high = feature.max_value if feature.max_value is not None else float("inf")
    if low <= column.min and column.max <= high:
        yield CheckResult(
            "range",
            feature.name,
            "pass",
            (column.min, column.max),
            (low, high),
            "Within the baseline's range.",
        )
        return
    share = float(column.cdf([low])[0]) if column.min < low else 0.0
    if column.max > high:
        share += 1.0 - float(column.cdf([high])[0])
    yield _outside("range", column, feature, share, (low, high))


def _outside(
    check: str, column: ColumnProfile, feature: FeatureConstraint, share: float, expected: object
) -> CheckResult:
    """Values outside the allowed range: fail when their estimated share is large."""
    share = min(max(share, 0.0), 1.0)
    status: Status = "fail" if share > OUTSIDE_SHARE_TO_FAIL + column.rank_error else "warn"
    why = (
        f"About {share:.1%} of values lie outside (estimated from the sketch): "
        "a change of units, or a sentinel value?"
        if status == "fail"
        else f"A few values (about {share:.2%}) lie outside; unchanged data does this at times."
    )
    return CheckResult(check, feature.name, status, (column.min, column.max), expected, why)


def _domain(column: ColumnProfile, feature: FeatureConstraint) -> Iterator[CheckResult]:
    if feature.domain is None:
        return
    counts = column.category_counts()
    seen = counts if counts is not None else dict(column.frequent_items(1000))
    unseen = sorted(c for c in seen if c not in set(feature.domain))
    if not unseen:
        yield CheckResult(
            "categories",
            feature.name,
            "pass",
            len(seen),
            "in the domain",
            "Every category was seen in the baseline.",
        )
        return
    rows = sum(seen[c] for c in unseen)
    share = rows / column.n if column.n else 0.0
    # A rare category missing from the baseline sample is not a failure; a real new code is.
    big = share >= NEW_CATEGORY_SHARE_TO_FAIL and rows >= NEW_CATEGORY_ROWS_TO_FAIL
    status: Status = "fail" if big else "warn"
    yield CheckResult(
        "categories",
        feature.name,
        status,
        unseen[:10],
        f"{len(feature.domain)} known",
        f"{len(unseen)} categor{'y' if len(unseen) == 1 else 'ies'} not seen in the baseline "
        f"({rows:,} rows, {share:.2%}): a new code upstream, or a spelling change.",
    )


def _distinct(column: ColumnProfile, feature: FeatureConstraint) -> Iterator[CheckResult]:
    if feature.distinct_min is None and feature.distinct_max is None:
        return
    estimate = column.distinct()
    low, high = column.distinct_bounds(3)  # the HLL estimate's own error bounds
    lower = feature.distinct_min if feature.distinct_min is not None else 0
    upper = feature.distinct_max if feature.distinct_max is not None else float("inf")
    # Judge by the sketch's error bounds, not its point estimate. More values than allowed
    # fails (new codes); fewer only warns, since a small window may not see rare ones.
    if low > upper:
        status: Status = "fail"
        why = "More distinct values than the baseline allows: new codes upstream?"
    elif high < lower:
        status = "warn"
        why = (
            "Fewer distinct values than in the baseline: a small window, or a field gone constant?"
        )
    else:
        status, why = "pass", "Within the bounds."
    yield CheckResult("distinct_count", feature.name, status, round(estimate), (lower, upper), why)
