"""The action catalogue is complete, consistent, known to policies, and printed by
`shipyard policies actions` (a table, or JSON for scripts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipyard.cli import main as cli_main
from shipyard.security.actions import CATALOGUE, RESOURCE_TYPES
from shipyard.security.policies import Policy, check_resource, known_actions

CHECKED_TODAY = {
    "features:ReadOffline", "features:ReadOnline", "features:Write", "features:Apply",
    "pipeline:Run", "datasets:Read", "datasets:Write", "splits:Read", "splits:Write",
    "quality:Read", "quality:Write", "runs:Read", "runs:Write", "models:Read", "models:Write",
    "models:Approve", "models:SetAlias", "policies:Read", "policies:Put", "policies:Attach",
    "policies:Detach", "groups:AddMember", "groups:RemoveMember", "monitoring:Read",
    "monitoring:Write", "monitoring:Report",
}  # fmt: skip
# Registered for the next issues (each marks its own as checked when it adds the check).
NEXT = {
    "endpoints:Read", "endpoints:Write", "endpoints:Invoke", "endpoints:Replay",
    "deployments:Read", "deployments:Write", "jobs:Read", "jobs:Write", "audit:Read",
}  # fmt: skip


def test_every_action_is_catalogued_once_with_a_known_resource_type() -> None:
    names = [entry.name for entry in CATALOGUE]
    assert len(names) == len(set(names))
    assert {e.name for e in CATALOGUE if e.planned is None} >= CHECKED_TODAY
    assert set(names) == CHECKED_TODAY | NEXT
    assert set(names) <= set(known_actions())
    for entry in CATALOGUE:
        assert entry.description.endswith(".") and entry.resources, entry
        for kind in entry.resources:
            example = RESOURCE_TYPES[kind].form.replace("*", "x")
            assert check_resource(example) == example
    # A policy may name any of them, by pattern too.
    document = {"Statement": {"Effect": "Allow", "Action": sorted(NEXT),
                              "Resource": "shipyard:endpoint:*"}}  # fmt: skip
    assert len(Policy.from_document(document).statements[0].actions) == len(NEXT)


def test_cli_prints_the_catalogue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = str(tmp_path / "ws")
    assert cli_main.main(["--home", home, "policies", "actions", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    by_name = {e["action"]: e for e in entries}
    assert set(by_name) >= CHECKED_TODAY | NEXT
    assert by_name["models:SetAlias"]["resources"] == ["shipyard:model_alias:MODEL/ALIAS"]
    assert by_name["policies:Attach"]["resources"] == [
        "shipyard:policy:NAME", "shipyard:principal:NAME", "shipyard:group:NAME",
    ]  # fmt: skip
    for entry in CATALOGUE:
        assert by_name[entry.name]["checked"] is (entry.planned is None)
        assert by_name[entry.name]["planned"] == entry.planned
    assert cli_main.main(["--home", home, "policies", "actions"]) == 0
    table = capsys.readouterr().out
    assert "runs:Write" in table and "shipyard:experiment:NAME" in table


def test_cli_prints_the_access_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = str(tmp_path / "ws")
    policy = tmp_path / "readers.json"
    policy.write_text(json.dumps({"Statement": {"Effect": "Allow", "Action": "features:Read*",
                                                "Resource": "*"}}))  # fmt: skip
    for args in (["put", "readers", str(policy)], ["attach", "readers", "--group", "analysts"],
                 ["add-member", "analysts", "Alice"]):  # fmt: skip
        assert cli_main.main(["--home", home, "policies", *args]) == 0
    capsys.readouterr()
    assert cli_main.main(["--home", home, "policies", "history", "--group", "analysts",
                          "--json"]) == 0  # fmt: skip
    events = json.loads(capsys.readouterr().out)
    assert [(e["change"], e["target"], e["subject"]) for e in events] == [
        ("attach", "analysts", "readers"), ("join", "alice", "analysts"),
    ]  # fmt: skip
    assert cli_main.main(["--home", home, "policies", "history", "--principal", "alice"]) == 0
    assert "join" in capsys.readouterr().out
