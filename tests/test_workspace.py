"""connect() and the Workspace, on every metadata backend."""

from __future__ import annotations

from pathlib import Path

import pytest

import shipyard
from shipyard.errors import InvalidConfig, NotFound
from shipyard.lineage import Lineage


def test_connect_creates_the_home_and_its_stores(tmp_path: Path) -> None:
    with shipyard.connect(tmp_path / "new") as ws:
        info = ws.info()
    assert info.home == tmp_path / "new"
    assert info.metadata.backend == "sqlite" and info.metadata.schema is not None
    assert info.metadata.schema.up_to_date
    assert (tmp_path / "new" / "metadata.db").is_file()


def test_lineage_and_artifacts_through_the_workspace(workspace: shipyard.Workspace) -> None:
    record, _ = workspace.metadata.create_version(
        "model", "delay", created_by=workspace.principal, content_hash="a" * 64
    )
    workspace.metadata.put_lineage(record.ref, Lineage(datasets=("dataset:flights@1",)))
    assert workspace.lineage("model:delay@1").datasets == ("dataset:flights@1",)
    with pytest.raises(NotFound):
        workspace.lineage("model:delay@2")
    art = workspace.artifacts.put_bytes(b"model bytes")
    info = workspace.info()
    assert info.artifact_objects == 1 and info.artifact_bytes == len(b"model bytes")
    assert info.metadata.counts["versions"] == 1
    assert workspace.artifacts.get_bytes(art.digest) == b"model bytes"


def test_unwritable_home_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InvalidConfig, match="not a writable folder"):
        shipyard.connect(blocker / "home")


def test_overrides_are_validated(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfig, match="unknown URL scheme"):
        shipyard.connect(tmp_path, metadata_url="ftp://x")
