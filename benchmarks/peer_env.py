"""A peer's own virtual environment for a benchmark, made on first use.

Peers are never Shipyard dependencies: each benchmark installs its peer into
`benchmarks/.venv-<peer>` (ignored by git) and runs it in a subprocess there.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def ensure_peer(venv: Path, requirements: Sequence[str], probe: str) -> tuple[Path | None, str]:
    """The peer's interpreter and the version ``probe`` prints, or None and why not.

    ``probe`` is Python code that imports the peer and prints its version.
    """
    python = venv / "bin" / "python"
    check = [str(python), "-c", probe]
    if python.exists():
        ok = subprocess.run(check, capture_output=True, text=True, check=False)
        if ok.returncode == 0:
            return python, ok.stdout.strip()
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "-q", *requirements],
    ]
    print(f"installing {' '.join(requirements)} into {venv} ...", flush=True)
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return None, f"`{' '.join(step)}` failed:\n{done.stderr[-2000:]}"
    (venv / ".gitignore").write_text("*\n")  # keep the environment out of git status
    ok = subprocess.run(check, capture_output=True, text=True, check=False)
    if ok.returncode != 0:
        return None, f"installed, but the peer does not import:\n{ok.stderr[-2000:]}"
    return python, ok.stdout.strip()
