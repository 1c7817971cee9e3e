"""The artifact store: content addressing, verification on read, atomic writes, safe keys."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.errors import BackendUnavailable, CorruptArtifact, InvalidInput, NotFound
from shipyard.lineage import hash_bytes, hash_file
from shipyard.stores.artifacts import ArtifactStore, check_relative_path


@pytest.fixture(params=["local", "memory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    """Each back end in turn: a folder, fsspec's memory, and S3 (moto's server, a fresh prefix)."""
    if request.param == "local":
        return ArtifactStore(str(tmp_path / "artifacts"))
    if request.param == "s3":
        return ArtifactStore(request.getfixturevalue("s3_url"))
    return ArtifactStore(f"memory://artifacts-{uuid.uuid4().hex}")


def object_path(store: ArtifactStore, digest: str) -> str:
    return store._object_path(digest)


def temp_files(store: ArtifactStore) -> list[str]:
    """What is under the store's tmp/ (on S3 a prefix with no objects does not exist)."""
    tmp = f"{store.root}/tmp"
    return list(store.fs.find(tmp)) if store.fs.exists(tmp) else []


def test_bytes_round_trip_and_are_addressed_by_sha256(store: ArtifactStore) -> None:
    art = store.put_bytes(b"shipyard")
    assert art.digest == hash_bytes(b"shipyard") and art.size == 8
    assert store.get_bytes(art.digest) == b"shipyard"
    assert store.get_bytes(art.uri) == b"shipyard"
    assert store.exists(art.digest)


def test_same_content_is_stored_once(store: ArtifactStore) -> None:
    first = store.put_bytes(b"same")
    second = store.put_bytes(b"same")
    empty = store.put_bytes(b"")
    assert first == second
    assert store.get_bytes(empty.digest) == b""
    assert store.stats() == (2, 4)


def test_files_stream_and_round_trip(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3 * (1 << 20) + 17))  # spans several chunks
    art = store.put_file(source)
    assert art.digest == hash_file(source)
    copy = store.get_file(art.digest, tmp_path / "out" / "copy.bin")
    assert copy.read_bytes() == source.read_bytes()


def test_folders_round_trip(store: ArtifactStore, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "model.bin").write_bytes(b"weights")
    (folder / "sub" / "meta.json").write_text('{"a": 1}')
    art = store.put_folder(folder)
    assert art.kind == "folder" and art.size == len(b"weights") + len('{"a": 1}')
    out = store.get_folder(art.digest, tmp_path / "restored")
    assert (out / "model.bin").read_bytes() == b"weights"
    assert (out / "sub" / "meta.json").read_text() == '{"a": 1}'
    assert set(store.read_manifest(art.digest)["files"]) == {"model.bin", "sub/meta.json"}


def test_a_tampered_artifact_is_refused(store: ArtifactStore, tmp_path: Path) -> None:
    art = store.put_bytes(b"the real model")
    with store.fs.open(object_path(store, art.digest), "wb") as handle:
        handle.write(b"the evil model")
    with pytest.raises(CorruptArtifact, match=art.digest):
        store.get_bytes(art.digest)
    target = tmp_path / "model.bin"
    with pytest.raises(CorruptArtifact):
        store.get_file(art.digest, target)
    assert not target.exists()  # nothing unverified reaches the caller's folder
    assert list(tmp_path.glob(".model.bin*")) == []


def test_a_truncated_artifact_is_refused(store: ArtifactStore) -> None:
    art = store.put_bytes(b"x" * 10_000)
    with store.fs.open(object_path(store, art.digest), "wb") as handle:
        handle.write(b"x" * 5_000)
    with pytest.raises(CorruptArtifact, match="truncated"):
        store.get_bytes(art.digest)


def test_a_corrupt_file_inside_a_folder_is_refused(store: ArtifactStore, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "a.txt").write_text("alpha")
    art = store.put_folder(folder)
    inner = store.read_manifest(art.digest)["files"]["a.txt"]["digest"]
    with store.fs.open(object_path(store, inner), "wb") as handle:
        handle.write(b"omega")
    with pytest.raises(CorruptArtifact):
        store.get_folder(art.digest, tmp_path / "out")


