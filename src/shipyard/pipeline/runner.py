"""Running pipelines, and the records they leave (``PipelineService``).

A run takes the steps in topological order. Each step's inputs are read back
from the artifact store (so a step sees exactly what a cached run would give
it), its outputs are stored there (see :mod:`shipyard.pipeline.values`), and a
step whose code and inputs are unchanged is taken from the cache without
running (see :mod:`shipyard.pipeline.cache`). The first step that fails stops
the run; the steps after it are ``not-run``.

Steps act as the principal ``pipeline``: their context holds a workspace that
``act_as("pipeline")`` gives (the runtime's, acting as that principal). The caller
needs the ``pipeline:Run`` permission on ``shipyard:pipeline:NAME`` to start a run
(everyone has it until policies are attached to them). The service is given what it
uses (the stores it writes, ``act_as``, ``authorize``, the settings), not a workspace.

While it runs, a run is a durable job of kind ``pipeline_run`` (see
:mod:`shipyard.pipeline.live`): ``running`` from its first step, with a lease, a
heartbeat and the step it is on, so ``shipyard pipeline runs`` shows it, and shows
it failed once its lease runs out if its process died.

Everything a run produces carries one build id: ``build_id=`` if given, else
the ``build_id`` setting (``SHIPYARD_BUILD_ID``, set by CI), else a new one.

Storage (the metadata store's generic ``versions`` table):

- kind ``pipeline_run``, name = the pipeline name, one version per run;
  attributes: ``build_id``, ``status`` (succeeded, failed, gate-failed,
  interrupted), ``failed_step``, ``error`` ({type, message, hint, gate}),
  ``steps`` (list of {name, status, started, duration, log, outputs, inputs,
  cache_key, code_hash, cached_from, note, error}), ``params``, ``cache``,
  ``code_version``, ``principal`` (``pipeline``), ``triggered_by``,
  ``started``, ``finished``, ``duration``. Written once, at the end of the
  run, also when a step failed or the run was interrupted.
- kind ``pipeline_build``, name = sha256 of the build id: an index from a
  build id to the run versions that carry it (attributes ``build_id``,
  ``pipeline``, ``version``), so ``get_run(build_id)`` is two lookups.
- lineage of ``pipeline_run:NAME@V``: code version and build id.
- step logs (the step's Python logging at INFO and above, what it printed to
  stdout and stderr, and the traceback if it failed) are artifacts; the step
  record holds their digest.
"""

from __future__ import annotations

import copy
import hashlib
import io
import logging
import shutil
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, redirect_stderr, redirect_stdout
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from shipyard.errors import GateFailed, NotFound, ShipyardError
from shipyard.jsonsafe import jsonable
from shipyard.lineage import Lineage, code_version, new_build_id
from shipyard.pipeline.cache import StepCache, Uncacheable, cache_key, code_hash
from shipyard.pipeline.live import RUN_JOB_KIND, RUN_LEASE, LiveRun, RunJob
from shipyard.pipeline.step import Step, StepContext, StepWorkspace, freeze
from shipyard.pipeline.values import StoredValue, load_value, store_value, value_digest
from shipyard.types import Ref

if TYPE_CHECKING:
    from shipyard.config import Settings
    from shipyard.pipeline.graph import Pipeline
    from shipyard.stores.artifacts import ArtifactStore
    from shipyard.stores.jobs import Job, JobStore
    from shipyard.stores.metadata.base import MetadataStore, VersionRecord

PIPELINE_PRINCIPAL = "pipeline"
RUN_KIND = "pipeline_run"
BUILD_KIND = "pipeline_build"
RUN_ACTION = "pipeline:Run"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class Status(StrEnum):
    """The status of a step or of a whole run."""

    SUCCEEDED = "succeeded"
    CACHED = "cached"  # a step whose stored outputs were reused without running it
    FAILED = "failed"
    GATE_FAILED = "gate-failed"  # the step raised GateFailed: a guardrail said no
    NOT_RUN = "not-run"  # a step after the one that failed
    INTERRUPTED = "interrupted"


PASSED = frozenset({Status.SUCCEEDED, Status.CACHED})


