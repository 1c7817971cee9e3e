"""The Workspace: a runtime acting as one principal, and the one place services are wired.

A workspace is cheap: it holds the process's :class:`~shipyard.runtime.Runtime` (the
stores, opened once) and a principal, and builds each service on first use. Acting as
someone else is ``ws.as_principal("alice")``, not a second connection.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from shipyard.config import Settings, load_settings
from shipyard.lineage import Lineage
from shipyard.runtime import Runtime, prepare_home, runtime_from_settings
from shipyard.security.names import principal_name
from shipyard.types import Ref

__all__ = ["Workspace", "WorkspaceInfo", "connect", "open_workspace", "prepare_home"]

if TYPE_CHECKING:
    from shipyard.data.datasets import DatasetService
    from shipyard.data.quality_service import QualityService
    from shipyard.data.split_service import SplitService
    from shipyard.deploy.service import DeploymentService
    from shipyard.features.store import FeatureStore
    from shipyard.jobs.service import JobService
    from shipyard.monitoring.service import MonitoringService
    from shipyard.pipeline import PipelineService
    from shipyard.registry.service import ModelRegistry
    from shipyard.security.service import SecurityService
    from shipyard.serving.batch import BatchService
    from shipyard.serving.endpoints import EndpointService
    from shipyard.stores.artifacts import ArtifactStore
    from shipyard.stores.control import AuditEntry
    from shipyard.stores.metadata import MetadataStore, StoreInfo
    from shipyard.training.service import TrainingService
    from shipyard.training.tracking import Tracker


@dataclass(frozen=True)
class WorkspaceInfo:
    """Where each store is and what it holds (``shipyard info``)."""

    home: Path
    config_file: Path | None
    principal: str
    metadata: StoreInfo
    artifact_url: str
    artifact_objects: int
    artifact_bytes: int
    online_url: str


class Workspace:
    """The services, acting as one principal over a shared runtime.

    Build one with :func:`shipyard.connect` (which opens a runtime of its own, closed with
    the workspace), or with ``runtime.workspace(principal)``; creating one opens nothing.
    """

    def __init__(
        self,
        runtime: Runtime,
        principal: str | None = None,
        *,
        source: str = "python",
        owns_runtime: bool = False,
    ) -> None:
        self.runtime = runtime
        self._principal = principal_name(
            runtime.settings.principal if principal is None else principal
        )
        self.source = source  # where calls come from, for the audit log: python, cli, api ...
        self._owns_runtime = owns_runtime

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def metadata(self) -> MetadataStore:
        return self.runtime.metadata

    @property
    def artifacts(self) -> ArtifactStore:
        return self.runtime.artifacts

    def as_principal(self, principal: str) -> Workspace:
        """This workspace's runtime acting as ``principal`` (no new connection)."""
        return Workspace(self.runtime, principal, source=self.source)

    @cached_property
    def authorize(self) -> Callable[[str, str | Sequence[str]], None]:
        """The access check every service calls: the security service's decision, with
        denials and changes written to the audit log (:mod:`shipyard.security.audit`)."""
        from shipyard.security.audit import AuditedAuthorize

        return AuditedAuthorize(
            self.security.require, self.runtime.control, principal=self.principal,
            source=self.source,
        )  # fmt: skip

    def audit_log(
        self,
        *,
        principal: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Audit entries, newest first (needs ``audit:Read``): who tried what, when, from
        where, and whether it was allowed."""
        from shipyard.security.actions import RESOURCE_TYPES

        self.authorize("audit:Read", [f"shipyard:audit:{t}" for t in RESOURCE_TYPES])
        return self.runtime.control.audit_log(
            principal=None if principal is None else principal_name(principal),
            action=action, since=since, limit=limit,
        )  # fmt: skip

    @cached_property
    def datasets(self) -> DatasetService:
        """Versioned datasets: register, get, load, describe."""
        from shipyard.data.datasets import DatasetService

        home = self.settings.home
        return DatasetService(
            self.metadata,
            self.artifacts,
            principal=self.principal,
            scratch=home / "tmp",
            cache=home / "cache",
            authorize=self.authorize,
        )

    @cached_property
    def splits(self) -> SplitService:
        """Stored, reproducible splits of dataset versions, and their leakage reports."""
        from shipyard.data.split_service import SplitService

        return SplitService(
            self.metadata,
            self.artifacts,
            self.datasets,
            principal=self.principal,
            authorize=self.authorize,
        )

    @cached_property
    def quality(self) -> QualityService:
        """Profiles, baselines (statistics + constraints) and data checks."""
        from shipyard.data.quality_service import QualityService

        return QualityService(
            self.metadata,
            self.artifacts,
            self.datasets,
            principal=self.principal,
            authorize=self.authorize,
        )

    @cached_property
    def runs(self) -> Tracker:
        """Experiment tracking: runs with params, metrics, tags and artifacts; search, compare."""
        from shipyard.training.tracking import Tracker

        return Tracker(
            self.metadata, self.artifacts, principal=self.principal, authorize=self.authorize
        )

    @cached_property
    def training(self) -> TrainingService:
        """Train experiments on stored splits, tracked in ws.runs; reproduce runs."""
        from shipyard.training.service import TrainingService

        return TrainingService(self.datasets, self.splits, self.runs)

    @cached_property
    def security(self) -> SecurityService:
        """Policies, groups and the access decisions every service asks for (its own
        administration included: it checks itself)."""
        from shipyard.security.service import SecurityService

        # Its own administration is checked through ws.authorize too (so it is audited);
        # late-bound, since that check wraps this service's require.
        return SecurityService(
            self.metadata,
            principal=self.principal,
            authorize=lambda action, resources: self.authorize(action, resources),
            cache=self.runtime.policies,
        )

    @cached_property
    def features(self) -> FeatureStore:
        """The feature store: definitions, time travel, materialization, online reads."""
        from shipyard.features.registry import FeatureRegistry
        from shipyard.features.store import FeatureStore

        return FeatureStore(
            FeatureRegistry(self.metadata, principal=self.principal),
            # A view's source is read for whoever may read its features (checked there).
            self.datasets.without_access_checks(),
            lambda: self.runtime.online,
            authorize=self.authorize,
            scratch=self.settings.home / "tmp",
            data_roots=self.settings.data_roots,
        )

    @cached_property
    def models(self) -> ModelRegistry:
        """The model registry: packages, versions, aliases with history, approvals, lineage."""
        from shipyard.registry.service import ModelRegistry

        return ModelRegistry(
            self.metadata,
            self.artifacts,
            principal=self.principal,
            runs=self.runs,
            control=self.runtime.control,
            authorize=self.authorize,
            cache=self.runtime.models,
        )

    @cached_property
    def endpoints(self) -> EndpointService:
        """Serving endpoints: create from a registered model, variants, weights, history."""
        from shipyard.serving.endpoints import EndpointService

        return EndpointService(
            self.runtime.control, self.models, principal=self.principal, authorize=self.authorize
        )

    @cached_property
    def deployments(self) -> DeploymentService:
        """Roll a model version out on an endpoint behind guard alarms: canary, linear,
        blue/green; roll back; read the record."""
        from shipyard.deploy.service import DeploymentService

        return DeploymentService(
            self.runtime.control,
            self.endpoints,
            home=self.runtime.settings.home,
            principal=self.principal,
            authorize=self.authorize,
        )

    @cached_property
    def monitoring(self) -> MonitoringService:
        """Watch endpoints: baselines of model versions, monitoring runs over the capture,
        drift and quality series, ground truth, business outcomes, alarms."""
        from shipyard.monitoring.service import MonitoringService

        return MonitoringService(self.runtime, self, authorize=self.authorize)

    @cached_property
    def batch(self) -> BatchService:
        """Batch transform: a model version over a whole input into Parquet, on the local
        engine or a Dask cluster, resuming where a failed run stopped."""
        from shipyard.serving.batch import BatchService

        return BatchService(self)

    @cached_property
    def jobs(self) -> JobService:
        """The durable job queue as this principal sees it: list, show, cancel, retry."""
        from shipyard.jobs.service import JobService

        return JobService(self.runtime.jobs, authorize=self.authorize)

    @cached_property
    def pipelines(self) -> PipelineService:
        """Run pipelines as the pipeline principal, with caching and one build id; their records."""
        from shipyard.pipeline import PipelineService

        return PipelineService(
            principal=self.principal,
            act_as=self.as_principal,
            metadata=self.metadata,
            artifacts=self.artifacts,
            jobs=self.runtime.jobs,
            authorize=self.authorize,
            settings=self.settings,
        )

    @property
    def principal(self) -> str:
        """Who this workspace acts as (the principal setting unless given), case-folded
        (``ALICE`` is ``alice``, and ``PIPELINE`` the pipeline principal)."""
        return self._principal

    def lineage(self, ref: str | Ref) -> Lineage:
        """The lineage recorded for ``ref`` (such as ``model:delay@7``; without a version,
        the latest). A pipeline run named without its version (``pipeline_run:NAME``, as a
        run's own steps know it) is resolved through the build id to ``pipeline_run:NAME@V``.
        """
        import dataclasses

        subject = ref if isinstance(ref, Ref) else Ref.parse(ref)
        if subject.version is None:
            subject = self.metadata.get_version(subject.kind, subject.name).ref
        found = self.metadata.get_lineage(subject)
        run = found.pipeline_run
        if run and found.build_id and "@" not in run:
            exact = _pipeline_run_of_build(self.metadata, found.build_id)
            if exact is not None:
                found = dataclasses.replace(found, pipeline_run=exact)
        if subject.kind == "model":  # where the version went: its deployments, newest first
            deployed = [
                f"deployment:{d.id} {d.strategy} on endpoint {d.endpoint}: {d.state} "
                f"({d.created_at:%Y-%m-%d %H:%M} by {d.created_by})"
                for d in self.runtime.control.deployments(limit=1000)
                if d.spec.get("model") == str(subject)
            ]
            if deployed:
                found = dataclasses.replace(found, extra={**found.extra, "deployments": deployed})
        return found

    def info(self) -> WorkspaceInfo:
        objects, size = self.artifacts.stats()
        return WorkspaceInfo(
            home=self.settings.home,
            config_file=self.settings.config_file,
            principal=self.principal,
            metadata=self.metadata.info(),
            artifact_url=self.artifacts.url,
            artifact_objects=objects,
            artifact_bytes=size,
            online_url=self.settings.online_url,
        )

    def close(self) -> None:
        """Close the runtime if this workspace opened it (as :func:`connect` does)."""
        if self._owns_runtime:
            self.runtime.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace(home={str(self.settings.home)!r}, principal={self.principal!r})"


def connect(home: str | Path | None = None, **overrides: Any) -> Workspace:
    """Open (creating if needed) the workspace at ``home``: the one entry point.

    Settings not given here come from ``SHIPYARD_*`` variables, then
    ``shipyard.toml``, then defaults (see :mod:`shipyard.config`). The embedded
    SQLite store migrates itself on first use; a PostgreSQL store must be
    migrated with ``shipyard db upgrade`` first.

    >>> import shipyard, tempfile
    >>> with shipyard.connect(tempfile.mkdtemp()) as ws:
    ...     ws.metadata.list_names("dataset")
    []
    """
    settings = load_settings(home, **overrides)
    return open_workspace(settings)


def open_workspace(settings: Settings, *, source: str = "python") -> Workspace:
    """Open a workspace, with a runtime of its own, from already validated settings;
    ``source`` names where its calls come from in the audit log."""
    return Workspace(runtime_from_settings(settings), source=source, owns_runtime=True)


def _pipeline_run_of_build(metadata: MetadataStore, build_id: str) -> str | None:
    """``pipeline_run:NAME@V`` of the run with ``build_id`` (None while it is still running)."""
    from shipyard.errors import NotFound
    from shipyard.pipeline.runner import BUILD_KIND, RUN_KIND, build_key

    try:
        entries = metadata.list_versions(BUILD_KIND, build_key(build_id))
    except NotFound:
        return None
    if not entries:
        return None
    attributes = entries[-1].attributes
    return str(Ref(RUN_KIND, attributes["pipeline"], int(attributes["version"])))
