"""The tracker (``ws.runs``): start runs, read them back, search and compare them.

Access is per experiment: reading its runs (get, search, compare, metrics, artifacts)
needs ``runs:Read`` and creating it, starting, tagging, annotating or ending its runs
``runs:Write``, on ``shipyard:experiment:NAME``. A search that names no experiment,
and the list of experiments, cover those the principal may read. What a run handle
logs after it started is part of the run its start was allowed to write.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput, NotFound
from shipyard.security.filtering import permitted, readable
from shipyard.stores.tracking import tracking_store_for
from shipyard.stores.tracking.base import (
    Experiment,
    MetricPoint,
    NewRun,
    RunInfo,
    RunKey,
    RunStatus,
    TrackingStore,
)
from shipyard.stores.tracking.query import attribute_condition
from shipyard.training.tracking.compare import RunComparison, compare_runs
from shipyard.training.tracking.heartbeat import HEARTBEAT_INTERVAL, Heartbeat
from shipyard.training.tracking.run import Run
from shipyard.training.tracking.search import compile_filter, parse_order_by
from shipyard.training.tracking.validate import (
    check_end_status,
    check_key,
    check_name,
    check_text,
)
from shipyard.training.tracking.writer import BatchWriter
from shipyard.types import check_name as check_experiment_name

if TYPE_CHECKING:
    from shipyard.stores.artifacts import ArtifactStore
    from shipyard.stores.metadata.base import MetadataStore

DEFAULT_EXPERIMENT = "default"
# Run ids are reserved in blocks, the first this big, each next one twice the last, up to
# the largest: a process that starts one run wastes few ids, a sweep few round trips.
FIRST_ID_BLOCK, LARGEST_ID_BLOCK = 16, 1024


# More than any database's integer bounds a LIMIT by; more than a screen or a file wants.
MAX_SEARCH_RESULTS = 1_000_000
READ, WRITE = "runs:Read", "runs:Write"

Authorize = Callable[[str, "str | Sequence[str]"], None]


def experiment_resource(name: str) -> str:
    """The policy resource of an experiment and all of its runs."""
    return f"shipyard:experiment:{name}"


class Tracker:
    """Experiment tracking on a workspace's stores; ``ws.runs`` is one.

    >>> with ws.runs.start_run("churn") as run:  # doctest: +SKIP
    ...     run.log_param("model", "hgb")
    ...     run.log_metric("val_auc", 0.91)
    >>> ws.runs.search("metrics.val_auc > 0.9", order_by=["metrics.val_auc DESC"])  # doctest: +SKIP
    """

    def __init__(
        self,
        metadata: MetadataStore,
        artifacts: ArtifactStore,
        principal: str,
        *,
        flush_interval: float = 0.1,
        batch_size: int = 1000,
        heartbeat_interval: float | None = HEARTBEAT_INTERVAL,
        authorize: Authorize | None = None,
    ) -> None:
        """``heartbeat_interval``: seconds between the beats that keep open runs alive
        (None: no heartbeat, so a run whose process dies reads as running forever).
        ``authorize`` checks every read and write (default: the stored policies of
        ``principal``, as ``ws.security.require`` would)."""
        self._store = tracking_store_for(metadata)
        self._artifacts = artifacts
        self.principal = principal
        if authorize is None:  # built alone (tests, scripts): the stored policies still apply
            from shipyard.security.service import SecurityService

            authorize = SecurityService(metadata, principal=principal).require
        self._authorize = authorize
        self._writer = BatchWriter(
            self._store,
            interval=flush_interval,
            batch_size=batch_size,
            background=self._store.supports_threads,
        )
        self._experiment_ids: dict[str, int] = {}
        self._active: dict[int, Run] = {}  # runs to end at interpreter exit
        self._lock = threading.Lock()
        self._pid = os.getpid()  # a forked child that exits must not end the parent's runs
        self._ids: list[int] = []  # reserved run ids not used yet, next last
        self._ids_pid = self._pid  # a forked child must not use its parent's reserved ids
        self._id_block = FIRST_ID_BLOCK // 2
        self._heartbeat: Heartbeat | None = None
        if heartbeat_interval is not None:
            if isinstance(heartbeat_interval, bool) or not (
                isinstance(heartbeat_interval, int | float) and heartbeat_interval > 0
            ):
                raise InvalidInput(
                    f"heartbeat_interval must be a positive number of seconds or None, "
                    f"got {heartbeat_interval!r}.",
                    hint=f"The default is {HEARTBEAT_INTERVAL:g} seconds.",
                )
            # An in-memory database dies with the process: there is nothing to outlive it.
            if self._store.supports_threads:
                self._heartbeat = Heartbeat(self._store, interval=float(heartbeat_interval))

    # -- runs -------------------------------------------------------------------------

    def start_run(
        self,
        experiment: str | None = None,
        name: str | None = None,
        *,
        parent: Run | str | None = None,
        record: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> Run:
        """Start a run in ``experiment`` (the parent's, else "default"); use it with ``with``.

        ``record`` is the automatically recorded environment (JSON-serialisable); every run
        records at least the code commit, interpreter, package-list hash and host
        (:func:`~shipyard.training.environment.process_environment`), and what ``record``
        gives on top (the runner adds the seed, the full package list, data and split).

        The run is usable at once; its row reaches the database with the background
        writer's next batch, within ``flush_interval`` (0.1 s), or with its end if that
        comes sooner. Reading it back through this tracker always finds it.

        >>> with ws.runs.start_run("churn", name="sweep") as sweep:  # doctest: +SKIP
        ...     with sweep.start_child(name="lr=0.1") as child:
        ...         child.log_metric("auc", 0.9)
        """
        parent_id, parent_uid = None, None
        if parent is not None:
            info = self.get_run(parent)
            key = RunKey(parent.id, parent.uid) if isinstance(parent, Run) else None
            parent_id, parent_uid = (key or self._store.run_key(info.uid)).id, info.uid
            experiment = experiment or info.experiment
        experiment = check_experiment_name(experiment or DEFAULT_EXPERIMENT, "Experiment name")
        self._authorize(WRITE, experiment_resource(experiment))
        from shipyard.training.environment import process_environment

        record = {**process_environment(), **(record or {})}
        try:
            json.dumps(record)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"The run record is not JSON-serialisable: {exc}.") from None
        uid = uuid.uuid4().hex
        name = check_name(name) if name is not None else f"run-{uid[:8]}"
        run_id = self._next_run_id()
        started = datetime.now(UTC)
        new = NewRun(
            uid=uid,
            experiment_id=self._experiment_id(experiment),
            name=name,
            start_time=started,
            created_by=self.principal,
            parent_id=parent_id,
            record=record,
            id=run_id,
            alive_until=self._heartbeat.deadline(started) if self._heartbeat else None,
        )
        self._writer.add_run(new)
        run = Run(self, RunKey(run_id, uid), experiment=experiment, name=name, parent=parent_uid)
        with self._lock:
            if not self._active:
                atexit.register(self._at_exit)
            self._active[run.id] = run
        if self._heartbeat is not None:
            self._heartbeat.add(run.id)
        if tags:
            run.set_tags(tags)
        return run

    def _next_run_id(self) -> int:
        with self._lock:
            if self._ids_pid != os.getpid():
                self._ids, self._ids_pid = [], os.getpid()
            if not self._ids:
                self._id_block = min(self._id_block * 2, LARGEST_ID_BLOCK)
                self._ids = list(reversed(self._store.reserve_run_ids(self._id_block)))
            return self._ids.pop()

    def end_run(self, run: Run | str, status: RunStatus = "killed") -> RunInfo:
        """End a run that is still running, or whose process died, as ``status``.

        For a run that reads as killed this records it for good, ended at its last
        heartbeat; a run of another process that is still alive is ended now (what that
        process logs later is kept; its own end is ignored). Conflict if the run has
        already ended. Returns the ended run.

        >>> ws.runs.end_run("3f9a1c2b7d4e4b0c9d8e7f6a5b4c3d2e", "failed")  # doctest: +SKIP
        """
        status = check_end_status(status)
        uid = _uid(run)
        mine = next((r for r in list(self._active.values()) if r.uid == uid), None)
        if mine is not None:  # started by this tracker, so allowed to write
            mine.end(status)
            return self.get_run(uid)
        info = self.get_run(uid)
        self._authorize(WRITE, experiment_resource(info.experiment))
        # Reading as killed means its process died at its last heartbeat: end it then.
        died = info.end_time if info.status == "killed" else None
        self._store.set_status(self._store.run_key(uid).id, status, died or datetime.now(UTC))
        return self._store.get_run(uid)

    def get_run(self, run: Run | str) -> RunInfo:
        """Everything recorded about a run (by uid or handle); NotFound if unknown."""
        self._writer.flush()
        info = self._store.get_run(_uid(run))
        self._authorize(READ, experiment_resource(info.experiment))
        return info

    def runs(
        self, experiment: str = DEFAULT_EXPERIMENT, *, parent: Run | str | None = None
    ) -> list[RunInfo]:
        """The runs of an experiment, newest first (only ``parent``'s children, if given)."""
        self._authorize(READ, experiment_resource(experiment))
        self._check_experiment(experiment)
        where = None if parent is None else attribute_condition("parent_id", "=", _uid(parent))
        self._writer.flush()
        return self._store.search_runs(where, max_results=10**9, experiments=[experiment])

    def search(
        self,
        filter: str = "",
        order_by: str | Sequence[str] | None = None,
        *,
        max_results: int = 1000,
        experiment: str | Sequence[str] | None = None,
    ) -> list[RunInfo]:
        """Runs matching a filter, ordered (newest first by default).

        >>> ws.runs.search(  # doctest: +SKIP
        ...     "metrics.val_auc > 0.8 and (params.model = 'hgb' or params.model = 'rf')",
        ...     order_by=["metrics.val_auc DESC"], max_results=10)
        """
        where = compile_filter(filter if isinstance(filter, str) else "")
        order = parse_order_by(order_by)
        if (
            isinstance(max_results, bool)
            or not isinstance(max_results, int)
            or not 1 <= max_results <= MAX_SEARCH_RESULTS
        ):
            raise InvalidInput(
                f"max_results must be a whole number from 1 to {MAX_SEARCH_RESULTS:,}, "
                f"got {max_results!r}."
            )
        names = [experiment] if isinstance(experiment, str) else list(experiment or [])
        for name in names:
            self._check_experiment(name)
        if names:
            self._authorize(READ, [experiment_resource(name) for name in names])
        else:
            readable = self._readable_experiments()
            if readable is not None:  # some may not be read: search only the others
                if not readable:
                    return []
                names = readable
        self._writer.flush()
        found = self._store.search_runs(where, order, max_results=max_results, experiments=names)
        # An experiment made since the list was read is checked now.
        return [r for r in found if self._may_read(r.experiment)]

    def _readable_experiments(self) -> list[str] | None:
        """The experiments this principal may read, or None when it may read them all."""
        names = [e.name for e in self._store.list_experiments()]
        if permitted(self._authorize, READ, [experiment_resource(n) for n in names]):
            return None
        return [n for n in names if self._may_read(n)]

    def _may_read(self, experiment: str) -> bool:
        return permitted(self._authorize, READ, experiment_resource(experiment))

    def compare(self, runs: Sequence[Run | str]) -> RunComparison:
        """Runs side by side: params that differ, latest metrics, tags."""
        if isinstance(runs, str) or not runs:
            raise InvalidInput("compare needs a list of run ids.")
        return compare_runs([self.get_run(run) for run in runs])

    def metric_history(self, run: Run | str, key: str) -> list[MetricPoint]:
        """Every value logged for a metric, by step."""
        self._writer.flush()
        self._authorize(READ, experiment_resource(self._experiment_of(run)))
        return self._store.metric_history(_uid(run), key)

    def set_tags(self, run: Run | str, tags: Mapping[str, Any]) -> None:
        """Set tags on any run, ended or not."""
        self._writer.flush()
        self._authorize(WRITE, experiment_resource(self._experiment_of(run)))
        key = self._store.run_key(_uid(run))
        rows = [
            (key.id, check_key(k, "Tag key"), check_text(v, f"Tag {k!r}")) for k, v in tags.items()
        ]
        self._store.log_batch(tags=rows)

    def note(self, run: Run | str, text: str) -> None:
        """Append a paragraph to any run's notes."""
        self._writer.flush()
        self._authorize(WRITE, experiment_resource(self._experiment_of(run)))
        self._store.append_note(self._store.run_key(_uid(run)).id, str(text))

    def _experiment_of(self, run: Run | str) -> str:
        """The experiment a run belongs to (a handle knows it; a uid is looked up)."""
        if isinstance(run, Run):
            return run.experiment
        return self._store.get_run(_uid(run)).experiment

    # -- artifacts ----------------------------------------------------------------------

    def artifact_bytes(self, run: Run | str, path: str) -> bytes:
        """The content of one of a run's artifacts, verified against its digest."""
        return self._artifacts.get_bytes(self._artifact_digest(run, path))

    def download_artifact(self, run: Run | str, path: str, destination: str | Path) -> Path:
        """Copy an artifact (a file path, or a folder prefix) to ``destination``."""
        info = self.get_run(run)
        if path in info.artifacts:
            return self._artifacts.get_file(info.artifacts[path], destination)
        prefix = path.rstrip("/") + "/"
        inside = {p[len(prefix) :]: d for p, d in info.artifacts.items() if p.startswith(prefix)}
        if not inside:
            raise self._no_artifact(info, path)
        for relative, digest in inside.items():
            self._artifacts.get_file(digest, Path(destination) / relative)
        return Path(destination)

    def _artifact_digest(self, run: Run | str, path: str) -> str:
        info = self.get_run(run)
        if path not in info.artifacts:
            raise self._no_artifact(info, path)
        return info.artifacts[path]

    def _no_artifact(self, info: RunInfo, path: str) -> NotFound:
        known = ", ".join(sorted(info.artifacts)[:10]) or "none"
        return NotFound(f"Run {info.uid} has no artifact {path!r}.", hint=f"It has: {known}.")

    # -- experiments ----------------------------------------------------------------------

    def experiments(self) -> list[Experiment]:
        """Every experiment this principal may read, by name."""
        found = self._store.list_experiments()
        return _readable(found, self._authorize)

    def experiment(self, name: str) -> Experiment:
        """One experiment; NotFound if there is none by that name."""
        self._authorize(READ, experiment_resource(name))
        return self._store.get_experiment(name)

    def create_experiment(self, name: str) -> Experiment:
        """A new, empty experiment; AlreadyExists if the name is taken."""
        name = check_experiment_name(name, "Experiment name")
        self._authorize(WRITE, experiment_resource(name))
        return self._store.create_experiment(name, created_by=self.principal)

    @property
    def store(self) -> TrackingStore:
        """The tracking store, for bulk work such as imports."""
        self._writer.flush()
        return self._store

    def experiment_id(self, name: str) -> int:
        """The store id of an experiment, created if it does not exist."""
        name = check_experiment_name(name, "Experiment name")
        self._authorize(WRITE, experiment_resource(name))
        return self._experiment_id(name)

    def _check_experiment(self, name: str) -> None:
        """NotFound unless ``name`` exists; a name seen once is not looked up again."""
        if name not in self._experiment_ids:
            self._experiment_ids[name] = self._store.get_experiment(name).id

    def _experiment_id(self, name: str) -> int:
        if name not in self._experiment_ids:
            found = self._store.get_or_create_experiment(name, created_by=self.principal)
            self._experiment_ids[name] = found.id
        return self._experiment_ids[name]

    # -- lifecycle --------------------------------------------------------------------------

    def flush(self) -> None:
        """Write everything queued by every run of this tracker."""
        self._writer.flush()

    def _end_run(self, run: Run, status: RunStatus) -> None:
        self._writer.flush(ends=[(run.id, status, datetime.now(UTC))])
        run.status = status
        with self._lock:
            self._active.pop(run.id, None)
            if not self._active:
                atexit.unregister(self._at_exit)
        if self._heartbeat is not None:
            self._heartbeat.discard(run.id)

    def _at_exit(self) -> None:
        """End runs left running when the interpreter exits: failed after an uncaught error."""
        if os.getpid() != self._pid:
            return
        interactive = hasattr(sys, "ps1")
        error = None if interactive else getattr(sys, "last_exc", getattr(sys, "last_value", None))
        for run in list(self._active.values()):
            try:
                run.fail(error) if isinstance(error, BaseException) else run.end("finished")
            except Exception as exc:
                print(f"shipyard: could not end run {run.uid} at exit: {exc}", file=sys.stderr)
        try:
            self._writer.flush()
        except Exception as exc:
            print(f"shipyard: tracking data not written at exit: {exc}", file=sys.stderr)

    def __repr__(self) -> str:
        return f"Tracker(principal={self.principal!r}, active_runs={len(self._active)})"


def _readable(experiments: Iterable[Experiment], authorize: Authorize) -> list[Experiment]:
    """The experiments ``authorize`` lets one read (one check when it allows them all)."""
    found = list(experiments)
    names = readable(authorize, READ, [e.name for e in found], experiment_resource)
    return [e for e in found if e.name in set(names)]


def _uid(run: Run | str) -> str:
    if isinstance(run, Run):
        return run.uid
    if not isinstance(run, str):
        raise InvalidInput(f"Expected a run id (a string) or a Run, got {type(run).__name__}.")
    return run
