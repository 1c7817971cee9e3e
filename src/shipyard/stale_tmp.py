"""Clearing ``<home>/tmp`` of what interrupted work left behind.

Registrations stage their Parquet file there and pipeline runs their scratch
folders; a process killed mid-way never removes them. Opening a workspace
removes the entries of ``<home>/tmp`` that nothing has written to for a day: a
folder counts as fresh while anything inside it is, so a long pipeline run that
keeps writing keeps its scratch. Best effort: an entry that cannot be removed
stays, and the workspace opens anyway.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from pathlib import Path

STALE_AFTER = 24 * 3600.0  # seconds without a write before an entry counts as left behind


def remove_stale_tmp(folder: Path, *, stale_after: float = STALE_AFTER) -> list[Path]:
    """Remove the entries of ``folder`` not written for ``stale_after`` seconds; the removed.

    >>> import tempfile
    >>> remove_stale_tmp(Path(tempfile.mkdtemp()))
    []
    """
    cutoff = time.time() - stale_after
    try:
        entries = list(folder.iterdir())
    except OSError:  # no tmp folder yet, or not readable: nothing to do
        return []
    removed = []
    for entry in entries:
        try:
            if _written_since(entry, cutoff):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:
            continue  # gone already, in use (Windows), or not ours to remove: leave it
        removed.append(entry)
    return removed


def _written_since(entry: Path, cutoff: float) -> bool:
    """Whether ``entry``, or anything inside it, was modified after ``cutoff``."""
    info = entry.lstat()
    if info.st_mtime > cutoff:
        return True
    if not stat.S_ISDIR(info.st_mode):
        return False
    for root, folders, files in os.walk(entry):  # does not follow links to folders
        for name in (*folders, *files):
            if os.lstat(os.path.join(root, name)).st_mtime > cutoff:
                return True
    return False
