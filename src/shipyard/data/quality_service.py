"""Profiles, baselines and data checks of dataset versions (``ws.quality``).

A dataset version is profiled once; the profile is stored as an artifact and
reused. A baseline version (``baseline:NAME@V``) pairs a dataset version's
profile (``statistics.json``) with constraints (``constraints.json``):
suggested from the profile, or edited by a person and stored as a new
baseline version of the same dataset version.

Access: storing a baseline needs ``quality:Write`` on ``shipyard:baseline:DATASET``;
profiling, reading baselines and checking data against them need ``quality:Read`` on
it; reading the dataset itself needs ``datasets:Read`` (checked by the dataset service).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput, NotFound
from shipyard.lineage import Lineage, hash_bytes
from shipyard.stores.metadata.base import VersionRecord
from shipyard.types import Ref

if TYPE_CHECKING:
    from shipyard.data.checks import CheckReport
    from shipyard.data.datasets import DatasetService
    from shipyard.data.profiles import Constraints, TableProfile
    from shipyard.engines import Engine
    from shipyard.stores.artifacts import ArtifactStore
    from shipyard.stores.metadata.base import MetadataStore

PROFILE = "profile"
BASELINE = "baseline"
READ, WRITE = "quality:Read", "quality:Write"

Authorize = Callable[[str, "str | Sequence[str]"], None]


def baseline_resource(dataset: str) -> str:
    """The policy resource of a dataset's profiles and baselines."""
    return f"shipyard:baseline:{dataset}"


