"""The worker pool: a scheduled pipeline fired by the scheduler and run by a worker leaves its
run record; failures are final for pipelines; a pipeline whose process died is not rerun;
handlers are limited per kind; the pool stops cleanly."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shipyard.jobs import JobHandlers, default_handlers
from shipyard.jobs.scheduler import Scheduler
from shipyard.jobs.worker import SHUTDOWN, WorkerPool
from shipyard.workspace import Workspace

PIPELINE = """\
from shipyard.pipeline import Pipeline, step


@step
def numbers(n: int) -> list:
    return list(range(n))


@step
def total(numbers: list, fail: bool) -> int:
    if fail:
        raise RuntimeError("no total today")
    return sum(numbers)


pipeline = Pipeline("scheduled-demo", steps=[numbers, total], params={"n": 3, "fail": False})
"""


def _schedule(ws: Workspace, tmp_path: Path, name: str, **params: Any) -> None:
    path = tmp_path / "scheduled_demo.py"
    path.write_text(PIPELINE)
    payload = {"path": str(path), "pipeline": "scheduled-demo", "params": params, "schedule": name}
    ws.runtime.control.put_schedule(
        name, "pipeline_run", payload, 3600, by="alice", first_fire_at=datetime.now(UTC)
    )


def test_a_scheduled_pipeline_is_fired_then_run_by_a_worker_as_the_pipeline(
    workspace: Workspace, tmp_path: Path
) -> None:
    _schedule(workspace, tmp_path, "hourly", n=4)
    runtime = workspace.runtime
    (fired,) = Scheduler(runtime.control, runtime.jobs).tick()
    schedule, job_id = fired
    assert schedule.name == "hourly" and runtime.jobs.get(job_id).state == "queued"

    done = WorkerPool(runtime, default_handlers(), threads=0).run_once()
    assert done is not None and done.id == job_id
    assert done.state == "succeeded", done.error
    assert done.progress["step"] == "total" and done.progress["index"] == 2
    run = workspace.pipelines.get_run(done.result["build_id"])
    assert run.succeeded and run.version == done.result["version"] == 1
    assert run.principal == "pipeline" and run.triggered_by == "schedule:hourly"
    assert run.params == {"n": 4, "fail": False} and run.outputs["total"] == 6
    assert len(runtime.jobs.list(kind="pipeline_run")) == 1  # the run used the worker's job


def test_a_failed_scheduled_run_is_not_retried(workspace: Workspace, tmp_path: Path) -> None:
    _schedule(workspace, tmp_path, "broken", fail=True)
    runtime = workspace.runtime
    Scheduler(runtime.control, runtime.jobs).tick()
    done = WorkerPool(runtime, default_handlers(), threads=0).run_once()
    assert done is not None and done.state == "failed"  # although it had attempts left
    assert "step 'total' failed: RuntimeError: no total today" in (done.error or "")
    assert workspace.pipelines.list_runs("scheduled-demo")[0].failed_step == "total"


def test_a_pipeline_job_whose_process_died_is_failed_not_rerun(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "scheduled_demo.py"
    path.write_text(PIPELINE)
    jobs = workspace.runtime.jobs
    job = jobs.enqueue("pipeline_run", {"path": str(path)}, created_by="scheduler")
    # A worker claimed it and died at once: its lease has run out.
    assert jobs.claim(["pipeline_run"], worker="dead", lease=timedelta(milliseconds=1))
    time.sleep(0.05)
    done = WorkerPool(workspace.runtime, default_handlers(), threads=0).run_once()
    assert done is not None and done.id == job.id and done.state == "failed"
    assert "not run twice automatically" in (done.error or "")
    assert workspace.pipelines.list_runs() == []  # the pipeline did not run again


def test_a_scheduled_run_whose_server_died_shows_failed_with_no_server_up(
    workspace: Workspace,
) -> None:
    jobs = workspace.runtime.jobs
    job = jobs.enqueue("pipeline_run", {"pipeline": "p", "path": "/p.py"}, created_by="s")
    assert job.max_attempts > 1  # as a schedule enqueues it
    assert jobs.claim(["pipeline_run"], worker="dead", lease=timedelta(milliseconds=1))
    time.sleep(0.05)
    (live,) = workspace.pipelines.live_runs()
    assert (live.job_id, live.state, live.pipeline) == (job.id, "failed", "p")
    assert "process running it died" in (live.error or "")
    assert jobs.claim(["pipeline_run"], worker="w", lease=timedelta(seconds=30)) is None


def test_bad_input_is_final_and_other_errors_are_retried(workspace: Workspace) -> None:
    handlers = JobHandlers()
    handlers.register("flaky", lambda runtime, job: 1 / 0)
    handlers.register("picky", default_handlers().get("pipeline_run").run)  # type: ignore[union-attr]
    jobs = workspace.runtime.jobs
    flaky = jobs.enqueue("flaky", {}, created_by="alice")
    picky = jobs.enqueue("picky", {"no": "path"}, created_by="alice")
    pool = WorkerPool(workspace.runtime, handlers, threads=0)
    first, second = pool.run_once(), pool.run_once()
    assert first is not None and second is not None
    ended = {job.id: job for job in (first, second)}
    assert ended[flaky.id].state == "queued"  # ZeroDivisionError: tried again after a backoff
    assert ended[flaky.id].error == "ZeroDivisionError: division by zero"
    assert ended[picky.id].state == "failed" and "names no pipeline file" in str(
        ended[picky.id].error
    )


def test_threads_respect_a_kinds_concurrency_and_stop_cleanly(workspace: Workspace) -> None:
    running: list[int] = []
    most = [0]
    lock = threading.Lock()
    release = threading.Event()

    def slow(runtime: Any, job: Any) -> dict[str, int]:
        with lock:
            running.append(job.id)
            most[0] = max(most[0], len(running))
        release.wait(20)
        with lock:
            running.remove(job.id)
        return {"id": job.id}

    handlers = JobHandlers()
    handlers.register("slow", slow, concurrency=1)
    jobs = workspace.runtime.jobs
    ids = [jobs.enqueue("slow", {}, created_by="alice").id for _ in range(3)]
    pool = WorkerPool(workspace.runtime, handlers, threads=3, poll=timedelta(seconds=0.05))
    pool.start()
    try:
        deadline = time.monotonic() + 30
        while not running:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)  # room for a second claim, had the limit let one through
        assert most[0] == 1
    finally:
        pool.stop(grace=0.2)  # the running job outlives the grace: failed, to be retried
    release.set()
    states = sorted(jobs.get(i).state for i in ids)
    assert states == ["queued", "queued", "queued"]  # two never claimed, one released
    released = [jobs.get(i) for i in ids if jobs.get(i).error]
    assert [j.error for j in released] == [SHUTDOWN] and released[0].attempts == 1
