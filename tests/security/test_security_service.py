"""The security service on each metadata backend: stored, versioned policies; principals and
groups; the default mode; access checks and their messages; caching; concurrent changes."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from shipyard.errors import AccessDenied, InvalidInput, NotFound
from shipyard.security.policies import feature_resource
from shipyard.security.service import SecurityService

READ = "features:ReadOnline"
ACTIONS = ("features:ReadOffline", "features:ReadOnline", "features:Write", "features:Apply")
SSN = feature_resource("customers", "ssn")
CUSTOMERS = [feature_resource("customers", f) for f in ("age", "city", "ssn", "tenure")]

READ_ALL = {
    "Version": "2026-11-01",
    "Statement": [{"Sid": "ReadFeatures", "Effect": "Allow", "Action": ["features:Read*"],
                   "Resource": ["shipyard:feature:*"]}],
}  # fmt: skip
NO_SSN = {"Statement": [{"Sid": "NoSSN", "Effect": "Deny", "Action": "*", "Resource": SSN}]}
OWN = ["shipyard:principal:alice", "shipyard:policy:*"]
DETACH_OWN = {"Statement": {"Effect": "Allow", "Action": "policies:Detach", "Resource": OWN}}


def service(ws: Any, principal: str = "admin", **options: Any) -> SecurityService:
    return SecurityService(ws.metadata, principal=principal, **options)


def test_policy_changes_are_versioned(workspace: Any) -> None:
    security = service(workspace)
    assert security.put_policy("readers", READ_ALL) == 1
    assert security.put_policy("readers", READ_ALL) == 1  # unchanged: no new version
    assert security.put_policy("readers", NO_SSN) == 2
    assert security.put_policy("readers", READ_ALL) == 3  # back again is still a change
    history = security.policy_history("readers")
    assert [h.version for h in history] == [1, 2, 3]
    assert [h.policy.statements[0].sid for h in history] == [
        "ReadFeatures",
        "NoSSN",
        "ReadFeatures",
    ]
    assert all(h.created_by == "admin" for h in history)
    assert security.get_policy("readers", 2).document["Statement"][0]["Effect"] == "Deny"
    assert security.get_policy("readers").version == 3
    record = workspace.metadata.get_version("policy", "readers", 1)
    assert record.attributes == security.get_policy("readers", 1).document
    assert [p.name for p in security.list_policies()] == ["readers"]


def test_bad_documents_and_names_are_refused(workspace: Any) -> None:
    security = service(workspace)
    with pytest.raises(
        InvalidInput, match=r"Policy 'readers', statement 1: Action 'features:Raed'"
    ):
        security.put_policy("readers", {"Statement": [
            {"Effect": "Allow", "Action": "features:Raed", "Resource": "*"}]})  # fmt: skip
    with pytest.raises(InvalidInput, match="Policy name"):
        security.put_policy("no spaces", READ_ALL)
    assert workspace.metadata.list_names("policy") == []
    with pytest.raises(NotFound, match="No policy named 'nope'") as caught:
        security.get_policy("nope")
    assert "none yet" in str(caught.value)
    security.put_policy("readers", READ_ALL)
    with pytest.raises(NotFound, match="Known versions: 1"):
        security.get_policy("readers", 5)


def test_default_mode_without_policies_is_unrestricted(workspace: Any) -> None:
    security = service(workspace, principal="solo")
    decisions = security.authorize("features:Write", CUSTOMERS)
    assert all(d.allowed and d.reason == "unrestricted" for d in decisions)
    security.require("features:Apply", CUSTOMERS)
    with pytest.raises(InvalidInput, match="Unknown action"):
        security.require("features:Raed", CUSTOMERS)  # typos are caught even when unrestricted
    # A group with no policies does not restrict its members either.
    security.add_to_group("solo", "empty")
    security.require("features:Write", CUSTOMERS)


def test_group_deny_on_one_sensitive_feature(workspace: Any) -> None:
    security = service(workspace)
    security.put_policy("readers", READ_ALL)
    security.put_policy("pii-guard", NO_SSN)
    for policy in ("readers", "pii-guard"):
        assert security.attach(policy, group="analysts")
    for member in ("alice", "bob"):
        security.add_to_group(member, "analysts")
    assert [name for name, _ in security.policies_for("alice")] == ["pii-guard", "readers"]

    readable = [r for r in CUSTOMERS if r != SSN]
    for member in ("alice", "bob"):
        for action in ("features:ReadOffline", "features:ReadOnline"):
            security.require(action, readable, principal=member)
    for action in ACTIONS:
        decision = security.authorize(action, SSN, principal="alice")[0]
        assert (decision.reason, decision.policy, decision.sid) == (
            "explicit_deny", "pii-guard", "NoSSN",
        )  # fmt: skip
    # Writes are not allowed anywhere (implicit deny); a non-member is unrestricted.
    assert security.authorize("features:Write", readable[0], principal="bob")[0].reason == (
        "implicit_deny"
    )
    security.require("features:Write", CUSTOMERS, principal="carol")


def test_access_denied_names_feature_action_and_statement(workspace: Any) -> None:
    security = service(workspace, principal="alice")
    security.put_policy("readers", READ_ALL)
    security.put_policy("pii-guard", NO_SSN)
    security.attach("readers", group="analysts")
    security.attach("pii-guard", group="analysts")
    security.add_to_group("alice", "analysts")
    with pytest.raises(AccessDenied) as caught:
        security.require(READ, CUSTOMERS)
    message = str(caught.value)
    assert caught.value.exit_code == 5 and caught.value.http_status == 403
    assert "'alice' may not features:ReadOnline on feature customers/ssn" in message
    assert "policy 'pii-guard', statement NoSSN" in message
    assert "shipyard policies check features:ReadOnline shipyard:feature:customers/ssn" in message

    with pytest.raises(AccessDenied) as caught:
        security.require("features:write", CUSTOMERS)  # actions are case-insensitive
    message = str(caught.value)
    assert "may not features:Write on feature customers/age" in message
    assert "no statement allows it (policies checked: 'pii-guard', 'readers')" in message
    assert "3 more of the 4 requested resources are denied too" in message


def test_attach_detach_and_membership(workspace: Any) -> None:
    security = service(workspace)
    security.put_policy("readers", READ_ALL)
    with pytest.raises(NotFound, match="No policy named 'raeders'"):
        security.attach("raeders", principal="alice")
    with pytest.raises(InvalidInput, match="exactly one of a principal or a group"):
        security.attach("readers", principal="alice", group="analysts")
    with pytest.raises(InvalidInput, match="exactly one"):
        security.attach("readers")
    assert security.attach("readers", principal="alice")
    assert not security.attach("readers", principal="alice")  # already attached
    assert security.add_to_group("alice", "analysts")
    assert not security.add_to_group("alice", "analysts")
    member = security.membership("alice")
    assert (member.groups, member.policies) == (("analysts",), ("readers",))
    with pytest.raises(AccessDenied):
        security.require("features:Write", SSN, principal="alice")

    with pytest.raises(InvalidInput, match="not attached to group 'analysts'"):
        security.detach("readers", group="analysts")
    assert security.detach("readers", principal="alice")
    with pytest.raises(InvalidInput, match="is not a member of group 'ops'"):
        security.remove_from_group("alice", "ops")
    assert security.remove_from_group("alice", "analysts")
    assert security.membership("alice") == type(member)("alice", (), ())
    # Every change is an access event saying what it did, when and who did it; a change
    # that changed nothing (attaching again) is not one.
    history = security.access_history(principal="alice")
    assert [(e.change, e.subject) for e in history] == [
        ("attach", "readers"), ("join", "analysts"), ("detach", "readers"),
        ("leave", "analysts"),
    ]  # fmt: skip
    assert {e.by for e in history} == {"admin"}
    assert [e.at for e in history] == sorted(e.at for e in history)
    assert security.access_history(group="analysts") == [history[1], history[3]]
    assert security.access_history() == history
    # With its last policy detached, alice is unrestricted again (the default mode).
    security.require("features:Write", SSN, principal="alice")


def test_principal_names_that_are_not_record_names(workspace: Any) -> None:
    security = service(workspace)
    security.put_policy("pii-guard", NO_SSN)
    security.attach("pii-guard", principal="alice@example.com")
    security.add_to_group("DOMAIN\\bob", "analysts")
    assert security.membership("alice@example.com").policies == ("pii-guard",)
    assert security.membership("DOMAIN\\bob").groups == ("analysts",)
    with pytest.raises(AccessDenied, match=r"'alice@example\.com' may not"):
        security.require(READ, SSN, principal="alice@example.com")
    # Stored as compared: case-folded, whatever characters the name has.
    targets = {e.target for e in security.access_history()}
    assert targets == {"alice@example.com", "domain\\bob"}


def test_stored_policy_with_a_newer_action_still_loads(workspace: Any) -> None:
    # A newer Shipyard may store actions this one does not know: they just never match.
    workspace.metadata.create_version(
        "policy",
        "future",
        created_by="admin",
        attributes={"Statement": [{"Effect": "Allow", "Action": "models:Deploy", "Resource": "*"}]},
    )
    security = service(workspace)
    security.attach("future", principal="alice")
    assert security.authorize(READ, SSN, principal="alice")[0].reason == "implicit_deny"


def test_cache_is_invalidated_by_own_writes_and_expires_for_others(workspace: Any) -> None:
    now = [1000.0]
    reader = service(workspace, principal="alice", cache_ttl=5.0, clock=lambda: now[0])
    admin = service(workspace)
    admin.put_policy("readers", READ_ALL)
    admin.put_policy("self-service", DETACH_OWN)
    admin.attach("readers", principal="alice")
    admin.attach("self-service", principal="alice")
    reader.require(READ, CUSTOMERS)  # fills reader's cache

    admin.put_policy("pii-guard", NO_SSN)
    admin.attach("pii-guard", principal="alice")
    reader.require(READ, CUSTOMERS)  # another writer's change: not seen yet
    now[0] += 5.01
    with pytest.raises(AccessDenied, match="NoSSN"):
        reader.require(READ, CUSTOMERS)  # seen within the TTL

    reader.detach("pii-guard", principal="alice")  # own write: seen at once
    reader.require(READ, CUSTOMERS)


def test_concurrent_changes_keep_every_membership(workspace: Any) -> None:
    errors: list[BaseException] = []

    def add(worker: int) -> None:
        security = service(workspace, principal=f"admin{worker}")
        try:
            for i in range(5):
                security.add_to_group("alice", f"g{worker}-{i}")
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    groups = service(workspace).membership("alice").groups
    assert sorted(groups) == sorted(f"g{w}-{i}" for w in range(4) for i in range(5))


def test_cached_require_costs_microseconds(workspace: Any) -> None:
    security = service(workspace, principal="alice")
    security.put_policy("readers", READ_ALL)
    security.put_policy("pii-guard", NO_SSN)
    security.attach("readers", group="analysts")
    security.attach("pii-guard", group="analysts")
    security.add_to_group("alice", "analysts")
    features = [feature_resource("customers", f"f{i}") for i in range(10)]
    security.require(READ, features)  # fill the cache
    rounds = 20_000
    started = time.perf_counter()
    for _ in range(rounds):
        security.require(READ, features)
    per_call = (time.perf_counter() - started) / rounds
    print(f"\ncached require, 10 resources: {per_call * 1e6:.2f} us")
    assert per_call < 100e-6  # generous for a shared CI machine; typically ~1-2 us
