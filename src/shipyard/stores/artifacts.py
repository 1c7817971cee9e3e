"""Content-addressed artifact storage on any fsspec file system.

Layout under the store's root::

    objects/sha256/ab/abcdef...   one file per distinct content, named by its sha256
    tmp/<random>                  writes in flight; never read

A write streams into ``tmp/`` while hashing, then moves the file to its
address, so a crash leaves at most an unreferenced temporary file and never a
half-written object. On S3 the move is a server-side copy then a delete: an
object appears at its address whole or not at all. A read hashes what it reads
and refuses bytes that do not match the address (truncated or tampered), so a
bad artifact is never loaded.
Writing content whose address holds such bad bytes replaces them the same way,
so putting the original data again repairs an object.

A folder is stored as its files plus a manifest (JSON: relative path to digest
and size), itself an object; the folder's address is the manifest's. Relative
paths with ``..``, absolute paths and backslashes are refused on the way in
and on the way out.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal, TypeAlias

from shipyard.errors import BackendUnavailable, CorruptArtifact, InvalidInput, NotFound

_CHUNK = 1 << 20
# Object stores, where a key needs no folder and "making" one would probe (or create) the bucket.
_OBJECT_STORES = frozenset({"s3", "s3a"})
# s3fs caches listings per process; a listing made before another process wrote or removed an
# object would then answer ``exists`` wrongly. An address is looked up (HEAD) every time instead.
_OPTIONS: dict[str, dict[str, Any]] = {"s3": {"use_listings_cache": False}}
_OPTIONS["s3a"] = _OPTIONS["s3"]
# The extra that installs the fsspec back end of a scheme.
_EXTRAS = {"s3": "s3", "s3a": "s3"}
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
MANIFEST_FORMAT = "shipyard.folder.v1"

# What checking an address finds: the right bytes, wrong bytes, or nothing at all.
ObjectState: TypeAlias = Literal["ok", "corrupt", "missing"]


@dataclass(frozen=True)
class Artifact:
    """The address and size of stored content; ``kind`` says how to read it back."""

    digest: str
    size: int
    kind: Literal["file", "folder"] = "file"

    @property
    def uri(self) -> str:
        return f"sha256:{self.digest}"


def check_digest(digest: str) -> str:
    """Accept ``abc...`` or ``sha256:abc...``; return the 64 hex characters."""
    text = digest.removeprefix("sha256:") if isinstance(digest, str) else ""
    if not _DIGEST.match(text):
        raise InvalidInput(
            f"{digest!r} is not an artifact address.",
            hint="An address is 64 lowercase hex characters, optionally after 'sha256:'.",
        )
    return text


def check_relative_path(path: str) -> str:
    """Refuse keys that could escape a folder: absolute paths, '..', backslashes, empties."""
    pure = PurePosixPath(path) if isinstance(path, str) else None
    if (
        pure is None
        or not path
        or "\\" in path
        or "\x00" in path
        or pure.is_absolute()
        or re.match(r"^[A-Za-z]:", path)
        or any(part in ("..", ".", "") for part in path.split("/"))
    ):
        raise InvalidInput(
            f"Artifact key {path!r} is not allowed.",
            hint="Keys are relative paths with '/' separators and no '..', '.' or empty parts.",
        )
    return path


class ArtifactStore:
    """Put and get bytes, files and folders by their sha256.

    >>> store = ArtifactStore("memory://doctest-artifacts")
    >>> art = store.put_bytes(b"hello")
    >>> store.get_bytes(art.digest)
    b'hello'
    """

    def __init__(self, url: str) -> None:
        from fsspec.core import split_protocol, url_to_fs

        self.url = url
        scheme = split_protocol(url)[0] or "file"
        try:
            self.fs, self.root = url_to_fs(url, **_OPTIONS.get(scheme, {}))
        except (ImportError, ValueError) as exc:
            extra = _EXTRAS.get(scheme)
            raise BackendUnavailable(
                f"Cannot open the artifact store {url}: {exc}",
                hint=f'Install it with: pip install "shipyard[{extra}]"'
                if extra
                else "Install the fsspec back end for this URL (for example gcsfs for gs://).",
            ) from None
        self.root = self.root.rstrip("/")
        self._folders = scheme not in _OBJECT_STORES

    # -- addresses --------------------------------------------------------------

    def _object_path(self, digest: str) -> str:
        return f"{self.root}/objects/sha256/{digest[:2]}/{digest}"

    def _temp_path(self) -> str:
        return f"{self.root}/tmp/{uuid.uuid4().hex}"

    # -- writing ------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> Artifact:
        """Store ``data``; storing the same bytes twice keeps one copy."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInput(f"put_bytes needs bytes, got {type(data).__name__}.")
        return self._put_stream(_chunks_of(bytes(data)))

    def put_file(self, path: str | os.PathLike[str]) -> Artifact:
        """Store a local file's content, streamed in 1 MiB chunks."""
        source = Path(path)
        if not source.is_file():
            raise InvalidInput(f"No file at {source}.", hint="Pass the path of an existing file.")
        with source.open("rb") as handle:
            return self._put_stream(_chunks_from(handle))

    def put_folder(self, path: str | os.PathLike[str]) -> Artifact:
        """Store every file under a local folder, and a manifest that names them."""
        folder = Path(path)
        if not folder.is_dir():
            raise InvalidInput(f"No folder at {folder}.", hint="Pass the path of a folder.")
        files: dict[str, dict[str, Any]] = {}
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            relative = check_relative_path(file.relative_to(folder).as_posix())
            stored = self.put_file(file)
            files[relative] = {"digest": stored.digest, "size": stored.size}
        manifest = {"format": MANIFEST_FORMAT, "files": files}
        body = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
        stored = self.put_bytes(body)
        return Artifact(stored.digest, sum(f["size"] for f in files.values()), "folder")

    def _put_stream(self, chunks: Iterator[bytes]) -> Artifact:
        temp = self._temp_path()
        digest = hashlib.sha256()
        size = 0
        try:
            self._makedirs(f"{self.root}/tmp")
            with self.fs.open(temp, "wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            address = self._object_path(digest.hexdigest())
            if self._state(address, digest.hexdigest(), size) == "ok":
                self.fs.rm(temp)
            else:  # absent, or corrupt: the fresh copy takes the address in one move
                self._makedirs(address.rsplit("/", 1)[0])
                self.fs.mv(temp, address)
        except BaseException as exc:
            self._remove_quietly(temp)
            if isinstance(exc, FileNotFoundError) and not self._folders:
                self._refuse_a_missing_bucket()
            raise
        return Artifact(digest.hexdigest(), size)

    def _makedirs(self, path: str) -> None:
        if self._folders:
            self.fs.makedirs(path, exist_ok=True)

    def _refuse_a_missing_bucket(self) -> None:
        """A write to a bucket that is not there fails with a plain 'not found': say so."""
        bucket = self.root.split("/", 1)[0]
        if not self.fs.exists(bucket):
            raise BackendUnavailable(
                f"Cannot write to the artifact store {self.url}: no bucket {bucket!r} there.",
                hint="Create the bucket (Shipyard never creates one), and check that "
                "AWS_ENDPOINT_URL_S3 names the server that holds it.",
            ) from None

    def _remove_quietly(self, path: str) -> None:
        try:
            if self.fs.exists(path):
                self.fs.rm(path)
        except OSError:
            pass

    # -- reading --------------------------------------------------------------------

    def exists(self, digest: str) -> bool:
        return bool(self.fs.exists(self._object_path(check_digest(digest))))

    def verify(self, digest: str) -> ObjectState:
        """Whether the object at ``digest`` is there and its bytes hash to its address."""
        digest = check_digest(digest)
        return self._state(self._object_path(digest), digest)

    def digests(self) -> Iterator[str]:
        """The address of every stored object, in no particular order."""
        objects = f"{self.root}/objects/sha256"
        if not self.fs.exists(objects):
            return
        for path in self.fs.find(objects):
            name = str(path).rsplit("/", 1)[-1]
            if _DIGEST.match(name):
                yield name

    def _state(self, address: str, digest: str, size: int | None = None) -> ObjectState:
        try:
            # A size that differs settles it without reading the object.
            if size is not None and self.fs.size(address) != size:
                return "corrupt"
            hasher = hashlib.sha256()
            with self.fs.open(address, "rb") as handle:
                for chunk in _chunks_from(handle):
                    hasher.update(chunk)
        except FileNotFoundError:
            return "missing"
        return "ok" if hasher.hexdigest() == digest else "corrupt"

    def get_bytes(self, digest: str) -> bytes:
        """The content at ``digest``, verified."""
        digest = check_digest(digest)
        with self._open(digest) as handle:
            data = handle.read()
        _verify(digest, hashlib.sha256(data).hexdigest())
        return bytes(data)

    def get_file(self, digest: str, destination: str | os.PathLike[str]) -> Path:
        """Copy the content at ``digest`` to a local file, verified before it appears there."""
        digest = check_digest(digest)
        target = Path(destination)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        hasher = hashlib.sha256()
        try:
            with self._open(digest) as source, temp.open("wb") as out:
                for chunk in _chunks_from(source):
                    hasher.update(chunk)
                    out.write(chunk)
            _verify(digest, hasher.hexdigest())
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        return target

    def get_folder(self, digest: str, destination: str | os.PathLike[str]) -> Path:
        """Rebuild a stored folder under ``destination``, every file verified."""
        manifest = self.read_manifest(digest)
        target = Path(destination)
        for relative, entry in manifest["files"].items():
            self.get_file(entry["digest"], target / check_relative_path(relative))
        target.mkdir(parents=True, exist_ok=True)
        return target

    def read_manifest(self, digest: str) -> dict[str, Any]:
        """The manifest of a stored folder."""
        try:
            manifest = json.loads(self.get_bytes(digest))
        except (UnicodeDecodeError, json.JSONDecodeError):
            manifest = None
        if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
            raise InvalidInput(f"Artifact {digest} is not a stored folder.")
        return manifest

    @contextmanager
    def _open(self, digest: str) -> Iterator[IO[bytes]]:
        try:
            handle = self.fs.open(self._object_path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"No artifact sha256:{digest} in {self.url}.") from None
        with handle:
            yield handle

    # -- housekeeping ----------------------------------------------------------------

    def stats(self) -> tuple[int, int]:
        """How many objects there are and their total bytes."""
        objects = f"{self.root}/objects"
        if not self.fs.exists(objects):
            return 0, 0
        sizes = [info["size"] for info in self.fs.find(objects, detail=True).values()]
        return len(sizes), int(sum(sizes))


def _verify(expected: str, actual: str) -> None:
    if expected != actual:
        raise CorruptArtifact(
            f"Artifact sha256:{expected} is corrupt: its bytes hash to sha256:{actual}.",
            hint=f"It was truncated or changed after it was written. {CorruptArtifact.REPAIR_HINT}",
        )


def _chunks_of(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), _CHUNK):
        yield data[start : start + _CHUNK]
    if not data:
        yield b""


def _chunks_from(handle: IO[bytes]) -> Iterator[bytes]:
    while chunk := handle.read(_CHUNK):
        yield chunk
