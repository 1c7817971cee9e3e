"""Opening a workspace clears <home>/tmp of what interrupted work left a day or more ago."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import shipyard
from shipyard.stale_tmp import remove_stale_tmp

DAY = 24 * 3600


def age(path: Path, seconds: float) -> None:
    """Make ``path`` (not what is inside it) look last written ``seconds`` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


def test_opening_removes_what_was_left_a_day_ago_and_keeps_fresh_work(tmp_path: Path) -> None:
    home = tmp_path / "home"
    tmp = home / "tmp"
    tmp.mkdir(parents=True)
    left_file = tmp / "register-0123.parquet"  # a registration killed mid-way
    left_file.write_bytes(b"PAR1")
    age(left_file, 2 * DAY)
    left_run = tmp / "pipeline-aaaa"  # a pipeline run killed mid-way
    (left_run / "steps" / "train").mkdir(parents=True)
    (left_run / "steps" / "train" / "model.pkl").write_bytes(b"x")
    for path in (left_run / "steps" / "train" / "model.pkl", left_run / "steps" / "train"):
        age(path, 3 * DAY)
    age(left_run / "steps", 3 * DAY)
    age(left_run, 3 * DAY)
    busy_run = tmp / "pipeline-bbbb"  # a long run: its folder is old, but it still writes
    (busy_run / "steps").mkdir(parents=True)
    (busy_run / "steps" / "fresh.parquet").write_bytes(b"x")
    age(busy_run / "steps", 2 * DAY)
    age(busy_run, 2 * DAY)
    fresh = tmp / "register-4567.parquet"  # a registration under way right now
    fresh.write_bytes(b"PAR1")
    link = tmp / "link-to-elsewhere"  # an old link goes; what it points to stays
    target = tmp_path / "kept.txt"
    target.write_text("kept")
    link.symlink_to(target)
    age(link, 2 * DAY)

    with shipyard.connect(home):
        pass
    assert sorted(p.name for p in tmp.iterdir()) == ["pipeline-bbbb", "register-4567.parquet"]
    assert (busy_run / "steps" / "fresh.parquet").exists() and target.read_text() == "kept"


def test_clearing_is_best_effort(tmp_path: Path) -> None:
    assert remove_stale_tmp(tmp_path / "no-such-folder") == []
    if os.geteuid() == 0:
        pytest.skip("root can remove anything: no entry to fail on")
    locked = tmp_path / "tmp" / "locked"
    (locked / "inner").mkdir(parents=True)
    (locked / "inner" / "file").write_bytes(b"x")
    for path in (locked / "inner" / "file", locked / "inner", locked):
        age(path, 2 * DAY)
    (locked / "inner").chmod(0o500)  # its file cannot be removed
    try:
        with shipyard.connect(tmp_path):  # the open does not fail
            pass
        assert (locked / "inner" / "file").exists()
    finally:
        (locked / "inner").chmod(0o700)
