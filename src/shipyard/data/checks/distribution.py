"""Distribution checks: a current profile against the reference profile, by the drift rule.

The statistics and the decision rule are :mod:`shipyard.data.drift`'s; this
module only adapts column profiles to them and turns verdicts into check results.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shipyard.data.checks.result import CheckResult

if TYPE_CHECKING:
    from shipyard.data.drift import ColumnStats, DriftResult, DriftThresholds
    from shipyard.data.profiles import ColumnProfile, Constraints, TableProfile

# Constraint files use SageMaker-style names; the drift rule has its own.
_THRESHOLD_NAMES = {"ks_statistic": "ks_d", "mean_shift_std": "smd", "js_distance": "js"}
TESTED_KINDS = ("numeric", "categorical", "boolean")


def distribution_checks(
    reference: TableProfile,
    current: TableProfile,
    *,
    constraints: Constraints | None = None,
    thresholds: DriftThresholds | None = None,
    alpha: float = 0.05,
) -> tuple[list[CheckResult], DriftResult | None]:
    """Compare every numeric and categorical column both profiles share."""
    from shipyard.data.drift import decide

    stats: dict[str, ColumnStats] = {}
    per_column: dict[str, dict[str, float]] = {}
    results: list[CheckResult] = []
    for name, ref in reference.columns.items():
        cur = current.columns.get(name)
        if cur is None or ref.kind not in TESTED_KINDS or cur.kind != ref.kind:
            continue  # schema checks report missing or changed columns
        if constraints is not None and _constraint_drift(constraints, name) == {}:
            continue  # the constraints switch drift off for this column
        if min(ref.n, cur.n) < 2:
            results.append(
                CheckResult(
                    "distribution",
                    name,
                    "warn",
                    cur.n,
                    ">= 2 values",
                    "Too few values to compare distributions.",
                )
            )
            continue
        stats[name] = _column_stats(ref, cur)
        if constraints is not None:
            overrides = _constraint_drift(constraints, name) or {}
            per_column[name] = {
                _THRESHOLD_NAMES[k]: v for k, v in overrides.items() if k in _THRESHOLD_NAMES
            }
    if not stats:
        return results, None
    verdict = decide(stats, thresholds, per_column=per_column or None, alpha=alpha)
    for column in verdict.columns:
        results.append(
            CheckResult(
                "distribution",
                column.column,
                "fail" if column.drifted else "pass",
                _effects(column.tests),
                _limits(column.tests),
                column.reason,
            )
        )
    return results, verdict


def _constraint_drift(constraints: Constraints, name: str) -> dict[str, float] | None:
    for feature in constraints.features:
        if feature.name == name:
            return dict(feature.drift)
    return None


def _column_stats(ref: ColumnProfile, cur: ColumnProfile) -> ColumnStats:
    from shipyard.data.drift import categorical_drift, numeric_drift_from_summaries

    if ref.kind == "numeric":
        return numeric_drift_from_summaries(_summary(ref), _summary(cur))
    return categorical_drift(_counts(ref), _counts(cur))


def _summary(column: ColumnProfile) -> Any:
    from shipyard.data.drift import NumericSummary

    return NumericSummary(
        n=column.n,
        mean=float(column.mean or 0.0),
        variance=float(column.variance or 0.0),
        cdf=column.cdf,
        quantiles=column.quantiles,
        rank_error=column.rank_error,
        n_missing=column.missing,
    )


def _counts(column: ColumnProfile) -> Mapping[str, int]:
    exact = column.category_counts()
    return exact if exact is not None else dict(column.frequent_items(1000))


def _effects(tests: Mapping[str, Any]) -> dict[str, float]:
    return {name: round(float(t.effect), 4) for name, t in tests.items() if t.effect is not None}


def _limits(tests: Mapping[str, Any]) -> dict[str, float]:
    return {name: t.threshold for name, t in tests.items() if t.threshold is not None}
