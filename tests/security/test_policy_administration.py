"""Policy administration is checked like everything else: putting and reading policies,
attaching them (on the policy and on its target), managing groups, and reading someone
else's access all need their action once a principal has policies."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.errors import AccessDenied
from shipyard.security.service import SecurityService

READ_FEATURES = {"Statement": {"Effect": "Allow", "Action": "features:Read*",
                               "Resource": "shipyard:feature:*"}}  # fmt: skip


def allow(actions: str | list[str], resources: str | list[str]) -> dict[str, Any]:
    return {"Statement": {"Effect": "Allow", "Action": actions, "Resource": resources}}


def service(ws: Any, principal: str) -> SecurityService:
    return SecurityService(ws.metadata, principal=principal)


@pytest.fixture
def admin(workspace: Any) -> SecurityService:
    security = service(workspace, "admin")
    security.put_policy("readers", READ_FEATURES)
    security.attach("readers", principal="alice")
    return security


def test_a_principal_with_policies_may_not_administer_without_them(
    workspace: Any, admin: SecurityService
) -> None:
    alice = service(workspace, "alice")
    refused = [
        (lambda: alice.put_policy("mine", READ_FEATURES), "policies:Put on policy mine"),
        (lambda: alice.get_policy("readers"), "policies:Read on policy readers"),
        (lambda: alice.attach("readers", principal="bob"), "policies:Attach on policy readers"),
        (lambda: alice.detach("readers", principal="alice"), "policies:Detach"),
        (lambda: alice.add_to_group("alice", "admins"), "groups:AddMember on group admins"),
        (lambda: alice.remove_from_group("bob", "ops"), "groups:RemoveMember on group ops"),
        (lambda: alice.membership("bob"), "policies:Read on principal bob"),
        (lambda: alice.group_policies("ops"), "policies:Read on group ops"),
        (lambda: alice.policies_for("bob"), "policies:Read on principal bob"),
        (
            lambda: alice.authorize("features:Write", "shipyard:feature:a/b", principal="bob"),
            "policies:Read on principal bob",
        ),
        (lambda: alice.access_history(group="ops"), "policies:Read on group ops"),
    ]
    for call, fragment in refused:
        with pytest.raises(AccessDenied, match=fragment):
            call()
    # Her own access she may always read.
    assert alice.membership().policies == ("readers",)
    assert [name for name, _ in alice.policies_for()] == ["readers"]
    assert alice.list_policies() == []  # a list shows what one may read
    assert alice.access_history() == []
    assert [e.subject for e in alice.access_history(principal="ALICE")] == ["readers"]


def test_attaching_needs_the_action_on_the_policy_and_on_the_target(
    workspace: Any, admin: SecurityService
) -> None:
    admin.put_policy("pii-guard", READ_FEATURES)
    admin.put_policy("analyst-admin", allow(["policies:Attach", "policies:Detach"], [
        "shipyard:group:analysts", "shipyard:policy:readers"]))  # fmt: skip
    admin.put_policy("group-admin", allow("groups:*Member", "shipyard:group:analysts"))
    admin.put_policy("policy-reader", allow("policies:Read", "shipyard:policy:read*"))
    for name in ("analyst-admin", "group-admin", "policy-reader"):
        admin.attach(name, principal="gail")
    gail = service(workspace, "gail")
    assert gail.attach("readers", group="analysts")
    assert gail.detach("readers", group="analysts")
    with pytest.raises(AccessDenied, match="policies:Attach on policy pii-guard"):
        gail.attach("pii-guard", group="analysts")  # the target is hers, the policy not
    with pytest.raises(AccessDenied, match="policies:Attach on group ops"):
        gail.attach("readers", group="ops")  # the policy is, the target not
    assert gail.add_to_group("bob", "Analysts")
    assert gail.remove_from_group("bob", "analysts")
    with pytest.raises(AccessDenied, match="groups:AddMember on group ops"):
        gail.add_to_group("bob", "ops")
    assert [p.name for p in gail.list_policies()] == ["readers"]
    assert gail.get_policy("readers").version == 1
    # Nothing she was refused happened.
    assert admin.group_policies("analysts") == [] and admin.members("ops") == []
