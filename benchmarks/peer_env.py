"""A peer's own virtual environment for a benchmark, made on first use, at pinned versions.

Peers are never Shipyard dependencies: each benchmark installs its peer into
`benchmarks/.venv-<peer>` (ignored by git) and runs it in a subprocess there.

Every version a benchmark was measured with is pinned here, once: the peer's
and those of the packages installed beside it that the benchmark names. An
environment whose versions differ from the pins (made by an older benchmark,
or changed by hand) is brought to the pins with pip before it is used, and
each benchmark prints the versions it ran with.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Peer:
    """A peer's environment: its folder, exact pins, and the modules that must import."""

    name: str  # the environment is benchmarks/.venv-<name>
    pins: Mapping[str, str]  # requirement (extras allowed) -> exact version
    imports: tuple[str, ...]

    @property
    def venv(self) -> Path:
        return HERE / f".venv-{self.name}"

    @property
    def requirements(self) -> list[str]:
        return [f"{name}=={version}" for name, version in self.pins.items()]

    def describe(self, versions: Mapping[str, str]) -> str:
        return ", ".join(f"{name} {version}" for name, version in versions.items())


def _distribution(requirement: str) -> str:
    return requirement.split("[", 1)[0]


# The measured versions. Feast's environment is shared by bench_features.py and
# bench_online.py, so both use these pins.
FEAST = Peer(
    "feast",
    {
        "feast": "0.67.0",
        "ibis-framework[duckdb]": "12.0.0",  # its DuckDB offline store
        "dask": "2026.11.0",  # its file offline store
        "duckdb": "2.0.1",
        "pyarrow": "26.0.1",
        "pandas": "2.3.3",
    },
    ("feast", "ibis", "duckdb"),
)
MLFLOW = Peer("mlflow", {"mlflow": "3.17.2"}, ("mlflow",))
# bench_serving.py: models pickled in Shipyard's environment are loaded in the peers',
# so scikit-learn is pinned at Shipyard's version beside each serving peer. MLflow's
# serving shares .venv-mlflow with bench_tracking.py (the same mlflow pin).
MLFLOW_SERVING = Peer(
    "mlflow",
    {"mlflow": "3.17.2", "scikit-learn": "1.9.1", "pandas": "3.1.1"},
    ("mlflow.pyfunc", "sklearn"),
)
BENTOML = Peer("bentoml", {"bentoml": "1.4.40", "scikit-learn": "1.9.1"}, ("bentoml", "sklearn"))
EVIDENTLY = Peer(
    "evidently",
    {"evidently": "0.7.23", "pandas": "2.3.3", "pyarrow": "26.0.1"},  # pandas 3 breaks it
    ("evidently", "pandas", "pyarrow"),
)
CROWD_KIT = Peer(
    "crowdkit",
    {"crowd-kit": "1.4.2", "scikit-learn": "1.9.1", "pandas": "3.1.1", "pyarrow": "26.0.1"},
    ("crowdkit.aggregation", "pyarrow"),
)


def _probe(python: Path, peer: Peer) -> tuple[dict[str, str] | None, str]:
    """The installed versions of the pinned packages, once the peer's modules import."""
    code = (
        "import importlib, importlib.metadata as m, json, sys\n"
        f"for name in {list(peer.imports)!r}: importlib.import_module(name)\n"
        f"print(json.dumps({{d: m.version(d) for d in {[_distribution(r) for r in peer.pins]!r}}}))"
    )
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return None, done.stderr[-2000:]
    versions: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return versions, ""


def _mismatches(peer: Peer, versions: Mapping[str, str]) -> list[str]:
    return [
        f"{_distribution(r)} {versions.get(_distribution(r))} (pinned {v})"
        for r, v in peer.pins.items()
        if versions.get(_distribution(r)) != v
    ]


def ensure_peer(peer: Peer) -> tuple[Path | None, str]:
    """The peer's interpreter and its pinned versions as text, or None and why not."""
    python = peer.venv / "bin" / "python"
    if python.exists():
        versions, _ = _probe(python, peer)
        if versions is not None and not _mismatches(peer, versions):
            return python, peer.describe(versions)
    steps = [[str(python), "-m", "pip", "install", "-q", *peer.requirements]]
    if not python.exists():
        steps.insert(0, [sys.executable, "-m", "venv", str(peer.venv)])
    print(f"installing {' '.join(peer.requirements)} into {peer.venv} ...", flush=True)
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return None, f"`{' '.join(step)}` failed:\n{done.stderr[-2000:]}"
    (peer.venv / ".gitignore").write_text("*\n")  # keep the environment out of git status
    versions, error = _probe(python, peer)
    if versions is None:
        return None, f"installed, but the peer does not import:\n{error}"
    wrong = _mismatches(peer, versions)
    if wrong:
        return None, f"installed, but not at the pinned versions: {', '.join(wrong)}"
    return python, peer.describe(versions)
