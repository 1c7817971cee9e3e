"""The drift decision (documented in :mod:`shipyard.data.drift`): Holm, gates, result types."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from shipyard.data.checks.constraint_checks import (
    NEW_CATEGORY_ROWS_TO_FAIL,
    NEW_CATEGORY_SHARE_TO_FAIL,
)
from shipyard.errors import InvalidInput
from shipyard.jsonsafe import jsonable

Kind = Literal["numeric", "categorical"]

# Which threshold gates which test's effect, per column kind. Tests not listed
# (PSI everywhere, JS on numerics) are reported for information only.
_GATES: dict[Kind, dict[str, str]] = {
    "numeric": {"ks": "ks_d", "welch": "smd", "spread": "spread_ratio"},
    "categorical": {"chi2": "cramers_v", "js": "js", "new_categories": "new_share"},
}


@dataclass(frozen=True)
class StatResult:
    """One statistic computed for one column.

    ``effect`` is the effect size the gate compares with ``threshold``;
    ``p_value`` is ``None`` for measures without a test (PSI, JS, new-category
    share). ``adjusted_p``, ``threshold`` and ``significant`` are filled in by
    :func:`decide`; ``significant`` means Holm-adjusted p <= alpha.
    """

    statistic: float
    p_value: float | None = None
    effect: float | None = None
    adjusted_p: float | None = None
    threshold: float | None = None
    significant: bool | None = None

    @property
    def exceeds(self) -> bool:
        """Whether ``|effect|`` reaches ``threshold`` (False when either is missing)."""
        if self.effect is None or self.threshold is None:
            return False
        return abs(self.effect) >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict, with ``exceeds``."""
        return dict(jsonable(asdict(self)), exceeds=self.exceeds)


@dataclass(frozen=True)
class ColumnStats:
    """One column's statistics before the decision (what the test functions return)."""

    kind: Kind
    tests: Mapping[str, StatResult]
    details: Mapping[str, Any]


