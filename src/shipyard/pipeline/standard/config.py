"""The standard training pipeline's configuration: one YAML file, checked before anything runs.

::

    name: flights-delay            # the pipeline
    model: delay                   # the registered model
    dataset: flights               # entity rows: a registered dataset (latest version)
    target: late
    positive_label: true
    columns: [distance, hour]      # entity-row columns used as features
    known_after: [dep_delay]       # columns known only after the event (refused as features)
    candidate_columns: [dep_delay] # offered to the leakage check, which must refuse them
    expected_strong: {hour: "delays build up over the day"}  # strong for a known reason
    leakage: {max_equal_feature_share: 0.05}  # leakage check thresholds (LeakageThresholds)
    features: {definitions: features, service: delay, timestamp_column: event_timestamp}
    checks: {baseline: flights-reference}
    split: {...}                   # a split plan (see shipyard.data.splits.SplitPlan)
    experiments: [{type: logistic}, {type: hist_gradient_boosting, params: {max_iter: 200}}]
    metric: roc_auc
    gate: {metrics: [roc_auc], max_drop: {roc_auc: 0.01}, significant_only: true}
    evaluate: [testing, recent_testing]
    aliases: [staging]

Relative paths are relative to the YAML file's folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shipyard.errors import InvalidInput
from shipyard.types import check_name
from shipyard.yaml_errors import yaml_problem

EXPERIMENT_TYPES = {
    "baseline": "BaselineExperiment",
    "logistic": "LogisticExperiment",
    "ridge": "RidgeExperiment",
    "hist_gradient_boosting": "HistGradientBoostingExperiment",
    "xgboost": "XGBoostExperiment",
    "lightgbm": "LightGBMExperiment",
}
_KEYS = {
    "name", "model", "dataset", "target", "task", "positive_label", "columns", "known_after",
    "candidate_columns", "expected_strong", "leakage", "features", "checks", "split",
    "experiments", "metric", "gate", "evaluate", "aliases", "seed", "description", "deploy",
}  # fmt: skip
_DEPLOY_KEYS = {
    "endpoint", "strategy", "steps", "bake", "warm", "alarms", "min_requests",
    "require_approval", "force",
}  # fmt: skip
_GATE_KEYS = {
    "metrics", "default_drop", "max_drop", "slice_max_drop", "significant_only",
    "min_slice_rows", "max_latency_ms_per_row", "max_model_bytes", "n_bootstrap",
}  # fmt: skip


@dataclass(frozen=True)
class StandardConfig:
    """Everything the standard pipeline needs, validated; plain data so it can be a param."""

    name: str
    model: str
    dataset: str
    target: str
    split: Mapping[str, Any]
    task: str = "classification"
    positive_label: Any = True
    columns: tuple[str, ...] = ()
    known_after: tuple[str, ...] = ()
    candidate_columns: tuple[str, ...] = ()
    expected_strong: Mapping[str, str] = field(default_factory=dict)
    leakage: Mapping[str, Any] = field(default_factory=dict)
    features: Mapping[str, Any] | None = None
    checks: Mapping[str, Any] | None = None
    experiments: tuple[Mapping[str, Any], ...] = ()
    metric: str | None = None
    gate: Mapping[str, Any] = field(default_factory=dict)
    evaluate: tuple[str, ...] = ("testing", "recent_testing")
    aliases: tuple[str, ...] = ("staging",)
    seed: int = 0
    description: str = ""
    deploy: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def read_config(path: str | Path) -> StandardConfig:
    """Read and check a pipeline YAML file; paths in it become absolute."""
    file = Path(path)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"No pipeline file at {file}.") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{file} is not valid YAML: {yaml_problem(exc)}") from None
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{file} must hold a mapping of pipeline settings.")
    try:
        return parse_config(raw, base=file.parent)
    except InvalidInput as exc:
        raise InvalidInput(f"{file}: {exc.message}", hint=exc.hint) from None


def parse_config(raw: Mapping[str, Any], *, base: Path) -> StandardConfig:
    """Check settings given as a mapping (the YAML's content)."""
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise InvalidInput(
            f"Unknown setting(s) {unknown}.", hint=f"Known: {', '.join(sorted(_KEYS))}."
        )
    missing = [k for k in ("name", "model", "dataset", "target", "split") if k not in raw]
    if missing:
        raise InvalidInput(f"Missing setting(s): {', '.join(missing)}.")
    check_name(str(raw["name"]), "Pipeline name")
    check_name(str(raw["model"]), "Model name")
    features = _features(raw.get("features"), base)
    experiments = tuple(_experiment(e) for e in raw.get("experiments") or [{"type": "logistic"}])
    gate = dict(raw.get("gate") or {})
    bad_gate = sorted(set(gate) - _GATE_KEYS)
    if bad_gate:
        raise InvalidInput(
            f"Unknown gate setting(s) {bad_gate}.", hint=f"Known: {sorted(_GATE_KEYS)}."
        )
    if not isinstance(raw["split"], Mapping):
        raise InvalidInput("split must be a split plan (a mapping).")
    return StandardConfig(
        name=str(raw["name"]),
        model=str(raw["model"]),
        dataset=str(raw["dataset"]),
        target=str(raw["target"]),
        split=dict(raw["split"]),
        task=str(raw.get("task", "classification")),
        positive_label=raw.get("positive_label", True),
        columns=_names(raw.get("columns"), "columns"),
        known_after=_names(raw.get("known_after"), "known_after"),
        candidate_columns=_names(raw.get("candidate_columns"), "candidate_columns"),
        expected_strong=_expected_strong(raw.get("expected_strong")),
        leakage=_leakage(raw.get("leakage")),
        features=features,
        checks=dict(raw["checks"]) if raw.get("checks") else None,
        experiments=experiments,
        metric=raw.get("metric"),
        gate=gate,
        evaluate=_names(raw.get("evaluate", ["testing", "recent_testing"]), "evaluate"),
        aliases=_names(raw.get("aliases", ["staging"]), "aliases"),
        seed=int(raw.get("seed", 0)),
        description=str(raw.get("description", "")),
        deploy=_deploy(raw.get("deploy")),
    )


def _deploy(value: Any) -> dict[str, Any] | None:
    """The ``deploy`` section: the endpoint the promoted model is rolled out on, and how
    (checked here, so a typo fails before training)."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or "endpoint" not in value:
        raise InvalidInput(
            "deploy must be a mapping with at least an endpoint.",
            hint="For example deploy: {endpoint: delay-api, strategy: canary, bake: 5m}.",
        )
    unknown = sorted(set(value) - _DEPLOY_KEYS)
    if unknown:
        raise InvalidInput(
            f"Unknown deploy setting(s) {unknown}.", hint=f"Known: {sorted(_DEPLOY_KEYS)}."
        )
    from shipyard.deploy.guards import parse_alarms
    from shipyard.deploy.plan import make_plan

    deploy = dict(value)
    check_name(str(deploy["endpoint"]), "deploy.endpoint")
    plan = make_plan(str(deploy.get("strategy", "canary")), deploy.get("steps"),
                     deploy.get("bake", "5m"), deploy.get("warm", "5s"))  # fmt: skip
    if plan.strategy not in ("canary", "linear", "blue-green"):
        raise InvalidInput(
            f"The pipeline deploys by canary, linear or blue-green, not {plan.strategy}.",
            hint="Run shadow deployments and A/B tests with shipyard deploy.",
        )
    parse_alarms(deploy.get("alarms"))
    approval = deploy.get("require_approval")
    if approval is not None and not isinstance(approval, bool):
        raise InvalidInput(f"deploy.require_approval must be true or false, got {approval!r}.")
    return deploy


def _features(value: Any, base: Path) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not (value.get("service") or value.get("features")):
        raise InvalidInput(
            "features needs a feature service or a list of features.",
            hint="For example features: {definitions: features, service: delay}.",
        )
    out = dict(value)
    if out.get("definitions"):
        out["definitions"] = str((base / str(out["definitions"])).resolve())
    out.setdefault("timestamp_column", "event_timestamp")
    return out


def _expected_strong(value: Any) -> dict[str, str]:
    """Column -> why it is legitimately strong; the leakage check quotes the reason."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in value.items()
    ):
        raise InvalidInput(
            "expected_strong must map each column to the reason it is strong.",
            hint='For example expected_strong: {hr: "rentals follow the hour of the day"}.',
        )
    return {k: v.strip() for k, v in value.items()}


def _leakage(value: Any) -> dict[str, Any]:
    """Leakage check thresholds, checked now so a typo fails before anything runs."""
    import dataclasses

    from shipyard.data.leakage import LeakageThresholds

    if value is None:
        return {}
    known = [f.name for f in dataclasses.fields(LeakageThresholds)]
    if not isinstance(value, Mapping) or set(value) - set(known):
        raise InvalidInput(
            f"leakage takes the leakage check's thresholds, got {value!r}.",
            hint=f"Known: {', '.join(known)}.",
        )
    LeakageThresholds(**value)  # raises InvalidInput on a bad value
    return dict(value)


def _experiment(value: Any) -> dict[str, Any]:
    spec = {"type": value} if isinstance(value, str) else dict(value or {})
    kind = spec.get("type")
    if kind not in EXPERIMENT_TYPES:
        raise InvalidInput(
            f"Experiment type {kind!r} is not known.",
            hint=f"Use one of: {', '.join(EXPERIMENT_TYPES)}.",
        )
    if not isinstance(spec.get("params", {}), Mapping):
        raise InvalidInput(f"Experiment {kind}: params must be a mapping.")
    return spec


def _names(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{what} must be a list of names, got {value!r}.")
    return tuple(value)
