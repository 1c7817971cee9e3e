"""Bad files and bad options, as a careless user meets them through the installed CLI: one
readable error line naming the column or the place, and the exit code of bad input (2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SHIPYARD = str(Path(sys.executable).with_name("shipyard"))


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    return subprocess.run(
        [SHIPYARD, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return errors[0]


def test_a_csv_with_bytes_that_are_not_utf8_is_refused_naming_the_column(tmp_path: Path) -> None:
    (tmp_path / "latin.csv").write_bytes(b"id,city\n1,Z\xfcrich\n2,Bern\n")
    result = run("data", "register", "cities", "latin.csv", cwd=tmp_path)
    assert result.returncode == 2
    line = one_error_line(result)
    assert "city" in line and "UTF-8" in line


def test_a_csv_whose_column_changes_type_late_names_the_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shipyard
    from shipyard.data import csv_files
    from shipyard.errors import InvalidInput

    monkeypatch.setattr(csv_files, "BLOCK_BYTES", 1 << 16)  # types inferred from a small block
    rows = "".join(f"{i},{i * 2}\n" for i in range(20_000))
    (tmp_path / "mixed.csv").write_text("id,distance\n" + rows + "20000,far\n")
    with shipyard.connect(tmp_path / "home") as ws:
        with pytest.raises(InvalidInput, match="column 'distance'") as err:
            ws.datasets.register("trips", tmp_path / "mixed.csv")
        assert "#1" not in err.value.message
        assert ws.datasets.list() == []  # nothing half-registered


def test_a_missing_uniqueness_key_is_bad_input_not_a_failed_check(tmp_path: Path) -> None:
    (tmp_path / "ok.csv").write_text("id,x\n1,2\n2,3\n")
    assert run("data", "register", "ok", "ok.csv", cwd=tmp_path).returncode == 0
    assert run("data", "baseline", "ok", cwd=tmp_path).returncode == 0
    result = run("data", "check", "ok", "--baseline", "ok", "--unique", "nosuch_col", cwd=tmp_path)
    assert result.returncode == 2
    line = one_error_line(result)
    assert "nosuch_col" in line


@pytest.mark.parametrize(
    ("command", "name"),
    [(["features", "apply"], "features.yaml"), (["pipeline", "run"], "pipeline.yaml")],
)
def test_a_yaml_syntax_error_is_one_line_saying_where(
    command: list[str], name: str, tmp_path: Path
) -> None:
    (tmp_path / name).write_text("views:\n  - name: [weather\n    entities: x\n")
    result = run(*command, name, cwd=tmp_path)
    assert result.returncode == 2
    line = one_error_line(result)
    assert "not valid YAML" in line and "line " in line and "column " in line


@pytest.mark.parametrize("command", [["runs", "list"], ["pipeline", "runs"]])
@pytest.mark.parametrize("limit", ["-5", "0"])
def test_a_limit_below_one_is_bad_input_everywhere(
    command: list[str], limit: str, tmp_path: Path
) -> None:
    result = run(*command, "--limit", limit, cwd=tmp_path)
    assert result.returncode == 2
    assert "--limit" in one_error_line(result)


def test_a_search_asking_for_no_or_absurdly_many_results_is_refused(tmp_path: Path) -> None:
    import shipyard
    from shipyard.errors import InvalidInput

    with shipyard.connect(tmp_path / "home") as ws:
        for bad in (0, -5, 10**20):
            with pytest.raises(InvalidInput, match="max_results"):
                ws.runs.search(max_results=bad)


def test_debug_works_after_the_subcommand_and_is_a_flag(tmp_path: Path) -> None:
    assert run("data", "list", "--debug", cwd=tmp_path).returncode == 0
    missing = run("data", "show", "nosuch", "--debug", cwd=tmp_path)
    assert missing.returncode == 3  # NotFound, with the traceback --debug asks for
    assert "Traceback" in missing.stderr and "error:" in missing.stderr
    assert "<bool>" not in run("--help", cwd=tmp_path).stdout.split("--debug")[1].splitlines()[0]
