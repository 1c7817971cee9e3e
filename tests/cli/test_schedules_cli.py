"""`shipyard schedules` and `shipyard jobs` as a user runs them, and `shipyard server` running a
scheduled pipeline with its scheduler and workers, then stopping cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

PIPELINE = """\
from shipyard.pipeline import Pipeline, step


@step
def numbers(n: int) -> list:
    return list(range(n))


@step
def total(numbers: list) -> int:
    return sum(numbers)


pipeline = Pipeline("nightly-sum", steps=[numbers, total], params={"n": 3})
"""


def shipyard(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    return subprocess.run(
        [sys.executable, "-m", "shipyard.cli.main", "--home", str(cwd / "ws"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _json(done: subprocess.CompletedProcess) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def pipeline_file(tmp_path: Path) -> Path:
    path = tmp_path / "nightly_sum.py"
    path.write_text(PIPELINE)
    return path


def test_schedules_are_added_listed_replaced_and_removed(
    pipeline_file: Path, tmp_path: Path
) -> None:
    added = shipyard(
        "schedules", "add", "nightly", "--pipeline", pipeline_file.name, "--every", "1h30m",
        "--param", "n=5", cwd=tmp_path,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "pipeline nightly-sum every 1h30m" in added.stdout
    (listed,) = _json(shipyard("schedules", "list", "--json", cwd=tmp_path))
    assert listed["name"] == "nightly" and listed["interval_seconds"] == 5400
    assert listed["job_kind"] == "pipeline_run" and listed["enabled"]
    assert listed["payload"]["path"] == str(pipeline_file.resolve())
    assert listed["payload"]["params"] == {"n": 5}  # typed like the declared default
    again = shipyard(
        "schedules", "add", "nightly", "--pipeline", str(pipeline_file), "--every", "2d",
        cwd=tmp_path,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    (replaced,) = _json(shipyard("schedules", "list", "--json", cwd=tmp_path))
    assert replaced["interval_seconds"] == 2 * 86400 and replaced["payload"]["params"] == {}
    table = shipyard("schedules", "list", cwd=tmp_path)
    assert table.returncode == 0 and "nightly-sum" in table.stdout and "2d" in table.stdout
    removed = shipyard("schedules", "remove", "nightly", cwd=tmp_path)
    assert removed.returncode == 0, removed.stderr
    assert _json(shipyard("schedules", "list", "--json", cwd=tmp_path)) == []


def test_bad_schedules_and_job_queries_are_one_line(pipeline_file: Path, tmp_path: Path) -> None:
    add = ("schedules", "add", "x", "--pipeline", pipeline_file.name)
    cases = [
        ((*add, "--every", "often"), 2, "is not an interval"),
        ((*add, "--every", "0s"), 2, "shorter than 1 second"),
        ((*add, "--every", "1h", "--param", "m=1"), 2, "has no parameter 'm'"),
        (("schedules", "add", "x", "--pipeline", "missing.py", "--every", "1h"), 2, "No pipeline"),
        (("schedules", "remove", "nope"), 3, "nope"),
        (("jobs", "show", "999"), 3, "No job 999"),
        (("jobs", "list", "--state", "sleeping"), 2, "is not a job state"),
    ]
    for args, code, fragment in cases:
        done = shipyard(*args, cwd=tmp_path)
        assert done.returncode == code, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0], (args, done.stderr)


@pytest.mark.parametrize(
    "command",
    [
        ("schedules",), ("schedules", "add"), ("schedules", "list"), ("schedules", "remove"),
        ("jobs",), ("jobs", "list"), ("jobs", "show"), ("jobs", "cancel"), ("jobs", "retry"),
        ("server",),
    ],
)  # fmt: skip
def test_every_command_has_help_with_an_example(command: tuple[str, ...], tmp_path: Path) -> None:
    done = shipyard(*command, "--help", cwd=tmp_path)
    assert done.returncode == 0 and "Example:" in done.stdout, done.stderr


@pytest.mark.slow
def test_the_server_runs_a_scheduled_pipeline_and_stops_cleanly(
    pipeline_file: Path, tmp_path: Path, port: int, healthy: Any
) -> None:
    added = shipyard(
        "schedules", "add", "soon", "--pipeline", pipeline_file.name, "--every", "1h", "--now",
        cwd=tmp_path,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "shipyard.cli.main", "--home", str(tmp_path / "ws"), "server",
         "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        healthy(f"http://127.0.0.1:{port}", server)
        deadline = time.monotonic() + 120
        while True:
            jobs = _json(shipyard("jobs", "list", "--kind", "pipeline_run", "--json", cwd=tmp_path))
            if jobs and jobs[0]["state"] in ("succeeded", "failed"):
                break
            assert time.monotonic() < deadline, f"the scheduled run did not end: {jobs}"
            time.sleep(0.5)
        (job,) = jobs
        assert job["state"] == "succeeded", job["error"]
        (run,) = _json(shipyard("pipeline", "runs", "--json", cwd=tmp_path))
        assert run["build_id"] == job["result"]["build_id"] and run["status"] == "succeeded"
        assert run["triggered_by"] == "schedule:soon" and run["principal"] == "pipeline"
        shown = shipyard("jobs", "show", str(job["id"]), cwd=tmp_path)
        assert shown.returncode == 0 and "succeeded" in shown.stdout
        assert "nightly-sum 2/2 total" in shown.stdout
        (schedule,) = _json(shipyard("schedules", "list", "--json", cwd=tmp_path))
        assert schedule["last_job_id"] == job["id"]
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output
