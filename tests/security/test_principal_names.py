"""Principal and group names are case-folded: one principal or group whatever the spelling,
records from before folding still count, and PIPELINE is the pipeline principal."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

import shipyard
from shipyard.errors import AccessDenied, InvalidInput
from shipyard.pipeline.runner import PIPELINE_PRINCIPAL
from shipyard.registry import PIPELINE_PRINCIPAL as REGISTRY_PIPELINE_PRINCIPAL
from shipyard.security.policies import feature_resource
from shipyard.security.service import SecurityService

READ = "features:ReadOnline"
SSN = feature_resource("customers", "ssn")
AGE = feature_resource("customers", "age")
READ_ALL = {"Statement": {"Effect": "Allow", "Action": "features:Read*", "Resource": "*"}}
NO_SSN = {"Statement": {"Sid": "NoSSN", "Effect": "Deny", "Action": "*", "Resource": SSN}}


def service(ws: Any, principal: str = "admin") -> SecurityService:
    return SecurityService(ws.metadata, principal=principal)


def test_spellings_of_a_principal_are_one_principal(workspace: Any) -> None:
    admin = service(workspace)
    admin.put_policy("pii-guard", NO_SSN)
    assert admin.attach("pii-guard", principal="ALICE")
    assert not admin.attach("pii-guard", principal="alice")  # the same attachment
    assert admin.membership("Alice").policies == ("pii-guard",)
    assert workspace.metadata.list_names("principal") == ["alice"]
    alice = service(workspace, principal="Alice")
    assert alice.principal == "alice"
    with pytest.raises(AccessDenied, match=r"^'alice' may not features:ReadOnline"):
        alice.require(READ, SSN)
    with pytest.raises(AccessDenied):
        admin.require(READ, SSN, principal="aLiCe")
    assert not admin.authorize(READ, SSN, principal="ALICE")[0].allowed
    with pytest.raises(InvalidInput, match="non-empty string"):
        admin.membership("  ")


def test_spellings_of_a_group_are_one_group(workspace: Any) -> None:
    admin = service(workspace)
    admin.put_policy("pii-guard", NO_SSN)
    assert admin.attach("pii-guard", group="PRODUCTION")
    assert not admin.attach("pii-guard", group="production")  # not a second group beside it
    assert admin.add_to_group("bob", "Production")
    assert not admin.add_to_group("BOB", "PRODUCTION")
    assert workspace.metadata.list_names("group") == ["production"]
    assert admin.membership("bob").groups == ("production",)
    assert admin.group_policies("PrOdUcTiOn") == ["pii-guard"]
    with pytest.raises(AccessDenied, match="NoSSN"):
        service(workspace, principal="Bob").require(READ, SSN)
    assert admin.remove_from_group("bob", "PRODUCTION")
    assert admin.membership("bob").groups == ()


def test_a_workspace_acts_as_the_folded_principal(tmp_path: Path) -> None:
    with shipyard.connect(tmp_path / "home", principal="PIPELINE") as ws:
        assert ws.principal == PIPELINE_PRINCIPAL == REGISTRY_PIPELINE_PRINCIPAL
        # Every service sees one spelling: the pipeline principal's own rights (protected
        # aliases, steps run as it) and its policies alike.
        assert ws.security.principal == ws.models.principal == ws.runs.principal == "pipeline"
        admin = service(ws)
        admin.put_policy("pii-guard", NO_SSN)
        admin.attach("pii-guard", principal="pipeline")
        with pytest.raises(AccessDenied, match="'pipeline' may not"):
            ws.security.require(READ, SSN)
        assert ws.info().principal == "pipeline"


def _legacy_record(ws: Any, kind: str, name: str, **state: Any) -> None:
    """A record as a Shipyard from before folding wrote it."""
    change = {"op": "add", "field": "policies", "value": "-"}
    ws.metadata.create_version(kind, name, created_by="old", attributes={**state, "change": change})


def test_records_from_before_folding_still_count(workspace: Any) -> None:
    admin = service(workspace)
    admin.put_policy("pii-guard", NO_SSN)
    admin.put_policy("readers", READ_ALL)
    _legacy_record(workspace, "principal", "Alice", principal="Alice", policies=["pii-guard"],
                   groups=["Analysts"])  # fmt: skip
    _legacy_record(workspace, "principal", "alice", principal="alice", policies=[], groups=[])
    _legacy_record(workspace, "group", "Analysts", policies=["readers"])
    hashed = "principal-" + hashlib.sha256(b"Bob Smith").hexdigest()[:40]
    _legacy_record(workspace, "principal", hashed, principal="Bob Smith", policies=["pii-guard"],
                   groups=[])  # fmt: skip

    # Nothing Alice's old spelling denied is lost, and her old group's policies apply.
    alice = service(workspace, principal="alice")
    assert alice.membership().policies == ("pii-guard",)
    assert alice.membership().groups == ("analysts",)
    assert alice.group_policies("analysts") == ["readers"]
    alice.require(READ, AGE)
    with pytest.raises(AccessDenied, match="NoSSN"):
        alice.require(READ, SSN)
    assert admin.membership("BOB SMITH").policies == ("pii-guard",)

    # The first change through the folded name takes the old records in; from then on
    # its own record is the state.
    admin.detach("pii-guard", principal="ALICE")
    assert admin.membership("alice").policies == ()
    assert admin.membership("alice").groups == ("analysts",)
    latest = workspace.metadata.get_version("principal", "alice")
    assert latest.attributes["folded"] is True and latest.attributes["groups"] == ["analysts"]
    admin.remove_from_group("alice", "ANALYSTS")
    assert admin.membership("alice") == admin.membership("Alice")
    assert admin.membership("alice").groups == ()
    admin.attach("pii-guard", group="analysts")  # the group takes its old record in too
    assert admin.group_policies("analysts") == ["pii-guard", "readers"]