class PipelineFailed(ShipyardError):
    """A pipeline step failed (a gate failure is :class:`GateFailed` instead)."""

    code = "pipeline_failed"
    exit_code = 1


@dataclass(frozen=True)
class StepRecord:
    """What happened to one step in one run."""

    name: str
    status: Status
    started: datetime | None = None
    duration: float | None = None
    log: str | None = None  # digest of the captured log
    outputs: Mapping[str, StoredValue] = field(default_factory=dict)
    inputs: Mapping[str, str] = field(default_factory=dict)  # input name -> digest
    cache_key: str | None = None
    code_hash: str | None = None
    cached_from: str | None = None  # the build that computed a cached step's outputs
    note: str | None = None  # why a step was not cached, for example
    error: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": str(self.status),
            "started": self.started.isoformat() if self.started else None,
            "duration": self.duration,
            "log": self.log,
            "outputs": {k: v.to_dict() for k, v in self.outputs.items()},
            "inputs": dict(self.inputs),
            "cache_key": self.cache_key,
            "code_hash": self.code_hash,
            "cached_from": self.cached_from,
            "note": self.note,
            "error": dict(self.error) if self.error else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepRecord:
        return cls(
            name=data["name"],
            status=Status(data["status"]),
            started=_parse_time(data.get("started")),
            duration=data.get("duration"),
            log=data.get("log"),
            outputs={k: StoredValue.from_dict(v) for k, v in data.get("outputs", {}).items()},
            inputs=dict(data.get("inputs", {})),
            cache_key=data.get("cache_key"),
            code_hash=data.get("code_hash"),
            cached_from=data.get("cached_from"),
            note=data.get("note"),
            error=data.get("error"),
        )


@dataclass(frozen=True)
class PipelineRun:
    """A stored pipeline run: its steps, build id and outcome; ``outputs`` loads step outputs.

    >>> run = ws_pipelines.run(pipeline)                      # doctest: +SKIP
    >>> run.status, run.build_id, run.outputs["model"]        # doctest: +SKIP
    """

    pipeline: str
    version: int
    build_id: str
    status: Status
    steps: tuple[StepRecord, ...]
    params: Mapping[str, Any]
    started: datetime
    duration: float
    principal: str
    triggered_by: str
    code_version: Mapping[str, Any]
    failed_step: str | None
    error: Mapping[str, Any] | None
    cache: bool
    _artifacts: ArtifactStore = field(repr=False, compare=False)
    _scratch: Path = field(repr=False, compare=False)

    @property
    def ref(self) -> Ref:
        return Ref(RUN_KIND, self.pipeline, self.version)

    @property
    def succeeded(self) -> bool:
        return self.status == Status.SUCCEEDED

    @property
    def exit_code(self) -> int:
        """0 when every step passed; GateFailed's code (6) for a gate; 130 if interrupted."""
        codes = {Status.SUCCEEDED: 0, Status.GATE_FAILED: GateFailed.exit_code}
        return codes.get(self.status, 130 if self.status == Status.INTERRUPTED else 1)

    def step(self, name: str) -> StepRecord:
        for record in self.steps:
            if record.name == name:
                return record
        raise NotFound(f"Run {self.ref} has no step {name!r}.")

    @cached_property
    def outputs(self) -> RunOutputs:
        """Every output the run produced (or took from the cache), loaded on access."""
        stored = {k: v for s in self.steps for k, v in s.outputs.items()}
        return RunOutputs(stored, self._artifacts, self._scratch)

    def log(self, step: str) -> str:
        """The captured log of a step that ran ('' for cached and not-run steps)."""
        digest = self.step(step).log
        return self._artifacts.get_bytes(digest).decode("utf-8", "replace") if digest else ""

    def check(self) -> None:
        """Raise GateFailed or PipelineFailed (one line naming the step) unless the run passed."""
        if self.status == Status.SUCCEEDED:
            return
        where = f"Pipeline {self.pipeline!r} (build {self.build_id})"
        reason = _one_line(self.error)
        hint = f"See `shipyard pipeline show {self.build_id} --log {self.failed_step}`."
        if self.status == Status.GATE_FAILED:
            raise GateFailed(f"{where}: gate step {self.failed_step!r} failed: {reason}", hint=hint)
        if self.status == Status.INTERRUPTED:
            raise PipelineFailed(f"{where} was interrupted at step {self.failed_step!r}.")
        raise PipelineFailed(f"{where}: step {self.failed_step!r} failed: {reason}", hint=hint)

    @classmethod
    def from_record(
        cls, record: VersionRecord, artifacts: ArtifactStore, scratch: Path
    ) -> PipelineRun:
        data = record.attributes
        return cls(
            pipeline=record.name,
            version=record.version,
            build_id=data["build_id"],
            status=Status(data["status"]),
            steps=tuple(StepRecord.from_dict(s) for s in data.get("steps", [])),
            params=data.get("params", {}),
            started=_parse_time(data.get("started")) or record.created_at,
            duration=float(data.get("duration") or 0.0),
            principal=data.get("principal", record.created_by),
            triggered_by=data.get("triggered_by", ""),
            code_version=data.get("code_version", {}),
            failed_step=data.get("failed_step"),
            error=data.get("error"),
            cache=bool(data.get("cache", True)),
            _artifacts=artifacts,
            _scratch=scratch,
        )


