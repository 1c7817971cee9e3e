"""A pipeline run while it runs: a durable job with a lease, a heartbeat and its current step.

A run's record (``pipeline_run``) is written when the run ends. Until then the run
is a job of kind ``pipeline_run`` in the job store: ``running`` from its first step,
under a lease that a heartbeat thread extends, with ``progress`` naming the step it
is on. The job ends with the run: completed when every step passed, failed (with the
run's error) otherwise.

A run started from a shell or from Python is *started* as a job already claimed by
its own process (no worker can take it); a scheduled run is a job a server's worker
claimed, and that worker keeps its lease and completes it.

Running a pipeline twice is not idempotent (it registers models, moves aliases), so
a run's job has one attempt: when its process dies, its lease runs out and the job
store marks it ``failed`` ("the process running it died"), never runs it again.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

from shipyard.errors import Conflict
from shipyard.jsonsafe import jsonable
from shipyard.stores.jobs.lease import LeaseKeeper

if TYPE_CHECKING:
    from shipyard.stores.jobs import Job, JobStore

RUN_JOB_KIND = "pipeline_run"
RUN_LEASE = timedelta(seconds=60)  # a run whose process stops heartbeating fails after this


def this_process() -> str:
    """The lease owner of work this process does itself: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class LiveRun:
    """A run as its job shows it: queued, running (with its step), or failed without a
    record (its process died before it could write one)."""

    job_id: int
    pipeline: str
    build_id: str | None
    state: str
    step: str | None
    index: int | None  # 1-based: the step is ``index`` of ``total``
    total: int | None
    started: datetime
    heartbeat_at: datetime | None
    lease_expires_at: datetime | None
    error: str | None
    triggered_by: str
    params: Mapping[str, Any]

    @classmethod
    def from_job(cls, job: Job) -> LiveRun:
        payload = dict(job.payload)
        progress = job.progress if isinstance(job.progress, Mapping) else {}
        name = progress.get("pipeline") or payload.get("pipeline") or payload.get("path") or ""
        return cls(
            job_id=job.id,
            pipeline=str(name),
            build_id=progress.get("build_id") or payload.get("build_id"),
            state=job.state,
            step=progress.get("step"),
            index=progress.get("index"),
            total=progress.get("total"),
            started=job.started_at or job.created_at,
            heartbeat_at=job.heartbeat_at,
            lease_expires_at=job.lease_expires_at,
            error=job.error,
            triggered_by=str(payload.get("triggered_by") or job.created_by),
            params=payload.get("params") or {},
        )

    @property
    def where(self) -> str:
        """``2/5 train`` while a step runs, '' before the first."""
        if not self.step:
            return ""
        return f"{self.index}/{self.total} {self.step}"

    def elapsed(self, now: datetime | None = None) -> float:
        return max(((now or datetime.now(UTC)) - self.started).total_seconds(), 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "version": None,  # a run gets its version when its record is written, at the end
            "build_id": self.build_id,
            "status": self.state,
            "job": self.job_id,
            "step": {"name": self.step, "index": self.index, "total": self.total},
            "failed_step": self.step if self.state == "failed" else None,
            "error": {"type": "JobFailed", "message": self.error} if self.error else None,
            "started": self.started.isoformat(),
            "duration": self.elapsed() if self.state != "failed" else None,
            "heartbeat_at": self.heartbeat_at.isoformat() if self.heartbeat_at else None,
            "lease_expires_at": (
                self.lease_expires_at.isoformat() if self.lease_expires_at else None
            ),
            "params": dict(self.params),
            "triggered_by": self.triggered_by,
        }


class RunJob:
    """The job of one run: progress as each step starts, heartbeats, and its end.

    ``RunJob.start`` makes a job this process owns (it heartbeats, then completes or fails
    it); ``RunJob.attach`` reports progress on a job a worker claimed and owns.
    """

    def __init__(self, store: JobStore, job: Job, *, keeper: LeaseKeeper | None, base: dict):
        self._store = store
        self._job = job
        self._keeper = keeper
        self._base = base  # pipeline, build id, total: part of every progress report
        self._lost = False
        self._finished = False

    @classmethod
    def start(
        cls,
        store: JobStore,
        *,
        pipeline: str,
        build_id: str,
        total: int,
        params: Mapping[str, Any],
        triggered_by: str,
        lease: timedelta,
    ) -> RunJob:
        base = {"pipeline": pipeline, "build_id": build_id, "total": total}
        payload = {
            "pipeline": pipeline,
            "build_id": build_id,
            "params": jsonable(dict(params)),
            "triggered_by": triggered_by,
        }
        job = store.start(
            RUN_JOB_KIND,
            payload,
            created_by=triggered_by,
            worker=this_process(),
            lease=lease,
            max_attempts=1,  # not idempotent: a run whose process died is not run again
            progress={**base, "step": None, "index": 0},
        )
        return cls(store, job, keeper=LeaseKeeper(store, job, lease=lease), base=base)

    @classmethod
    def attach(
        cls, store: JobStore, job: Job, *, pipeline: str, build_id: str, total: int
    ) -> RunJob:
        base = {"pipeline": pipeline, "build_id": build_id, "total": total}
        tracker = cls(store, job, keeper=None, base=base)
        tracker._report({"step": None, "index": 0})
        return tracker

    @property
    def job(self) -> Job:
        return self._keeper.job if self._keeper is not None else self._job

    @property
    def lost(self) -> bool:
        """Whether the claim is gone (the job was cancelled, or expired): stop the run."""
        return self._lost or (self._keeper is not None and self._keeper.lost.is_set())

    def before_step(self, step: str, index: int, total: int) -> bool:
        """Say which step starts now; False when the run should stop instead."""
        self._report({"step": step, "index": index + 1})
        return not self.lost

    def _report(self, progress: dict[str, Any]) -> None:
        if self._keeper is not None:
            self._keeper.report_progress({**self._base, **progress})
            return
        if self._lost:
            return
        try:
            self._job = self._store.report_progress(self._job, {**self._base, **progress})
        except Conflict:
            self._lost = True

    def finish(self, *, succeeded: bool, result: Mapping[str, Any], error: str) -> None:
        """End a job this process owns: completed with ``result``, or failed with ``error``
        (not retried). A worker's job is left to the worker."""
        if self._keeper is None:
            return
        self._keeper.stop()
        self._finished = True
        if succeeded:
            self._store.complete(self.job, dict(result))
        else:
            self._store.fail(self.job, error, retry=False)

    def __enter__(self) -> RunJob:
        if self._keeper is not None:
            self._keeper.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._keeper is None:
            return
        self._keeper.stop()
        if exc is not None and not self._finished:
            # The run could not finish (the stores failed, or Ctrl-C): say so now rather
            # than leave the job running until its lease runs out.
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else repr(exc)
            # The store may be what failed; then the lease's expiry will tell.
            with contextlib.suppress(Exception):
                self._store.fail(self.job, f"the run stopped: {reason}"[:2000], retry=False)