def test_a_write_that_fails_midway_leaves_nothing_visible(store: ArtifactStore) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        yield b"a" * 1000
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        store._put_stream(chunks())
    assert store.stats() == (0, 0)
    assert temp_files(store) == []


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from shipyard.stores.artifacts import ArtifactStore

    def chunks():
        for _ in range(10):
            yield b"z" * (1 << 20)
        print("writing", flush=True)
        time.sleep(600)            # killed here, mid-write
        yield b"never"

    ArtifactStore(sys.argv[1])._put_stream(chunks())
    """
)


def test_a_killed_writer_leaves_no_artifact(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(root)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "writing"
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    store = ArtifactStore(str(root))
    assert store.stats() == (0, 0)
    leftovers = list((root / "tmp").iterdir())
    assert len(leftovers) == 1 and leftovers[0].stat().st_size >= 10 << 20  # only a temp file


def test_unknown_addresses(store: ArtifactStore) -> None:
    with pytest.raises(NotFound):
        store.get_bytes("0" * 64)
    for bad in ["", "abc", "../" + "0" * 61, "sha1:" + "0" * 64, "G" * 64]:
        with pytest.raises(InvalidInput, match="not an artifact address"):
            store.get_bytes(bad)


@pytest.mark.parametrize(
    "key", ["../escape", "a/../../b", "/etc/passwd", "C:/x", "a\\b", "a//b", "./a", "", "a/"]
)
def test_keys_that_could_escape_are_refused(key: str) -> None:
    with pytest.raises(InvalidInput, match="not allowed"):
        check_relative_path(key)


def test_a_manifest_with_an_escaping_key_is_refused(store: ArtifactStore, tmp_path: Path) -> None:
    inner = store.put_bytes(b"payload")
    manifest = {
        "files": {"../../outside.txt": {"digest": inner.digest, "size": 7}},
        "format": "shipyard.folder.v1",
    }
    evil = store.put_bytes(json.dumps(manifest).encode())
    with pytest.raises(InvalidInput, match="not allowed"):
        store.get_folder(evil.digest, tmp_path / "restore")
    assert not (tmp_path / "outside.txt").exists()


def test_plain_bytes_are_not_a_folder(store: ArtifactStore) -> None:
    art = store.put_bytes(b"just bytes")
    with pytest.raises(InvalidInput, match="not a stored folder"):
        store.read_manifest(art.digest)


def test_bad_inputs(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        store.put_bytes("text")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="No file"):
        store.put_file(tmp_path / "missing")
    with pytest.raises(InvalidInput, match="No folder"):
        store.put_folder(tmp_path / "missing")


# -- repair: a put over an address that fails verification replaces it ----------------------


def tamper(store: ArtifactStore, digest: str, data: bytes) -> None:
    with store.fs.open(object_path(store, digest), "wb") as handle:
        handle.write(data)


def test_putting_the_same_bytes_again_repairs_a_corrupt_object(store: ArtifactStore) -> None:
    art = store.put_bytes(b"the real model")
    tamper(store, art.digest, b"the evil model")  # same size: only the hash tells
    assert store.verify(art.digest) == "corrupt"
    assert store.put_bytes(b"the real model") == art
    assert store.verify(art.digest) == "ok"
    assert store.get_bytes(art.digest) == b"the real model"
    assert store.stats() == (1, len(b"the real model"))
    assert temp_files(store) == []  # the fresh copy was moved, not left behind


def test_putting_a_file_again_repairs_a_truncated_or_missing_object(
    store: ArtifactStore, tmp_path: Path
) -> None:
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(2 * (1 << 20) + 5))
    art = store.put_file(source)
    tamper(store, art.digest, source.read_bytes()[:1000])
    store.put_file(source)
    assert store.get_file(art.digest, tmp_path / "a.bin").read_bytes() == source.read_bytes()
    store.fs.rm(object_path(store, art.digest))
    assert store.verify(art.digest) == "missing"
    store.put_file(source)
    assert store.verify(art.digest) == "ok"


def test_an_intact_object_is_not_rewritten(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "artifacts"))
    art = store.put_bytes(b"keep me")
    before = Path(object_path(store, art.digest)).stat().st_ino
    store.put_bytes(b"keep me")
    assert Path(object_path(store, art.digest)).stat().st_ino == before


def test_verify_and_digests_cover_every_object(store: ArtifactStore) -> None:
    assert list(store.digests()) == []
    good, bad = store.put_bytes(b"good"), store.put_bytes(b"bad")
    tamper(store, bad.digest, b"BAD")
    assert sorted(store.digests()) == sorted([good.digest, bad.digest])
    assert store.verify(good.uri) == "ok"
    assert store.verify(bad.digest) == "corrupt"
    assert store.verify("0" * 64) == "missing"


def test_the_corrupt_artifact_hint_says_what_repairs_it(store: ArtifactStore) -> None:
    art = store.put_bytes(b"payload")
    tamper(store, art.digest, b"PAYLOAD")
    with pytest.raises(CorruptArtifact) as caught:
        store.get_bytes(art.digest)
    assert caught.value.hint is not None
    assert "Register the original data again" in caught.value.hint
    assert "shipyard artifacts verify --repair-from" in caught.value.hint


# -- S3: what the contract above cannot show on a local disk ------------------------------


def test_an_s3_object_is_not_visible_before_its_write_completes(s3_url: str) -> None:
    store = ArtifactStore(s3_url)
    data = os.urandom(3 * (1 << 20))
    digest = hash_bytes(data)
    halfway, finish = threading.Event(), threading.Event()

    def chunks() -> Iterator[bytes]:
        yield data[: len(data) // 2]
        halfway.set()
        assert finish.wait(30)
        yield data[len(data) // 2 :]

    writer = threading.Thread(target=store._put_stream, args=(chunks(),))
    writer.start()
    try:
        assert halfway.wait(30)
        other = ArtifactStore(s3_url)  # what any other reader sees meanwhile
        assert not other.exists(digest) and other.verify(digest) == "missing"
        assert list(other.digests()) == [] and other.stats() == (0, 0)
    finally:
        finish.set()
        writer.join(30)
    assert store.get_bytes(digest) == data
    assert temp_files(store) == []


def test_a_killed_writer_leaves_nothing_on_s3(s3_url: str) -> None:
    # The writer is another process: it reaches the server through the AWS variables alone.
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, s3_url], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    store = ArtifactStore(s3_url)
    assert store.stats() == (0, 0) and list(store.digests()) == []
    assert temp_files(store) == []  # the upload never completed, so not even a temp object


def test_an_intact_s3_object_is_not_rewritten(s3_url: str) -> None:
    store = ArtifactStore(s3_url)
    art = store.put_bytes(b"keep me")
    before = store.fs.info(object_path(store, art.digest))["LastModified"]
    time.sleep(1.1)  # Last-Modified counts whole seconds
    store.put_bytes(b"keep me")
    assert store.fs.info(object_path(store, art.digest))["LastModified"] == before


def test_s3_answers_are_not_from_a_stale_listing(s3_url: str) -> None:
    store = ArtifactStore(s3_url)
    kept, removed = store.put_bytes(b"kept"), store.put_bytes(b"removed")
    assert sorted(store.digests()) == sorted([kept.digest, removed.digest])
    # Another machine removes one object and writes another, straight to the bucket.
    import s3fs

    elsewhere = s3fs.S3FileSystem(skip_instance_cache=True)
    elsewhere.rm(object_path(store, removed.digest))
    added = hash_bytes(b"added")
    elsewhere.pipe(object_path(store, added), b"added")
    assert not store.exists(removed.digest) and store.verify(removed.digest) == "missing"
    assert store.exists(added) and store.get_bytes(added) == b"added"
    assert sorted(store.digests()) == sorted([kept.digest, added])
    assert store.stats() == (2, len(b"kept") + len(b"added"))


def test_a_missing_bucket_is_named(s3_url: str) -> None:
    store = ArtifactStore(f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/artifacts")
    with pytest.raises(BackendUnavailable, match="no bucket") as caught:
        store.put_bytes(b"data")
    assert "never creates one" in str(caught.value.hint)


def test_without_s3fs_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = importlib.import_module("fsspec.registry")  # the module, not its mapping
    monkeypatch.delitem(registry._registry, "s3", raising=False)
    monkeypatch.setitem(sys.modules, "s3fs", None)  # importing it now fails
    with pytest.raises(BackendUnavailable) as caught:
        ArtifactStore("s3://bucket/artifacts")
    assert 'pip install "shipyard[s3]"' in str(caught.value.hint)
