"""The standard pipeline's model steps: train, evaluate, gate, register, monitoring baseline.

The gate compares the candidate with the version the ``production`` alias
points to, or with the baseline experiment when there is none yet, on the
split's validation set and every slice of the plan. Registration records the
full lineage (data, features, split, run, code, build) and moves the
configured aliases, as the ``pipeline`` principal: the only one that may move
``production``.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shipyard.errors import GateFailed
from shipyard.pipeline.standard.config import EXPERIMENT_TYPES
from shipyard.pipeline.step import StepContext, step


def _experiments(config: dict[str, Any]) -> list[Any]:
    import shipyard.training as training

    made = []
    for spec in config.get("experiments") or [{"type": "logistic"}]:
        cls = getattr(training, EXPERIMENT_TYPES[spec["type"]])
        params = dict(spec.get("params") or {})
        if spec.get("name"):
            params["name"] = spec["name"]
        made.append(cls(**params))
    return made


@step(outputs=("training", "candidate", "candidate_result", "reference_model"))
def train(split: dict[str, Any], config: dict[str, Any], context: StepContext) -> tuple[Any, ...]:
    """Run the baseline and the configured experiments; pick the best on validation."""
    ws = context.workspace
    report = ws.training.run(
        split["split"],
        _experiments(config),
        experiment_name=config["model"],
        features=split["features"],
        target=config["target"],
        task=config.get("task", "classification"),
        seed=int(config.get("seed", 0)),
        **({"primary_metric": config["metric"]} if config.get("metric") else {}),
    )
    contender = report.best_contender
    if contender is None:
        failed = "; ".join(r.name for r in report.failed) or "none configured"
        raise GateFailed(
            f"No experiment other than the baseline trained (failed: {failed}); the baseline "
            "is the yardstick, never a candidate for production.",
            hint="Fix the failing experiments or add one under 'experiments' in pipeline.yaml.",
        )
    best = report.result(contender)
    baseline = report.result(report.baseline)
    summary = {
        "best": contender,
        "baseline": report.baseline,
        "metric": report.primary_metric,
        "run": str(report.run_ids.get(contender)),
        "runs": {k: str(v) for k, v in report.run_ids.items()},
        "metrics": {r.name: r.metrics for r in report.results if r.ok},
        "comparisons": [c.to_dict() for c in report.comparisons],
        "failed": [r.name for r in report.failed],
    }
    context.logger.info("best on validation (baseline excluded): %s", contender)
    return summary, best.model, best, baseline.model


@step(outputs=("evaluation",))
def evaluate(
    candidate_result: Any, split: dict[str, Any], config: dict[str, Any], context: StepContext
) -> dict[str, Any]:
    """The candidate on testing, recent_testing (and any set named), overall and per slice."""
    from shipyard.training import analyze_errors

    data = context.workspace.training.data(
        split["split"], features=split["features"], target=config["target"],
        task=config.get("task", "classification"),
    )  # fmt: skip
    found: dict[str, Any] = {}
    for set_name in config.get("evaluate", []):
        if set_name not in data.sets:
            context.logger.info("no set %s in the split; not evaluated", set_name)
            continue
        analysis = analyze_errors(candidate_result, data, set_name, metric=config.get("metric"))
        found[set_name] = analysis.to_dict()
    return found


@step(outputs=("gate_report",))
def gate(
    candidate: Any,
    reference_model: Any,
    training: dict[str, Any],
    production: int | None,
    split: dict[str, Any],
    config: dict[str, Any],
    context: StepContext,
) -> dict[str, Any]:
    """Candidate against production (or the baseline) on the fixed validation set and slices."""
    from shipyard.registry.gate import Thresholds
    from shipyard.registry.gate import gate as judge

    ws = context.workspace
    settings = dict(config.get("gate") or {})
    reference, name, rule = reference_model, f"baseline ({training['baseline']})", "beats_baseline"
    fixed = split["split"]
    if production is not None:
        lineage = ws.models.get(config["model"], version=production).lineage
        if lineage.get("run") == training["run"]:
            # Production is this very candidate (an unchanged rerun): nothing to compare.
            return {
                "candidate": training["best"],
                "reference": f"model:{config['model']}@{production}",
                "rule": "not_worse",
                "passed": True,
                "failures": [],
                "checks": [],
                "limits": [],
                "notes": ["the candidate is the production model itself"],
            }
        reference = ws.models.load(config["model"], version=production)
        name, rule = f"model:{config['model']}@{production} (production)", "not_worse"
        fixed = _fixed_split(ws, lineage.get("split"), split, context) or fixed
    validation = ws.splits.sets(fixed)["validation"]
    metrics = settings.pop("metrics", None) or [config.get("metric") or "roc_auc"]
    n_bootstrap = int(settings.pop("n_bootstrap", 1000))
    report = judge(
        candidate, reference, validation, target=config["target"], features=split["features"],
        metrics=metrics, task=config.get("task", "classification"),
        positive_label=config.get("positive_label", True), slices=split["slices"],
        thresholds=Thresholds(**settings), names=(f"candidate ({training['best']})", name),
        n_bootstrap=n_bootstrap, set_name=f"validation of {fixed}", rule=rule,
        model_bytes=len(pickle.dumps(candidate)) if settings.get("max_model_bytes") else None,
        seed=int(config.get("seed", 0)),
    )  # fmt: skip
    context.logger.info("gate: %s", "passed" if report.passed else "; ".join(report.failures))
    report.raise_for_failure()
    return report.to_dict()


@step(outputs=("model_version",))
def register(
    candidate: Any,
    gate_report: dict[str, Any],
    evaluation: dict[str, Any],
    training: dict[str, Any],
    split: dict[str, Any],
    training_set: dict[str, Any],
    inputs: dict[str, Any],
    production: int | None,
    config: dict[str, Any],
    rollout: dict[str, Any],
    context: StepContext,
) -> dict[str, Any]:
    """Register the candidate with its lineage and reports and move the configured aliases,
    as one transaction. ``production`` moves only if it still points where the gate saw it:
    if another run moved it meanwhile, nothing is registered and the run stops (a rerun
    gates against the new production)."""
    ws = context.workspace
    aliases = list(config.get("aliases", []))
    if rollout:  # production moves with the deployment, once it is promoted
        aliases = [a for a in aliases if a != "production"]
    expected = {"production": production} if "production" in aliases else {}
    existing = _registered(ws, config["model"], training["run"])
    if existing is not None:  # the same training run was registered already: reuse it
        context.logger.info("model:%s@%d holds this run already", config["model"], existing)
        with _gated_against(config["model"], production), ws.metadata.transaction():
            for alias in aliases:
                if alias in expected:
                    ws.models.set_alias(config["model"], alias, existing, expected=expected[alias])
                else:
                    ws.models.set_alias(config["model"], alias, existing)
        return {"model": config["model"], "version": existing, "aliases": aliases}
    features = config.get("features") or {}
    service = features.get("service")
    services = ws.features.registry.service(service).version if service else None
    example = ws.splits.sets(split["split"])["validation"][split["features"]].head(5)
    report_digest = ws.artifacts.put_bytes(
        json.dumps({"gate": gate_report, "evaluation": evaluation}, default=str).encode()
    ).digest
    with _gated_against(config["model"], production):
        version = ws.models.register(
            config["model"],
            candidate,
            input_example=example,
            description=config.get("description") or f"Trained by pipeline {config['name']}",
            run=training["run"],
            lineage={
                "datasets": [inputs["dataset"], training_set["dataset"]],
                "feature_views": [f"{view}@{v}" for view, v in sorted(inputs["views"].items())],
                "feature_service": f"{service}@{services}" if service else None,
                "split": split["split"],
                "build_id": context.build_id,
                "pipeline_run": f"pipeline_run:{context.pipeline}",
                "known_after": sorted(training_set.get("known_after", {})),
            },
            tags={
                "gate": "passed",
                "gate_report": report_digest,
                "experiment": training["best"],
                "refused_features": ",".join(sorted(split["refused"])) or "none",
                # the entity time its features were joined at: batch transform joins again
                **({"timestamp_column": features["timestamp_column"]} if service else {}),
            },
            aliases=aliases,
            expected=expected,
        )
    context.logger.info("registered model:%s@%d", config["model"], version.version)
    return {"model": config["model"], "version": version.version, "aliases": aliases}


@contextmanager
def _gated_against(model: str, production: int | None) -> Iterator[None]:
    """Say why a registration stopped when ``production`` moved after the gate judged."""
    from shipyard.errors import Conflict

    try:
        yield
    except Conflict as exc:
        raise Conflict(
            f"Not registered: {exc.message} The gate judged model:{model} against "
            f"{'no production' if production is None else f'version {production}'}, so its "
            "verdict no longer holds.",
            hint="Run the pipeline again: it gates against the production there is now.",
        ) from None


def _fixed_split(
    ws: Any, recorded: str | None, split: dict[str, Any], context: StepContext
) -> str | None:
    """Production's own validation set (``recorded``): the fixed set both models are judged on.

    New data (even with broken labels) then cannot move the yardstick. When that
    set lacks a column the candidate needs, the candidate's validation set is used.
    """
    if not recorded:
        return None
    columns = set(ws.datasets.get(ws.splits.get(recorded).dataset).column_names)
    missing = [c for c in split["features"] if c not in columns]
    if missing:
        context.logger.info(
            "production's split %s lacks %s; gating on the new one", recorded, missing
        )
        return None
    return str(recorded)


def _registered(ws: Any, model: str, run: str) -> int | None:
    """The version already registered from training run ``run``, if any."""
    from shipyard.errors import NotFound

    try:
        versions = ws.models.versions(model)
    except NotFound:
        return None
    found = [v.version for v in versions if v.lineage.get("run") == run]
    return found[-1] if found else None


@step(outputs=("monitoring",))
def monitoring_baseline(
    model_version: dict[str, Any],
    split: dict[str, Any],
    config: dict[str, Any],
    context: StepContext,
) -> dict[str, Any]:
    """The version's monitoring baseline (:mod:`shipyard.monitoring.baseline`): profiles and
    constraints of its training data and of its own scores on it, and its quality on the
    validation set; every endpoint serving the version is monitored against it."""
    from shipyard.monitoring.baseline import make_baseline

    ws = context.workspace
    sets = ws.splits.sets(split["split"])
    columns = [*split["features"], config["target"]]
    version = ws.models.get(model_version["model"], model_version["version"])
    validation = sets["validation"][columns] if "validation" in sets else None
    made = make_baseline(ws, version, sets["training"][columns], validation=validation,
                         target=config["target"])  # fmt: skip
    return {
        "training": str(made.input.ref),
        "outputs": str(made.outputs.ref) if made.outputs else "",
        "metrics": made.metrics,
    }
