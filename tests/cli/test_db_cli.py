"""`shipyard db check` and `shipyard db backup`, and a damaged metadata database reported as
such (exit 9, one line, what to do) instead of "cannot connect" or an unexpected error."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

import shipyard
from shipyard.cli.main import main
from shipyard.errors import IntegrityError, InvalidInput
from shipyard.stores.metadata import open_metadata_store

SHIPYARD = str(Path(sys.executable).with_name("shipyard"))


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    return subprocess.run(
        [SHIPYARD, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A workspace with dataset:flights@1 and dataset:weather@1."""
    with shipyard.connect(tmp_path / "ws") as ws:
        ws.datasets.register("flights", pd.DataFrame({"delay": [1.0, 2.0, 3.0]}))
        ws.datasets.register("weather", pd.DataFrame({"temp": [4.0, 5.0]}))
    return tmp_path / "ws"


def db(home: Path, *args: str) -> int:
    return main(["--home", str(home), "db", *args])


def set_attributes(home: Path, name: str, text: str) -> None:
    with sqlite3.connect(home / "metadata.db") as conn:
        conn.execute("UPDATE versions SET attributes = ? WHERE name = ?", (text, name))


def records(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT kind, name, version, attributes FROM versions ORDER BY kind, name, version"
        ).fetchall()


# -- a damaged database file ----------------------------------------------------------------


def test_a_damaged_database_file_is_one_line_exit_9(home: Path) -> None:
    with (home / "metadata.db").open("r+b") as handle:  # page 2: the tables' own pages
        handle.seek(4096)
        handle.write(b"\xde\xad\xbe\xef" * 256)
    done = run("--home", str(home), "data", "list", cwd=home.parent)
    assert done.returncode == 9, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "is damaged" in lines[0] and "shipyard db backup" in lines[0]
    assert "Cannot connect" not in lines[0] and "unexpected" not in lines[0]
    checked = run("--home", str(home), "db", "check", cwd=home.parent)
    assert checked.returncode == 9 and "problem: " in checked.stdout, checked.stdout


def test_a_file_that_is_not_a_database_is_damage_not_a_connection_problem(home: Path) -> None:
    with (home / "metadata.db").open("r+b") as handle:
        handle.write(b"this is not sqlite" * 8)
    with pytest.raises(IntegrityError, match="file is not a database") as caught:
        shipyard.connect(home)
    assert caught.value.exit_code == 9 and "backup" in (caught.value.hint or "")


# -- malformed records ----------------------------------------------------------------------


def test_a_malformed_record_names_itself(home: Path) -> None:
    set_attributes(home, "flights", '{"artifact": "abc", ')
    with shipyard.connect(home) as ws:
        with pytest.raises(IntegrityError, match=r"dataset:flights@1 is damaged") as caught:
            ws.datasets.get("flights")
        assert "shipyard db check" in (caught.value.hint or "")
        with pytest.raises(IntegrityError, match="dataset:flights@1"):
            ws.datasets.list()
        assert ws.datasets.get("weather").rows == 2  # the others still read


def test_a_record_without_a_key_names_itself(home: Path, tmp_path: Path) -> None:
    attributes = json.loads(str(records(home / "metadata.db")[1][3]))
    del attributes["artifact"]
    set_attributes(home, "weather", json.dumps(attributes))
    with shipyard.connect(home) as ws:
        with pytest.raises(IntegrityError, match="dataset:weather@1 is damaged: it has no 'art"):
            ws.datasets.get("weather")
        with pytest.raises(IntegrityError, match="dataset:weather@1"):
            ws.datasets.register("weather", pd.DataFrame({"temp": [4.0, 5.0]}))
    done = run("--home", str(home), "data", "show", "weather", cwd=tmp_path)
    assert done.returncode == 9 and "KeyError" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


# -- db check -------------------------------------------------------------------------------