class RunOutputs(Mapping[str, Any]):
    """``run.outputs[name]``: a step output, read back from the artifact store."""

    def __init__(self, stored: Mapping[str, StoredValue], artifacts: ArtifactStore, scratch: Path):
        self._stored = dict(stored)
        self._artifacts = artifacts
        self._scratch = scratch

    def __getitem__(self, name: str) -> Any:
        if name not in self._stored:
            known = ", ".join(sorted(self._stored)) or "none"
            raise KeyError(f"No output {name!r} in this run (outputs: {known}).")
        return load_value(self._artifacts, self._stored[name], self._scratch)

    def __iter__(self) -> Iterator[str]:
        return iter(self._stored)

    def __len__(self) -> int:
        return len(self._stored)

    def stored(self, name: str) -> StoredValue:
        """Where an output is stored (digest, format, type, size), without loading it."""
        return self._stored[name]


class RunObserver(Protocol):
    """Told as steps start and finish (the CLI's progress display is one)."""

    def step_started(self, step: str, index: int, total: int) -> None: ...

    def step_finished(self, record: StepRecord) -> None: ...


class _Quiet:
    def step_started(self, step: str, index: int, total: int) -> None:
        pass

    def step_finished(self, record: StepRecord) -> None:
        pass


Authorize = Callable[[str, str], None]


