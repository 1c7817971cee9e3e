"""What every run records by itself: seed, interpreter, packages, code, data and host.

None of the peers records the seed unasked; Shipyard does, with the Python
version, the installed packages (their sorted list and its sha256), the code's
git commit, dirty flag and a hash of the uncommitted diff, the dataset versions
and split the run used, the host, and Shipyard's own version.
"""

from __future__ import annotations

import functools
import platform
import socket
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from shipyard._version import __version__
from shipyard.lineage import code_version, hash_bytes


def installed_packages() -> list[str]:
    """``name==version`` for every installed distribution, sorted by name."""
    seen: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            seen.setdefault(name.lower(), f"{name}=={dist.version}")
    return [seen[key] for key in sorted(seen)]


def capture_environment(
    *,
    seed: int | None = None,
    datasets: Sequence[str] = (),
    split: str | None = None,
    code_path: str | Path | None = None,
) -> dict[str, Any]:
    """The run record: enough to say what produced a result, and to produce it again.

    >>> record = capture_environment(seed=7, datasets=["dataset:flights@1"])
    >>> record["seed"], record["datasets"], len(record["packages_sha256"])
    (7, ['dataset:flights@1'], 64)
    """
    packages = installed_packages()
    code = code_version(code_path)
    return {
        "seed": seed,
        "datasets": list(datasets),
        "split": split,
        "code": {
            "commit": code.commit,
            "dirty": code.dirty,
            "diff_sha256": code.diff_hash,
            "repository": code.repo,
        },
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "packages": packages,
        "packages_sha256": hash_bytes("\n".join(packages).encode()),
        "host": socket.gethostname(),
        "shipyard": __version__,
    }


def process_environment() -> dict[str, Any]:
    """What every run records even when started by hand (``ws.runs.start_run``): the code's
    commit, the interpreter, the hash of the installed package list, the host and Shipyard's
    version. Computed once per process and folder, so starting a run stays cheap; runs made
    by the experiment runner record the full package list and the seed as well."""
    return dict(_process_environment(str(Path.cwd())))


@functools.lru_cache(maxsize=8)
def _process_environment(folder: str) -> dict[str, Any]:
    full = capture_environment(code_path=folder)
    return {k: v for k, v in full.items() if k not in ("packages", "datasets", "split", "seed")}
