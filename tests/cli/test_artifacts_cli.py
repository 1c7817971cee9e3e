"""`shipyard artifacts verify`: find corrupt and missing artifacts by the refs they break,
and repair them from the original data."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import shipyard
from shipyard.cli.main import main
from shipyard.errors import CorruptArtifact, IntegrityError


@pytest.fixture
def flights() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame(
        {"carrier": rng.choice(["AA", "UA", "DL"], 3_000), "delay": rng.normal(10, 30, 3_000)}
    )


@pytest.fixture
def home(tmp_path: Path, flights: pd.DataFrame) -> Path:
    """A workspace with dataset:flights@1 and dataset:weather@1."""
    flights.to_parquet(tmp_path / "flights.parquet", index=False)
    with shipyard.connect(tmp_path / "ws") as ws:
        ws.datasets.register("flights", tmp_path / "flights.parquet")
        ws.datasets.register("weather", pd.DataFrame({"temp": [1.5, 2.5, 3.5]}))
    return tmp_path / "ws"


def verify(home: Path, *args: str) -> int:
    return main(["--home", str(home), "artifacts", "verify", *args])


def object_file(home: Path, digest: str) -> Path:
    return home / "artifacts" / "objects" / "sha256" / digest[:2] / digest


def artifact_of(home: Path, name: str) -> str:
    with shipyard.connect(home) as ws:
        return ws.datasets.get(name).artifact


def corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_a_clean_store_verifies(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert verify(home) == 0
    assert verify(home, "dataset:flights@1") == 0
    out = capsys.readouterr().out
    assert "Checked 2 object(s)" in out and "0 corrupt, 0 missing" in out


def test_a_corrupt_dataset_is_found_by_its_ref_and_exits_9(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = artifact_of(home, "flights")
    corrupt(object_file(home, digest))
    assert verify(home) == 9
    captured = capsys.readouterr()
    assert f"corrupt   sha256:{digest}  needed by dataset:flights@1" in captured.out
    assert "1 artifact(s) are corrupt or missing" in one_error_line(captured.err)
    # Only what a ref names: the broken one fails, the other passes.
    assert verify(home, "dataset:flights@1") == 9
    assert verify(home, "dataset:weather") == 0


def test_a_missing_object_is_reported_too(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    digest = artifact_of(home, "weather")
    object_file(home, digest).unlink()
    assert verify(home) == 9
    assert f"missing   sha256:{digest}  needed by dataset:weather@1" in capsys.readouterr().out


def test_re_registering_the_same_data_repairs_the_dataset(
    home: Path, tmp_path: Path, flights: pd.DataFrame
) -> None:
    digest = artifact_of(home, "flights")
    corrupt(object_file(home, digest))
    with shipyard.connect(home) as ws:
        with pytest.raises(CorruptArtifact, match="--repair-from"):
            ws.datasets.load("flights@1")
        again = ws.datasets.register("flights", tmp_path / "flights.parquet")
        assert again.version == 1  # the same version: nothing new registered
        pd.testing.assert_frame_equal(ws.datasets.load("flights@1"), flights)
    assert verify(home) == 0


def test_repair_from_a_file_with_the_original_bytes(
    home: Path, tmp_path: Path, flights: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = artifact_of(home, "flights")
    kept = tmp_path / "kept.parquet"
    shutil.copyfile(object_file(home, digest), kept)
    corrupt(object_file(home, digest))
    wrong = tmp_path / "wrong.parquet"
    wrong.write_bytes(b"not the data")
    assert verify(home, "--repair-from", str(wrong)) == 9  # a non-matching file is never used
    assert verify(home, "dataset:flights@1", "--repair-from", str(kept)) == 0
    assert f"repaired  sha256:{digest}  from {kept}" in capsys.readouterr().out
    with shipyard.connect(home) as ws:
        pd.testing.assert_frame_equal(ws.datasets.load("flights@1"), flights)


def test_repair_from_a_backup_of_the_artifact_store(home: Path, tmp_path: Path) -> None:
    backup = tmp_path / "backup"
    shutil.copytree(home / "artifacts", backup)
    flights, weather = artifact_of(home, "flights"), artifact_of(home, "weather")
    corrupt(object_file(home, flights))
    object_file(home, weather).unlink()
    assert verify(home, "--repair-from", str(backup)) == 0
    with shipyard.connect(home) as ws:
        assert len(ws.datasets.load("flights")) == 3_000
        assert ws.datasets.load("weather")["temp"].tolist() == [1.5, 2.5, 3.5]


def test_a_corrupt_file_in_a_model_package_names_the_model(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) % 3})
    with shipyard.connect(home) as ws:
        model = LogisticRegression().fit(X, (X["a"] > 10).to_numpy())
        package = ws.models.register("delay", model, input_example=X.head()).package
        inner = ws.artifacts.read_manifest(package)["files"]["model.skops"]["digest"]
    corrupt(object_file(home, inner))
    assert verify(home, "model:delay@1") == 9
    assert f"corrupt   sha256:{inner}  needed by model:delay@1" in capsys.readouterr().out


def test_damaged_records_are_reported_not_skipped_silently(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(home / "metadata.db") as db:
        db.execute("UPDATE versions SET attributes = '{\"artifact\": ' WHERE name = 'flights'")
    assert verify(home) == 9
    captured = capsys.readouterr()
    assert "damaged   The metadata record dataset:flights@1 is damaged" in captured.out
    assert "shipyard db check" in one_error_line(captured.err)
    with shipyard.connect(home) as ws, pytest.raises(IntegrityError, match="dataset:flights@1"):
        ws.datasets.get("flights")


def test_unknown_refs_and_paths(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert verify(home, "dataset:nothing") == 3
    assert verify(home, "not a ref") == 2
    assert verify(home, "--repair-from", str(home / "no-such-folder")) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("error: ") for line in errors)
