"""`shipyard batch-transform` end to end: the command writes what ws.batch writes, and
bad input is one readable line with the error's exit code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.batch.data import ROWS, part_bytes

from shipyard.cli import main as cli_main


def test_the_command_writes_the_service_s_output(
    ws: Any, source: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(ws.settings.home)
    args = ["--home", home, "batch-transform", "model:delay@1", "--input", source,
            "--output", str(tmp_path / "cli"), "--join-source", "--output-filter",
            "id,prediction", "--batch-rows", "16", "--json"]  # fmt: skip
    assert cli_main.main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["rows"], result["parts"], result["resumed"]) == (ROWS, 4, 0)
    by_service = ws.batch.transform(
        "model:delay@1", source, str(tmp_path / "py"), join_source=True,
        output_filter=["id", "prediction"],
    )  # fmt: skip
    assert by_service.digest == result["digest"]
    assert part_bytes(tmp_path / "cli") == part_bytes(tmp_path / "py")

    assert cli_main.main(args[:-1]) == 0  # again: found done, said in words
    assert "found done" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "code", "said"),
    [
        (["--engine", "spark"], 2, "Unknown engine 'spark'"),
        (["--input-filter", "a,b"], 2, "missing column 'c'"),
        (["--scheduler", "tcp://127.0.0.1:1"], 2, "--scheduler is for the dask engine"),
    ],
)
def test_bad_input_is_one_line_and_an_exit_code(
    ws: Any, source: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    extra: list[str], code: int, said: str,
) -> None:  # fmt: skip
    args = ["--home", str(ws.settings.home), "batch-transform", "model:delay@1", "--input",
            source, "--output", str(tmp_path / "out"), *extra]  # fmt: skip
    assert cli_main.main(args) == code
    err = capsys.readouterr().err
    assert err.startswith("error: ") and said in err and err.count("\n") == 1


def test_an_unknown_model_exits_3(ws: Any, source: str, tmp_path: Path, capsys: Any) -> None:
    args = ["--home", str(ws.settings.home), "batch-transform", "model:nope@1", "--input",
            source, "--output", str(tmp_path / "out")]  # fmt: skip
    assert cli_main.main(args) == 3
    assert "nope" in capsys.readouterr().err
