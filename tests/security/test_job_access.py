"""People see and change jobs through ws.jobs, under jobs:Read and jobs:Write per kind."""

from __future__ import annotations

from pathlib import Path

import pytest

import shipyard
from shipyard.errors import AccessDenied


def test_jobs_are_read_and_changed_per_kind(tmp_path: Path) -> None:
    with shipyard.connect(tmp_path / "home", principal="admin") as ws:
        store = ws.runtime.jobs
        report = store.enqueue("report", {"n": 1}, created_by="admin")
        secret = store.enqueue("retrain", {"n": 2}, created_by="admin")
        ws.security.put_policy("reports-only", {"Statement": [
            {"Effect": "Allow", "Action": ["jobs:Read", "jobs:Write"],
             "Resource": "shipyard:job:report"}]})  # fmt: skip
        ws.security.attach("reports-only", principal="carol")
        carol = ws.as_principal("carol")
        assert [j.id for j in carol.jobs.list(kind="report")] == [report.id]
        assert carol.jobs.get(report.id).kind == "report"
        assert carol.jobs.cancel(report.id).state == "cancelled"
        assert carol.jobs.retry(report.id).state == "queued"
        with pytest.raises(AccessDenied, match="jobs:Read"):
            carol.jobs.get(secret.id)
        with pytest.raises(AccessDenied, match="jobs:Write"):
            carol.jobs.cancel(secret.id)
        assert [j.kind for j in carol.jobs.list()] == ["report"]  # retrain left out, quietly
        assert {j.kind for j in ws.jobs.list()} == {"report", "retrain"}  # unrestricted admin
        assert [e.outcome for e in ws.audit_log(principal="carol", action="jobs:Write")] == [
            "denied", "allowed", "allowed"]  # fmt: skip
