"""Stored, reproducible splits of dataset versions (``ws.splits``).

A split version records the plan (with its seed), the dataset version it was
drawn from, each set's row count and the sha256 of its row ids, and the
assignment itself (one byte per row) as an artifact. ``reproduce`` draws the
split again from the plan and the dataset and checks that every set matches.

Access: creating a split needs ``splits:Write`` on ``shipyard:split:NAME`` and every
read ``splits:Read``; what reads the dataset's rows (creating, the sets, reproducing,
the leakage report) needs ``datasets:Read`` on it too, checked by the dataset service.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import IntegrityError, InvalidInput
from shipyard.lineage import Lineage, hash_bytes
from shipyard.stores.metadata.base import VersionRecord
from shipyard.types import Ref, check_name

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from shipyard.data.datasets import DatasetService, DatasetVersion
    from shipyard.data.leakage import LeakageReport, LeakageThresholds
    from shipyard.data.splits import SplitPlan, SplitResult
    from shipyard.stores.artifacts import ArtifactStore
    from shipyard.stores.metadata.base import MetadataStore

KIND = "split"
READ, WRITE = "splits:Read", "splits:Write"

Authorize = Callable[[str, "str | Sequence[str]"], None]


def split_resource(name: str) -> str:
    """The policy resource of a split (all of its versions)."""
    return f"shipyard:split:{name}"


@dataclass(frozen=True)
class Split:
    """A stored split: which rows of which dataset version went to which set."""

    name: str
    version: int
    dataset: Ref
    plan: Mapping[str, Any]
    set_names: tuple[str, ...]
    counts: Mapping[str, int]
    row_ids_hash: Mapping[str, str]
    summary: Mapping[str, Any]
    warnings: tuple[str, ...]
    assignment_artifact: str
    created_at: datetime
    created_by: str

    @property
    def ref(self) -> Ref:
        return Ref(KIND, self.name, self.version)

    @classmethod
    def from_record(cls, record: VersionRecord) -> Split:
        a = record.attributes
        return cls(
            name=record.name,
            version=record.version,
            dataset=Ref.parse(a["dataset"]),
            plan=a["plan"],
            set_names=tuple(a["set_names"]),
            counts=a["counts"],
            row_ids_hash=a["row_ids_hash"],
            summary=a["summary"],
            warnings=tuple(a.get("warnings", ())),
            assignment_artifact=a["assignment"],
            created_at=record.created_at,
            created_by=record.created_by,
        )


class SplitService:
    """Create, load, reproduce and check splits."""

    def __init__(
        self,
        metadata: MetadataStore,
        artifacts: ArtifactStore,
        datasets: DatasetService,
        *,
        principal: str,
        authorize: Authorize,
    ) -> None:
        self._metadata = metadata
        self._artifacts = artifacts
        self._datasets = datasets
        self._principal = principal
        self._authorize = authorize

    def create(
        self,
        dataset: str | Ref,
        plan: SplitPlan | Mapping[str, Any] | str | os.PathLike[str],
        *,
        name: str | None = None,
    ) -> Split:
        """Split a dataset version by ``plan`` (a SplitPlan, a dict, or a YAML path or text).

        Roles the plan leaves out come from the dataset: its id columns, time
        column, target (for slice warnings) and feature columns.

        >>> split = ws.splits.create("flights@1", "plan.yaml")  # doctest: +SKIP
        >>> frames = ws.splits.sets(split)                      # doctest: +SKIP
        """
        import numpy as np

        version = self._datasets.get(dataset)
        split_name = check_name(name or version.name, "Split name")
        self._authorize(WRITE, split_resource(split_name))
        full_plan = _with_dataset_roles(plan, version)
        result = _draw(self._datasets.load(version.ref), full_plan)
        stored = self._artifacts.put_bytes(np.ascontiguousarray(result.assignment).tobytes())
        summary = result.to_dict()
        attributes = {
            "dataset": str(version.ref),
            "plan": full_plan.to_dict(),
            "set_names": list(result.set_names),
            "counts": dict(result.counts),
            "row_ids_hash": dict(result.row_ids_hash),
            "summary": summary,
            "warnings": list(result.warnings),
            "assignment": stored.digest,
        }
        # The same plan on the same dataset version draws the same sets: that is the split
        # already stored, not a new version that would silently become the latest.
        same = hash_bytes(
            json.dumps([attributes["dataset"], attributes["plan"], stored.digest], sort_keys=True,
                       default=str).encode()
        )  # fmt: skip
        record, created = self._metadata.create_version(
            KIND,
            split_name,
            created_by=self._principal,
            content_hash=same,
            attributes=attributes,
            reuse_same_content=True,
        )
        split = Split.from_record(record)
        if created:
            self._metadata.put_lineage(split.ref, Lineage(datasets=(str(version.ref),)))
        return split

    def get(self, ref: str | Ref | Split, version: int | None = None) -> Split:
        """A stored split (the latest version of a name by default)."""
        if isinstance(ref, Split):
            self._authorize(READ, split_resource(ref.name))
            return ref
        parsed = ref if isinstance(ref, Ref) else Ref.parse(ref, kind=KIND)
        self._authorize(READ, split_resource(parsed.name))
        number = version if version is not None else parsed.version
        return Split.from_record(self._metadata.get_version(KIND, parsed.name, number))

    def assignment(self, split: str | Ref | Split) -> np.ndarray:
        """The set index of every row, in the dataset's row order."""
        import numpy as np

        found = self.get(split)
        raw = self._artifacts.get_bytes(found.assignment_artifact)
        return np.frombuffer(raw, dtype=np.int8)

    def sets(self, split: str | Ref | Split) -> dict[str, pd.DataFrame]:
        """Each set's rows as a DataFrame, keyed by set name."""
        found = self.get(split)
        frame = self._datasets.load(found.dataset)
        assignment = self.assignment(found)
        return {
            name: frame.iloc[(assignment == index).nonzero()[0]].reset_index(drop=True)
            for index, name in enumerate(found.set_names)
        }

    def reproduce(self, split: str | Ref | Split) -> Split:
        """Draw the split again from its plan and dataset; raise if any set differs."""
        from shipyard.data.splits import SplitPlan

        found = self.get(split)
        plan = SplitPlan.from_dict(found.plan)
        again = _draw(self._datasets.load(found.dataset), plan)
        if dict(again.row_ids_hash) != dict(found.row_ids_hash):
            differing = [
                s for s in found.set_names if again.row_ids_hash.get(s) != found.row_ids_hash[s]
            ]
            raise IntegrityError(
                f"{found.ref} does not reproduce: set(s) {', '.join(differing)} differ.",
                hint="The split code or the dataset's content changed since it was drawn.",
            )
        return found

    def leakage_report(
        self,
        split: str | Ref | Split,
        *,
        training_set: str | None = None,
        thresholds: LeakageThresholds | None = None,
        expected_strong: Mapping[str, str] | None = None,
    ) -> LeakageReport:
        """Check a stored split for leaks, with roles taken from its dataset and plan.

        ``expected_strong`` maps a feature that is strong for a good reason to that
        reason (see :func:`~shipyard.data.leakage.leakage_report`). The plan's group
        column is known to be kept in one set by the split (time windows apart).

        >>> ws.splits.leakage_report("bikes", expected_strong={"hr": "commuting"})  # doctest: +SKIP
        """
        from shipyard.data.leakage import leakage_report

        found = self.get(split)
        dataset = self._datasets.get(found.dataset)
        plan = found.plan
        sets = self.sets(found)
        training = training_set or found.set_names[0]
        windows = list((plan.get("windows") or {}).keys())
        return leakage_report(
            sets,
            target=dataset.target,
            id_columns=dataset.id_columns,
            time_column=dataset.time_column,
            group_column=plan.get("group"),
            # The plan's features (stored with every plan: the dataset's when it named none).
            feature_columns=plan.get("feature_columns") or _leakage_features(dataset),
            known_after=dataset.known_after,
            training_set=training,
            validation_set=_validation_set(found.set_names, training),
            windows=windows,
            thresholds=thresholds,
            expected_strong=expected_strong,
            grouped_by_split=plan.get("group") is not None,
        )


