"""Training on stored splits, tracked and reproducible (``ws.training``).

``run`` trains experiments on a stored split with the dataset's roles, seeds
everything, and records each experiment as a run whose record holds the seed,
the environment (interpreter, packages, code commit and diff hash, host), the
dataset version, the split, the features and target, and the unfitted
experiment itself (pickled, as the artifact ``experiment.pkl``). ``reproduce``
draws the same sets again, reseeds, refits that experiment and compares every
metric with the recorded one.

Pickle trust model: ``experiment.pkl`` is read back only from the workspace's
own content-addressed artifact store, which verifies its sha256 on every read;
never load one from elsewhere.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput
from shipyard.types import Ref

if TYPE_CHECKING:
    from shipyard.data.datasets import DatasetService
    from shipyard.data.split_service import SplitService
    from shipyard.training.experiment import Experiment, ExperimentData
    from shipyard.training.report import RunnerReport
    from shipyard.training.tracking import Run, Tracker

EXPERIMENT_ARTIFACT = "experiment.pkl"


@dataclass(frozen=True)
class Reproduction:
    """How a re-run compares with the recorded run, metric by metric."""

    run: str
    metrics: Mapping[str, tuple[float, float]]  # name -> (recorded, reproduced)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def differing(self) -> dict[str, tuple[float, float]]:
        return {k: v for k, v in self.metrics.items() if not _same(*v)}

    @property
    def exact(self) -> bool:
        """Every recorded metric came out the same."""
        return bool(self.metrics) and not self.differing


class TrainingService:
    """Train experiments on stored splits; reproduce a run from its record."""

    def __init__(self, datasets: DatasetService, splits: SplitService, tracker: Tracker) -> None:
        self._datasets = datasets
        self._splits = splits
        self._tracker = tracker

    def data(
        self,
        split: str | Ref,
        *,
        features: Sequence[str] | None = None,
        target: str | None = None,
        task: str = "classification",
    ) -> ExperimentData:
        """The split's sets as ExperimentData: roles from the dataset, slices from the plan."""
        from shipyard.training import ExperimentData

        stored = self._splits.get(split)
        dataset = self._datasets.get(stored.dataset)
        chosen_target = target or dataset.target
        if not chosen_target:
            raise InvalidInput(
                f"{dataset.ref} declares no target and none was given.",
                hint="Pass target=, or register the dataset with --target.",
            )
        chosen = list(features) if features is not None else [
            c for c in dataset.feature_columns if c != chosen_target
        ]  # fmt: skip
        sets = self._splits.sets(stored)
        return ExperimentData(
            sets=sets,
            features=chosen,
            target=chosen_target,
            slices=dict(stored.plan.get("slices") or {}),
            task=task,  # type: ignore[arg-type]
            training_set=stored.set_names[0],
            validation_set=_validation(stored.set_names),
        )

    def run(
        self,
        split: str | Ref,
        experiments: Sequence[Experiment],
        *,
        experiment_name: str | None = None,
        features: Sequence[str] | None = None,
        target: str | None = None,
        task: str = "classification",
        seed: int = 0,
        **runner_options: Any,
    ) -> RunnerReport:
        """Train ``experiments`` (a baseline is added first if none is given) on a split.

        >>> report = ws.training.run("split:flights@1",
        ...                          [LogisticExperiment(), HistGradientBoostingExperiment()])
        ... # doctest: +SKIP
        """
        from shipyard.training import BaselineExperiment, ExperimentRunner, seed_everything
        from shipyard.training.environment import capture_environment

        stored = self._splits.get(split)
        data = self.data(stored.ref, features=features, target=target, task=task)
        lineup = list(experiments)
        if not any(isinstance(e, BaselineExperiment) for e in lineup):
            lineup.insert(0, BaselineExperiment())
        names = [e.name for e in lineup]
        if len(set(names)) != len(names):
            raise InvalidInput(f"Experiment names repeat: {names}.", hint="Give each a name.")
        # Pickled before fitting: reproduce refits exactly what was asked for.
        specs = {e.name: pickle.dumps(e) for e in lineup}
        seed_everything(seed)
        record = {
            **capture_environment(seed=seed, datasets=[str(stored.dataset)], split=str(stored.ref)),
            "features": list(data.features),
            "target": data.target,
            "task": task,
        }
        tracker = _RecordingTracker(self._tracker, record, specs)
        runner = ExperimentRunner(
            *lineup[1:],
            baseline=lineup[0],
            tracker=tracker,
            experiment_name=experiment_name or stored.name,
            seed=seed,
            **runner_options,
        )
        return runner.run(data)

    def reproduce(self, run: str) -> Reproduction:
        """Re-run a recorded run from its record and compare every metric.

        Deterministic models reproduce exactly (same code, data version and seed).
        """
        from shipyard.training import seed_everything
        from shipyard.training.environment import capture_environment

        info = self._tracker.get_run(run)
        record = info.record
        if EXPERIMENT_ARTIFACT not in info.artifacts or not record.get("split"):
            raise InvalidInput(
                f"Run {info.uid} was not made by ws.training.run, so it has no recipe to rerun.",
                hint="Only runs trained on a stored split can be reproduced.",
            )
        from shipyard.registry.pickles import load_checked_pickle

        recipe = self._tracker.artifact_bytes(info.uid, EXPERIMENT_ARTIFACT)
        experiment = load_checked_pickle(recipe)
        seed_everything(int(record["seed"]))
        data = self.data(
            record["split"],
            features=record["features"],
            target=record["target"],
            task=record.get("task", "classification"),
        )
        result = experiment.run(data)
        if not result.ok:
            raise InvalidInput(f"The re-run of {info.uid} failed: {result.error}")
        reproduced = {
            f"{set_name}_{metric}": float(value)
            for set_name, values in result.metrics.items()
            for metric, value in values.items()
        }
        metrics = {
            key: (recorded, reproduced[key])
            for key, recorded in info.metrics.items()
            if key in reproduced
        }
        notes = []
        now = capture_environment()["code"]
        if (
            now["commit"] != record["code"]["commit"]
            or now["diff_sha256"] != record["code"]["diff_sha256"]
        ):
            notes.append("The code differs from the recorded commit and diff.")
        return Reproduction(info.uid, metrics, tuple(notes))


class _RecordingTracker:
    """Starts each experiment's run with the shared record and stores its recipe."""

    def __init__(self, tracker: Tracker, record: dict[str, Any], specs: dict[str, bytes]):
        self._tracker = tracker
        self._record = record
        self._specs = specs

    def start_run(self, experiment: str, name: str) -> Run:
        run = self._tracker.start_run(experiment, name, record={**self._record, "experiment": name})
        if name in self._specs:
            run.log_bytes(EXPERIMENT_ARTIFACT, self._specs[name])
        return run


def _validation(names: Sequence[str]) -> str:
    for candidate in ("validation", "valid", "val"):
        if candidate in names:
            return candidate
    return names[1] if len(names) > 1 else names[0]


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))
