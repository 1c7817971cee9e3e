"""Principal and group names are case-folded: one principal or group whatever the spelling,
and PIPELINE is the pipeline principal. (Records from before folding are folded by the
migration to revision 0006: see test_access_migration.py.)"""

from __future__ import annotations

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
NO_SSN = {"Statement": {"Sid": "NoSSN", "Effect": "Deny", "Action": "*", "Resource": SSN}}


def service(ws: Any, principal: str = "admin") -> SecurityService:
    return SecurityService(ws.metadata, principal=principal)


def test_spellings_of_a_principal_are_one_principal(workspace: Any) -> None:
    admin = service(workspace)
    admin.put_policy("pii-guard", NO_SSN)
    assert admin.attach("pii-guard", principal="ALICE")
    assert not admin.attach("pii-guard", principal="alice")  # the same attachment
    assert admin.membership("Alice").policies == ("pii-guard",)
    events = admin.access_history(principal="ALICE")
    assert [(e.change, e.target_kind, e.target, e.subject) for e in events] == [
        ("attach", "principal", "alice", "pii-guard")
    ]
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
    events = admin.access_history(group="Production")
    assert [(e.change, e.target, e.subject) for e in events] == [
        ("attach", "production", "pii-guard"),
        ("join", "bob", "production"),
    ]
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


def test_principal_names_too_long_or_unprintable_are_refused(workspace: Any) -> None:
    admin = service(workspace)
    for bad in ("a" * 129, "ana\udc80", "tab\there"):
        with pytest.raises(InvalidInput, match="principal name"):
            admin.add_to_group(bad, "analysts")
    assert admin.add_to_group("a" * 128, "analysts")
