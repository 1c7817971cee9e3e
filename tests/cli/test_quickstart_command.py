"""The quickstart prints its "look further" commands so they run as printed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from shipyard.cli.quickstart import shipyard_command


def _script(folder: Path) -> Path:
    folder.mkdir(parents=True)
    script = folder / "shipyard"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    (folder / "activate").write_text("# activate\n")
    return script


def test_the_bare_name_when_it_is_this_executable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = _script(tmp_path / "venv" / "bin")
    monkeypatch.setattr(sys, "argv", [str(script), "quickstart"])
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    assert shipyard_command() == ("shipyard", None)


def test_the_full_path_and_activate_when_the_path_has_another_or_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = _script(tmp_path / "my env" / "bin")
    other = _script(tmp_path / "other" / "bin")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["my env/bin/shipyard", "quickstart"])
    for path in (str(other.parent), str(tmp_path / "empty")):
        monkeypatch.setenv("PATH", path)
        command, activate = shipyard_command()
        assert command == f"'{script}'"  # quoted: the folder has a space
        assert activate == script.parent / "activate"


def test_the_script_beside_the_interpreter_when_argv_is_not_the_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    interpreter = _script(tmp_path / "venv" / "bin").with_name("python")
    monkeypatch.setattr(sys, "argv", ["/usr/bin/pytest"])
    monkeypatch.setattr(sys, "executable", str(interpreter))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert shipyard_command() == (
        str(interpreter.with_name("shipyard")),
        interpreter.with_name("activate"),
    )
