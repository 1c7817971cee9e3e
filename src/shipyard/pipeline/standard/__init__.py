"""The standard training pipeline, used with configuration only.

    resolve_inputs -> check_data -> training_set -> split_and_check -> train
        -> evaluate -> gate -> register -> monitoring_baseline -> deploy

Data version, data checks, the point-in-time training set from the feature
store, the split with its leakage check (flagged features are refused and the
run goes on without them), experiments with the best on validation, evaluation
on ``testing`` and ``recent_testing``, the gate against production (or the
baseline), registration with lineage and aliases, and the monitoring baseline.
With a ``deploy`` section, the last step rolls the model out on an endpoint behind
guard alarms (after an approval, for a production endpoint) and moves ``production``
once it is promoted; the runner knows nothing of these.

>>> pipeline = from_yaml("examples/breast_cancer/pipeline.yaml")  # doctest: +SKIP
>>> ws.pipelines.run(pipeline).check()                      # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from shipyard.pipeline.graph import Pipeline
from shipyard.pipeline.standard.config import StandardConfig, parse_config, read_config
from shipyard.pipeline.standard.data_steps import (
    check_data,
    resolve_inputs,
    split_and_check,
    training_set,
)
from shipyard.pipeline.standard.deploy_step import deploy
from shipyard.pipeline.standard.model_steps import (
    evaluate,
    gate,
    monitoring_baseline,
    register,
    train,
)

STEPS = (
    resolve_inputs, check_data, training_set, split_and_check, train, evaluate, gate, register,
    monitoring_baseline, deploy,
)  # fmt: skip


def build(config: StandardConfig) -> Pipeline:
    """The standard pipeline for ``config``: its parameters are the configuration and,
    apart, its ``deploy`` section (``rollout``), so that adding or changing how a model is
    rolled out leaves every cached step before the deployment valid."""
    settings = config.to_dict()
    rollout = settings.pop("deploy", None) or {}
    return Pipeline(
        config.name,
        steps=list(STEPS),
        params={"config": settings, "rollout": rollout},
        description=config.description or f"Standard training pipeline for model {config.model}",
    )


def from_yaml(path: str | Path) -> Pipeline:
    """Read a ``pipeline.yaml`` and build the standard pipeline from it."""
    pipeline = build(read_config(path))
    pipeline.source = Path(path)
    return pipeline


__all__ = ["STEPS", "StandardConfig", "build", "from_yaml", "parse_config", "read_config"]
