"""`shipyard policies` as a user runs it: put, show, list, attach, groups, check, errors.

Runs in-process through ``shipyard.cli.main.main`` (the real error handling and exit
codes), mounting the sub-app first if the entry point does not mount it yet.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.cli import main as cli_main
from shipyard.cli import policies

GUARD = {
    "Version": "2026-11-01",
    "Statement": [
        {"Sid": "ReadFeatures", "Effect": "Allow", "Action": ["features:Read*"],
         "Resource": ["shipyard:feature:*"]},
        {"Sid": "NoSSN", "Effect": "Deny", "Action": "*",
         "Resource": "shipyard:feature:customers/ssn"},
    ],
}  # fmt: skip
GUARD_YAML = """\
Version: "2026-11-01"
Statement:
  - Sid: ReadOffline
    Effect: Allow
    Action: features:ReadOffline
    Resource: "shipyard:feature:*"
"""


@pytest.fixture(autouse=True)
def _mounted() -> Iterator[None]:
    """Mount the sub-app for the test unless cli/main.py already does; leave no trace."""
    groups = cli_main.app.registered_groups
    if any(group.name == "policies" for group in groups):
        yield
        return
    cli_main.app.add_typer(policies.app, name="policies")
    try:
        yield
    finally:
        del groups[-1]


class Shipyard:
    """Runs `shipyard --home HOME policies ...` and returns (exit code, stdout, stderr)."""

    def __init__(self, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.home = home
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = cli_main.main(["--home", str(self.home), "policies", *args])
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def shipyard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Shipyard:
    return Shipyard(tmp_path / "ws", capsys)


def test_put_show_list_versions(shipyard: Shipyard, tmp_path: Path) -> None:
    (tmp_path / "guard.json").write_text(json.dumps(GUARD))
    (tmp_path / "guard.yaml").write_text(GUARD_YAML)
    code, out, err = shipyard("put", "pii-guard", str(tmp_path / "guard.json"))
    assert code == 0 and "Stored policy:pii-guard@1 (2 statement(s))" in out, err
    assert (
        "Unchanged: policy:pii-guard@1"
        in shipyard("put", "pii-guard", str(tmp_path / "guard.json"))[1]
    )
    assert "policy:pii-guard@2" in shipyard("put", "pii-guard", str(tmp_path / "guard.yaml"))[1]

    code, out, _ = shipyard("show", "pii-guard", "--version", "1", "--json")
    assert code == 0 and json.loads(out)["Statement"][1]["Sid"] == "NoSSN"
    code, out, _ = shipyard("show", "pii-guard")
    assert "policy:pii-guard@2 stored by" in out and '"ReadOffline"' in out
    code, out, _ = shipyard("list")
    assert code == 0 and "pii-guard" in out and " 2 " in out


def test_attach_members_and_check(shipyard: Shipyard, tmp_path: Path) -> None:
    (tmp_path / "guard.json").write_text(json.dumps(GUARD))
    shipyard("put", "pii-guard", str(tmp_path / "guard.json"))
    code, out, _ = shipyard("attach", "pii-guard", "--group", "analysts")
    assert code == 0 and "Attached pii-guard to group analysts." in out
    assert "already attached" in shipyard("attach", "pii-guard", "--group", "analysts")[1]
    code, out, _ = shipyard("add-member", "analysts", "alice")
    assert code == 0 and "Added alice in group analysts." in out

    code, out, _ = shipyard(
        "check", "features:ReadOnline", "shipyard:feature:customers/ssn", "--principal", "alice"
    )
    assert code == 5, out
    assert "DENIED alice features:ReadOnline shipyard:feature:customers/ssn" in out
    assert "policy 'pii-guard', statement NoSSN" in out
    code, out, _ = shipyard(
        "check", "features:readonline", "shipyard:feature:customers/age", "--principal", "alice"
    )
    assert code == 0 and "ALLOWED" in out and "statement ReadFeatures" in out
    code, out, _ = shipyard(
        "check", "features:Write", "shipyard:feature:customers/age", "--principal", "alice"
    )
    assert code == 5 and "no statement allows it" in out and "policies checked: pii-guard" in out
    code, out, _ = shipyard(
        "check", "features:Write", "shipyard:feature:customers/ssn", "--principal", "carol"
    )
    assert code == 0 and "default mode: unrestricted" in out

    assert shipyard("remove-member", "analysts", "alice")[0] == 0
    code, out, _ = shipyard(
        "check", "features:Write", "shipyard:feature:customers/ssn", "--principal", "alice"
    )
    assert code == 0 and "unrestricted" in out
    assert shipyard("attach", "pii-guard", "--principal", "alice")[0] == 0
    code, out, _ = shipyard("detach", "pii-guard", "--principal", "alice")
    assert code == 0 and "Detached pii-guard from principal alice." in out


def test_names_are_shown_as_compared_case_folded(shipyard: Shipyard, tmp_path: Path) -> None:
    (tmp_path / "guard.json").write_text(json.dumps(GUARD))
    shipyard("put", "pii-guard", str(tmp_path / "guard.json"))
    code, out, _ = shipyard("attach", "pii-guard", "--group", "PRODUCTION")
    assert code == 0 and "Attached pii-guard to group production." in out
    assert (
        "already attached to group production"
        in shipyard("attach", "pii-guard", "--group", "production")[1]
    )
    code, out, _ = shipyard("add-member", "Production", "ALICE")
    assert code == 0 and "Added alice in group production." in out
    assert "Already a member: alice" in shipyard("add-member", "production", "alice")[1]
    code, out, _ = shipyard(
        "check", "features:ReadOnline", "shipyard:feature:customers/ssn", "--principal", "Alice"
    )
    assert code == 5 and "DENIED alice features:ReadOnline" in out
    code, out, _ = shipyard("remove-member", "PRODUCTION", "aLiCe")
    assert code == 0 and "Removed alice from group production." in out


def test_errors_are_one_line_with_an_exit_code(shipyard: Shipyard, tmp_path: Path) -> None:
    typo = {"Statement": [{"Effect": "Allow", "Action": "features:Raed*", "Resource": "*"}]}
    (tmp_path / "typo.json").write_text(json.dumps(typo))
    (tmp_path / "guard.json").write_text(json.dumps(GUARD))
    shipyard("put", "pii-guard", str(tmp_path / "guard.json"))
    cases = [
        (("put", "typo", str(tmp_path / "typo.json")), 2, "matches no known action"),
        (("put", "x", str(tmp_path / "missing.json")), 2, "Cannot read the policy file"),
        (("show", "nope"), 3, "No policy named 'nope'"),
        (("attach", "pii-guard"), 2, "exactly one of a principal or a group"),
        (("attach", "pii-guard", "--principal", "a", "--group", "g"), 2, "exactly one"),
        (("attach", "nope", "--group", "g"), 3, "No policy named 'nope'"),
        (("detach", "pii-guard", "--group", "g"), 2, "is not attached to group 'g'"),
        (("remove-member", "g", "alice"), 2, "not a member of group 'g'"),
        (("check", "features:Raed", "shipyard:feature:a/b"), 2, "Unknown action"),
        (("check", "features:ReadOnline", "customers/ssn"), 2, "is not a resource name"),
    ]
    for args, code, fragment in cases:
        done, _, err = shipyard(*args)
        lines = err.strip().splitlines()
        assert done == code and len(lines) == 1 and fragment in lines[0], (args, done, err)


def test_every_command_has_help_with_an_example(shipyard: Shipyard) -> None:
    commands = ["put", "show", "list", "attach", "detach", "add-member", "remove-member",
                "check", "actions"]  # fmt: skip
    for command in commands:
        code, out, _ = shipyard(command, "--help")
        assert code == 0 and "Example: shipyard policies" in out, command
    code, out, _ = shipyard("actions")
    assert "features:ReadOnline" in out and "shipyard:feature:VIEW/FEATURE" in out