class PipelineService:
    """Run pipelines, and read back their records (``ws.pipelines`` wires one).

    ``principal`` is who asks for runs; ``act_as(name)`` gives the services acting as
    ``name`` (the steps get ``act_as("pipeline")``); ``authorize(action, resource)``
    raises AccessDenied for ``principal``; ``lease`` is how long a run whose process
    stopped heartbeating stays ``running``.

    >>> service = ws.pipelines                                           # doctest: +SKIP
    >>> run = service.run(pipeline, {"threshold": 0.7})                  # doctest: +SKIP
    >>> service.get_run(run.build_id).steps[0].status                    # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        principal: str,
        act_as: Callable[[str], StepWorkspace],
        metadata: MetadataStore,
        artifacts: ArtifactStore,
        jobs: JobStore,
        authorize: Authorize,
        settings: Settings,
        lease: timedelta = RUN_LEASE,
    ) -> None:
        self._principal = principal
        self._act_as = act_as
        self._metadata = metadata
        self._artifacts = artifacts
        self._jobs = jobs
        self._authorize_call = authorize
        self._settings = settings
        self._lease = lease

    @property
    def _scratch_root(self) -> Path:
        return self._settings.home / "tmp"

    def run(
        self,
        pipeline: Pipeline,
        params: Mapping[str, Any] | None = None,
        *,
        cache: bool = True,
        build_id: str | None = None,
        observer: RunObserver | None = None,
        job: Job | None = None,
        triggered_by: str | None = None,
    ) -> PipelineRun:
        """Run ``pipeline``; returns the stored record (check ``status`` or call ``check()``).

        ``cache=False`` runs every step (fresh results still update the cache).
        A KeyboardInterrupt is recorded (status ``interrupted``) and re-raised.
        The run is a ``pipeline_run`` job while it runs; ``job`` is one a worker claimed
        for it (the worker keeps its lease and ends it), else the run starts its own.
        ``triggered_by`` overrides who the record says asked (a schedule, for example).
        """
        values = pipeline.resolve_params(params)
        self._authorize(pipeline.name)
        build = build_id or self._settings.build_id or new_build_id()
        who = triggered_by or self._principal
        total = len(pipeline.order)
        started = datetime.now(UTC)
        clock = time.perf_counter()
        if job is None:
            tracker = RunJob.start(
                self._jobs,
                pipeline=pipeline.name,
                build_id=build,
                total=total,
                params=values,
                triggered_by=who,
                lease=self._lease,
            )
        else:
            tracker = RunJob.attach(
                self._jobs, job, pipeline=pipeline.name, build_id=build, total=total
            )
        with tracker, self._scratch() as scratch:
            execution = _Execution(
                pipeline,
                values,
                build,
                self._act_as(PIPELINE_PRINCIPAL),
                (self._metadata, self._artifacts),
                scratch,
                cache,
                observer or _Quiet(),
                before_step=tracker.before_step,
            )
            try:
                execution.run_all()
            finally:
                record = self._store(execution, started, time.perf_counter() - clock, who)
            result = PipelineRun.from_record(record, self._artifacts, self._scratch_root)
            tracker.finish(
                succeeded=result.succeeded,
                result={
                    "pipeline": result.pipeline,
                    "version": result.version,
                    "build_id": result.build_id,
                    "status": str(result.status),
                },
                error=f"{result.status} at step {result.failed_step!r}: {_one_line(result.error)}",
            )
        return result

    def get_run(self, build_id: str, *, pipeline: str | None = None) -> PipelineRun:
        """The (latest) run carrying ``build_id``, optionally of one pipeline."""
        entries = self._metadata.list_versions(BUILD_KIND, build_key(build_id))
        matching = [e for e in entries if pipeline in (None, e.attributes["pipeline"])]
        if not matching:
            raise NotFound(
                f"No pipeline run with build id {build_id!r}"
                + (f" of pipeline {pipeline!r}." if pipeline else "."),
                hint="See `shipyard pipeline runs` for recent build ids.",
            )
        latest = matching[-1].attributes
        return self.get_version(latest["pipeline"], int(latest["version"]))

    def get_version(self, pipeline: str, version: int | None = None) -> PipelineRun:
        """Run ``version`` (default: the latest) of a pipeline."""
        record = self._metadata.get_version(RUN_KIND, pipeline, version)
        return PipelineRun.from_record(record, self._artifacts, self._scratch_root)

    def list_runs(self, pipeline: str | None = None, *, limit: int = 50) -> list[PipelineRun]:
        """Runs of one pipeline (or of all), newest first."""
        records = self._metadata.find_versions(
            RUN_KIND, pipeline, newest_first=True, limit=max(limit, 0)
        )
        return [PipelineRun.from_record(r, self._artifacts, self._scratch_root) for r in records]

    def live_runs(self, pipeline: str | None = None, *, limit: int = 50) -> list[LiveRun]:
        """Runs without a record, newest first: queued, running (with their step), and
        failed before they could write one (their process died, seen once the lease ran
        out). A run that ended normally is in :meth:`list_runs` instead."""
        self._jobs.expire()  # a dead process's run shows failed now, with or without a server
        found: dict[int, LiveRun] = {}  # by job id: a job may move state while we look
        for state in ("queued", "running", "failed"):
            for job in self._jobs.list(kind=RUN_JOB_KIND, state=state, limit=limit):
                live = LiveRun.from_job(_failed_if_abandoned(self._jobs, job))
                if pipeline not in (None, live.pipeline):
                    continue
                ended = live.state == "failed"
                if ended and live.build_id and self._has_record(live.build_id):
                    continue  # the run wrote its record: list_runs shows it
                found[live.job_id] = live
        newest = sorted(found.values(), key=lambda r: r.job_id, reverse=True)
        return newest[: max(limit, 0)]

    def _has_record(self, build_id: str) -> bool:
        try:
            return bool(self._metadata.list_versions(BUILD_KIND, build_key(build_id)))
        except NotFound:
            return False

    def _authorize(self, name: str) -> None:
        self._authorize_call(RUN_ACTION, f"shipyard:pipeline:{name}")

    @contextmanager
    def _scratch(self) -> Iterator[Path]:
        folder = self._scratch_root / f"pipeline-{uuid.uuid4().hex[:12]}"
        folder.mkdir(parents=True, exist_ok=True)
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _store(
        self, execution: _Execution, started: datetime, duration: float, triggered_by: str
    ) -> VersionRecord:
        """Write the run record, its build-id index entry and its lineage."""
        pipeline = execution.pipeline
        attributes = execution.summary(started, duration)
        attributes["triggered_by"] = triggered_by
        attributes["code_version"] = _code_version(pipeline)
        metadata = self._metadata
        record, _ = metadata.create_version(
            RUN_KIND,
            pipeline.name,
            created_by=PIPELINE_PRINCIPAL,
            attributes=attributes,
            description=f"build {execution.build_id}: {attributes['status']}",
        )
        metadata.create_version(
            BUILD_KIND,
            build_key(execution.build_id),
            created_by=PIPELINE_PRINCIPAL,
            attributes={
                "build_id": execution.build_id,
                "pipeline": pipeline.name,
                "version": record.version,
            },
        )
        lineage = Lineage.from_dict(
            {
                "code": attributes["code_version"],
                "build_id": execution.build_id,
                "pipeline_run": str(record.ref),
            }
        )
        metadata.put_lineage(record.ref, lineage)
        return record


class _Execution:
    """One run in progress: the step loop and what it has produced so far."""

    def __init__(
        self,
        pipeline: Pipeline,
        params: Mapping[str, Any],
        build_id: str,
        acting: StepWorkspace,
        stores: tuple[MetadataStore, ArtifactStore],
        scratch: Path,
        read_cache: bool,
        observer: RunObserver,
        *,
        before_step: Callable[[str, int, int], bool],
    ) -> None:
        self.pipeline = pipeline
        self.params = dict(params)
        self.build_id = build_id
        self.acting = acting
        self.metadata, self.artifacts = stores
        self.scratch = scratch
        self.read_cache = read_cache
        self.observer = observer
        self.before_step = before_step  # says which step starts; False: stop (cancelled)
        self.records: dict[str, StepRecord] = {}
        self.produced: dict[str, StoredValue] = {}
        self.cache = StepCache(self.metadata, self.artifacts, principal=PIPELINE_PRINCIPAL)

    @cached_property
    def param_digests(self) -> dict[str, str]:
        return {name: value_digest(value) for name, value in self.params.items()}

    def run_all(self) -> None:
        total = len(self.pipeline.order)
        for index, item in enumerate(self.pipeline.order):
            if self.failed is not None or not self.before_step(item.name, index, total):
                self.records[item.name] = StepRecord(item.name, Status.NOT_RUN)
                continue
            self.observer.step_started(item.name, index, total)
            record = self.run_step(item)
            self.records[item.name] = record
            self.produced.update(record.outputs)
            self.observer.step_finished(record)

    @property
    def failed(self) -> StepRecord | None:
        return next((r for r in self.records.values() if r.status not in PASSED), None)

    def run_step(self, item: Step) -> StepRecord:
        """Take the step from the cache, or run it; a step's own errors make a failed record."""
        started = datetime.now(UTC)
        try:
            base = self._prepare(item, started)
            return self._from_cache(item, base) or self._execute(item, base)
        except BaseException as exc:
            # Ctrl-C, or the stores failed: keep what is known so the run record says where.
            stopped = Status.INTERRUPTED if isinstance(exc, KeyboardInterrupt) else Status.FAILED
            error = _error(exc, gate=False)
            self.records[item.name] = StepRecord(item.name, stopped, started, error=error)
            raise

    def _prepare(self, item: Step, started: datetime) -> StepRecord:
        """The step's record before it runs: its input digests, code hash and cache key."""
        inputs = self._input_digests(item)
        code, key, note = self._cache_key(item, inputs)
        base = StepRecord(item.name, Status.SUCCEEDED, started, inputs=inputs)
        return replace(base, cache_key=key, code_hash=code, note=note)

    def _from_cache(self, item: Step, base: StepRecord) -> StepRecord | None:
        if base.cache_key is None or not item.cache or not self.read_cache:
            return None
        hit = self.cache.lookup(base.cache_key)
        if hit is None:
            return None
        cached = replace(base, status=Status.CACHED, duration=0.0, outputs=hit.outputs)
        return replace(cached, cached_from=hit.build_id)

    def _execute(self, item: Step, base: StepRecord) -> StepRecord:
        clock = time.perf_counter()
        capture = _Capture()
        status: Status = Status.SUCCEEDED
        error: dict[str, Any] | None = None
        outputs: dict[str, StoredValue] = {}
        try:
            with capture:
                produced = item.split_outputs(item.call(**self._arguments(item)))
            outputs = self._store_outputs(produced)
        except GateFailed as exc:
            status, error = Status.GATE_FAILED, _error(exc, gate=True)
            capture.write_traceback(exc)
        except (Exception, SystemExit) as exc:  # a step calling sys.exit() failed, not the run
            status, error = Status.FAILED, _error(exc, gate=False)
            capture.write_traceback(exc)
        log = self.artifacts.put_bytes(capture.text().encode()).digest
        duration = time.perf_counter() - clock
        record = replace(
            base, status=status, duration=duration, outputs=outputs, log=log, error=error
        )
        if status == Status.SUCCEEDED and base.cache_key is not None and item.cache:
            self._remember(item, record)
        return record

    def _store_outputs(self, produced: Mapping[str, Any]) -> dict[str, StoredValue]:
        artifacts = self.artifacts
        return {name: store_value(artifacts, v, self.scratch) for name, v in produced.items()}

    def _remember(self, item: Step, record: StepRecord) -> None:
        assert record.cache_key is not None
        details = {
            "step": item.name,
            "pipeline": self.pipeline.name,
            "build_id": self.build_id,
            "code_hash": record.code_hash,
            "inputs": dict(record.inputs),
        }
        self.cache.store(record.cache_key, record.outputs, details=details)

    def _arguments(self, item: Step) -> dict[str, Any]:
        """The step's keyword arguments: stored outputs read back, parameters, its context."""
        kwargs: dict[str, Any] = {}
        for name, binding in self.pipeline.bindings[item.name].items():
            if binding.source == "output":
                kwargs[name] = load_value(self.artifacts, self.produced[name], self.scratch)
            elif binding.source == "param":
                kwargs[name] = copy.deepcopy(self.params[name])  # no step changes another's
        if item.wants_context:
            kwargs["context"] = self._context(item)
        return kwargs

    def _context(self, item: Step) -> StepContext:
        folder = self.scratch / "steps" / item.name
        folder.mkdir(parents=True, exist_ok=True)
        logger = logging.getLogger(f"shipyard.pipeline.{self.pipeline.name}.{item.name}")
        logger.setLevel(logging.INFO)
        return StepContext(
            workspace=self.acting,
            build_id=self.build_id,
            pipeline=self.pipeline.name,
            step=item.name,
            logger=logger,
            scratch=folder,
            params=freeze(copy.deepcopy(self.params)),
        )

    def _input_digests(self, item: Step) -> dict[str, str]:
        digests: dict[str, str] = {}
        for name, binding in self.pipeline.bindings[item.name].items():
            if binding.source == "output":
                digests[name] = self.produced[name].digest
            elif binding.source == "param":
                digests[name] = self.param_digests[name]
        if item.wants_context:  # it can read every parameter through context.params
            everything = "".join(f"{k}={v};" for k, v in sorted(self.param_digests.items()))
            digests["context.params"] = hashlib.sha256(everything.encode()).hexdigest()
        return digests

    @staticmethod
    def _cache_key(
        item: Step, inputs: Mapping[str, str]
    ) -> tuple[str | None, str | None, str | None]:
        """(code hash, cache key, note); the note says why a step cannot be cached."""
        try:
            code = code_hash(item)
        except Uncacheable as exc:
            return None, None, f"not cacheable: {exc}"
        return code, cache_key(item, code, inputs), None

    def summary(self, started: datetime, duration: float) -> dict[str, Any]:
        """The run record's attributes (all but who triggered it and the code version)."""
        steps = [
            self.records.get(s.name, StepRecord(s.name, Status.NOT_RUN))
            for s in self.pipeline.order
        ]
        failed = next((r for r in steps if r.status not in PASSED | {Status.NOT_RUN}), None)
        status = failed.status if failed else Status.SUCCEEDED
        if failed is None and any(r.status == Status.NOT_RUN for r in steps):
            status = Status.INTERRUPTED  # stopped between two steps
        return {
            "build_id": self.build_id,
            "status": str(status),
            "failed_step": failed.name if failed else None,
            "error": dict(failed.error) if failed and failed.error else None,
            "steps": [r.to_dict() for r in steps],
            "params": jsonable(self.params),
            "cache": self.read_cache,
            "principal": PIPELINE_PRINCIPAL,
            "started": started.isoformat(),
            "finished": datetime.now(UTC).isoformat(),
            "duration": duration,
        }


