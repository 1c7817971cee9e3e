"""The job queue's contract, on SQLite and PostgreSQL: leases, retries with backoff, the dead
letter, cancel, time-to-live, and at-least-once delivery under concurrency and SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.stores.jobs import Backoff, JobStore, job_store_for
from shipyard.stores.metadata import open_metadata_store

LEASE = timedelta(seconds=30)


@pytest.fixture
def url(metadata_url: str) -> str:
    store = open_metadata_store(metadata_url)
    store.upgrade()
    store.close()
    return metadata_url


@pytest.fixture
def queue(url: str) -> Iterator[JobStore]:
    metadata = open_metadata_store(url)
    yield job_store_for(metadata)
    metadata.close()


def test_a_job_goes_from_queued_to_succeeded_once(queue: JobStore) -> None:
    assert queue.claim(["score"], worker="w1", lease=LEASE) is None
    low = queue.enqueue("score", {"rows": 1}, created_by="alice")
    high = queue.enqueue("score", {"rows": 2}, created_by="alice", priority=5)
    queue.enqueue("other", {}, created_by="alice")
    first = queue.claim(["score"], worker="w1", lease=LEASE)
    assert first is not None and first.id == high.id  # priority first, then age
    assert first.state == "running" and first.attempts == 1 and first.lease_owner == "w1"
    second = queue.claim(["score"], worker="w2", lease=LEASE)
    assert second is not None and second.id == low.id
    assert queue.claim(["score"], worker="w3", lease=LEASE) is None
    assert queue.complete(first, {"output": "s3://out/1"})
    assert not queue.complete(first, {"output": "again"})  # a second complete changes nothing
    done = queue.get(first.id)
    assert done.state == "succeeded" and done.result == {"output": "s3://out/1"} and done.done
    assert done.lease_token is None and done.finished_at is not None
    stats = queue.stats("score")
    assert stats.counts["succeeded"] == 1 and stats.counts["running"] == 1


def test_an_expired_lease_is_claimed_again_and_the_late_worker_changes_nothing(
    queue: JobStore,
) -> None:
    job = queue.enqueue("score", {}, created_by="alice")
    now = datetime.now(UTC)
    stalled = queue.claim(["score"], worker="slow", lease=timedelta(seconds=5), now=now)
    assert stalled is not None
    assert queue.claim(["score"], worker="fast", lease=LEASE, now=now) is None  # still leased
    later = now + timedelta(seconds=6)
    taken = queue.claim(["score"], worker="fast", lease=LEASE, now=later)
    assert taken is not None and taken.id == job.id and taken.attempts == 2
    with pytest.raises(Conflict, match="no longer this worker's claim"):
        queue.heartbeat(stalled, lease=LEASE)
    assert not queue.complete(stalled, "late")
    assert queue.fail(stalled, "late failure") is None
    assert queue.heartbeat(taken, lease=LEASE, now=later).lease_expires_at == later + LEASE
    assert queue.complete(taken, "on time")
    assert queue.get(job.id).result == "on time"


def test_failures_retry_with_backoff_then_land_in_the_dead_letter(queue: JobStore) -> None:
    job = queue.enqueue("score", {}, created_by="alice", max_attempts=2)
    backoff = Backoff(base=timedelta(seconds=10))
    now = datetime.now(UTC)
    first = queue.claim(["score"], worker="w", lease=LEASE, now=now)
    assert first is not None
    again = queue.fail(first, "ValueError: boom", backoff=backoff, now=now)
    assert again is not None and again.state == "queued" and again.error == "ValueError: boom"
    assert queue.claim(["score"], worker="w", lease=LEASE, now=now + timedelta(seconds=9)) is None
    second = queue.claim(["score"], worker="w", lease=LEASE, now=now + timedelta(seconds=10))
    assert second is not None and second.attempts == 2
    dead = queue.fail(second, "ValueError: boom again", backoff=backoff)
    assert dead is not None and dead.state == "failed" and dead.finished_at is not None
    assert queue.claim(["score"], worker="w", lease=LEASE, now=now + timedelta(days=1)) is None
    retried = queue.retry(job.id)
    assert retried.state == "queued" and retried.attempts == 0
    final = queue.claim(["score"], worker="w", lease=LEASE)
    assert final is not None
    # A failure that will not go away does not use the remaining attempts.
    assert queue.fail(final, "bad input", retry=False).state == "failed"  # type: ignore[union-attr]
    with pytest.raises(Conflict, match="only queued or running"):
        queue.cancel(job.id)


def test_a_worker_that_dies_on_the_last_attempt_leaves_a_failed_job(queue: JobStore) -> None:
    job = queue.enqueue("score", {}, created_by="alice", max_attempts=1)
    now = datetime.now(UTC)
    assert queue.claim(["score"], worker="w", lease=timedelta(seconds=1), now=now) is not None
    later = now + timedelta(seconds=2)
    assert queue.claim(["score"], worker="w2", lease=LEASE, now=later) is None  # no attempt left
    assert queue.expire(now=later) == 1
    failed = queue.get(job.id)
    assert failed.state == "failed" and "lease ran out" in (failed.error or "")


def test_progress_is_written_only_under_the_current_claim(queue: JobStore) -> None:
    job = queue.enqueue("score", {}, created_by="alice")
    now = datetime.now(UTC)
    claimed = queue.claim(["score"], worker="w", lease=timedelta(seconds=5), now=now)
    assert claimed is not None and claimed.progress is None
    step = {"step": "train", "index": 2, "total": 3}
    assert queue.report_progress(claimed, step).progress == step
    assert queue.get(job.id).progress == step
    later = now + timedelta(seconds=6)
    again = queue.claim(["score"], worker="w2", lease=LEASE, now=later)
    assert again is not None and again.progress is None  # the last attempt's step is stale
    with pytest.raises(Conflict, match="no longer this worker's claim"):
        queue.report_progress(claimed, {"step": "late"})
    queue.cancel(job.id)
    with pytest.raises(Conflict):
        queue.report_progress(again, {"step": "after cancel"})
    assert queue.get(job.id).progress is None


def test_a_started_job_is_the_callers_alone_and_fails_when_its_process_dies(
    queue: JobStore,
) -> None:
    now = datetime.now(UTC)
    first = {"step": None, "index": 0}
    started = queue.start(
        "pipeline_run", {"pipeline": "demo"}, created_by="alice", worker="host:1",
        lease=timedelta(seconds=5), progress=first, now=now,
    )  # fmt: skip
    assert started.state == "running" and started.lease_owner == "host:1"
    assert started.attempts == 1 and started.max_attempts == 1 and started.progress == first
    assert queue.claim(["pipeline_run"], worker="w", lease=LEASE, now=now) is None
    assert queue.heartbeat(started, lease=timedelta(seconds=5), now=now).state == "running"
    later = now + timedelta(seconds=6)  # no heartbeat since: the process died
    assert queue.claim(["pipeline_run"], worker="w", lease=LEASE, now=later) is None
    assert queue.expire(now=later) == 1
    died = queue.get(started.id)
    assert died.state == "failed" and died.finished_at is not None
    assert "process running it died" in (died.error or "") and died.lease_token is None
    assert queue.complete(started, "too late") is False
    with pytest.raises(InvalidInput):
        queue.start("pipeline_run", {}, created_by="a", worker="w", lease=timedelta(0))


def test_cancel_and_time_to_live(queue: JobStore) -> None:
    queued = queue.enqueue("score", {}, created_by="alice")
    assert queue.cancel(queued.id).state == "cancelled"
    running = queue.enqueue("score", {}, created_by="alice")
    claimed = queue.claim(["score"], worker="w", lease=LEASE)
    assert claimed is not None and claimed.id == running.id
    queue.cancel(running.id)
    with pytest.raises(Conflict):
        queue.heartbeat(claimed, lease=LEASE)  # the worker learns at its next heartbeat
    assert not queue.complete(claimed, "too late")

    short = queue.enqueue("score", {}, created_by="alice", ttl=timedelta(seconds=5))
    later = datetime.now(UTC) + timedelta(seconds=6)
    assert queue.claim(["score"], worker="w", lease=LEASE, now=later) is None
    assert queue.expire(now=later) == 1
    assert queue.get(short.id).state == "expired"
    assert queue.retry(short.id).state == "queued"  # an operator may run it after all
    assert [j.state for j in queue.list(kind="score", state="cancelled")] == ["cancelled"] * 2


def test_bad_input_is_refused(queue: JobStore) -> None:
    for kwargs in ({"max_attempts": 0}, {"delay": timedelta(seconds=-1)}, {"ttl": timedelta(0)}):
        with pytest.raises(InvalidInput):
            queue.enqueue("score", {}, created_by="alice", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        queue.enqueue("", {}, created_by="alice")
    with pytest.raises(InvalidInput):
        queue.enqueue("score", ["not", "a", "mapping"], created_by="alice")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        queue.claim("score", worker="w", lease=LEASE)  # a string, not a list of kinds
    with pytest.raises(NotFound):
        queue.get(123_456)
    with pytest.raises(InvalidInput):
        queue.list(state="sleeping")  # type: ignore[arg-type]


WORKER = textwrap.dedent(
    """
    import json, sys, time
    from datetime import timedelta
    from shipyard.stores.jobs import job_store_for
    from shipyard.stores.metadata import open_metadata_store

    url, name, out, lease, hold = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), \\
        float(sys.argv[5])
    queue = job_store_for(open_metadata_store(url))
    with open(out, "a") as log:
        while True:
            job = queue.claim(["score"], worker=name, lease=timedelta(seconds=lease))
            if job is None:
                break
            print(json.dumps({"claimed": job.id}), file=log, flush=True)
            time.sleep(hold)
            if queue.complete(job, {"by": name}):
                print(json.dumps({"completed": job.id}), file=log, flush=True)
    """
)


def _workers(url: str, tmp_path: Path, count: int, lease: float, hold: float) -> list[Path]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    logs = [tmp_path / f"worker-{i}.log" for i in range(count)]
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), url, f"w{i}", str(log), str(lease), str(hold)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, log in enumerate(logs)
    ]
    for proc in procs:
        _, errors = proc.communicate(timeout=600)
        assert proc.returncode == 0, errors
    return logs


def _events(logs: list[Path], what: str) -> Counter[int]:
    found: Counter[int] = Counter()
    for log in logs:
        for line in log.read_text().splitlines():
            event = json.loads(line)
            if what in event:
                found[event[what]] += 1
    return found


@pytest.mark.slow
def test_eight_workers_complete_a_thousand_jobs_each_exactly_once(
    url: str, queue: JobStore, tmp_path: Path
) -> None:
    ids = {queue.enqueue("score", {"n": n}, created_by="load").id for n in range(1000)}
    logs = _workers(url, tmp_path, count=8, lease=60, hold=0)
    completed = _events(logs, "completed")
    assert set(completed) == ids and set(completed.values()) == {1}
    assert _events(logs, "claimed") == completed  # no job was even claimed twice
    assert queue.stats("score").counts["succeeded"] == 1000


def test_a_job_whose_worker_was_killed_is_claimed_again_and_completed_once(
    url: str, queue: JobStore, tmp_path: Path
) -> None:
    job = queue.enqueue("score", {}, created_by="alice")
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    victim_log = tmp_path / "victim.log"
    victim = subprocess.Popen(
        [sys.executable, str(script), url, "victim", str(victim_log), "2", "600"],
        stderr=subprocess.PIPE,
    )
    deadline = datetime.now(UTC) + timedelta(seconds=60)
    while "claimed" not in (victim_log.read_text() if victim_log.exists() else ""):
        assert datetime.now(UTC) < deadline, "the worker never claimed the job"
        assert victim.poll() is None
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)  # mid-job: no complete, no fail, no goodbye
    victim.wait(timeout=30)
    assert queue.get(job.id).state == "running"
    time.sleep(2.5)  # the lease runs out
    logs = _workers(url, tmp_path, count=1, lease=30, hold=0)
    assert _events(logs, "completed") == Counter({job.id: 1})
    final = queue.get(job.id)
    assert final.state == "succeeded" and final.attempts == 2 and final.result == {"by": "w0"}
