"""A run whose process died reads as killed; ending runs by hand; finished runs stay finished."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import shipyard
from shipyard.errors import Conflict, InvalidInput
from shipyard.training.tracking import RunInfo, Tracker
from shipyard.workspace import Workspace

BEAT = 0.2  # seconds between heartbeats in these tests: killed after 4 missed, 0.8 s

# Starts a run with a short heartbeat, logs to it, says its id, then waits to be killed.
TRAINING = textwrap.dedent(
    """
    import sys, time
    import shipyard
    from shipyard.training.tracking import Tracker

    ws = shipyard.connect(sys.argv[1])
    beat = float(sys.argv[2])
    tracker = Tracker(ws.metadata, ws.artifacts, ws.principal, heartbeat_interval=beat)
    run = tracker.start_run("liveness", "doomed")
    run.log_metric("loss", 0.5)
    run.flush()
    print(run.uid, flush=True)
    time.sleep(600)
    """
)


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    with shipyard.connect(tmp_path / "ws") as workspace:
        yield workspace


def wait_for(read: Callable[[], RunInfo], status: str, seconds: float = 20.0) -> RunInfo:
    deadline = time.monotonic() + seconds
    while True:
        info = read()
        if info.status == status or time.monotonic() > deadline:
            return info
        time.sleep(0.05)


def start_training(home: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", TRAINING, str(home), str(BEAT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    uid = proc.stdout.readline().strip()
    if not uid:
        proc.kill()
        raise AssertionError(proc.communicate()[1])
    return proc, uid


def test_a_sigkilled_process_leaves_its_run_killed(ws: Workspace, tmp_path: Path) -> None:
    proc, uid = start_training(tmp_path / "ws")
    try:
        time.sleep(4 * BEAT * 2)  # well past one deadline: only beats keep it running
        alive = ws.runs.get_run(uid)
        assert alive.status == "running" and alive.end_time is None
        assert alive.heartbeat is not None and alive.heartbeat > alive.start_time
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        proc.kill()
        proc.communicate()
    killed = wait_for(lambda: ws.runs.get_run(uid), "killed")
    assert killed.status == "killed"
    assert killed.end_time == killed.heartbeat  # it died at its last sign of life
    assert killed.metrics == {"loss": 0.5}
    assert [r.uid for r in ws.runs.search("attributes.status = 'killed'")] == [uid]
    assert ws.runs.search("attributes.status = 'running'") == []
    assert [r.status for r in ws.runs.runs("liveness")] == ["killed"]

    ended = ws.runs.end_run(uid, "failed")  # recorded for good, ended when it died
    assert ended.status == "failed" and ended.end_time == killed.heartbeat
    with pytest.raises(Conflict, match="already ended"):
        ws.runs.end_run(uid, "killed")


def test_a_finished_run_never_reads_as_killed(ws: Workspace) -> None:
    tracker = Tracker(ws.metadata, ws.artifacts, "ana", heartbeat_interval=0.05)
    with tracker.start_run("liveness", "done") as run:
        run.log_metric("loss", 0.1)
    with pytest.raises(ValueError), tracker.start_run("liveness", "crashed") as crashed:
        raise ValueError("boom")
    time.sleep(0.5)  # deadlines long past, and no beats since the ends
    assert ws.runs.get_run(run.uid).status == "finished"
    assert ws.runs.get_run(crashed.uid).status == "failed"
    assert ws.runs.search("attributes.status = 'killed'") == []
    assert tracker._heartbeat is not None and tracker._heartbeat._thread is None


def test_a_stalled_run_reads_as_running_again_at_its_next_beat(ws: Workspace) -> None:
    tracker = Tracker(ws.metadata, ws.artifacts, "ana", heartbeat_interval=BEAT)
    run = tracker.start_run("liveness", "stalled")
    run.flush()
    heartbeat = tracker._heartbeat
    assert heartbeat is not None
    heartbeat.discard(run.id)  # as if the process were suspended
    assert wait_for(lambda: ws.runs.get_run(run.uid), "killed").status == "killed"
    heartbeat.add(run.id)  # and resumed: reading as killed wrote nothing
    assert wait_for(lambda: ws.runs.get_run(run.uid), "running").status == "running"
    run.end()
    assert ws.runs.get_run(run.uid).status == "finished"


def test_end_run_ends_a_live_run_and_refuses_bad_input(ws: Workspace) -> None:
    mine = ws.runs.start_run("liveness", "mine")
    ws.runs.end_run(mine, "killed")
    assert mine.status == "killed" and ws.runs.get_run(mine.uid).status == "killed"

    other = Tracker(ws.metadata, ws.artifacts, "bo", heartbeat_interval=BEAT)
    theirs = other.start_run("liveness", "theirs")
    theirs.flush()
    ended = ws.runs.end_run(theirs.uid, "finished")  # another process's run, still alive
    assert ended.status == "finished" and ended.end_time is not None
    theirs.end("failed")  # its own end comes too late: the first end stands
    assert ws.runs.get_run(theirs.uid).status == "finished"

    with pytest.raises(InvalidInput, match="cannot end with status 'running'"):
        ws.runs.end_run(theirs.uid, "running")
    with pytest.raises(InvalidInput, match="heartbeat_interval"):
        Tracker(ws.metadata, ws.artifacts, "ana", heartbeat_interval=0)


def test_runs_of_an_in_memory_database_have_no_heartbeat() -> None:
    with shipyard.connect(metadata_url="sqlite://") as ws, ws.runs.start_run("liveness") as run:
        assert ws.runs.get_run(run.uid).heartbeat is None
