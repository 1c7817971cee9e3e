"""The entry point: check the input, run every leakage check, assemble the report."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from shipyard.data.leakage.duplicates import NEAR_METHOD, duplicate_findings
from shipyard.data.leakage.full_model import full_model_score
from shipyard.data.leakage.proxies import feature_scores, known_after_findings
from shipyard.data.leakage.proxy_rules import proxy_findings
from shipyard.data.leakage.report import (
    SEVERITIES,
    LeakageReport,
    LeakageThresholds,
    ModelScore,
)
from shipyard.data.leakage.temporal import shared_group_findings, time_overlap_findings
from shipyard.errors import InvalidInput

_METHODS = {
    "exact_duplicates": "64-bit hashes of the feature values; rows whose hash occurs in two "
    "sets are confirmed by comparing values, so hash collisions cannot produce findings. "
    "Equal features and the same event (same id or same time; without a time column, every "
    "equal row): a copy, exact with the same target, conflicting with another. Equal "
    "features, other id and other time: equal_features, judged by its share of the set.",
    "time_overlap": "Training rows later than the first row of an evaluation set; with "
    "windows, only window sets must follow training (error), others are info.",
    "target_proxy": "Univariate score of each feature on the validation set: ROC AUC "
    "(binary target; numbers the better of raw max(auc, 1 - auc) and their training bins' "
    "positive rates, categories by their training positive rate), majority-class accuracy "
    "(multi-class; flagged only above the commonest-class baseline) or |Spearman| (numeric "
    "target). Judged absolutely (proxy_error, proxy_warning) and against a quick gradient "
    "boosting model on all features but the known-after ones, fitted on at most 50,000 "
    "training rows and scored the same way (proxy_margin), and against the second-best "
    "feature (proxy_gap); the relative rules only above proxy_floor.",
    "nulls": "Null features are equal to each other in duplicate checks; null groups and "
    "times are ignored; rows with a null target are not scored; a numeric feature's nulls "
    "are ranked lowest and highest and the higher AUC counts.",
}


@dataclass(frozen=True)
class _Plan:
    evaluation: list[str]
    windows: list[str]
    validation: str | None
    checked: list[str]
    features: list[str]
    id_columns: list[str]


def leakage_report(
    sets: Mapping[str, pd.DataFrame],
    *,
    target: str | None = None,
    id_columns: Sequence[str] = (),
    time_column: str | None = None,
    group_column: str | None = None,
    feature_columns: Sequence[str] | None = None,
    known_after: Sequence[str] = (),
    training_set: str = "training",
    evaluation_sets: Sequence[str] | None = None,
    validation_set: str = "validation",
    windows: Sequence[str] = (),
    thresholds: LeakageThresholds | None = None,
    expected_strong: Mapping[str, str] | None = None,
    grouped_by_split: bool = False,
    max_examples: int = 5,
) -> LeakageReport:
    """Check already split ``sets`` for leakage between training and evaluation.

    Features default to every column of the training set but the id, time, group
    and target columns. Evaluation sets default to all sets but training; the
    target-proxy scores need a set named ``validation_set`` (skipped otherwise, as
    noted in ``report.skipped``). ``windows`` names the sets that must come after
    training in time (default: all evaluation sets, when ``time_column`` is given).
    ``expected_strong`` maps a feature known to be strong for a good reason to that
    reason: a target-proxy rule it trips gives an info finding quoting it.
    ``grouped_by_split`` says the split kept each ``group_column`` value in one set
    (time windows apart): groups shared with a window are then info.

    >>> train = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [0, 1, 0, 1]})
    >>> test = pd.DataFrame({"x": [4.0, 9.0], "y": [1, 0]})
    >>> report = leakage_report({"training": train, "testing": test}, target="y")
    >>> [(f.kind, f.severity, f.sets, f.rows) for f in report.findings]
    [('exact_duplicates', 'error', ('training', 'testing'), 1)]

    Raises:
        InvalidInput: no sets, an unknown set name, a named column missing from a
            set, a time column that is not a datetime, bad thresholds, an
            ``expected_strong`` column that is not a feature, is declared known after
            the event, or has no reason.
    """
    limits = LeakageThresholds() if thresholds is None else thresholds
    if not isinstance(limits, LeakageThresholds):
        raise InvalidInput("thresholds must be a LeakageThresholds.")
    if isinstance(max_examples, bool) or not isinstance(max_examples, int) or max_examples < 0:
        raise InvalidInput(f"max_examples must be a whole number >= 0, not {max_examples!r}.")
    plan = _plan(
        sets, target=target, id_columns=id_columns, time_column=time_column,
        group_column=group_column, feature_columns=feature_columns,
        training_set=training_set, evaluation_sets=evaluation_sets,
        validation_set=validation_set, windows=windows,
    )  # fmt: skip
    declared = _names(known_after)
    expected = _expected(expected_strong, plan.features, declared)
    evaluation = plan.evaluation
    pairs = [(training_set, e) for e in evaluation] + [
        (a, b) for i, a in enumerate(evaluation) for b in evaluation[i + 1 :]
    ]
    findings = duplicate_findings(
        sets, pairs=pairs, training=training_set, features=plan.features, target=target,
        id_columns=plan.id_columns, time_column=time_column, decimals=limits.near_decimals,
        max_equal_share=limits.max_equal_feature_share, max_examples=max_examples,
    )  # fmt: skip
    if group_column is not None:
        findings += shared_group_findings(
            sets, pairs=pairs, training=training_set, group_column=group_column,
            max_examples=max_examples, windows=plan.windows, grouped_by_split=grouped_by_split,
        )  # fmt: skip
    if time_column is not None:
        findings += time_overlap_findings(
            sets, training=training_set, evaluation=evaluation, windows=plan.windows,
            time_column=time_column, id_columns=plan.id_columns, max_examples=max_examples,
        )  # fmt: skip
    skipped = []
    scores = []
    model: ModelScore | None = None
    if target is None:
        skipped.append("target_proxy: no target given")
    elif plan.validation is None:
        skipped.append(f"target_proxy: no set named {validation_set!r} to score features on")
    else:
        scores = feature_scores(
            sets[training_set], sets[plan.validation], features=plan.features, target=target
        )
        if not scores:
            skipped.append(f"target_proxy: {target!r} has fewer than two values")
        # The yardstick of the relative rules: every feature the model may use.
        usable = [f for f in plan.features if f not in declared]
        if scores and len(usable) < 2:
            skipped.append("full model: the relative proxy rules need two usable features")
        elif scores:
            model, why = full_model_score(
                sets[training_set], sets[plan.validation], features=usable, target=target
            )
            if why is not None:
                skipped.append(f"full model: {why}")
    sizes = {name: len(sets[name]) for name in plan.checked}
    findings += known_after_findings(
        features=plan.features, known_after=declared, sets=sizes, scores=scores
    )
    if target is not None and plan.validation is not None:
        findings += proxy_findings(
            scores, full_model=model, thresholds=limits, target=target,
            validation=plan.validation, known_after=declared, expected_strong=expected,
        )  # fmt: skip
    findings.sort(key=lambda f: SEVERITIES.index(f.severity))  # stable: check order kept
    settings: dict[str, Any] = {
        "target": target, "training_set": training_set, "evaluation_sets": evaluation,
        "validation_set": plan.validation, "windows": plan.windows,
        "feature_columns": plan.features, "id_columns": plan.id_columns,
        "time_column": time_column, "group_column": group_column,
        "known_after": declared, "expected_strong": expected,
        "grouped_by_split": grouped_by_split, "thresholds": dataclasses.asdict(limits),
        "max_examples": max_examples,
    }  # fmt: skip
    methods = dict(_METHODS)
    step = f"{10.0**-limits.near_decimals:g}"
    methods["near_duplicates"] = NEAR_METHOD.format(decimals=limits.near_decimals, step=step)
    return LeakageReport(
        findings=tuple(findings), feature_scores=tuple(scores), full_model=model, sets=sizes,
        settings=settings, methods=methods, skipped=tuple(skipped),
    )  # fmt: skip


def _names(value: str | Iterable[str] | None) -> list[str]:
    """A list of column or set names; one bare string is one name, not its letters."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(dict.fromkeys(value))


