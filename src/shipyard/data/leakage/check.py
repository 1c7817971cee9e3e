"""The entry point: check the input, run every leakage check, assemble the report."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from shipyard.data.leakage.duplicates import NEAR_METHOD, duplicate_findings
from shipyard.data.leakage.proxies import (
    feature_scores,
    known_after_findings,
    proxy_findings,
)
from shipyard.data.leakage.report import SEVERITIES, LeakageReport, LeakageThresholds
from shipyard.data.leakage.temporal import shared_group_findings, time_overlap_findings
from shipyard.errors import InvalidInput

_METHODS = {
    "exact_duplicates": "64-bit hashes of the feature values; rows whose hash occurs in two "
    "sets are confirmed by comparing values, so hash collisions cannot produce findings. "
    "Same features and target: exact duplicate; same features, other target: conflicting.",
    "time_overlap": "Training rows later than the first row of an evaluation set; with "
    "windows, only window sets must follow training (error), others are info.",
    "target_proxy": "Univariate score of each feature on the validation set: ROC AUC "
    "(binary target; numbers raw with max(auc, 1 - auc), categories by their training "
    "positive rate), majority-class accuracy (multi-class; flagged only above the "
    "commonest-class baseline) or |Spearman| (numeric target).",
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
    max_examples: int = 5,
) -> LeakageReport:
    """Check already split ``sets`` for leakage between training and evaluation.

    Features default to every column of the training set but the id, time, group
    and target columns. Evaluation sets default to all sets but training; the
    target-proxy scores need a set named ``validation_set`` (skipped otherwise, as
    noted in ``report.skipped``). ``windows`` names the sets that must come after
    training in time (default: all evaluation sets, when ``time_column`` is given).

    >>> train = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [0, 1, 0, 1]})
    >>> test = pd.DataFrame({"x": [4.0, 9.0], "y": [1, 0]})
    >>> report = leakage_report({"training": train, "testing": test}, target="y")
    >>> [(f.kind, f.severity, f.sets, f.rows) for f in report.findings]
    [('exact_duplicates', 'error', ('training', 'testing'), 1)]

    Raises:
        InvalidInput: no sets, an unknown set name, a named column missing from a
            set, a time column that is not a datetime, bad thresholds.
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
    evaluation = plan.evaluation
    pairs = [(training_set, e) for e in evaluation] + [
        (a, b) for i, a in enumerate(evaluation) for b in evaluation[i + 1 :]
    ]
    findings = duplicate_findings(
        sets, pairs=pairs, training=training_set, features=plan.features, target=target,
        id_columns=plan.id_columns, decimals=limits.near_decimals, max_examples=max_examples,
    )  # fmt: skip
    if group_column is not None:
        findings += shared_group_findings(
            sets, pairs=pairs, training=training_set, group_column=group_column,
            max_examples=max_examples,
        )  # fmt: skip
    if time_column is not None:
        findings += time_overlap_findings(
            sets, training=training_set, evaluation=evaluation, windows=plan.windows,
            time_column=time_column, id_columns=plan.id_columns, max_examples=max_examples,
        )  # fmt: skip
    skipped = []
    scores = []
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
    sizes = {name: len(sets[name]) for name in plan.checked}
    findings += known_after_findings(
        features=plan.features, known_after=_names(known_after), sets=sizes, scores=scores
    )
    if target is not None and plan.validation is not None:
        findings += proxy_findings(
            scores, thresholds=limits, target=target, validation=plan.validation
        )
    findings.sort(key=lambda f: SEVERITIES.index(f.severity))  # stable: check order kept
    settings: dict[str, Any] = {
        "target": target, "training_set": training_set, "evaluation_sets": evaluation,
        "validation_set": plan.validation, "windows": plan.windows,
        "feature_columns": plan.features, "id_columns": plan.id_columns,
        "time_column": time_column, "group_column": group_column,
        "known_after": _names(known_after), "thresholds": dataclasses.asdict(limits),
        "max_examples": max_examples,
    }  # fmt: skip
    methods = dict(_METHODS)
    step = f"{10.0**-limits.near_decimals:g}"
    methods["near_duplicates"] = NEAR_METHOD.format(decimals=limits.near_decimals, step=step)
    return LeakageReport(
        findings=tuple(findings), feature_scores=tuple(scores), sets=sizes,
        settings=settings, methods=methods, skipped=tuple(skipped),
    )  # fmt: skip


def _names(value: str | Iterable[str] | None) -> list[str]:
    """A list of column or set names; one bare string is one name, not its letters."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(dict.fromkeys(value))


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