def test_db_check_passes_a_healthy_workspace(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert db(home, "check") == 0
    out = capsys.readouterr().out
    assert "integrity_check: ok" in out and "2 named by records" in out
    assert "No problems found." in out


def test_db_check_finds_bad_records_and_bad_artifacts(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with shipyard.connect(home) as ws:
        weather = ws.datasets.get("weather").artifact
    set_attributes(home, "flights", "[not json")
    obj = home / "artifacts" / "objects" / "sha256" / weather[:2] / weather
    obj.write_bytes(obj.read_bytes()[:-10])
    assert db(home, "check") == 9
    captured = capsys.readouterr()
    assert "problem: The metadata record dataset:flights@1 is damaged" in captured.out
    assert f"problem: artifact sha256:{weather} is corrupt; needed by dataset:weather@1" in (
        captured.out
    )
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "2 problem(s)" in lines[0]


def test_db_check_finds_a_record_that_names_no_artifact(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    set_attributes(home, "weather", '{"rows": 2}')
    assert db(home, "check") == 9
    assert "dataset:weather@1 is damaged: it names no artifact under 'artifact'" in (
        capsys.readouterr().out
    )


# -- db backup ------------------------------------------------------------------------------


def test_db_backup_copy_opens_with_the_same_records(home: Path, tmp_path: Path) -> None:
    target = tmp_path / "backups" / "meta.db"
    assert db(home, "backup", str(target)) == 0
    assert records(target) == records(home / "metadata.db")
    with sqlite3.connect(target) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one file
    # The copy is a working workspace database.
    with shipyard.connect(tmp_path / "restored", metadata_url=f"sqlite:///{target}") as ws:
        assert [d.name for d in ws.datasets.list()] == ["flights", "weather"]
    assert db(home, "backup", str(target)) == 4  # never overwrites
    assert db(home, "backup", str(tmp_path / "backups")) == 0  # a folder: a timestamped file
    assert len(list((tmp_path / "backups").glob("metadata-*.db"))) == 1
    assert list((tmp_path / "backups").glob("*.part")) == []


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from shipyard.stores.metadata import open_metadata_store

    store = open_metadata_store(sys.argv[1])
    stop = Path(sys.argv[2])
    n = 0
    while not stop.exists():
        n += 1
        attributes = {"n": n, "pad": "x" * 2000}
        store.create_version("dataset", "busy", created_by="w", attributes=attributes)
        if n == 20:
            print("writing", flush=True)
    print(n, flush=True)
    """
)


def test_db_backup_is_consistent_while_another_process_writes(home: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{home / 'metadata.db'}"
    stop = tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, url, str(stop)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
        store = open_metadata_store(url)
        copies = [store.backup(tmp_path / f"copy-{i}.db") for i in range(3)]
        store.close()
        time.sleep(0.2)
    finally:
        stop.touch()
        written = int(writer.communicate(timeout=60)[0].strip())
    assert writer.returncode == 0
    seen = []
    for copy in copies:
        with sqlite3.connect(copy) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            versions = [v for (v,) in conn.execute(
                "SELECT version FROM versions WHERE name = 'busy' ORDER BY version"
            )]  # fmt: skip
            (latest,) = conn.execute(
                "SELECT latest FROM version_counters WHERE name = 'busy'"
            ).fetchone()
        # A snapshot: every version up to the counter, none half-written.
        assert versions == list(range(1, latest + 1)) and latest >= 20
        seen.append(latest)
    assert seen == sorted(seen) and seen[-1] <= written


def test_db_backup_refuses_postgresql_and_names_pg_dump(tmp_path: Path) -> None:
    store = open_metadata_store("postgresql+psycopg://u:p@127.0.0.1:9/none")  # never connects
    with pytest.raises(InvalidInput, match="PostgreSQL") as caught:
        store.backup(tmp_path / "x.db")
    assert "pg_dump" in (caught.value.hint or "")


def test_db_check_and_backup_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    env = {"SHIPYARD_METADATA_URL": postgres_url}
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")} | env

    def pg(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SHIPYARD, *args], cwd=tmp_path, env=full_env, capture_output=True, text=True
        )

    assert pg("db", "upgrade").returncode == 0
    checked = pg("db", "check")
    assert checked.returncode == 0, checked.stderr
    assert "integrity_check: skipped" in checked.stdout
    refused = pg("db", "backup", "meta.db")
    assert refused.returncode == 2 and "pg_dump" in refused.stderr


def test_db_backup_into_a_new_folder_named_with_a_slash(home: Path, tmp_path: Path) -> None:
    assert db(home, "backup", f"{tmp_path / 'new-backups'}/") == 0
    [written] = (tmp_path / "new-backups").iterdir()  # a folder was made, not a file
    assert written.name.startswith("metadata-") and records(written) == records(
        home / "metadata.db"
    )
