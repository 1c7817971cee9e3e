"""Eight processes attaching different policies (and joining different groups) at the same
moment lose none of them: each change is one row, and each row has its event."""

from __future__ import annotations

import multiprocessing
from typing import Any

from shipyard.security.service import SecurityService
from shipyard.stores.metadata import open_metadata_store

WORKERS = 8
EACH = 5
READ_ALL = {"Statement": {"Effect": "Allow", "Action": "features:Read*", "Resource": "*"}}


def attach_at_once(url: str, worker: int, barrier: Any, done: Any) -> None:
    metadata = open_metadata_store(url)
    try:
        security = SecurityService(metadata, principal=f"admin{worker}")
        barrier.wait(timeout=120)
        changed = 0
        for i in range(EACH):
            changed += security.attach(f"p{worker}-{i}", principal="alice")
            changed += security.add_to_group("alice", f"g{worker}-{i}")
            changed += security.attach("shared", principal="alice")  # only one wins this
        done.put(changed)
    finally:
        metadata.close()


def test_eight_processes_attaching_at_once_lose_nothing(metadata_url: str) -> None:
    setup = open_metadata_store(metadata_url)
    setup.upgrade()
    admin = SecurityService(setup, principal="admin")
    names = [f"p{w}-{i}" for w in range(WORKERS) for i in range(EACH)]
    for name in [*names, "shared"]:
        admin.put_policy(name, READ_ALL)
    setup.close()
    # Forked: test modules are imported by path (importlib mode), which a spawned child
    # cannot repeat. Each worker opens its own connections after the fork.
    context = multiprocessing.get_context("fork")
    barrier, done = context.Barrier(WORKERS), context.Queue()
    workers = [
        context.Process(target=attach_at_once, args=(metadata_url, w, barrier, done))
        for w in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    changed = [done.get(timeout=300) for _ in range(WORKERS)]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0

    metadata = open_metadata_store(metadata_url)
    try:
        security = SecurityService(metadata, principal="admin")
        alice = security.membership("alice")
        assert sorted(alice.policies) == sorted([*names, "shared"])
        assert sorted(alice.groups) == sorted(
            f"g{w}-{i}" for w in range(WORKERS) for i in range(EACH)
        )
        # Every change that happened was reported once and recorded once.
        assert sum(changed) == 2 * WORKERS * EACH + 1
        events = security.access_history(principal="alice")
        assert len(events) == 2 * WORKERS * EACH + 1
        assert [e.subject for e in events if e.change == "attach"].count("shared") == 1
    finally:
        metadata.close()
