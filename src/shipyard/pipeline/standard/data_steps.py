"""The standard pipeline's data steps: what to train on, checked, joined in time, split, leak-free.

Every step reads the configuration (a pipeline parameter) and acts through
``context.workspace`` as the ``pipeline`` principal. ``resolve_inputs`` is never
cached: it pins the versions the run uses (dataset, feature views, production
model), so every later step is cached exactly when those did not change.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from shipyard.errors import GateFailed, InvalidInput, NotFound
from shipyard.lineage import Lineage
from shipyard.pipeline.step import StepContext, step

LEAK_KINDS = ("known_after_event", "target_proxy")


@step(outputs=("inputs", "production"), cache=False)
def resolve_inputs(
    config: dict[str, Any], context: StepContext
) -> tuple[dict[str, Any], int | None]:
    """Pin the dataset version, apply the feature definitions, note the production model."""
    ws = context.workspace
    dataset = ws.datasets.get(config["dataset"])
    features = config.get("features") or {}
    views: dict[str, int] = {}
    view_datasets: list[str] = []  # pinned too: a new weather version must retrain
    if features.get("definitions"):
        for applied in ws.features.apply(features["definitions"]):
            context.logger.info("features: %s %s", applied.ref, applied.status)
    if features:
        for resolved in ws.features.resolve(_wanted(features), action="features:ReadOffline"):
            views[resolved.view.name] = resolved.version
            view_datasets.extend(str(d) for d in resolved.datasets)
    try:
        production: int | None = ws.models.get(config["model"], alias="production").version
    except NotFound:
        production = None
    inputs = {"dataset": str(dataset.ref), "views": views, "view_datasets": view_datasets}
    return inputs, production


@step(outputs=("data_checks",))
def check_data(
    inputs: dict[str, Any], config: dict[str, Any], context: StepContext
) -> dict[str, Any]:
    """Check the dataset against the configured baseline; a failed check stops the build."""
    checks = config.get("checks")
    if not checks:
        return {"skipped": "no checks configured"}
    report = context.workspace.quality.check(inputs["dataset"], baseline=checks["baseline"])
    tolerated = set(checks.get("warn", []))
    failures = [r for r in report.failures if r.check not in tolerated]
    for result in report.failures:
        context.logger.info("data check %s on %s: %s", result.check, result.column, result.why)
    if failures:
        raise GateFailed(
            f"{len(failures)} data check(s) failed on {inputs['dataset']}: "
            + "; ".join(f"{r.check} on {r.column}: {r.why}" for r in failures[:5]),
            hint="Fix the data or, if the change is expected, make a new baseline.",
        )
    return report.to_dict()


@step(outputs=("training_set",))
def training_set(
    inputs: dict[str, Any], config: dict[str, Any], context: StepContext
) -> dict[str, Any]:
    """Entity rows joined with their features as of each row's time, stored as a dataset."""
    ws = context.workspace
    rows = ws.datasets.load(inputs["dataset"])
    features = config.get("features") or {}
    joined_columns: list[str] = []
    if features:
        before = set(rows.columns)
        joined = ws.features.get_historical(
            rows,
            _wanted(features),
            timestamp_column=features.get("timestamp_column", "event_timestamp"),
        )
        assert isinstance(joined, pd.DataFrame)
        rows = joined
        joined_columns = [c for c in rows.columns if c not in before]
    source = ws.datasets.get(inputs["dataset"])
    known_after = _declared_known_after(ws, source, features, config)
    version = ws.datasets.register(
        f"{config['model']}-training",
        rows,
        time_column=source.time_column,
        id_columns=source.id_columns,
        target=config["target"],
        known_after=sorted(c for c in known_after if c in rows.columns),
        description=f"{inputs['dataset']} joined with {sorted(inputs['views'])} at each row's time",
    )
    ws.metadata.put_lineage(
        version.ref,
        Lineage(
            datasets=(inputs["dataset"], *inputs["view_datasets"]),
            features=tuple(f"feature_view:{v}@{n}" for v, n in sorted(inputs["views"].items())),
            build_id=context.build_id,
        ),
    )
    context.logger.info("training set %s: %d rows", version.ref, len(rows))
    return {
        "dataset": str(version.ref),
        "joined": joined_columns,
        "rows": len(rows),
        "known_after": known_after,
    }


def _declared_known_after(
    ws: Any, source: Any, features: dict[str, Any], config: dict[str, Any]
) -> dict[str, str]:
    """Every column declared known only after the event, with where it was declared: on the
    dataset, on the datasets the feature views read (as ``VIEW__FEATURE``), in pipeline.yaml.
    Declarations flow into every derived table; the YAML can add to them, never remove."""
    declared = {c: f"declared known-after on {source.ref}" for c in source.known_after}
    if features:
        for resolved in ws.features.resolve(_wanted(features), action="features:ReadOffline"):
            for ref in resolved.datasets:
                later = set(ws.datasets.get(str(ref)).known_after)
                for feature in resolved.source.features:
                    if feature in later:
                        where = f"{ref} (view {resolved.view.name})"
                        declared[resolved.source.output_name(feature)] = (
                            f"declared known-after on {where}"
                        )
    for column in config.get("known_after", []):
        declared.setdefault(column, "declared known-after in pipeline.yaml")
    return declared


@step(outputs=("split",))
def split_and_check(
    training_set: dict[str, Any], config: dict[str, Any], context: StepContext
) -> dict[str, Any]:
    """Split by the plan; features the leakage check flags are refused and the run goes on.

    ``leakage`` in the YAML sets the check's thresholds, ``expected_strong`` the features
    known to be strong for a good reason (reported as info, kept)."""
    from shipyard.data.leakage import LeakageThresholds

    ws = context.workspace
    split = ws.splits.create(training_set["dataset"], dict(config["split"]), name=config["model"])
    report = ws.splits.leakage_report(
        split,
        thresholds=LeakageThresholds(**(config.get("leakage") or {})),
        expected_strong=config.get("expected_strong") or {},
    )
    offered = [
        *config.get("columns", []),
        *config.get("candidate_columns", []),
        *training_set["joined"],
    ]
    # A declared known-after column is refused whatever the YAML offers or the check finds.
    refused: dict[str, str] = {
        column: why
        for column, why in training_set.get("known_after", {}).items()
        if column in offered
    }
    for finding in report.findings:
        if finding.severity == "error" and finding.kind in LEAK_KINDS and finding.columns:
            column = finding.columns[0]
            if column in offered:
                refused.setdefault(column, finding.message)
    others = [
        f for f in report.findings
        if f.severity == "error" and f.kind not in LEAK_KINDS
    ]  # fmt: skip
    if others:
        raise GateFailed(
            f"The leakage check failed on {split.ref}: " + "; ".join(f.message for f in others[:3]),
            hint="Each finding says what fixes it: the data, the split plan (dedupe, group, "
            "windows), or a threshold under leakage: in pipeline.yaml.",
        )
    for column, why in refused.items():
        context.logger.info("leakage check refused feature %s: %s", column, why)
    kept = list(dict.fromkeys(c for c in offered if c not in refused))
    if not kept:
        raise InvalidInput(
            "Every feature was refused by the leakage check; nothing is left to train on."
        )
    return {
        "split": str(split.ref),
        "features": kept,
        "refused": refused,
        "slices": dict(split.plan.get("slices") or {}),
        "counts": dict(split.counts),
        "leakage": report.to_dict(),
    }


def _wanted(features: dict[str, Any]) -> str | list[str]:
    """The feature service's name, or the list of VIEW/FEATURE names."""
    return str(features["service"]) if features.get("service") else list(features["features"])
