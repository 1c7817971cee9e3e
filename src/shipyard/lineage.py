"""Where things came from: content hashes, code versions, build ids, lineage records.

Content hashes are sha256, written as 64 lowercase hex characters.

``hash_table`` hashes a table's *content*: the column names and Arrow types in
column order, then each row's values. Row order matters by default (the same
rows shuffled give another hash), because a dataset version is an ordered
table; pass ``order_matters=False`` to hash the multiset of rows instead. The
hash does not depend on how the table is split into batches or files, nor on
whether it arrives as pandas, polars or Arrow.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

_CHUNK = 1 << 20


def hash_bytes(data: bytes) -> str:
    """sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def hash_file(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        raise InvalidInput(f"No file at {path}.") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a folder; hash_file needs a file.") from None
    return digest.hexdigest()


def hash_table(table: Any, *, order_matters: bool = True) -> str:
    """sha256 of a table's content (see the module docstring for what counts).

    ``table`` is a pandas or polars DataFrame, a pyarrow Table or RecordBatch,
    or an iterable of RecordBatches (streamed: never all in memory at once).

    >>> import pandas as pd
    >>> hash_table(pd.DataFrame({"a": [1, 2]})) == hash_table(pd.DataFrame({"a": [1, 2]}))
    True
    """
    import numpy as np

    schema, batches = _as_batches(table)
    digest = hashlib.sha256()
    digest.update(_schema_text(schema).encode())
    kept: list[np.ndarray] = []
    for batch in batches:
        row_hashes = _row_hashes(batch)
        if order_matters:
            digest.update(row_hashes.tobytes())
        else:
            kept.append(row_hashes)
    if not order_matters and kept:
        digest.update(np.sort(np.concatenate(kept)).tobytes())
    return digest.hexdigest()


def _as_batches(table: Any) -> tuple[pa.Schema, Iterable[pa.RecordBatch]]:
    import pyarrow as pa

    if isinstance(table, pa.Table):
        return table.schema, table.to_batches()
    if isinstance(table, pa.RecordBatch):
        return table.schema, [table]
    if type(table).__module__.startswith("polars"):
        arrow = table.to_arrow()
        return arrow.schema, arrow.to_batches()
    if type(table).__module__.startswith("pandas"):
        arrow = pa.Table.from_pandas(table, preserve_index=False)
        return arrow.schema, arrow.to_batches()
    if isinstance(table, pa.RecordBatchReader):
        return table.schema, table
    if isinstance(table, Iterable):
        iterator = iter(table)
        first = next(iterator, None)
        if not isinstance(first, pa.RecordBatch):
            raise InvalidInput("hash_table got an iterable that does not yield RecordBatches.")
        return first.schema, _chain(first, iterator)
    raise InvalidInput(
        f"hash_table cannot hash a {type(table).__name__}.",
        hint="Pass a pandas or polars DataFrame, a pyarrow Table, or RecordBatches.",
    )


def _chain(first: pa.RecordBatch, rest: Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
    yield first
    yield from rest


def _schema_text(schema: pa.Schema) -> str:
    return "\n".join(f"{f.name}\t{f.type}" for f in schema)


def _row_hashes(batch: pa.RecordBatch) -> Any:
    """One uint64 per row, mixing vectorised hashes of every column's values."""
    import numpy as np

    combined = np.zeros(batch.num_rows, dtype=np.uint64)
    for position, column in enumerate(batch.columns):
        # Mix in the column position so that swapping two columns' values changes the hash.
        combined = combined * np.uint64(1_000_003) + _column_hashes(column) + np.uint64(position)
    return combined


_NULL_HASH = 0x9E3779B97F4A7C15  # any constant: what a null hashes to, in every batch


def _column_hashes(column: pa.Array) -> Any:
    """Hashes that depend only on the values and the Arrow type, never on the batch.

    (Converting each batch to pandas would not do: an integer batch with a null
    becomes float64 and hashes differently from one without.)
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    from pandas.util import hash_array

    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    kind = column.type
    if pa.types.is_nested(kind) or not _fillable(kind):
        values = np.array([repr(v) for v in column.to_pylist()], dtype=object)
        return hash_array(values)
    filled = column.fill_null(_zero(kind)) if column.null_count else column
    hashed = hash_array(np.asarray(filled.to_numpy(zero_copy_only=False)))
    if column.null_count:
        hashed[np.asarray(pc.is_null(column))] = np.uint64(_NULL_HASH)
    return hashed


def _fillable(kind: pa.DataType) -> bool:
    import pyarrow as pa

    checks = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean, pa.types.is_string)
    more = (pa.types.is_large_string, pa.types.is_binary, pa.types.is_large_binary)
    temporal = (pa.types.is_timestamp, pa.types.is_date, pa.types.is_duration)
    return any(check(kind) for check in (*checks, *more, *temporal))


def _zero(kind: pa.DataType) -> Any:
    import pyarrow as pa

    if pa.types.is_boolean(kind):
        return pa.scalar(False, kind)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pa.scalar("", kind)
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return pa.scalar(b"", kind)
    if pa.types.is_timestamp(kind) or pa.types.is_duration(kind) or pa.types.is_date(kind):
        return pa.scalar(0, pa.int64()).cast(kind)
    return pa.scalar(0, kind)


@dataclass(frozen=True)
class CodeVersion:
    """The git state of the caller's code: commit, dirty flag, hash of the uncommitted diff."""

    commit: str | None = None
    dirty: bool = False
    diff_hash: str | None = None
    repo: str | None = None

    @property
    def in_git(self) -> bool:
        return self.commit is not None


def code_version(path: str | os.PathLike[str] | None = None) -> CodeVersion:
    """The git commit and dirty flag of the working tree that holds ``path`` (default: cwd).

    Outside a git working tree, or without git installed, returns a clean
    ``CodeVersion()`` with ``commit=None``: never an error.
    """
    where = Path(path) if path is not None else Path.cwd()
    if where.is_file():
        where = where.parent
    root = _git(where, "rev-parse", "--show-toplevel")
    commit = _git(where, "rev-parse", "HEAD") if root else None
    if not root or not commit:
        return CodeVersion(repo=root or None)
    status = _git(where, "status", "--porcelain", "--untracked-files=no") or ""
    if not status:
        return CodeVersion(commit=commit, dirty=False, repo=root)
    diff = _git(where, "diff", "HEAD", "--binary") or ""
    return CodeVersion(commit=commit, dirty=True, diff_hash=hash_bytes(diff.encode()), repo=root)


def _git(where: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=where, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def new_build_id(now: datetime | None = None) -> str:
    """A fresh, sortable build id such as ``build-20261127T021500Z-3f9a1c``."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"build-{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Lineage:
    """Where a stored thing came from. Later parts fill the fields they know.

    References are strings such as ``dataset:flights@3``; ``extra`` holds
    anything a part wants to add without a schema change.
    """

    datasets: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    split_plan: str | None = None
    run: str | None = None
    code: CodeVersion = field(default_factory=CodeVersion)
    build_id: str | None = None
    pipeline_run: str | None = None
    approvals: tuple[str, ...] = ()
    parents: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["extra"] = dict(self.extra)
        for key in ("datasets", "features", "approvals", "parents"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Lineage:
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInput(f"Unknown lineage field(s): {', '.join(unknown)}.")
        values = dict(data)
        for key in ("datasets", "features", "approvals", "parents"):
            if key in values:
                values[key] = tuple(values[key])
        if isinstance(values.get("code"), Mapping):
            values["code"] = CodeVersion(**values["code"])
        return cls(**values)
