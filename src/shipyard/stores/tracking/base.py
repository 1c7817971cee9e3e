"""The tracking store's interface: experiments, runs and what runs log.

Runs have two ids: ``uid`` (32 hex characters, public, stable) and an integer
``id`` that only the store and the run handle that created the run use; the big
tables key on the integer. Writes take integer ids (the hot path never looks a
uid up); reads take uids. Integer ids come from a counter in the database, in
blocks (:meth:`TrackingStore.reserve_run_ids`): a tracker that holds a block
numbers its new runs itself and hands their rows to :meth:`TrackingStore.log_batch`
with the run's first batch, so starting a run costs no write of its own.

Rows passed to :meth:`TrackingStore.log_batch` are plain tuples, because the
writer builds thousands of them per second:

- a param or tag: ``(run_id, key, value)``
- a metric: ``(run_id, key, step, value, timestamp)`` (timestamp in epoch seconds)
- a run end: ``(run_id, status, end_time)``

A run that is still ``running`` once its ``alive_until`` deadline has passed reads
as ``killed``, ended at its last heartbeat (:mod:`.liveness`): its process stopped
refreshing the deadline, so it died. Nothing is written when that is decided.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import sqlalchemy as sa

RunStatus = Literal["running", "finished", "failed", "killed"]
STATUSES: tuple[RunStatus, ...] = ("running", "finished", "failed", "killed")
ENDED: frozenset[str] = frozenset({"finished", "failed", "killed"})

ParamRow = tuple[int, str, str]
TagRow = tuple[int, str, str]
MetricRow = tuple[int, str, int, float, float]
RunEnd = tuple[int, str, datetime]


@dataclass(frozen=True)
class Experiment:
    """A named group of runs."""

    id: int
    name: str
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class NewRun:
    """What it takes to create a run (``create_runs`` takes many at once)."""

    uid: str
    experiment_id: int
    name: str
    start_time: datetime
    created_by: str
    parent_id: int | None = None
    record: Mapping[str, Any] = field(default_factory=dict)
    status: RunStatus = "running"
    id: int | None = None  # reserved with reserve_run_ids; create_runs numbers runs without
    # A running run not heard from (see TrackingStore.heartbeat) by then reads as killed;
    # None: never (the run's liveness is not tracked).
    alive_until: datetime | None = None


@dataclass(frozen=True)
class RunKey:
    """The two ids of a created run."""

    id: int
    uid: str


@dataclass(frozen=True)
class RunInfo:
    """Everything recorded about one run; ``metrics`` holds each metric's latest value.

    ``parent`` is the parent run's uid; ``artifacts`` maps a path to its sha256 digest.
    ``heartbeat`` is when the run's process last said it was alive (None when its
    liveness is not tracked); a run whose heartbeat stopped reads as ``killed``.
    """

    uid: str
    experiment: str
    name: str
    parent: str | None
    status: RunStatus
    start_time: datetime
    end_time: datetime | None
    created_by: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    artifacts: dict[str, str]
    notes: str
    record: dict[str, Any]
    heartbeat: datetime | None = None


@dataclass(frozen=True)
class MetricPoint:
    """One logged value of a metric."""

    step: int
    value: float
    timestamp: float


OrderSource = Literal["metrics", "params", "tags", "attributes"]


@dataclass(frozen=True)
class OrderTerm:
    """One ``ORDER BY`` term: ``metrics.val_auc DESC`` is ``OrderTerm("metrics", "val_auc", True)``.

    Runs without the key sort last in either direction.
    """

    source: OrderSource
    key: str
    descending: bool = False


class TrackingStore(abc.ABC):
    """Transactional storage of experiments, runs, and their params, metrics, tags, artifacts."""

    # False when every thread shares one connection (in-memory SQLite): then only the
    # caller's thread may write, and the tracker writes its batches synchronously.
    supports_threads: bool = True

    # -- experiments ------------------------------------------------------------------

    @abc.abstractmethod
    def create_experiment(self, name: str, *, created_by: str) -> Experiment:
        """A new experiment; AlreadyExists if the name is taken."""

    @abc.abstractmethod
    def get_or_create_experiment(self, name: str, *, created_by: str) -> Experiment:
        """The experiment called ``name``, created if absent (safe under races)."""

    @abc.abstractmethod
    def get_experiment(self, name: str) -> Experiment:
        """The experiment called ``name``; NotFound if absent."""

    @abc.abstractmethod
    def list_experiments(self) -> list[Experiment]:
        """Every experiment, by name."""

    # -- writing runs -------------------------------------------------------------------

    @abc.abstractmethod
    def reserve_run_ids(self, count: int) -> Sequence[int]:
        """``count`` run ids that no other caller will get, for ``NewRun.id``."""

    @abc.abstractmethod
    def create_runs(self, new_runs: Sequence[NewRun]) -> list[RunKey]:
        """Create runs in one transaction; keys come back in the order given.

        A run without an ``id`` is given the next free one.
        """

    def create_run(self, new_run: NewRun) -> RunKey:
        """Create one run."""
        return self.create_runs([new_run])[0]

    @abc.abstractmethod
    def log_batch(
        self,
        *,
        params: Sequence[ParamRow] = (),
        metrics: Sequence[MetricRow] = (),
        tags: Sequence[TagRow] = (),
        ends: Sequence[RunEnd] = (),
        runs: Sequence[NewRun] = (),
    ) -> None:
        """Write rows for any number of runs in one transaction.

        ``runs`` (each with a reserved ``id``) are created first, so the other rows
        may belong to them; a run created and ended in the same batch is written
        ended. Metrics are appended and each (run, key)'s latest value is updated when
        the new step is at least the stored one (the later write wins a tie).
        A param keeps its first value; a tag takes the last. An end sets the
        status and end time of a run that is still running (and is ignored otherwise).
        """

    @abc.abstractmethod
    def set_status(self, run_id: int, status: RunStatus, end_time: datetime | None) -> None:
        """Set a run's status (Conflict if it has already ended)."""

    @abc.abstractmethod
    def heartbeat(self, run_ids: Sequence[int], at: datetime, alive_until: datetime) -> None:
        """Record that the running runs ``run_ids`` are alive at ``at``, until ``alive_until``.

        Ended runs, and runs not created yet, are left as they are.
        """

    @abc.abstractmethod
    def record_artifact(self, run_id: int, path: str, digest: str, size: int) -> None:
        """Record (or replace) the artifact stored for ``path`` in this run."""

    @abc.abstractmethod
    def append_note(self, run_id: int, text: str) -> None:
        """Append a paragraph to the run's notes."""

    @abc.abstractmethod
    def update_record(self, run_id: int, values: Mapping[str, Any]) -> None:
        """Merge top-level keys into the run's recorded environment."""

    # -- reading runs -----------------------------------------------------------------------

    @abc.abstractmethod
    def get_run(self, uid: str) -> RunInfo:
        """One run by uid; NotFound if absent."""

    @abc.abstractmethod
    def run_key(self, uid: str) -> RunKey:
        """The ids of a run given its uid; NotFound if absent."""

    @abc.abstractmethod
    def search_runs(
        self,
        where: sa.ColumnElement[bool] | None = None,
        order_by: Sequence[OrderTerm] = (),
        *,
        max_results: int = 1000,
        experiments: Sequence[str] = (),
    ) -> list[RunInfo]:
        """Runs matching ``where`` (an expression over the schema's tables), ordered.

        Without ``order_by``, the newest runs come first. ``experiments`` limits the
        search to those experiments' runs.
        """

    @abc.abstractmethod
    def metric_history(self, uid: str, key: str) -> list[MetricPoint]:
        """Every value logged for ``key`` in a run, by step then time."""
