"""A pipeline run is a durable job: running with its step while it runs, ended with the run,
stopped by a cancel, and failed (never rerun) when its process is killed mid-step."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shipyard.pipeline import Pipeline, Status, StepContext, step
from shipyard.workspace import Workspace

LEASE = timedelta(seconds=30)


def _run_jobs(ws: Workspace) -> list[Any]:
    return ws.runtime.jobs.list(kind="pipeline_run")


def test_a_run_is_a_running_job_with_its_step_then_ends_with_the_run(
    workspace: Workspace,
) -> None:
    seen: list[Any] = []

    @step
    def first(n: int) -> int:
        return n + 1

    @step
    def second(first: int, context: StepContext) -> int:
        (job,) = workspace.runtime.jobs.list(kind="pipeline_run", state="running")
        seen.append(job)
        seen.append(workspace.pipelines.live_runs())
        return first * 2

    run = workspace.pipelines.run(Pipeline("jobbed", steps=[first, second], params={"n": 1}))
    assert run.status == Status.SUCCEEDED, run.log("second")
    job, live = seen
    assert job.state == "running" and job.max_attempts == 1 and job.lease_token
    assert job.progress == {
        "pipeline": "jobbed", "build_id": run.build_id, "total": 2, "step": "second", "index": 2,
    }  # fmt: skip
    assert job.payload["build_id"] == run.build_id and job.payload["params"] == {"n": 1}
    assert job.payload["triggered_by"] == workspace.principal
    (current,) = live
    assert (current.state, current.where) == ("running", "2/2 second")
    assert current.build_id == run.build_id

    (done,) = _run_jobs(workspace)
    assert done.state == "succeeded" and done.lease_token is None
    assert done.result == {
        "pipeline": "jobbed", "version": run.version, "build_id": run.build_id,
        "status": "succeeded",
    }  # fmt: skip
    assert workspace.pipelines.live_runs() == []  # ended runs are records, not live runs


def test_a_failed_run_fails_its_job_with_the_runs_error(workspace: Workspace) -> None:
    @step
    def breaks() -> int:
        raise RuntimeError("disk full")

    run = workspace.pipelines.run(Pipeline("breaks", steps=[breaks]))
    assert run.status == Status.FAILED
    (job,) = _run_jobs(workspace)
    assert job.state == "failed" and job.attempts == 1
    assert job.error == "failed at step 'breaks': RuntimeError: disk full"
    assert workspace.pipelines.live_runs() == []  # its record says it all


def test_cancelling_the_job_stops_the_run_before_its_next_step(workspace: Workspace) -> None:
    ran: list[str] = []

    @step
    def cancels() -> int:
        (job,) = workspace.runtime.jobs.list(kind="pipeline_run", state="running")
        workspace.runtime.jobs.cancel(job.id)  # as `shipyard jobs cancel` would
        return 1

    @step
    def after(cancels: int) -> int:
        ran.append("after")
        return cancels

    run = workspace.pipelines.run(Pipeline("cancelled", steps=[cancels, after]))
    assert ran == [] and run.status == Status.INTERRUPTED
    assert [s.status for s in run.steps] == [Status.SUCCEEDED, Status.NOT_RUN]
    (job,) = _run_jobs(workspace)
    assert job.state == "cancelled"


def test_an_interrupt_fails_the_job_at_once(workspace: Workspace) -> None:
    @step
    def stop() -> int:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        workspace.pipelines.run(Pipeline("ctrl-c", steps=[stop]))
    (job,) = _run_jobs(workspace)
    assert job.state == "failed" and "interrupted" in (job.error or "")


KILLED = textwrap.dedent(
    """
    import sys, time
    from datetime import timedelta
    from pathlib import Path

    import shipyard
    from shipyard.pipeline import Pipeline, PipelineService, step

    home, url, marker = sys.argv[1], sys.argv[2], Path(sys.argv[3])

    @step
    def quick() -> int:
        return 1

    @step
    def sleepy(quick: int) -> int:
        marker.write_text("sleeping")
        time.sleep(600)
        return quick

    @step
    def never(sleepy: int) -> int:
        return sleepy

    with shipyard.connect(home, metadata_url=url) as ws:
        service = PipelineService(
            principal=ws.principal, act_as=ws.as_principal, metadata=ws.metadata,
            artifacts=ws.artifacts, jobs=ws.runtime.jobs, authorize=ws.security.require,
            settings=ws.settings, lease=timedelta(seconds=1.5),
        )
        service.run(Pipeline("killed", steps=[quick, sleepy, never]), build_id="doomed-1")
    """
)


def test_a_run_whose_process_is_killed_mid_step_shows_failed_after_its_lease(
    workspace: Workspace, metadata_url: str, tmp_path: Path
) -> None:
    script, marker = tmp_path / "killed.py", tmp_path / "sleeping"
    script.write_text(KILLED)
    home = str(workspace.settings.home)
    proc = subprocess.Popen([sys.executable, str(script), home, metadata_url, str(marker)])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, "the run ended before its sleeping step"
            assert time.monotonic() < deadline, "the run never reached its sleeping step"
            time.sleep(0.05)
        time.sleep(3)  # twice the lease: the heartbeat thread keeps it alive meanwhile
        (live,) = workspace.pipelines.live_runs()
        assert (live.state, live.where, live.build_id) == ("running", "2/3 sleepy", "doomed-1")
        assert _cli_runs(home, metadata_url)[0]["step"]["name"] == "sleepy"
        os.kill(proc.pid, signal.SIGKILL)  # mid-step: no record, no fail, no goodbye
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(2)  # the lease runs out
    (dead,) = workspace.pipelines.live_runs()
    assert dead.state == "failed" and dead.build_id == "doomed-1"
    assert "process running it died" in (dead.error or "")
    (job,) = _run_jobs(workspace)
    assert job.state == "failed" and job.attempts == 1  # not run again
    assert workspace.runtime.jobs.claim(["pipeline_run"], worker="w", lease=LEASE) is None
    listed = _cli_runs(home, metadata_url)
    assert [(r["build_id"], r["status"]) for r in listed] == [("doomed-1", "failed")]
    shown = _cli(home, metadata_url, "pipeline", "show", "doomed-1")
    assert "killed build doomed-1" in shown and "failed at step 2/3 sleepy" in shown
    assert "process running it died" in shown


def _cli_runs(home: str, url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(_cli(home, url, "pipeline", "runs", "--json"))
    return found


def _cli(home: str, url: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update(SHIPYARD_METADATA_URL=url, COLUMNS="200")
    done = subprocess.run(
        [sys.executable, "-m", "shipyard.cli.main", "--home", home, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