@dataclass(frozen=True)
class ColumnDrift:
    """The verdict for one column: its tests (with adjusted p-values), the flag and why."""

    column: str
    kind: Kind
    tests: Mapping[str, StatResult]
    drifted: bool
    reason: str
    details: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the verdict."""
        tests = {name: t.to_dict() for name, t in self.tests.items()}
        head = {"column": self.column, "kind": self.kind, "drifted": self.drifted}
        return dict(head, reason=self.reason, tests=tests, details=jsonable(self.details))


@dataclass(frozen=True)
class DriftResult:
    """Every column's verdict for one comparison, and how they were reached."""

    columns: tuple[ColumnDrift, ...]
    alpha: float
    notes: tuple[str, ...]

    @property
    def drifted_columns(self) -> tuple[str, ...]:
        """Names of the columns flagged as drifted, in input order."""
        return tuple(c.column for c in self.columns if c.drifted)

    def __getitem__(self, column: str) -> ColumnDrift:
        return {c.column: c for c in self.columns}[column]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (``json.dumps(result.to_dict(), allow_nan=False)`` works)."""
        out = {"alpha": self.alpha, "drifted_columns": list(self.drifted_columns)}
        return dict(out, columns=[c.to_dict() for c in self.columns], notes=list(self.notes))


@dataclass(frozen=True)
class DriftThresholds:
    """Effect-size thresholds; a column drifts only if a significant test also reaches one.

    Attributes:
        ks_d: KS distance (after allowing for sketch error) for numerics.
        smd: absolute mean shift in reference standard deviations, for numerics.
        cramers_v: Cramér's V (equal-size form) for categoricals.
        js: Jensen-Shannon distance (base 2) for categoricals.
        new_share: share of current rows in categories the reference never saw.
        new_rows: and how many rows that share must be at least: one new value in a
            small monitoring window is a large share of nothing.
        spread_ratio: how far the spread (interquartile range) may grow or shrink, as a
            ratio (1.25: by a quarter either way), for numerics whose KS test is significant.

    Example:
        >>> DriftThresholds(ks_d=0.2).smd
        0.2
    """

    ks_d: float = 0.1
    smd: float = 0.2
    cramers_v: float = 0.1
    js: float = 0.1
    new_share: float = NEW_CATEGORY_SHARE_TO_FAIL  # the data checks' rule: one rule for both
    spread_ratio: float = 1.25
    new_rows: int = NEW_CATEGORY_ROWS_TO_FAIL

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "new_rows":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise InvalidInput(
                        f"Drift threshold 'new_rows' must be a whole number >= 1, got {value!r}.",
                        hint="The default is 20.",
                    )
                continue
            lower, upper = (1.0, math.inf) if f.name == "spread_ratio" else (0.0, 1.0)
            upper = math.inf if f.name == "smd" else upper
            if not isinstance(value, int | float) or not lower < value <= upper:
                raise InvalidInput(
                    f"Drift threshold {f.name!r} must be a number in ({lower:g}, {upper}], "
                    f"got {value!r}.",
                    hint=f"The default is {f.default!r}.",
                )


def holm(p_values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Holm-Bonferroni adjusted p-values (reject where adjusted p <= alpha).

    The i-th smallest of m p-values is multiplied by ``m - i`` (i from 0), then a
    running maximum keeps the adjusted values in the same order as the raw ones.

    Example:
        >>> holm([0.01, 0.04, 0.03, 0.005]).round(3).tolist()
        [0.03, 0.06, 0.06, 0.02]
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1 or np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise InvalidInput(
            "Holm needs a 1-D array of p-values in [0, 1] without NaN.",
            hint="Drop or replace undefined p-values (1.0 means 'no evidence').",
        )
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((p.size - np.arange(p.size)) * p[order])
    adjusted = np.empty(p.size)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def _resolve(
    columns: Mapping[str, ColumnStats],
    default: DriftThresholds,
    per_column: Mapping[str, DriftThresholds | Mapping[str, float]],
) -> dict[str, DriftThresholds]:
    if unknown := sorted(set(per_column) - set(columns)):
        raise InvalidInput(
            f"Thresholds given for column(s) not compared: {unknown}.",
            hint=f"Compared columns: {sorted(columns)}.",
        )
    names = {f.name for f in fields(DriftThresholds)}
    out = {}
    for col, stats in columns.items():
        if stats.kind not in _GATES or not set(_GATES[stats.kind]) <= set(stats.tests):
            raise InvalidInput(
                f"Column {col!r} ({stats.kind}) lacks the tests the rule needs.",
                hint="Build column stats with numeric_drift_* or categorical_drift.",
            )
        override = per_column.get(col, default)
        if not isinstance(override, DriftThresholds):
            if bad := sorted(set(override) - names):
                raise InvalidInput(
                    f"Unknown drift threshold(s) {bad} for column {col!r}.",
                    hint=f"Known thresholds: {sorted(names)}.",
                )
            values: dict[str, Any] = dict(override)
            override = replace(default, **values)
        out[col] = override
    return out


def decide(
    column_results: Mapping[str, ColumnStats],
    thresholds: DriftThresholds | None = None,
    *,
    per_column: Mapping[str, DriftThresholds | Mapping[str, float]] | None = None,
    alpha: float = 0.05,
) -> DriftResult:
    """Apply the drift rule to the columns of one comparison.

    Every p-value of every column (KS and Welch per numeric, chi-square per
    categorical) is one family for Holm-Bonferroni at family-wise ``alpha``.
    ``per_column`` overrides thresholds by column, with a full
    :class:`DriftThresholds` or a partial dict such as ``{"ks_d": 0.2}``.

    Example:
        >>> from shipyard.data.drift import categorical_drift
        >>> decide({"c": categorical_drift({"a": 900, "b": 100}, {"a": 500, "b": 500})},
        ...        per_column={"c": {"cramers_v": 0.3}}).drifted_columns
        ('c',)
    """
    if not column_results:
        raise InvalidInput("No columns to decide on.", hint="Pass at least one column's stats.")
    if not 0.0 < alpha < 1.0:
        raise InvalidInput(f"alpha must be in (0, 1), got {alpha!r}.", hint="Try 0.05.")
    limits = _resolve(column_results, thresholds or DriftThresholds(), per_column or {})

    every = [(c, t, r) for c, s in column_results.items() for t, r in s.tests.items()]
    family = [(c, t, r.p_value) for c, t, r in every if r.p_value is not None]
    adjusted_p = holm([p for _, _, p in family])
    adjusted = {(c, t): float(a) for (c, t, _), a in zip(family, adjusted_p, strict=True)}

    verdicts = []
    for col, stats in column_results.items():
        gates = _GATES[stats.kind]
        tests = {}
        for name, r in stats.tests.items():
            adj = adjusted.get((col, name))
            gate = getattr(limits[col], gates[name]) if name in gates else None
            sig = None if adj is None else bool(adj <= alpha)
            tests[name] = replace(r, adjusted_p=adj, threshold=gate, significant=sig)
        drifted, reason = _verdict(stats.kind, tests, stats.details, limits[col].new_rows)
        verdicts.append(ColumnDrift(col, stats.kind, tests, drifted, reason, stats.details))

    holm_note = (
        f"Holm-Bonferroni over {len(family)} p-values from {len(column_results)} columns "
        f"at family-wise alpha={alpha}."
    )
    return DriftResult(tuple(verdicts), alpha, (holm_note, *_RULE))


_RULE = (
    "numeric: drifted if (KS significant and adjusted D >= ks_d) or "
    "(Welch significant and |SMD| >= smd) or "
    "(KS significant and the IQR grew or shrank by spread_ratio or more).",
    "categorical: drifted if chi-square significant and (V >= cramers_v or JS >= js), "
    "or if the rows in unseen categories are at least new_share of the rows and at least "
    "new_rows rows.",
)


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2g}"


def _clause(what: str, effect: str, fired: bool, r: StatResult, limit: str) -> str:
    """Say whether a gated test fired, and why it did or did not."""
    state = "" if fired else " is significant but small" if r.significant else " is not significant"
    return f"{what}{state}: {effect} (threshold {limit}, adjusted p = {_p(r.adjusted_p)})"


def _verdict(
    kind: Kind, tests: Mapping[str, StatResult], details: Mapping[str, Any], new_rows: int
) -> tuple[bool, str]:
    parts: list[tuple[bool, str]] = []
    if kind == "numeric":
        ks, welch = tests["ks"], tests["welch"]
        tol = details.get("ks_tolerance", 0.0)
        allowed = f" after allowing {tol:.3f} for sketch error" if tol else ""
        for what, effect, r in (
            ("distribution change (KS)", f"D = {ks.effect:.3f}{allowed}", ks),
            ("mean shift (Welch)", f"{welch.effect:+.2f} reference std", welch),
        ):
            fired = bool(r.significant) and r.exceeds
            parts.append((fired, _clause(what, effect, fired, r, f"{r.threshold:g}")))
        # A change of spread alone moves the CDF little; KS says it is real, the IQR how big.
        spread = tests["spread"]
        fired = bool(ks.significant) and spread.exceeds
        ratio = f"spread (IQR) x{spread.statistic:.2f} (threshold x{spread.threshold:g} either way)"
        parts.append((fired, f"spread change: {ratio}" + ("" if fired else ", within bounds")))
    else:
        chi2, js, new = tests["chi2"], tests["js"], tests["new_categories"]
        fired = bool(chi2.significant) and (chi2.exceeds or js.exceeds)
        effect = f"Cramér's V = {chi2.effect:.3f}, JS = {js.effect:.3f}"
        limit = f"{chi2.threshold:g} / {js.threshold:g}"
        parts.append(
            (fired, _clause("category mix change (chi-square)", effect, fired, chi2, limit))
        )
        names = ", ".join(details.get("new_categories", [])[:3]) or "none"
        rows = int(details.get("n_new_rows", 0))
        limit = f"thresholds {new.threshold:.1%} and {new_rows:,} rows"
        share = f"{new.effect:.1%} of current rows, {rows:,} rows ({limit})"
        parts.append((new.exceeds and rows >= new_rows, f"new categories take {share}: {names}"))
    hits = [text for hit, text in parts if hit]
    if hits:
        return True, "Drifted: " + "; ".join(hits) + "."
    return False, "No drift: " + "; ".join(text for _, text in parts) + "."