def _plan_data(plan: Any) -> dict[str, Any]:
    """Plain plan data from a SplitPlan, a mapping, or a YAML path or text."""
    from shipyard.data.splits import SplitPlan
    from shipyard.data.splits.plan import read_plan_yaml

    if isinstance(plan, SplitPlan):
        return plan.to_dict()
    if isinstance(plan, Mapping):
        return dict(plan)
    if isinstance(plan, str | os.PathLike):
        data = read_plan_yaml(Path(plan) if isinstance(plan, os.PathLike) else plan)
        if not isinstance(data, Mapping):
            raise InvalidInput(f"A split plan must be a mapping, got {type(data).__name__}.")
        return dict(data)
    raise InvalidInput(
        f"A split plan cannot be a {type(plan).__name__}.",
        hint="Pass a SplitPlan, a dict, or the path of a YAML file.",
    )


def _with_dataset_roles(plan: Any, dataset: DatasetVersion) -> SplitPlan:
    """The plan, with the roles it leaves out taken from the dataset."""
    from shipyard.data.splits import SplitPlan

    data = _plan_data(plan)
    if not data.get("id_columns"):
        data["id_columns"] = list(dataset.id_columns)
    if data.get("time_column") is None and dataset.time_column:
        data["time_column"] = dataset.time_column
    if data.get("target") is None and dataset.target:
        data["target"] = dataset.target
    if data.get("feature_columns") is None:
        data["feature_columns"] = _leakage_features(dataset)
    return SplitPlan.from_dict(data)


def _leakage_features(dataset: DatasetVersion) -> list[str]:
    """Features for duplicate checks: known-after columns count, so their leak shows."""
    excluded = {*dataset.id_columns, dataset.time_column, dataset.target}
    return [c for c in dataset.column_names if c not in excluded]


def _validation_set(names: Sequence[str], training: str) -> str:
    for candidate in ("validation", "valid", "val"):
        if candidate in names:
            return candidate
    others = [n for n in names if n != training]
    return others[0] if others else training


def _draw(frame: pd.DataFrame, plan: SplitPlan) -> SplitResult:
    from shipyard.data.splits import split_frame

    return split_frame(frame, plan)
