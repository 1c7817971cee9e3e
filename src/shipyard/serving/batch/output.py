"""A batch transform's output folder: part files, then ``_manifest.json`` and ``_SUCCESS``.

::

    OUTPUT/part-00000.parquet   one per input row group, in input order
    OUTPUT/part-00001.parquet
    OUTPUT/_manifest.json       written last: the job, each part's rows and sha256
    OUTPUT/_SUCCESS             empty; for tools that wait for it

The resume rule: a part file whose footer names this job (the job key hashes the model
version's package, the input's fingerprint and the options) and this part, with the
rows its row group has, is done and is not run again; one that cannot be read is
written again. A file that names another job
means the folder holds another transform's output: refused (Conflict) unless
``overwrite``, which removes the old parts first. Nothing else in the folder is ever
removed: a folder holding other files is refused.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.errors import Conflict, InvalidInput
from shipyard.serving.batch.inputs import Part
from shipyard.serving.batch.parts import JOB_KEY, PART_KEY, PartResult

MANIFEST = "_manifest.json"
SUCCESS = "_SUCCESS"
DAMAGED, FOREIGN = "damaged", "foreign"  # why a part file found is not done
_PART_FILE = re.compile(r"^part-\d{5,}\.parquet$")
_TEMPORARY = re.compile(r"^\.(part-\d{5,}\.parquet|_manifest\.json)\.[0-9a-f]{32}\.tmp$")


@dataclass
class OutputFolder:
    """The folder at ``url`` (a local path or fsspec URL), as this job sees it."""

    url: str
    job: str

    def __post_init__(self) -> None:
        from fsspec.core import url_to_fs

        try:
            self.fs, self.root = url_to_fs(self.url)
        except (ImportError, ValueError) as exc:
            raise InvalidInput(f"Cannot open the output {self.url}: {exc}") from None
        self.root = self.root.rstrip("/")
        # What other processes (workers, an earlier run) wrote must be seen: no stale
        # listing from an object store client's cache.
        self.fs.invalidate_cache(self.root)

    def manifest(self) -> dict[str, Any] | None:
        """The finished job's manifest, if this job finished here already."""
        path = f"{self.root}/{MANIFEST}"
        if not self.fs.exists(path):
            return None
        found = json.loads(self.fs.cat_file(path))
        if found.get("job") != self.job:
            return None
        return dict(found)

    def prepare(self, parts: Sequence[Part], *, overwrite: bool) -> dict[int, PartResult]:
        """Make the folder ready; the parts already done by this job, by index."""
        if not self.fs.exists(self.root):
            self.fs.makedirs(self.root, exist_ok=True)
            return {}
        if not self.fs.isdir(self.root):
            raise InvalidInput(
                f"The output {self.url} is a file; batch transform writes a folder.",
                hint="Give a folder path (it is created if missing).",
            )
        names = {str(p).rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(self.root, detail=False)}
        foreign = sorted(
            n for n in names if not (_PART_FILE.match(n) or _TEMPORARY.match(n))
            and n not in (MANIFEST, SUCCESS)
        )  # fmt: skip
        if foreign:
            raise InvalidInput(
                f"The output folder {self.url} holds other files ({', '.join(foreign[:5])}).",
                hint="Give an empty or new folder, or one a batch transform wrote.",
            )
        for name in names:
            if _TEMPORARY.match(name):  # left by a part that died while writing
                self.fs.rm(f"{self.root}/{name}")
        expected = {part.file_name: part for part in parts}
        done: dict[int, PartResult] = {}
        stale: list[str] = []
        damaged: list[str] = []
        for name in sorted(n for n in names if _PART_FILE.match(n)):
            result = self._check_part(name, expected.get(name))
            if isinstance(result, PartResult):
                done[result.index] = result
            else:
                (damaged if result == DAMAGED else stale).append(name)
        if MANIFEST in names and self.manifest() is None:
            stale.append(MANIFEST)  # another job's
        if stale and not overwrite:
            raise Conflict(
                f"The output {self.url} holds the output of another batch transform "
                f"(another model version, input or options: {stale[0]}).",
                hint="Give a new --output folder, or pass --overwrite to replace it.",
            )
        for name in [*stale, *damaged, MANIFEST, SUCCESS]:
            if self.fs.exists(f"{self.root}/{name}"):
                self.fs.rm(f"{self.root}/{name}")
        return done

    def _check_part(self, name: str, part: Part | None) -> PartResult | str:
        """The part file's result if it is this job's part, whole; else why not:
        :data:`DAMAGED` (unreadable: written again) or :data:`FOREIGN` (another job's)."""
        import pyarrow.parquet as pq

        if part is None:
            return FOREIGN
        path = f"{self.root}/{name}"
        try:
            data = self.fs.cat_file(path)
            metadata = pq.ParquetFile(_buffer(data)).metadata
        except Exception:  # renamed into place whole, so damaged later: written again
            return DAMAGED
        keys = metadata.metadata or {}
        if keys.get(JOB_KEY) != self.job.encode() or keys.get(PART_KEY) != b"%d" % part.index:
            return FOREIGN
        if metadata.num_rows != part.rows:
            return DAMAGED
        return PartResult(part.index, name, part.rows, hashlib.sha256(data).hexdigest())

    def finish(self, manifest: dict[str, Any]) -> None:
        """Write the manifest (under a temporary name, then renamed) and ``_SUCCESS``."""
        import uuid

        temporary = f"{self.root}/.{MANIFEST}.{uuid.uuid4().hex}.tmp"
        self.fs.pipe_file(temporary, json.dumps(manifest, indent=2).encode())
        self.fs.mv(temporary, f"{self.root}/{MANIFEST}")
        self.fs.pipe_file(f"{self.root}/{SUCCESS}", b"")


def output_digest(results: Sequence[PartResult]) -> str:
    """sha256 over the parts' names and sha256s, in order: one digest for the output."""
    lines = "".join(f"{r.file} {r.sha256}\n" for r in sorted(results, key=lambda r: r.index))
    return hashlib.sha256(lines.encode()).hexdigest()


def _buffer(data: bytes) -> Any:
    import pyarrow as pa

    return pa.BufferReader(data)
