"""The scheduler: two scheduler processes on one PostgreSQL database fire each interval of a
schedule exactly once; a tick also expires the queue."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shipyard.jobs.scheduler import Scheduler
from shipyard.stores.control import control_store_for
from shipyard.stores.jobs import job_store_for
from shipyard.stores.metadata import open_metadata_store
from shipyard.workspace import Workspace

TICKING = textwrap.dedent(
    """
    import json, sys, time
    from datetime import timedelta
    from shipyard.jobs.scheduler import Scheduler
    from shipyard.stores.control import control_store_for
    from shipyard.stores.jobs import job_store_for
    from shipyard.stores.metadata import open_metadata_store

    url, name, out, until = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    metadata = open_metadata_store(url)
    scheduler = Scheduler(control_store_for(metadata), job_store_for(metadata), by=name)
    with open(out, "w") as log:
        while time.time() < until:
            for schedule, job in scheduler.tick():
                record = {"job": job, "next": schedule.next_fire_at.isoformat(), "by": name}
                print(json.dumps(record), file=log, flush=True)
            time.sleep(0.02)
    """
)


@pytest.mark.slow
def test_two_scheduler_processes_fire_each_interval_once(postgres_url: str, tmp_path: Path) -> None:
    metadata = open_metadata_store(postgres_url)
    metadata.upgrade()
    control, jobs = control_store_for(metadata), job_store_for(metadata)
    start = datetime.now(UTC) + timedelta(seconds=3)  # after both processes are up
    control.put_schedule("often", "echo", {"n": 1}, 1, by="alice", first_fire_at=start)
    script = tmp_path / "tick.py"
    script.write_text(TICKING)
    until = (start + timedelta(seconds=6)).timestamp()
    logs = [tmp_path / f"s{i}.log" for i in range(2)]
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), postgres_url, f"s{i}", str(log), str(until)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, log in enumerate(logs)
    ]
    for proc in procs:
        _, errors = proc.communicate(timeout=120)
        assert proc.returncode == 0, errors
    fired = [json.loads(line) for log in logs for line in log.read_text().splitlines()]
    intervals = Counter(f["next"] for f in fired)
    assert set(intervals.values()) == {1}, intervals  # no interval fired twice
    assert 5 <= len(fired) <= 7  # one per second for six seconds
    queued = jobs.list(kind="echo")
    assert sorted(j.id for j in queued) == sorted(f["job"] for f in fired)
    assert {j.created_by for j in queued} <= {"s0", "s1"}
    metadata.close()


def test_a_tick_expires_jobs_whose_process_died(workspace: Workspace) -> None:
    jobs = workspace.runtime.jobs
    job = jobs.start(
        "pipeline_run", {}, created_by="alice", worker="gone:1", lease=timedelta(seconds=1)
    )
    scheduler = Scheduler(workspace.runtime.control, jobs)
    assert scheduler.tick() == []  # no schedules
    assert jobs.get(job.id).state == "running"  # the lease still holds
    scheduler.tick(datetime.now(UTC) + timedelta(seconds=2))
    assert jobs.get(job.id).state == "failed"