class _Capture:
    """Collect a step's logging (INFO and up), stdout and stderr into one text."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._stack = ExitStack()

    def __enter__(self) -> _Capture:
        handler = logging.StreamHandler(self._buffer)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.setLevel(logging.INFO)
        root = logging.getLogger()
        root.addHandler(handler)
        self._stack.callback(root.removeHandler, handler)
        if root.level > logging.INFO:  # the default WARNING would drop the steps' info lines
            self._stack.callback(root.setLevel, root.level)
            root.setLevel(logging.INFO)
        self._stack.enter_context(redirect_stdout(self._buffer))
        self._stack.enter_context(redirect_stderr(self._buffer))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    def write_traceback(self, exc: BaseException) -> None:
        self._buffer.write("".join(traceback.format_exception(exc)))

    def text(self) -> str:
        return self._buffer.getvalue()


def _failed_if_abandoned(jobs: JobStore, job: Job) -> Job:
    """A running run whose lease ran out with attempts left (a scheduled run's job may have
    several) is failed all the same, under the token it was seen with: running a pipeline
    twice is not idempotent, so no worker may take it up again."""
    expiry = job.lease_expires_at
    if job.state != "running" or expiry is None or expiry >= datetime.now(UTC):
        return job
    from shipyard.stores.jobs import DIED

    return jobs.fail(job, DIED, retry=False) or job


def build_key(build_id: str) -> str:
    """The record name of a build id's index entry (any build id text is allowed)."""
    return hashlib.sha256(build_id.encode()).hexdigest()


