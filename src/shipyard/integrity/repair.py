"""Put back objects from files that hold their original bytes.

The source is a file or a folder searched recursively: a kept copy of a
dataset's Parquet file, or a backup of the artifact store itself. Only a file
whose sha256 is one of the wanted addresses is stored, so a wrong or changed
file can never take an object's place.
"""

from __future__ import annotations

import re
from pathlib import Path

from shipyard.errors import InvalidInput
from shipyard.lineage import hash_file
from shipyard.stores.artifacts import ArtifactStore

_DIGEST_NAME = re.compile(r"^[0-9a-f]{64}$")


def repair_from(artifacts: ArtifactStore, source: Path, wanted: set[str]) -> dict[str, Path]:
    """Store every file under ``source`` whose sha256 is in ``wanted``: digest -> file used."""
    if not source.exists():
        raise InvalidInput(
            f"Nothing at {source} to repair from.",
            hint="Pass a file with the original bytes, or a folder to search.",
        )
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    repaired: dict[str, Path] = {}
    for file in files:
        if len(repaired) == len(wanted):
            break
        # In a copy of an artifact store each file is named by its digest: skip others unread.
        if _DIGEST_NAME.match(file.name) and file.name not in wanted:
            continue
        digest = hash_file(file)
        if digest in wanted and digest not in repaired:
            # A put replaces a copy that fails verification; verify to be sure it took.
            artifacts.put_file(file)
            if artifacts.verify(digest) == "ok":
                repaired[digest] = file
    return repaired
