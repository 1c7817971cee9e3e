"""The audit log: denials and allowed changes are entries (who, what, resource, when,
from where, outcome); reads are not; reading it is itself an access check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard
from shipyard.cli.main import main
from shipyard.errors import AccessDenied


@pytest.fixture
def ws(tmp_path: Path) -> shipyard.Workspace:
    with shipyard.connect(tmp_path / "home", principal="alice") as workspace:
        yield workspace


def _register(ws: shipyard.Workspace) -> None:
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(30, 2)), columns=["a", "b"])
    model = LogisticRegression().fit(frame, frame["a"] > 0)
    ws.as_principal("pipeline").models.register("delay", model, input_example=frame.head())


def test_denials_and_changes_are_entries_and_reads_are_not(ws: shipyard.Workspace) -> None:
    _register(ws)
    with pytest.raises(AccessDenied):
        ws.models.set_alias("delay", "production", 1)
    ws.as_principal("pipeline").models.set_alias("delay", "production", 1)
    ws.models.get("delay", alias="production")  # a read: no entry
    entries = ws.audit_log()
    seen = [(e.principal, e.action, e.resource, e.outcome, e.source) for e in entries]
    assert seen == [
        ("pipeline", "models:SetAlias", "shipyard:model_alias:delay/production", "allowed",
         "python"),
        ("alice", "models:SetAlias", "shipyard:model_alias:delay/production", "denied",
         "python"),
        ("pipeline", "models:Write", "shipyard:model:delay", "allowed", "python"),
    ]  # fmt: skip
    assert "built-in rule" in str(entries[1].detail["reason"])
    assert [e.action for e in ws.audit_log(principal="ALICE")] == ["models:SetAlias"]
    assert ws.audit_log(action="models:Read") == []


def test_reading_the_audit_log_needs_audit_read(ws: shipyard.Workspace) -> None:
    ws.security.put_policy(
        "readonly-data",
        {
            "Statement": [
                {"Effect": "Allow", "Action": "datasets:Read", "Resource": "shipyard:dataset:*"}
            ]
        },
    )
    ws.security.attach("readonly-data", principal="bob")
    with pytest.raises(AccessDenied, match="audit:Read"):
        ws.as_principal("bob").audit_log()
    assert ws.audit_log(action="policies:Attach")[0].principal == "alice"


def test_the_cli_records_its_source_and_prints_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = str(tmp_path / "home")
    monkeypatch.setenv("SHIPYARD_PRINCIPAL", "alice")
    assert main(["--home", home, "models", "alias", "delay", "production", "1"]) != 0
    capsys.readouterr()
    assert main(["--home", home, "audit", "--json", "--principal", "alice"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(e["action"], e["outcome"], e["source"]) for e in shown] == [
        ("models:SetAlias", "denied", "cli")
    ]
    assert main(["--home", home, "audit", "--since", "not a time"]) == 2
    assert "--since" in capsys.readouterr().err


def test_lists_leave_out_what_one_may_not_read_without_denial_entries(
    ws: shipyard.Workspace,
) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3]})
    for name in ("public", "secret"):
        ws.datasets.register(name, frame)
    ws.security.put_policy(
        "public-only",
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "datasets:Read",
                    "Resource": "shipyard:dataset:public",
                }
            ]
        },
    )
    ws.security.attach("public-only", principal="dave")
    dave = ws.as_principal("dave")
    assert [d.name for d in dave.datasets.list()] == ["public"]
    assert ws.audit_log(principal="dave") == []