def _expected(
    value: Mapping[str, str] | None, features: Sequence[str], known_after: Sequence[str]
) -> dict[str, str]:
    """The checked ``expected_strong`` declarations: feature -> reason."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(
            f"expected_strong must map a column to the reason it is strong, not "
            f"{type(value).__name__}.",
            hint='For example {"hr": "rentals follow the hour of the day"}.',
        )
    unknown = [c for c in value if c not in features]
    if unknown:
        raise InvalidInput(
            f"expected_strong names column(s) that are not features: {_listing(unknown)}.",
            hint=f"The features are {_listing(features)}.",
        )
    late = [c for c in value if c in known_after]
    if late:
        raise InvalidInput(
            f"Column(s) {_listing(late)} are declared both known after the event and "
            "expected to be strong.",
            hint="A column known only after the event is a leak however good the reason: "
            "remove it from expected_strong.",
        )
    blank = [c for c, why in value.items() if not isinstance(why, str) or not why.strip()]
    if blank:
        raise InvalidInput(
            f"expected_strong needs a reason for {_listing(blank)}.",
            hint="Say why the column is legitimately strong; the report quotes it.",
        )
    return {str(c): str(why).strip() for c, why in value.items()}


def _listing(names: Iterable[object], limit: int = 30) -> str:
    shown = [repr(n) for n in names]
    return ", ".join(shown[:limit]) + (
        f" and {len(shown) - limit} more" if len(shown) > limit else ""
    )


def _plan(
    sets: Mapping[str, pd.DataFrame],
    *,
    target: str | None,
    id_columns: Sequence[str],
    time_column: str | None,
    group_column: str | None,
    feature_columns: Sequence[str] | None,
    training_set: str,
    evaluation_sets: Sequence[str] | None,
    validation_set: str,
    windows: Sequence[str],
) -> _Plan:
    """Validate the input and settle which sets and columns each check uses."""
    if not isinstance(sets, Mapping) or not sets:
        raise InvalidInput(
            "leakage_report needs at least two sets, as a mapping of name to DataFrame.",
            hint="For example {'training': train_df, 'validation': valid_df}.",
        )
    for name, frame in sets.items():
        if not isinstance(frame, pd.DataFrame):
            raise InvalidInput(f"Set {name!r} is a {type(frame).__name__}, not a DataFrame.")
        if frame.columns.has_duplicates:
            dupes = frame.columns[frame.columns.duplicated()].unique()
            raise InvalidInput(f"Set {name!r} has repeated column names: {_listing(dupes)}.")
    if training_set not in sets:
        raise InvalidInput(
            f"Unknown training set {training_set!r}.",
            hint=f"The sets are {_listing(sets)}; name the one trained on with training_set=.",
        )
    if evaluation_sets is None:
        evaluation = [n for n in sets if n != training_set]
    else:
        evaluation = _names(evaluation_sets)
        unknown = [n for n in evaluation if n not in sets]
        if unknown:
            raise InvalidInput(
                f"Unknown evaluation set(s) {_listing(unknown)}.",
                hint=f"The sets are {_listing(sets)}.",
            )
        if training_set in evaluation:
            raise InvalidInput(f"{training_set!r} cannot be both training and evaluation set.")
    if not evaluation:
        raise InvalidInput(
            f"Nothing to compare the training set {training_set!r} with.",
            hint="Pass the validation and test sets too.",
        )
    window_sets = _names(windows)
    stray = [w for w in window_sets if w not in evaluation]
    if stray:
        raise InvalidInput(
            f"Window set(s) {_listing(stray)} are not evaluation sets.",
            hint=f"The evaluation sets are {_listing(evaluation)}.",
        )
    validation = (
        validation_set if validation_set in sets and validation_set != training_set else None
    )
    checked = [training_set, *evaluation]
    if validation is not None and validation not in checked:
        checked.append(validation)
    ids = _names(id_columns)
    roles: dict[str, str] = {c: "id column" for c in ids}
    for column, role in ((time_column, "time column"), (group_column, "group column"),
                         (target, "target")):  # fmt: skip
        if column is not None:
            roles[column] = role
    if feature_columns is None:
        features = [c for c in sets[training_set].columns if c not in roles]
    else:
        features = _names(feature_columns)
        if target is not None and target in features:
            raise InvalidInput(
                f"The target {target!r} is listed among feature_columns.",
                hint="Remove it: the target always predicts itself.",
            )
    if not features:
        raise InvalidInput(
            "No feature columns left to check.",
            hint="Pass feature_columns=, or check id_columns, time, group and target.",
        )
    wanted = {**roles, **{c: roles.get(c, "feature") for c in features}}
    for name in checked:
        frame = sets[name]
        for column, role in wanted.items():
            if column not in frame.columns:
                raise InvalidInput(
                    f"Set {name!r} has no column {column!r} (the {role}).",
                    hint=f"Its columns are: {_listing(frame.columns)}.",
                )
    if time_column is not None:
        aware = set()
        for name in checked:
            times = sets[name][time_column]
            if not pd.api.types.is_datetime64_any_dtype(times):
                raise InvalidInput(
                    f"Time column {time_column!r} of set {name!r} is {times.dtype}, not a "
                    "datetime.",
                    hint=f"Convert it first: frame[{time_column!r}] = "
                    f"pd.to_datetime(frame[{time_column!r}], utc=True).",
                )
            aware.add(getattr(times.dt, "tz", None) is not None)
        if len(aware) > 1:
            raise InvalidInput(
                f"Time column {time_column!r} is timezone-aware in some sets and naive in others.",
                hint="Make it timezone-aware UTC everywhere.",
            )
    return _Plan(evaluation, window_sets, validation, checked, features, ids)
