"""From scores to findings: when one feature predicting the target alone is a leak.

Each feature's univariate score on validation (see ``proxies``) is judged by three
rules (settings in :class:`~shipyard.data.leakage.report.LeakageThresholds`):

* absolute: at least ``proxy_error`` is an error, at least ``proxy_warning`` a warning;
* near the full model: within ``proxy_margin`` of a quick model on all the features
  (``full_model``), or above it, is an error;
* far above the others: the best feature leading the second best by ``proxy_gap``
  or more is an error.

An absolute threshold alone misses a leak on a hard problem, where a leak reaches
0.94 and honest features 0.6; the relative rules catch it. They judge only
features scoring at least ``proxy_floor`` and above chance (0.5 for ROC AUC, 0 for
|Spearman|, the commonest-class accuracy for accuracy), and only when at least two
features are candidates. Columns declared ``known_after`` are not candidates: they
are an error of their own and are left out of the full model, so a declared leak
cannot hide an undeclared one by raising the bar. A multi-class accuracy at or
below the commonest-class baseline is never flagged.

A feature declared in ``expected_strong`` (column -> reason) is known to be strong
for a good reason: whatever rule it trips gives an info finding quoting the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shipyard.data.leakage.proxies import METRIC_NAMES
from shipyard.data.leakage.report import (
    FeatureScore,
    Finding,
    LeakageThresholds,
    ModelScore,
    Severity,
)

_CHANCE = {"roc_auc": 0.5, "spearman": 0.0}


def proxy_findings(
    scores: Sequence[FeatureScore],
    *,
    full_model: ModelScore | None,
    thresholds: LeakageThresholds,
    target: str,
    validation: str,
    known_after: Sequence[str] = (),
    expected_strong: Mapping[str, str] | None = None,
) -> list[Finding]:
    """A finding per feature that trips a rule, best score first.

    >>> s = [FeatureScore("hr", "roc_auc", 0.91, 100, "numeric"),
    ...      FeatureScore("temp", "roc_auc", 0.70, 100, "numeric")]
    >>> found = proxy_findings(s, full_model=None, thresholds=LeakageThresholds(),
    ...                        target="busy", validation="validation")
    >>> [(f.columns[0], f.severity, f.details["rules"]) for f in found]
    [('hr', 'error', ['far_above_others'])]
    """
    expected = dict(expected_strong or {})
    limits = thresholds
    late = set(known_after)
    candidates = sorted(
        (s for s in scores if s.score is not None and s.feature not in late),
        key=lambda s: -_above_chance(s),
    )
    relative = len(candidates) >= 2
    best, second = (candidates[0], candidates[1]) if relative else (None, None)
    model = full_model.score if full_model is not None else None
    findings = []
    for s in sorted(scores, key=lambda s: -(s.score or 0.0)):
        if s.score is None or (s.baseline is not None and s.score <= s.baseline):
            continue
        severity: Severity | None = None
        rules: list[str] = []
        parts: list[str] = []
        details: dict[str, Any] = {"metric": s.metric, "score": s.score, "threshold": None,
                                   "baseline": s.baseline}  # fmt: skip
        if s.score >= limits.proxy_error:
            severity, details["threshold"] = "error", limits.proxy_error
        elif s.score >= limits.proxy_warning:
            severity, details["threshold"] = "warning", limits.proxy_warning
        if severity is not None:
            rules.append("absolute")
            parts.append(f"at least the absolute threshold {details['threshold']}")
        judged = relative and s.feature not in late and s.score >= limits.proxy_floor
        if judged and model is not None and s.score >= model - limits.proxy_margin:
            assert full_model is not None
            severity = "error"
            rules.append("near_full_model")
            details |= {"full_model": model, "margin": limits.proxy_margin}
            how = "better than" if s.score > model else f"within {limits.proxy_margin} of"
            parts.append(f"{how} a quick model on all {full_model.features} features ({model:.3f})")
        if judged and s is best and second is not None:
            lead = _above_chance(s) - _above_chance(second)
            if lead >= limits.proxy_gap:
                severity = "error"
                rules.append("far_above_others")
                details |= {"gap": lead, "next_best": {"feature": second.feature,
                                                       "score": second.score}}  # fmt: skip
                parts.append(
                    f"{lead:.3f} above the next best feature '{second.feature}' "
                    f"({second.score:.3f})"
                )
        if severity is None:
            continue
        details["rules"] = rules
        metric = METRIC_NAMES[s.metric]
        head = (
            f"'{s.feature}' alone predicts '{target}' on '{validation}' with {metric} "
            f"{s.score:.3f}: {'; '.join(parts)}."
        )
        reason = expected.get(s.feature)
        details["expected_strong"] = reason
        if reason is not None:
            severity = "info"
            message = f'{head} Declared expected to be strong: "{reason}". Kept as a feature.'
        else:
            message = f"{head} {_fix(s.feature)}"
        findings.append(
            Finding(
                "target_proxy", severity, (validation,), (s.feature, target), s.rows, message,
                (), details,
            )
        )  # fmt: skip
    return findings


def _above_chance(score: FeatureScore) -> float:
    """The score, or chance when it is lower (a feature cannot do worse than no feature)."""
    chance = score.baseline if score.baseline is not None else _CHANCE.get(score.metric, 0.0)
    return max(score.score or 0.0, chance)


def _fix(feature: str) -> str:
    return (
        "One feature that good usually carries the answer: it is computed from the target, "
        "recorded after the event, or a copy of the label. Fix: check how "
        f"'{feature}' is produced; if it is not known at prediction time, drop it (or declare "
        "it known_after). If it is a legitimate strong feature, declare it with the reason: "
        f'expected_strong: {{{feature}: "why"}} in pipeline.yaml, or '
        f"leakage_report(..., expected_strong={{'{feature}': 'why'}})."
    )
