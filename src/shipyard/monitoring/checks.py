"""One window of one model version's traffic against its baseline: violations and points.

Each stage is checked on its own: ``input`` and ``enriched`` against the training data's
profile and constraints, ``scores`` and ``output`` against the model's own outputs on
that data. The checks are the data checks' (:func:`shipyard.data.checks.run_checks`):
constraints (types, missing values, ranges, categories) and the drift rule (KS and
Welch for numbers, chi-square for categories, Holm across the window's tests, effect
sizes that allow for sketch error), restricted to the columns the stage carries. The
``schema`` stage adds what the capture says at once: the share of refused requests,
and enrichment statuses ``missing`` and ``outside_ttl``.

A violation has the shape of an entry of SageMaker Model Monitor's
``constraint_violations.json`` (``feature_name``, ``constraint_check_type``,
``description``), with the variant, model and stage added.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shipyard.stores.monitoring import SeriesPoint

if TYPE_CHECKING:
    from shipyard.data.checks import CheckReport
    from shipyard.monitoring.baseline import ModelBaseline
    from shipyard.monitoring.windows import ModelWindow

# Data check names -> SageMaker Model Monitor's constraint check types (and ours).
CHECK_TYPES = {
    "column_present": "missing_column_check",
    "unexpected_column": "extra_column_check",
    "kind": "data_type_check",
    "missing_fraction": "completeness_check",
    "categories": "categorical_values_check",
    "distribution": "baseline_drift_check",
    "range": "range_check",
    "non_negative": "range_check",
    "distinct_count": "distinct_count_check",
}
REFUSED_SHARE = 0.05  # refused requests above this share of a window: a schema violation
MISSING_SHARE = 0.05  # online features missing or stale above this share of rows
MIN_REQUESTS = 20  # fewer requests than this in a window: too few to judge their shares
MIN_ROWS = 20  # fewer input rows than this: too few to compare distributions
BAD_STATUSES = ("missing", "outside_ttl")


@dataclass(frozen=True)
class Violation:
    """One broken rule in one window."""

    feature_name: str
    constraint_check_type: str
    description: str
    variant: str
    model: str
    stage: str

    def to_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class WindowCheck:
    """What checking one model version's window found."""

    violations: tuple[Violation, ...]
    points: tuple[SeriesPoint, ...]
    notes: tuple[str, ...]


def check_window(
    endpoint: str,
    variant: str,
    model: str,
    window: ModelWindow,
    baseline: ModelBaseline | None,
    start: datetime,
    end: datetime,
) -> WindowCheck:
    """Check ``window`` (``model``'s traffic on ``variant``) against ``baseline``."""
    violations: list[Violation] = []
    points: list[SeriesPoint] = []
    notes: list[str] = []

    def point(stage: str, metric: str, feature: str, value: float | None, **extra: Any) -> None:
        detail = dict(extra.pop("detail", {}), model=model)
        at = (endpoint, variant, stage, metric, feature, start, end, value)
        points.append(SeriesPoint(*at, detail=detail, **extra))

    requests = window.answered + window.refused
    share = window.refused / requests if requests else 0.0
    flagged = requests >= MIN_REQUESTS and share > REFUSED_SHARE
    point("schema", "refused_share", "", share, flagged=flagged, rows=requests,
          detail={"threshold": REFUSED_SHARE, "refusals": window.refusals})  # fmt: skip
    if flagged:
        codes = ", ".join(f"{n} x {code}" for code, n in sorted(window.refusals.items()))
        violations.append(
            Violation("", "refused_requests_check",
                      f"{share:.1%} of {requests:,} requests were refused ({codes}), above "
                      f"{REFUSED_SHARE:.0%}: callers send what the model does not take "
                      "(missing or new columns, wrong types).", variant, model, "schema")
        )  # fmt: skip
    for feature, counts in sorted(window.statuses.items()):
        total = sum(counts.values())
        bad = sum(counts.get(s, 0) for s in BAD_STATUSES)
        ratio = bad / total if total else 0.0
        hit = total >= MIN_REQUESTS and ratio > MISSING_SHARE
        point("schema", "enrichment_missing_share", feature, ratio, flagged=hit, rows=total,
              detail={"threshold": MISSING_SHARE, "statuses": counts})  # fmt: skip
        if hit:
            violations.append(
                Violation(feature, "enrichment_check",
                          f"{ratio:.1%} of rows had no fresh online value for {feature} "
                          f"({counts}), above {MISSING_SHARE:.0%}: materialize the view or "
                          "check its source.", variant, model, "schema")
            )  # fmt: skip
    if baseline is None:
        notes.append(
            f"{variant} serves model:{model}, which has no monitoring baseline: only the "
            f"schema was checked. Make one: `shipyard monitor baseline model:{model} "
            "--data TRAINING_DATA`."
        )
        return WindowCheck(tuple(violations), tuple(points), tuple(notes))
    inputs = window.profiles.get("input")
    rows = inputs.rows if inputs is not None else 0
    if rows < MIN_ROWS:
        notes.append(
            f"{variant} ({model}) answered {window.answered} request(s), {rows} row(s), in the "
            f"window: fewer than {MIN_ROWS} rows, too few to compare distributions."
        )
        return WindowCheck(tuple(violations), tuple(points), tuple(notes))
    for stage, profile in window.profiles.items():
        reference = baseline.stage(stage)
        if reference is None:
            continue
        report = _check(profile, reference)
        for result in report.failures:
            violations.append(
                Violation(result.column or "", CHECK_TYPES.get(result.check, result.check),
                          result.why, variant, model, stage)
            )  # fmt: skip
        for column in report.drift.get("columns", []):
            for name, test in column["tests"].items():
                value = test["effect"] if test.get("effect") is not None else test["statistic"]
                p = (
                    test.get("adjusted_p")
                    if test.get("adjusted_p") is not None
                    else test.get("p_value")
                )
                why = {"threshold": test.get("threshold"), "reason": column["reason"]}
                point(stage, name, column["column"], value, p_value=p,
                      flagged=bool(column["drifted"]), rows=profile.rows, detail=why)  # fmt: skip
    return WindowCheck(tuple(violations), tuple(points), tuple(notes))


def _check(profile: Any, reference: Any) -> CheckReport:
    """The data checks of ``profile`` against the baseline's constraints and profile, on
    the columns the stage carries (a stage holds some of the training columns)."""
    from shipyard.data.checks import run_checks

    present = set(profile.columns)
    features = tuple(f for f in reference.constraints.features if f.name in present)
    constraints = replace(reference.constraints, features=features) if features else None
    return run_checks(
        profile,
        constraints=constraints,
        reference=reference.statistics,
        unexpected_columns="ignore",
    )


def violations_document(violations: list[Violation] | tuple[Violation, ...]) -> dict[str, Any]:
    """``constraint_violations.json``: ``{"violations": [...]}``."""
    return {"violations": [v.to_dict() for v in violations]}