@dataclass(frozen=True)
class BaselineVersion:
    """A stored baseline: the reference profile and the constraints checked against it."""

    name: str
    version: int
    dataset: Ref
    statistics: TableProfile
    constraints: Constraints
    edited: bool
    created_at: datetime
    created_by: str

    @property
    def ref(self) -> Ref:
        return Ref(BASELINE, self.name, self.version)

    def write(self, directory: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Write ``statistics.json`` and ``constraints.json`` into ``directory``."""
        from shipyard.data.profiles import Baseline

        return Baseline(self.statistics, self.constraints).write(directory)


class QualityService:
    """Profile dataset versions, keep baselines, and run data checks against them."""

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

    def profile(
        self,
        dataset: str | Ref,
        *,
        engine: str | Engine = "local",
        scheduler: str | None = None,
        workers: int | None = None,
    ) -> TableProfile:
        """The profile of a dataset version, computed on first use and stored.

        ``engine`` (``local``, ``dask`` or an :class:`~shipyard.engines.Engine`) profiles
        the version's row groups in parallel and merges them
        (:mod:`~shipyard.data.profiles.parallel`); a stored profile is reused either way.
        """
        from shipyard.data.profiles import TableProfile

        version = self._datasets.get(dataset)
        # Computing it once and keeping it is a cache, not a write: reading suffices.
        self._authorize(READ, baseline_resource(version.name))
        stored = self._find(PROFILE, version.name, str(version.ref))
        if stored is not None:
            text = self._artifacts.get_bytes(stored.attributes["artifact"])
            return TableProfile.from_json(text)
        profile = _profile_file(self._datasets.path(version.ref), engine, scheduler, workers)
        artifact = self._artifacts.put_bytes(profile.to_json().encode())
        self._metadata.create_version(
            PROFILE,
            version.name,
            created_by=self._principal,
            content_hash=artifact.digest,
            attributes={"dataset": str(version.ref), "artifact": artifact.digest},
            reuse_same_content=True,
        )
        return profile

    def baseline(
        self,
        dataset: str | Ref,
        *,
        constraints: Constraints | str | os.PathLike[str] | None = None,
        engine: str | Engine = "local",
        scheduler: str | None = None,
        workers: int | None = None,
    ) -> BaselineVersion:
        """Store a baseline of a dataset version: its profile and constraints.

        Without ``constraints`` they are suggested from the profile; with an
        edited file (JSON or YAML) or a Constraints object, those are validated
        against the profile's columns and stored instead. ``engine``, ``scheduler`` and
        ``workers`` are :meth:`profile`'s, for a version not profiled yet.

        >>> base = ws.quality.baseline("flights@1")                        # doctest: +SKIP
        >>> edited = ws.quality.baseline("flights@1", constraints="c.yaml")  # doctest: +SKIP
        """
        from shipyard.data.profiles import suggest_constraints

        version = self._datasets.get(dataset)
        self._authorize(WRITE, baseline_resource(version.name))
        profile = self.profile(version.ref, engine=engine, scheduler=scheduler, workers=workers)
        chosen = (
            suggest_constraints(profile)
            if constraints is None
            else _as_constraints(constraints, profile)
        )
        statistics = self._artifacts.put_bytes(profile.to_json().encode())
        rules = self._artifacts.put_bytes(json.dumps(chosen.to_dict()).encode())
        attributes = {
            "dataset": str(version.ref),
            "statistics": statistics.digest,
            "constraints": rules.digest,
            "edited": constraints is not None,
        }
        # The same baseline as the latest is that version again, not a new one; anything
        # else becomes the latest (the CLI says what it replaced, edited constraints included).
        digest = hash_bytes(json.dumps(attributes, sort_keys=True).encode())
        latest = self._latest_record(version.name)
        if latest is not None and latest.content_hash == digest:
            return self._load(latest)
        record, _ = self._metadata.create_version(
            BASELINE,
            version.name,
            created_by=self._principal,
            content_hash=digest,
            attributes=attributes,
        )
        self._metadata.put_lineage(
            Ref(BASELINE, record.name, record.version), Lineage(datasets=(str(version.ref),))
        )
        return self._load(record)

    def _latest_record(self, name: str) -> Any:
        try:
            return self._metadata.get_version(BASELINE, name)
        except NotFound:
            return None

    def get_baseline(self, ref: str | Ref) -> BaselineVersion:
        """``baseline:NAME[@V]``, or the latest baseline of ``dataset:NAME[@V]``."""
        if isinstance(ref, Ref):
            parsed = ref
        else:
            parsed = Ref.parse(ref) if ":" in ref else Ref.parse(ref, kind=BASELINE)
        if parsed.kind == "dataset":
            version = self._datasets.get(parsed)
            self._authorize(READ, baseline_resource(version.name))
            record = self._find(BASELINE, version.name, str(version.ref))
            if record is None:
                raise NotFound(
                    f"No baseline of {version.ref} yet.",
                    hint=f"Make one: `shipyard data baseline {version.name}@{version.version}`.",
                )
            return self._load(record)
        if parsed.kind != BASELINE:
            raise InvalidInput(f"{ref!r} is neither a baseline nor a dataset reference.")
        self._authorize(READ, baseline_resource(parsed.name))
        return self._load(self._metadata.get_version(BASELINE, parsed.name, parsed.version))

    def check(
        self,
        data: Any,
        *,
        baseline: str | Ref | BaselineVersion,
        **options: Any,
    ) -> CheckReport:
        """Check a dataset version (``"flights@2"``), a table or a Parquet path against a baseline.

        ``options`` go to :func:`shipyard.data.checks.run_checks` (``unique=``,
        ``sql=``, ``python=``, ``unexpected_columns=``, ``thresholds=``).
        """
        from shipyard.data.checks import run_checks

        if isinstance(baseline, BaselineVersion):
            self._authorize(READ, baseline_resource(baseline.name))
            base = baseline
        else:
            base = self.get_baseline(baseline)
        current = self._resolve_data(data, needs_rows=bool(options.get("unique") or
                                     options.get("sql") or options.get("python")))  # fmt: skip
        return run_checks(
            current, constraints=base.constraints, reference=base.statistics, **options
        )

    # -- helpers ----------------------------------------------------------------------

    def _resolve_data(self, data: Any, *, needs_rows: bool) -> Any:
        """A dataset reference becomes its stored profile (or its rows when needed)."""
        if isinstance(data, Ref) or (isinstance(data, str) and not _looks_like_path(data)):
            version = self._datasets.get(data)
            return self._datasets.path(version.ref) if needs_rows else self.profile(version.ref)
        if isinstance(data, str | os.PathLike) and not Path(data).is_file():
            raise InvalidInput(f"No file at {data}.", hint="Pass a Parquet path or a dataset name.")
        return data

    def _find(self, kind: str, name: str, dataset: str) -> VersionRecord | None:
        found = self._metadata.find_versions(
            kind, name, attributes={"dataset": dataset}, newest_first=True, limit=1
        )
        return found[0] if found else None

    def _load(self, record: VersionRecord) -> BaselineVersion:
        from shipyard.data.profiles import Constraints, TableProfile

        a = record.attributes
        statistics = TableProfile.from_json(self._artifacts.get_bytes(a["statistics"]))
        rules = Constraints.from_dict(
            json.loads(self._artifacts.get_bytes(a["constraints"])),
            source=f"{record.kind}:{record.name}@{record.version}",
        )
        return BaselineVersion(
            name=record.name,
            version=record.version,
            dataset=Ref.parse(a["dataset"]),
            statistics=statistics,
            constraints=rules,
            edited=bool(a.get("edited")),
            created_at=record.created_at,
            created_by=record.created_by,
        )


def _profile_file(
    path: Path, engine: str | Engine, scheduler: str | None, workers: int | None
) -> TableProfile:
    """One pass over the file by default; its row groups on the engine otherwise."""
    from shipyard.data.profiles import profile_table
    from shipyard.data.profiles.parallel import profile_parquet
    from shipyard.engines.given import engine_for, is_default

    if is_default(engine, scheduler, workers):
        return profile_table(path)
    with engine_for(engine, scheduler=scheduler, workers=workers) as runner:
        return profile_parquet(path, runner)


def _as_constraints(value: Any, profile: TableProfile) -> Constraints:
    from shipyard.data.profiles import Constraints, load_constraints

    if isinstance(value, Constraints):
        return Constraints.from_dict(value.to_dict(), columns=profile.columns)
    if isinstance(value, str | os.PathLike):
        path = Path(value)
        if not path.is_file():
            raise InvalidInput(f"No constraints file at {path}.", hint="Check the path.")
        return load_constraints(path, columns=profile.columns)
    raise InvalidInput(
        f"constraints cannot be a {type(value).__name__}.",
        hint="Pass a Constraints object or the path of a JSON or YAML file.",
    )


def _looks_like_path(text: str) -> bool:
    return text.endswith((".parquet", ".pq")) or "/" in text or os.sep in text
