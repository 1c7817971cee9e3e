"""A batch transform's input: Parquet files (local or any fsspec URL) or a registered
dataset version, cut into parts (one per row group), with a fingerprint.

The fingerprint says whether two runs read the same input, so a rerun may resume: a
dataset version's content hash, or, for files, a hash of each file's URL, size and
fsspec ``ukey`` (modification time, ETag). Files are not read in full for it: a changed
file changes its size or modification time, and rereading the input to hash it would
cost as much as the transform.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    import pyarrow as pa

    from shipyard.workspace import Workspace

DATASET_PREFIX = "dataset:"


@dataclass(frozen=True)
class Part:
    """One row group of one file: the unit of work, of resuming and of output."""

    index: int
    url: str
    row_group: int
    rows: int

    @property
    def file_name(self) -> str:
        return f"part-{self.index:05d}.parquet"


@dataclass(frozen=True)
class BatchInput:
    """What was asked for, its parts, its Arrow schema and its fingerprint."""

    given: str
    parts: tuple[Part, ...]
    schema: pa.Schema
    fingerprint: str
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(part.rows for part in self.parts)


def open_input(workspace: Workspace, given: str) -> BatchInput:
    """The input named ``given``: ``dataset:NAME@V``, or a Parquet file or folder."""
    if given.startswith(DATASET_PREFIX):
        return _dataset_input(workspace, given)
    return _file_input(given)


def _dataset_input(workspace: Workspace, given: str) -> BatchInput:
    from shipyard.types import Ref

    ref = Ref.parse(given, kind="dataset")
    dataset = workspace.datasets.get(ref.name, ref.version)
    # A verified local copy: readable by this process and a local cluster's workers.
    path = workspace.datasets.path(ref.name, dataset.version)
    found = _file_input(str(path))
    record = {"dataset": str(dataset.ref), "content_hash": dataset.content_hash}
    return BatchInput(str(dataset.ref), found.parts, found.schema, dataset.content_hash, record)


def _file_input(given: str) -> BatchInput:
    import pyarrow.parquet as pq
    from fsspec.core import url_to_fs

    url = given if "://" in given else os.path.abspath(os.path.expanduser(given))
    try:
        fs, path = url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise InvalidInput(f"Cannot open {given}: {exc}") from None
    files = _parquet_files(fs, path, given)
    parts: list[Part] = []
    schema: pa.Schema | None = None
    identity = []
    for name in files:
        info = fs.info(name)
        location = fs.unstrip_protocol(name)
        try:
            with fs.open(name, "rb") as handle:
                metadata = pq.ParquetFile(handle).metadata
                found = metadata.schema.to_arrow_schema()
        except Exception as exc:  # pyarrow's errors for a file that is not Parquet vary
            raise InvalidInput(
                f"{location} is not a readable Parquet file: {exc}",
                hint="Give Parquet files (write them with pandas' to_parquet or pyarrow).",
            ) from None
        if schema is None:
            schema = found
        elif not found.equals(schema):
            raise InvalidInput(
                f"{location} has other columns or types than {fs.unstrip_protocol(files[0])}.",
                hint="Give files of one schema.",
            )
        for group in range(metadata.num_row_groups):
            rows = metadata.row_group(group).num_rows
            parts.append(Part(len(parts), location, group, rows))
        identity.append([location, info.get("size"), str(fs.ukey(name))])
    assert schema is not None
    fingerprint = hashlib.sha256(json.dumps(identity).encode()).hexdigest()
    record = {"files": [row[0] for row in identity], "fingerprint": fingerprint}
    return BatchInput(given, tuple(parts), schema, fingerprint, record)


def _parquet_files(fs: Any, path: str, given: str) -> list[str]:
    if fs.isdir(path):
        names = sorted(
            str(p)
            for p in fs.find(path)
            if str(p).endswith(".parquet") and not _hidden(str(p)[len(path) :])
        )
        if not names:
            raise InvalidInput(
                f"The folder {given} holds no .parquet files.",
                hint="Give a Parquet file, a folder of them, or dataset:NAME@VERSION.",
            )
        return names
    if not fs.exists(path):
        raise NotFound(
            f"No file or folder at {given}.",
            hint="Give a Parquet file, a folder of them, or dataset:NAME@VERSION.",
        )
    return [path]


def _hidden(relative: str) -> bool:
    """Whether a path below the folder has a part starting with ``.`` or ``_`` (temporary
    files, markers: what Spark and Arrow skip too)."""
    return any(piece[:1] in "._" for piece in relative.split("/") if piece)
