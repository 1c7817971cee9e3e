"""The racing process of tests/contracts/test_control_store.py, in a module of its own so
that spawned processes can import it (see there)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shipyard.errors import Conflict
from shipyard.stores.control import control_store_for
from shipyard.stores.metadata import open_metadata_store

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def race(url: str, what: str, index: int, rounds: int, barrier: Any, target: str, out: str) -> None:
    """One racing process: its own store from the URL; each round all read, then all write."""
    metadata = open_metadata_store(url)
    control = control_store_for(metadata)
    name = f"p{index}"
    results: list[Any] = []
    for round_ in range(rounds):
        barrier.wait(timeout=120)  # the round starts when everyone finished the last one
        if what == "deployment":
            seen = control.deployment(target).revision
            barrier.wait(timeout=120)
            try:
                control.update_deployment(
                    target,
                    expected_revision=seen,
                    by=name,
                    event="step",
                    status={"round": round_, "winner": name},
                )
                results.append(seen)
            except Conflict:
                results.append(None)
        elif what == "alias":
            pointer = control.alias(target, "production")
            seen_version = None if pointer is None else pointer.version
            barrier.wait(timeout=120)
            mine = (round_ + 1) * 100 + index  # each process moves it somewhere of its own
            try:
                control.move_alias(
                    target, "production", mine, by=name, expected_version=seen_version
                )
                results.append(mine)
            except Conflict:
                results.append(None)
        else:  # fire_due: everyone at the same moment, in the middle of interval round_
            now = T0 + timedelta(seconds=60 * round_ + 30)
            barrier.wait(timeout=120)
            results.append([(s.name, job_id) for s, job_id in control.fire_due(now, by=name)])
    Path(out).write_text(json.dumps(results))
    metadata.close()
