"""`shipyard pipeline` as a user runs it: run, runs, show, exit codes and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# The `pipeline` group is mounted on `shipyard` in cli/main.py; until it is, mount it here
# so these tests run the real entry point (main.main) either way.
ENTRY = (
    "import sys\n"
    "from shipyard.cli import main, pipeline\n"
    "if not any(g.name == 'pipeline' for g in main.app.registered_groups):\n"
    "    main.app.add_typer(pipeline.app, name='pipeline')\n"
    "sys.exit(main.main(sys.argv[1:]))\n"
)

PIPELINE = """\
from shipyard.errors import GateFailed
from shipyard.pipeline import Pipeline, step


@step
def produce(n: int) -> list:
    print("producing", n)
    return list(range(n))


@step
def explode(produce: list, fail: bool) -> int:
    if fail:
        raise RuntimeError("the disk is full\\nsecond line")
    return len(produce)


@step
def gate(explode: int, limit: int) -> None:
    if explode > limit:
        raise GateFailed(f"{explode} rows is over the limit of {limit}")


params = {"n": 3, "fail": False, "limit": 10}
pipeline = Pipeline("demo", steps=[produce, explode, gate], params=params)
"""


def shipyard(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def pipeline_file(tmp_path: Path) -> Path:
    path = tmp_path / "demo_pipeline.py"
    path.write_text(PIPELINE)
    return path


def test_run_then_cached_then_listed_and_shown(pipeline_file: Path, tmp_path: Path) -> None:
    first = shipyard("pipeline", "run", pipeline_file.name, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "produce: succeeded" in first.stdout and "3 ran, 0 cached" in first.stdout
    second = shipyard("pipeline", "run", str(pipeline_file), cwd=tmp_path)
    assert second.returncode == 0 and "0 ran, 3 cached" in second.stdout, second.stdout

    listed = shipyard("pipeline", "runs", "demo", "--json", cwd=tmp_path)
    runs = json.loads(listed.stdout)
    assert [r["version"] for r in runs] == [2, 1] and runs[0]["principal"] == "pipeline"
    build = runs[1]["build_id"]
    shown = shipyard("pipeline", "show", build, cwd=tmp_path)
    assert shown.returncode == 0 and build in shown.stdout
    for name in ("produce", "explode", "gate"):
        assert name in shown.stdout
    log = shipyard("pipeline", "show", build, "--log", "produce", cwd=tmp_path)
    assert "producing 3" in log.stdout
    record = json.loads(shipyard("pipeline", "show", "demo@2", "--json", cwd=tmp_path).stdout)
    assert [s["status"] for s in record["steps"]] == ["cached"] * 3
    table = shipyard("pipeline", "runs", cwd=tmp_path)
    assert table.returncode == 0 and "demo" in table.stdout


def test_a_failing_step_and_a_failing_gate_exit_differently(
    pipeline_file: Path, tmp_path: Path
) -> None:
    failed = shipyard("pipeline", "run", str(pipeline_file), "--param", "fail=true", cwd=tmp_path)
    assert failed.returncode == 1, failed.stderr
    (line,) = failed.stderr.strip().splitlines()
    assert "step 'explode' failed: RuntimeError: the disk is full" in line
    assert "--log explode" in line

    gated = shipyard("pipeline", "run", str(pipeline_file), "--param", "limit=2", cwd=tmp_path)
    assert gated.returncode == 6, gated.stderr
    (line,) = gated.stderr.strip().splitlines()
    assert "gate step 'gate' failed: 3 rows is over the limit of 2" in line
    assert "gate: gate-failed" in gated.stdout


def test_the_build_id_comes_from_the_environment(pipeline_file: Path, tmp_path: Path) -> None:
    env = {"SHIPYARD_BUILD_ID": "github-991-1"}
    done = shipyard("pipeline", "run", str(pipeline_file), "--no-cache", cwd=tmp_path, env=env)
    assert done.returncode == 0 and "build github-991-1" in done.stdout, done.stderr
    shown = shipyard("pipeline", "show", "github-991-1", "--json", cwd=tmp_path)
    assert json.loads(shown.stdout)["build_id"] == "github-991-1"


def test_bad_input_is_one_line(pipeline_file: Path, tmp_path: Path) -> None:
    cases = [
        (("run", str(pipeline_file), "--param", "nn=3"), 2, "has no parameter 'nn'"),
        (("run", str(pipeline_file), "--param", "n"), 2, "is not KEY=VALUE"),
        (("run", str(pipeline_file), "--param", "n=three"), 2, "needs a number"),
        (("run", "missing.py"), 2, "No pipeline file"),
        (("show", "no-such-build"), 3, "No pipeline run with build id"),
    ]
    for args, code, fragment in cases:
        done = shipyard("pipeline", *args, cwd=tmp_path)
        assert done.returncode == code, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0], done.stderr


@pytest.mark.parametrize("command", [(), ("run",), ("runs",), ("show",)])
def test_every_command_has_help_with_an_example(command: tuple[str, ...], tmp_path: Path) -> None:
    done = shipyard("pipeline", *command, "--help", cwd=tmp_path)
    assert done.returncode == 0 and "Example:" in done.stdout, done.stderr
