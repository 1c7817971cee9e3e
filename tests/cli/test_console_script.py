"""The `shipyard` console script as installed: every top-level command and group is wired
into the main app, listed in `shipyard --help`, and its own `--help` exits 0 with an example.

The names are written out here on purpose: a command unhooked from main.py must fail this
test, so nothing is read from the app itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

COMMANDS = (
    "init", "info", "quickstart", "server", "serve", "deploy", "lineage", "audit",
    "batch-transform", "worker", "lifecycle",
)  # fmt: skip
GROUPS = (
    "alarms",
    "artifacts",
    "data",
    "db",
    "deployments",
    "endpoints",
    "features",
    "jobs",
    "labels",
    "models",
    "monitor",
    "pipeline",
    "policies",
    "runs",
    "schedules",
)
SCRIPT = Path(sys.executable).with_name("shipyard")


def shipyard_help(names: tuple[str, ...]) -> dict[str, subprocess.CompletedProcess[str]]:
    """`shipyard NAME --help` for each name ("" for `shipyard --help`), two at a time."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}  # one line per table row

    def one(name: str) -> subprocess.CompletedProcess[str]:
        command = [str(SCRIPT), *([name] if name else []), "--help"]
        return subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=180, check=False
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(names, pool.map(one, names), strict=True))


def listed(help_text: str) -> list[str]:
    """The names in the help's Commands box, in order."""
    box = help_text.split("Commands ", 1)[1]
    return re.findall(r"^│ (\S+)\s", box, flags=re.MULTILINE)


def examples(help_text: str) -> list[str]:
    return [line.strip() for line in help_text.splitlines() if line.strip().startswith("Example:")]


def test_the_console_script_is_installed_next_to_the_interpreter() -> None:
    assert SCRIPT.is_file() and os.access(SCRIPT, os.X_OK), f"{SCRIPT} is not installed"


def test_every_command_and_group_is_listed_and_its_help_shows_an_example() -> None:
    assert SCRIPT.is_file(), f"{SCRIPT} is not installed: pip install -e ."
    names = (*COMMANDS, *GROUPS)
    runs = shipyard_help(("", *names))
    main = runs.pop("")
    assert main.returncode == 0, main.stderr
    assert sorted(listed(main.stdout)) == sorted(names)
    assert examples(main.stdout) and "shipyard" in examples(main.stdout)[0]

    for name, result in runs.items():
        out = result.stdout
        assert result.returncode == 0, f"shipyard {name} --help: {result.stderr}"
        assert f"Usage: shipyard {name} " in out, out
        shown = examples(out)
        assert shown, f"shipyard {name} --help shows no example:\n{out}"
        assert any(f"shipyard {name}" in line for line in shown), shown
        if name in GROUPS:
            assert listed(out), f"shipyard {name} --help lists no command:\n{out}"


@pytest.mark.parametrize("args", [["--version"], ["no-such-command"]])
def test_the_console_script_exits_with_main_s_code(args: list[str]) -> None:
    result = subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=120, check=False
    )
    if args == ["--version"]:
        assert result.returncode == 0 and result.stdout.startswith("shipyard ")
    else:
        assert result.returncode == 2
        assert result.stderr.startswith("error: ") and "no-such-command" in result.stderr