def _error(exc: BaseException, *, gate: bool) -> dict[str, Any]:
    message = exc.message if isinstance(exc, ShipyardError) else str(exc)
    if isinstance(exc, SystemExit):
        message = f"the step called sys.exit({exc.code!r})"
    hint = exc.hint if isinstance(exc, ShipyardError) else None
    return {"type": type(exc).__name__, "message": message[:4000], "hint": hint, "gate": gate}


def _one_line(error: Mapping[str, Any] | None) -> str:
    if not error:
        return "no error was recorded"
    lines = str(error.get("message") or "").strip().splitlines()
    message = lines[0] if lines else "(no message)"
    return message if error.get("gate") else f"{error.get('type')}: {message}"


def _code_version(pipeline: Pipeline) -> dict[str, Any]:
    """The git state of the code that defines the pipeline (its file, else its first step's)."""
    import inspect

    where = pipeline.source
    if where is None:
        try:
            where = Path(inspect.getfile(pipeline.order[0].code))  # type: ignore[arg-type]
        except (TypeError, OSError):
            where = None
    return asdict(code_version(where))


def _parse_time(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) else None


__all__ = [
    "PIPELINE_PRINCIPAL",
    "LiveRun",
    "PipelineFailed",
    "PipelineRun",
    "PipelineService",
    "RunObserver",
    "RunOutputs",
    "Status",
    "StepRecord",
]
