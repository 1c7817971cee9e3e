"""Datasets, splits and quality check every read and write against the principal's
policies: what a policy allows works, everything else is refused before anything is
read or stored, and lists show only what may be read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

import shipyard
from shipyard.errors import AccessDenied

PLAN = {"sets": {"training": 0.6, "validation": 0.2, "testing": 0.2}, "seed": 5}
ANALYST = {
    "Statement": [
        {"Effect": "Allow", "Action": "datasets:Read", "Resource": "shipyard:dataset:flights"},
        {"Effect": "Allow", "Action": "splits:Read", "Resource": "shipyard:split:*"},
        {"Effect": "Allow", "Action": "quality:Read", "Resource": "shipyard:baseline:flights"},
    ]
}


def table(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return pd.DataFrame(
        {
            "id": np.arange(200),
            "at": [start + timedelta(hours=i) for i in range(200)],
            "x": rng.normal(size=200),
            "y": rng.integers(0, 2, size=200),
        }
    )


@pytest.fixture
def alice(workspace: shipyard.Workspace) -> shipyard.Workspace:
    """``alice`` may read the flights dataset, its baselines and every split, no more."""
    for name in ("flights", "payroll"):
        workspace.datasets.register(name, table(1), time_column="at", id_columns=["id"], target="y")
        workspace.splits.create(f"{name}@1", PLAN)
    workspace.quality.baseline("flights@1")
    workspace.security.put_policy("analyst", ANALYST)
    workspace.security.attach("analyst", principal="alice")
    return workspace.as_principal("alice")


def test_datasets_are_read_and_written_as_the_policy_allows(
    workspace: shipyard.Workspace, alice: shipyard.Workspace
) -> None:
    assert alice.datasets.get("flights").rows == 200
    assert len(alice.datasets.load("flights@1", columns=["x"])) == 200
    assert alice.datasets.describe("flights")["rows"] == 200
    assert [d.name for d in alice.datasets.list()] == ["flights"]
    reads = (
        lambda: alice.datasets.get("payroll"),
        lambda: alice.datasets.load("payroll@1"),
        lambda: alice.datasets.path("payroll"),
        lambda: alice.datasets.versions("payroll"),
        lambda: alice.datasets.describe("payroll"),
    )
    for read in reads:
        with pytest.raises(AccessDenied, match=r"'alice' may not datasets:Read on dataset payroll"):
            read()
    with pytest.raises(AccessDenied, match="datasets:Write on dataset flights"):
        alice.datasets.register("flights", table(2))
    assert [v.version for v in workspace.datasets.versions("flights")] == [1]  # nothing stored


def test_splits_are_read_and_written_as_the_policy_allows(
    workspace: shipyard.Workspace, alice: shipyard.Workspace
) -> None:
    split = alice.splits.get("flights")
    assert sum(len(s) for s in alice.splits.sets(split).values()) == 200
    assert alice.splits.reproduce("flights").ref == split.ref
    with pytest.raises(AccessDenied, match="splits:Write on split flights"):
        alice.splits.create("flights@1", {**PLAN, "seed": 6})
    # A split of a dataset she may not read does not give her its rows.
    assert alice.splits.get("payroll").counts  # the split's record she may read...
    with pytest.raises(AccessDenied, match="datasets:Read on dataset payroll"):
        alice.splits.sets("payroll")  # ...but not the rows it selects
    workspace.security.put_policy("splitter", {"Statement": {
        "Effect": "Allow", "Action": "splits:Write", "Resource": "shipyard:split:*"}})  # fmt: skip
    workspace.security.attach("splitter", principal="alice")
    alice.security.invalidate()
    with pytest.raises(AccessDenied, match="datasets:Read on dataset payroll"):
        alice.splits.create("payroll@1", {**PLAN, "seed": 6})
    assert alice.splits.create("flights@1", {**PLAN, "seed": 6}).version == 2
    assert workspace.splits.get("payroll").version == 1


def test_quality_is_read_and_written_as_the_policy_allows(
    workspace: shipyard.Workspace, alice: shipyard.Workspace
) -> None:
    base = alice.quality.get_baseline("dataset:flights@1")
    assert alice.quality.get_baseline("baseline:flights").version == base.version
    assert alice.quality.check("flights@1", baseline=base).ok
    assert alice.quality.profile("flights@1").rows == 200
    with pytest.raises(AccessDenied, match="quality:Write on baseline flights"):
        alice.quality.baseline("flights@1")
    with pytest.raises(AccessDenied, match="datasets:Read on dataset payroll"):
        alice.quality.profile("payroll@1")
    payroll = workspace.quality.baseline("payroll@1")
    for read in (
        lambda: alice.quality.get_baseline("baseline:payroll"),
        lambda: alice.quality.check(table(3), baseline=payroll),
    ):
        with pytest.raises(AccessDenied, match="quality:Read on baseline payroll"):
            read()
    assert workspace.quality.get_baseline("baseline:flights").version == base.version
