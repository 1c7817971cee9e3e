"""Which records name which artifacts: the map from a digest to the refs that need it.

Each kind of record keeps its artifact digests under its own attribute names
(a dataset's ``artifact``, a model's ``package``, a split's ``assignment``...);
they are listed here, in one table, so a check can say "this corrupt object is
dataset:flights@2" instead of only an address. A model package is a stored
folder: its manifest and every file in it belong to the model.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from shipyard.data.datasets import KIND as DATASET_KIND
from shipyard.data.quality_service import BASELINE, PROFILE
from shipyard.data.split_service import KIND as SPLIT_KIND
from shipyard.errors import CorruptArtifact, IntegrityError, InvalidInput, NotFound
from shipyard.pipeline.cache import CACHE_KIND
from shipyard.pipeline.runner import RUN_KIND
from shipyard.registry.records import MODEL_KIND
from shipyard.stores.artifacts import ArtifactStore, check_digest
from shipyard.stores.metadata.base import VersionRecord
from shipyard.stores.metadata.inventory import RunArtifact
from shipyard.stores.metadata.payloads import damaged_record

# The prefix of a tracked run's ref in reports and in `shipyard artifacts verify run:ID`.
RUN_REF_KIND = "run"

# digest -> the refs that name it, sorted for stable reports
Uses = dict[str, list[str]]


@dataclass(frozen=True)
class Names:
    """Where one kind of record keeps its artifact digests."""

    files: tuple[str, ...] = ()  # attributes that always hold a file's digest
    folders: tuple[str, ...] = ()  # attributes that always hold a stored folder's digest
    # Digests nested deeper that may be absent (a step that wrote no log, say).
    optional: Callable[[Mapping[str, Any]], Iterator[Any]] | None = None


def _stored_values(outputs: Any) -> Iterator[Any]:
    if isinstance(outputs, Mapping):
        for value in outputs.values():
            yield value.get("digest") if isinstance(value, Mapping) else None


def _pipeline_run(attributes: Mapping[str, Any]) -> Iterator[Any]:
    for step in attributes.get("steps") or ():
        if isinstance(step, Mapping):
            yield step.get("log")
            yield from _stored_values(step.get("outputs"))


def _cache_entry(attributes: Mapping[str, Any]) -> Iterator[Any]:
    yield from _stored_values(attributes.get("outputs"))


NAMES: dict[str, Names] = {
    DATASET_KIND: Names(files=("artifact",)),
    PROFILE: Names(files=("artifact",)),
    BASELINE: Names(files=("statistics", "constraints")),
    SPLIT_KIND: Names(files=("assignment",)),
    MODEL_KIND: Names(folders=("package",)),
    RUN_KIND: Names(optional=_pipeline_run),
    CACHE_KIND: Names(optional=_cache_entry),
}


@dataclass
class Named:
    """The digests one record names; ``damaged`` when a digest it must hold is not there."""

    files: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    damaged: IntegrityError | None = None


def named_digests(record: VersionRecord) -> Named:
    """The file and folder digests that ``record`` names."""
    names = NAMES.get(record.kind, Names())
    found = Named()
    for keys, into in ((names.files, found.files), (names.folders, found.folders)):
        for key in keys:
            digest = _digest_or_none(record.attributes.get(key))
            if digest is None:
                problem = f"it names no artifact under {key!r}"
                found.damaged = found.damaged or damaged_record(str(record.ref), problem)
            else:
                into.append(digest)
    if names.optional is not None:
        values = (_digest_or_none(v) for v in names.optional(record.attributes))
        found.files.extend(digest for digest in values if digest is not None)
    return found


def _digest_or_none(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return check_digest(value)
    except InvalidInput:  # not an address
        return None


def collect_uses(
    records: Iterable[VersionRecord],
    run_artifacts: Iterable[RunArtifact],
    artifacts: ArtifactStore,
) -> tuple[Uses, list[IntegrityError]]:
    """The refs that need each digest (a folder's files too, when its manifest reads), and
    an error for each record that lacks a digest its kind always has."""
    uses: defaultdict[str, set[str]] = defaultdict(set)
    damaged: list[IntegrityError] = []
    for record in records:
        ref = str(record.ref)
        named = named_digests(record)
        if named.damaged is not None:
            damaged.append(named.damaged)
        for digest in named.files:
            uses[digest].add(ref)
        for digest in named.folders:
            uses[digest].add(ref)
            for inner in _folder_files(artifacts, digest):
                uses[inner].add(ref)
    for logged in run_artifacts:
        uses[logged.digest].add(f"{RUN_REF_KIND}:{logged.run} ({logged.path})")
    return {digest: sorted(refs) for digest, refs in uses.items()}, damaged


def _folder_files(artifacts: ArtifactStore, digest: str) -> list[str]:
    # A manifest that is corrupt or gone is itself reported; its files cannot be named.
    try:
        manifest = artifacts.read_manifest(digest)
    except (CorruptArtifact, NotFound, InvalidInput):
        return []
    entries = manifest.get("files")
    if not isinstance(entries, Mapping):
        return []
    values = (entry.get("digest") for entry in entries.values() if isinstance(entry, Mapping))
    return [digest for digest in map(_digest_or_none, values) if digest is not None]
