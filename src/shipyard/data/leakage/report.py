"""The leakage report's types: thresholds, findings, per-feature scores and the report.

Also the few helpers every check shares: JSON-safe values, row ids for examples and
numbers from numeric or time columns.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from rich.table import Table

from shipyard.errors import GateFailed, InvalidInput
from shipyard.jsonsafe import jsonable

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
_STYLES = {"error": "bold red", "warning": "yellow", "info": "dim"}


@dataclass(frozen=True)
class LeakageThresholds:
    """Where a finding becomes a warning or an error, and near-duplicate precision.

    Scores are a feature's univariate score on the validation set (ROC AUC,
    accuracy or absolute Spearman correlation, all in [0, 1]).

    * ``proxy_error`` / ``proxy_warning``: the absolute rule; a feature scoring at
      least this alone is an error / a warning.
    * ``proxy_margin``: the relative rule against the full model; a feature whose
      score comes within this many points of a quick model on all (not known-after)
      features, or beats it, is an error.
    * ``proxy_gap``: the relative rule against the other features; the best feature
      scoring this many points above the second best is an error.
    * ``proxy_floor``: the relative rules only judge features scoring at least this
      (and above chance), so a weak feature among weaker ones is left alone.
    * ``max_equal_feature_share``: rows of an evaluation set equal on every feature
      to a training row of another event (other id and time) fail above this share
      of the set; at or below it they are reported as info.
    * ``near_decimals``: decimals of a standardised number that count when looking
      for near duplicates (2: values within about 1% of a std match).

    >>> LeakageThresholds(proxy_error=0.999).proxy_warning
    0.95
    """

    proxy_error: float = 0.99
    proxy_warning: float = 0.95
    proxy_margin: float = 0.02
    proxy_gap: float = 0.15
    proxy_floor: float = 0.75
    max_equal_feature_share: float = 0.01
    near_decimals: int = 2

    def __post_init__(self) -> None:
        for name in ("proxy_error", "proxy_warning", "proxy_margin", "proxy_gap", "proxy_floor",
                     "max_equal_feature_share"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
                raise InvalidInput(f"{name} must be a number, not {value!r}.")
        if not 0.5 <= self.proxy_warning <= self.proxy_error <= 1.0:
            raise InvalidInput(
                f"Bad proxy thresholds: warning {self.proxy_warning}, error {self.proxy_error}.",
                hint="Use 0.5 <= proxy_warning <= proxy_error <= 1.",
            )
        if not 0 <= self.proxy_margin <= 0.5:
            raise InvalidInput(
                f"proxy_margin must be from 0 to 0.5, not {self.proxy_margin}.",
                hint="It is how close (in score points) one feature may come to the full model.",
            )
        if not 0 < self.proxy_gap <= 1:
            raise InvalidInput(
                f"proxy_gap must be above 0 and at most 1, not {self.proxy_gap}.",
                hint="It is how far (in score points) the best feature may lead the second.",
            )
        if not 0 <= self.proxy_floor <= 1:
            raise InvalidInput(f"proxy_floor must be from 0 to 1, not {self.proxy_floor}.")
        if not 0 <= self.max_equal_feature_share <= 1:
            raise InvalidInput(
                f"max_equal_feature_share must be from 0 to 1, not {self.max_equal_feature_share}.",
                hint="It is a share of the evaluation set, e.g. 0.01 for 1%.",
            )
        decimals = self.near_decimals
        if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 12:
            raise InvalidInput(
                f"near_decimals must be an integer from 0 to 12, not {decimals!r}.",
                hint="2 means numbers within about 1% of a standard deviation match.",
            )


@dataclass(frozen=True)
class Finding:
    """One leakage problem: what, where, how many rows, a few examples and why it matters.

    ``rows`` counts affected rows: for a pair of sets, rows of the second (evaluation)
    set; for time overlap, training rows; for a feature, the rows checked.
    ``details`` holds the measured figures.
    """

    kind: str
    severity: Severity
    sets: tuple[str, ...]
    columns: tuple[str, ...]
    rows: int
    message: str
    examples: tuple[dict[str, Any], ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """This finding as plain JSON-safe values."""
        out: dict[str, Any] = jsonable(dataclasses.asdict(self))
        return out


@dataclass(frozen=True)
class FeatureScore:
    """How well one feature alone predicts the target on the validation set.

    ``metric`` is ``"roc_auc"`` (binary target), ``"accuracy"`` (multi-class; with
    ``baseline``, the accuracy of always predicting the commonest class) or
    ``"spearman"`` (numeric target, absolute value). ``score`` is ``None`` when it
    cannot be computed (e.g. one class only among the scored rows).
    """

    feature: str
    metric: str
    score: float | None
    rows: int
    kind: str
    baseline: float | None = None


@dataclass(frozen=True)
class ModelScore:
    """How well a quick model on all features predicts the target on the validation set.

    Same ``metric`` (and ``baseline``) as the univariate scores, so one feature can be
    compared with all of them together. ``rows`` were trained on (a random subsample
    of training when it is large), ``scored`` rows of validation were predicted.
    """

    metric: str
    score: float | None
    features: int
    rows: int
    scored: int
    seconds: float
    baseline: float | None = None


TOP_SCORES = 10  # how many univariate scores the report lists, best first


@dataclass(frozen=True)
class LeakageReport:
    """What :func:`~shipyard.data.leakage.leakage_report` found, ready to print or gate on.

    >>> report = LeakageReport(findings=())
    >>> report.ok, report.to_dict()["errors"]
    (True, 0)
    """

    findings: tuple[Finding, ...]
    feature_scores: tuple[FeatureScore, ...] = ()
    full_model: ModelScore | None = None
    sets: Mapping[str, int] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    methods: Mapping[str, str] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()

    @property
    def errors(self) -> tuple[Finding, ...]:
        """The error-level findings: each one fails :meth:`raise_for_errors`."""
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """The warning-level findings."""
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def ok(self) -> bool:
        """True when no finding is an error."""
        return not self.errors

    def of_kind(self, kind: str) -> tuple[Finding, ...]:
        """The findings of one ``kind``, e.g. ``"exact_duplicates"``."""
        return tuple(f for f in self.findings if f.kind == kind)

    def score(self, feature: str) -> FeatureScore | None:
        """The univariate score of ``feature`` on the validation set, if computed."""
        return next((s for s in self.feature_scores if s.feature == feature), None)

    def top_scores(self, n: int = TOP_SCORES) -> tuple[FeatureScore, ...]:
        """The ``n`` best univariate scores, best first (features without a score left out)."""
        scored = [s for s in self.feature_scores if s.score is not None]
        return tuple(sorted(scored, key=lambda s: -(s.score or 0.0))[:n])

    def to_dict(self) -> dict[str, Any]:
        """The whole report as JSON-safe values (numpy and pandas types converted)."""
        out: dict[str, Any] = jsonable(
            {
                "ok": self.ok,
                "errors": len(self.errors),
                "warnings": len(self.warnings),
                "sets": dict(self.sets),
                "findings": [f.to_dict() for f in self.findings],
                "feature_scores": [dataclasses.asdict(s) for s in self.feature_scores],
                "top_scores": [
                    {"feature": s.feature, "metric": s.metric, "score": s.score}
                    for s in self.top_scores()
                ],
                "full_model": None
                if self.full_model is None
                else dataclasses.asdict(self.full_model),
                "settings": dict(self.settings),
                "methods": dict(self.methods),
                "skipped": list(self.skipped),
            }
        )
        return out

    def to_json(self, *, indent: int | None = 2) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def table(self) -> Table:
        """A :class:`rich.table.Table` of the findings, worst first, for a terminal."""
        table = Table(
            title=f"Leakage report: {len(self.errors)} error(s), {len(self.warnings)} warning(s)",
            show_lines=True,
        )
        # Two columns, so a finding stays readable in an 80-column terminal.
        table.add_column("finding", no_wrap=True)
        table.add_column("what and why", ratio=1)
        for f in self.findings:
            style = _STYLES[f.severity]
            columns = ", ".join(f.columns[:4]) + (" ..." if len(f.columns) > 4 else "")
            where = f"sets: {' / '.join(f.sets)}" + (f"; columns: {columns}" if columns else "")
            table.add_row(
                f"[{style}]{f.severity}[/]\n{f.kind}\n{f.rows:,} rows", f"{where}\n{f.message}"
            )
        if not self.findings:
            table.add_row("ok", f"sets: {', '.join(self.sets)}\nNo leakage found.")
        caption = []
        top = self.top_scores()
        if top:
            listed = ", ".join(f"{s.feature} {s.score:.3f}" for s in top)
            model = self.full_model
            versus = (
                f" (full model {model.score:.3f})"
                if model is not None and model.score is not None
                else ""
            )
            caption.append(f"Top univariate {top[0].metric} on validation{versus}: {listed}")
        caption.extend(f"Skipped: {note}" for note in self.skipped)
        table.caption = "\n".join(caption) or None
        return table

    def raise_for_errors(self) -> LeakageReport:
        """Raise :class:`~shipyard.errors.GateFailed` listing the errors; else return self.

        Warnings never raise: this is the gate a pipeline step calls.
        """
        if self.ok:
            return self
        listed = "; ".join(
            f"{f.kind} ({' / '.join(f.sets)}: {', '.join(f.columns[:3]) or '-'}, {f.rows:,} rows)"
            for f in self.errors
        )
        raise GateFailed(
            f"Leakage check failed with {len(self.errors)} error(s): {listed}.",
            hint="The report (its table or JSON) says what each one means and how to fix it.",
        )


def row_ids(frame: pd.DataFrame, positions: Sequence[int], id_columns: Sequence[str]) -> list[Any]:
    """How examples name rows: the id value (a dict for several id columns), else the
    0-based position in the set.

    >>> row_ids(pd.DataFrame({"id": ["a", "b"]}), [1], ["id"])
    ['b']
    """
    if not id_columns:
        return [int(p) for p in positions]
    chosen = frame[list(id_columns)].iloc[list(positions)]
    if len(id_columns) == 1:
        return [jsonable(v) for v in chosen.iloc[:, 0].tolist()]
    return [jsonable(r) for r in chosen.to_dict("records")]


def as_float(column: pd.Series) -> np.ndarray:
    """A numeric, datetime or timedelta column as float64 (seconds for times), NaN for nulls.

    >>> as_float(pd.Series(pd.to_datetime(["1970-01-01 00:00:02", None]))).tolist()
    [2.0, nan]
    """
    if pd.api.types.is_datetime64_any_dtype(column):
        epoch = pd.Timestamp(0, tz=getattr(column.dt, "tz", None))
        return ((column - epoch).dt.total_seconds()).to_numpy(dtype="float64")
    if pd.api.types.is_timedelta64_dtype(column):
        return column.dt.total_seconds().to_numpy(dtype="float64")
    return column.to_numpy(dtype="float64", na_value=np.nan)


def is_numeric(column: pd.Series) -> bool:
    """Numbers, datetimes and timedeltas (ordered quantities); not booleans."""
    if pd.api.types.is_bool_dtype(column):
        return False
    return bool(
        pd.api.types.is_numeric_dtype(column)
        or pd.api.types.is_datetime64_any_dtype(column)
        or pd.api.types.is_timedelta64_dtype(column)
    )
