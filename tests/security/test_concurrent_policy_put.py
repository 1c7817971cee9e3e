"""Processes putting the same policy document at once make one version, as the docs say."""

from __future__ import annotations

import multiprocessing
from typing import Any

from shipyard.security.service import SecurityService
from shipyard.stores.metadata import open_metadata_store

WORKERS = 4
READ_ALL = {"Statement": {"Effect": "Allow", "Action": "features:Read*", "Resource": "*"}}
NO_SSN = {
    "Statement": {"Effect": "Deny", "Action": "*", "Resource": "shipyard:feature:customers/ssn"}
}
ROUNDS = (READ_ALL, NO_SSN, READ_ALL)  # the first document again is a change again


def put_in_rounds(url: str, worker: int, barrier: Any, versions: Any) -> None:
    """Put each round's document at the same moment as the other workers."""
    metadata = open_metadata_store(url)
    try:
        security = SecurityService(metadata, principal=f"admin{worker}")
        for document in ROUNDS:
            barrier.wait(timeout=120)
            versions.put((worker, security.put_policy("readers", document)))
    finally:
        metadata.close()


def test_four_processes_putting_one_document_make_one_version(metadata_url: str) -> None:
    setup = open_metadata_store(metadata_url)
    setup.upgrade()
    setup.close()
    # Forked: test modules are imported by path (importlib mode), which a spawned child
    # cannot repeat. Each worker opens its own connections after the fork.
    context = multiprocessing.get_context("fork")
    barrier, versions = context.Barrier(WORKERS), context.Queue()
    workers = [
        context.Process(target=put_in_rounds, args=(metadata_url, w, barrier, versions))
        for w in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    got = [versions.get(timeout=300) for _ in range(WORKERS * len(ROUNDS))]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    for w in range(WORKERS):
        assert [version for who, version in got if who == w] == [1, 2, 3]
    metadata = open_metadata_store(metadata_url)
    history = SecurityService(metadata, principal="admin").policy_history("readers")
    metadata.close()
    assert [h.version for h in history] == [1, 2, 3]
    assert [h.document["Statement"][0]["Effect"] for h in history] == ["Allow", "Deny", "Allow"]
