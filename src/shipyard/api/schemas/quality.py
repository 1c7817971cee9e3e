"""Data quality: leakage reports, data-check reports and profiles (``shipyard data ...``)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal

from pydantic import Field, JsonValue

from shipyard.api.schemas.base import Schema

if TYPE_CHECKING:
    from shipyard.data.checks.result import CheckReport as DomainCheckReport
    from shipyard.data.leakage.report import LeakageReport as DomainLeakageReport
    from shipyard.data.profiles.table import TableProfile


class Finding(Schema):
    """One leakage problem: what, where, how many rows, a few examples, the figures."""

    kind: str = Field(examples=["exact_duplicates"])
    severity: Literal["error", "warning", "info"]
    sets: list[str]
    columns: list[str]
    rows: int = Field(description="Rows affected (of the evaluation set, for a pair of sets).")
    message: str
    examples: list[dict[str, JsonValue]]
    details: dict[str, JsonValue]


class FeatureScore(Schema):
    """How well one feature alone predicts the target on the validation set."""

    feature: str
    metric: str = Field(description="roc_auc, accuracy or spearman.")
    score: float | None
    rows: int
    kind: str
    baseline: float | None


class TopScore(Schema):
    """One of the best univariate scores, best first."""

    feature: str
    metric: str
    score: float | None


class ModelScore(Schema):
    """How well a quick model on all features predicts the target on validation."""

    metric: str
    score: float | None
    features: int
    rows: int
    scored: int
    seconds: float
    baseline: float | None


class LeakageReport(Schema):
    """A stored split's leakage check (``data leakage --json``); ``ok`` when no error."""

    ok: bool
    errors: int
    warnings: int
    sets: dict[str, int] = Field(description="Rows per set.")
    findings: list[Finding]
    feature_scores: list[FeatureScore]
    top_scores: list[TopScore]
    full_model: ModelScore | None
    settings: dict[str, JsonValue]
    methods: dict[str, str]
    skipped: list[str]

    @classmethod
    def from_domain(cls, report: DomainLeakageReport) -> LeakageReport:
        from shipyard.jsonsafe import jsonable

        model = report.full_model
        return cls.model_validate(
            jsonable(
                {
                    "ok": report.ok,
                    "errors": len(report.errors),
                    "warnings": len(report.warnings),
                    "sets": dict(report.sets),
                    "findings": [dataclasses.asdict(f) for f in report.findings],
                    "feature_scores": [dataclasses.asdict(s) for s in report.feature_scores],
                    "top_scores": [
                        {"feature": s.feature, "metric": s.metric, "score": s.score}
                        for s in report.top_scores()
                    ],
                    "full_model": None if model is None else dataclasses.asdict(model),
                    "settings": dict(report.settings),
                    "methods": dict(report.methods),
                    "skipped": list(report.skipped),
                }
            )
        )


class CheckResult(Schema):
    """One check on one column (or the table): what was seen, what was allowed, and why."""

    check: str
    column: str | None
    status: Literal["pass", "warn", "fail"]
    observed: JsonValue
    expected: JsonValue
    why: str


class CheckReport(Schema):
    """Every result of one run of a check suite (``data check --json``)."""

    ok: bool = Field(description="True when no check failed (warnings allowed).")
    failures: int
    warnings: int
    results: list[CheckResult]
    drift: dict[str, JsonValue]

    @classmethod
    def from_domain(cls, report: DomainCheckReport) -> CheckReport:
        from shipyard.jsonsafe import jsonable

        return cls(
            ok=report.ok,
            failures=len(report.failures),
            warnings=len(report.warnings),
            results=[
                CheckResult(
                    check=r.check,
                    column=r.column,
                    status=r.status,
                    observed=jsonable(r.observed),
                    expected=jsonable(r.expected),
                    why=r.why,
                )
                for r in report.results
            ],
            drift=jsonable(dict(report.drift)),
        )


class Profile(Schema):
    """A table's profile as a ``shipyard.profile.v1`` document (``data profile --json``).

    The document is a stored format with its own codec (sketches in base64,
    non-finite numbers as "NaN"/"Infinity"), so each column stays as the codec
    writes it; ``TableProfile.from_dict`` reads it back.
    """

    format: str = Field(examples=["shipyard.profile.v1"])
    rows: int
    sketches: dict[str, JsonValue] = Field(description="The sketches' parameters.")
    columns: list[dict[str, JsonValue]]

    @classmethod
    def from_domain(cls, profile: TableProfile) -> Profile:
        return cls.model_validate(profile.to_dict())
