"""The files of a model package: the input example, the manifest, their verification,
and the requirements."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from shipyard._version import __version__
from shipyard.errors import CorruptArtifact, InvalidInput
from shipyard.lineage import hash_file

PACKAGE_FORMAT = "shipyard.model.v1"
MANIFEST_FILE = "package.json"


def write_example(example: pd.DataFrame, folder: Path) -> str:
    """Write the example as Parquet (dtypes kept), else JSON; returns the file name."""
    try:
        example.to_parquet(folder / "input_example.parquet", index=False)
        return "input_example.parquet"
    except (ValueError, TypeError):  # pyarrow's ArrowInvalid and ArrowTypeError among them
        pass
    (folder / "input_example.parquet").unlink(missing_ok=True)
    # Arrow cannot hold these values (mixed types in a column): keep them as JSON records.
    example.to_json(folder / "input_example.json", orient="records", date_format="iso")
    return "input_example.json"


def read_example(folder: Path, manifest: Mapping[str, Any]) -> pd.DataFrame:
    """The stored input example (JSON examples get their recorded dtypes back if they fit)."""
    name = manifest["input_example"]["file"]
    if name.endswith(".parquet"):
        return pd.read_parquet(folder / name)
    frame = pd.read_json(folder / name, orient="records")
    for spec in manifest["signature"]["inputs"]:
        # Where a dtype does not apply, keep what JSON gave: the example is for reading.
        with contextlib.suppress(TypeError, ValueError, KeyError):
            frame[spec["name"]] = frame[spec["name"]].astype(spec["dtype"])
    return frame


def read_manifest_file(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise InvalidInput("The artifact is a folder but not a model package (no package.json).")
    return parse_manifest(path.read_bytes())


def parse_manifest(body: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != PACKAGE_FORMAT:
        raise InvalidInput(
            "The artifact is not a Shipyard model package.",
            hint=f"Its package.json must have format {PACKAGE_FORMAT!r}.",
        )
    return manifest


def verify_files(folder: Path, manifest: Mapping[str, Any]) -> None:
    """Every file the manifest lists hashes to its recorded sha256; nothing else is there."""
    recorded: Mapping[str, str] = manifest.get("files", {})
    present = {p.name for p in folder.iterdir() if p.name != MANIFEST_FILE}
    if present != set(recorded):
        raise CorruptArtifact(
            f"The model package holds {sorted(present)} but its manifest lists {sorted(recorded)}.",
            hint="The package was changed after it was written; register the model again.",
        )
    for name, digest in recorded.items():
        actual = hash_file(folder / name)
        if actual != digest:
            raise CorruptArtifact(
                f"The package file {name} hashes to sha256:{actual}, not the recorded "
                f"sha256:{digest}.",
                hint="The package was changed after it was written; register the model again.",
            )


# -- requirements ----------------------------------------------------------------------------


def requirements(modules: Iterable[str]) -> list[str]:
    """``dist==version`` for the installed distributions that provide ``modules`` (names
    such as ``sklearn``, ``xgboost.core.Booster`` or ``pkg.mod:Class``), plus shipyard."""
    from importlib import metadata

    owners = _module_owners()
    found: dict[str, str] = {}
    for module in modules:
        top = str(module).split(":")[0].split(".")[0]
        for dist in owners.get(top, []):
            if dist.lower() == "shipyard":
                continue
            try:
                found[dist.lower()] = f"{dist}=={metadata.version(dist)}"
            except metadata.PackageNotFoundError:
                continue
    return [*(found[k] for k in sorted(found)), f"shipyard=={__version__}"]


@lru_cache(maxsize=1)
def _module_owners() -> Mapping[str, list[str]]:
    from importlib import metadata

    return metadata.packages_distributions()
