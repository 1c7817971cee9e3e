"""The `shipyard` command as a user meets it: the real console script in a fresh folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from shipyard.cli.main import app
from shipyard.stores.metadata.schema import TABLES

SHIPYARD = str(Path(sys.executable).with_name("shipyard"))


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    full_env.update(env or {})
    return subprocess.run(
        [SHIPYARD, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120
    )


def test_version(tmp_path: Path) -> None:
    import shipyard

    done = run("--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == f"shipyard {shipyard.__version__}"


def test_init_and_info_in_an_empty_folder(tmp_path: Path) -> None:
    done = run("init", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / ".shipyard" / "metadata.db").is_file()
    info = run("info", "--json", cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    data = json.loads(info.stdout)
    assert data["home"] == str(tmp_path / ".shipyard")
    assert data["metadata"]["backend"] == "sqlite"
    assert data["metadata"]["schema"] == data["metadata"]["schema_expected"]
    # Every table of the schema is counted, and a new workspace holds nothing.
    counts = data["metadata"]["counts"]
    assert counts == dict.fromkeys((t.name for t in TABLES), 0)
    assert {"versions", "runs", "jobs", "model_aliases", "audit_log"} <= set(counts)
    table = run("info", cwd=tmp_path)
    assert table.returncode == 0 and "metadata (sqlite)" in table.stdout


def test_home_option_and_db_commands(tmp_path: Path) -> None:
    assert run("--home", "ws", "db", "upgrade", cwd=tmp_path).returncode == 0
    status = run("--home", "ws", "db", "status", cwd=tmp_path)
    assert status.returncode == 0 and "up to date" in status.stdout
    assert (tmp_path / "ws" / "metadata.db").is_file()


def one_line_error(done: subprocess.CompletedProcess, code: int, fragment: str) -> None:
    assert done.returncode == code, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]
    assert "Traceback" not in done.stderr + done.stdout


def test_unknown_url_scheme_is_one_line(tmp_path: Path) -> None:
    done = run("info", cwd=tmp_path, env={"SHIPYARD_METADATA_URL": "mongodb://x/y"})
    one_line_error(done, 2, "SHIPYARD_METADATA_URL has unknown URL scheme 'mongodb'")


def test_unwritable_home_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = run("init", cwd=tmp_path, env={"SHIPYARD_HOME": str(blocker / "home")})
    one_line_error(done, 2, "is not a writable folder")
    done = run("--home", "/proc/shipyard-home", "init", cwd=tmp_path)
    one_line_error(done, 2, "/proc/shipyard-home")


def test_malformed_toml_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "shipyard.toml").write_text("home = [unclosed\n")
    done = run("info", cwd=tmp_path)
    one_line_error(done, 2, "shipyard.toml is not valid TOML")


def test_unknown_toml_key_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "shipyard.toml").write_text('metadata_uri = "sqlite://"\n')
    one_line_error(run("info", cwd=tmp_path), 2, "unknown key(s) 'metadata_uri'")


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    one_line_error(run("frobnicate", cwd=tmp_path), 2, "No such command")
    one_line_error(run("info", "--colour", cwd=tmp_path), 2, "No such option")
    one_line_error(run("server", "--port", "70000", cwd=tmp_path), 2, "--port")


def test_not_found_and_bad_refs_have_their_own_exit_codes(tmp_path: Path) -> None:
    one_line_error(run("lineage", "model:delay@7", cwd=tmp_path), 3, "No lineage recorded")
    one_line_error(run("lineage", "not a ref", cwd=tmp_path), 2, "not a valid reference")


def test_an_out_of_date_postgres_schema_is_refused_with_the_fix(
    tmp_path: Path, postgres_url: str
) -> None:
    env = {"SHIPYARD_METADATA_URL": postgres_url}
    one_line_error(run("info", cwd=tmp_path, env=env), 8, "Run `shipyard db upgrade`")
    upgraded = run("db", "upgrade", cwd=tmp_path, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    info = run("info", "--json", cwd=tmp_path, env=env)
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["metadata"]["backend"] == "postgresql"
    assert "shipyard:shipyard@" not in info.stdout  # the password is hidden


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    env = {"SHIPYARD_METADATA_URL": "postgresql+psycopg://u:p@127.0.0.1:9/none"}
    one_line_error(run("info", cwd=tmp_path, env=env), 7, "Cannot connect")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    done = run("--debug", "lineage", "model:x@1", cwd=tmp_path)
    assert done.returncode == 3 and "Traceback" in done.stderr


def _commands(group: typer.main.TyperGroup, path: str = "shipyard"):  # type: ignore[no-untyped-def]
    for name, command in group.commands.items():
        yield f"{path} {name}", command
        if hasattr(command, "commands"):
            yield from _commands(command, f"{path} {name}")


@pytest.mark.parametrize(
    "path",
    [p for p, _ in _commands(typer.main.get_command(app))],  # type: ignore[arg-type]
)
def test_every_command_has_help_with_an_example(path: str, tmp_path: Path) -> None:
    done = run(*path.split()[1:], "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Example:" in done.stdout, done.stdout
