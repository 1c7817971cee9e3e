"""The policy language: parsing, validation, wildcards, case rules and evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import InvalidInput
from shipyard.security.policies import (
    Policy,
    PolicySet,
    evaluate,
    evaluate_many,
    feature_resource,
    known_actions,
    load_policy_file,
    load_policy_text,
    register_action,
)

SSN = "shipyard:feature:customers/ssn"
AGE = "shipyard:feature:customers/age"
READ = "features:ReadOnline"


def policy(*statements: dict[str, Any]) -> Policy:
    return Policy.from_document({"Version": "2026-11-01", "Statement": list(statements)})


def allow(action: Any, resource: Any, sid: str | None = None) -> dict[str, Any]:
    body = {"Effect": "Allow", "Action": action, "Resource": resource}
    return {"Sid": sid, **body} if sid else body


def deny(action: Any, resource: Any, sid: str | None = None) -> dict[str, Any]:
    return {**allow(action, resource, sid), "Effect": "Deny"}


PII_GUARD = {
    "Version": "2026-11-01",
    "Statement": [
        {"Sid": "ReadFeatures", "Effect": "Allow", "Action": ["features:Read*"],
         "Resource": ["shipyard:feature:*"]},
        {"Sid": "NoSSN", "Effect": "Deny", "Action": "*", "Resource": SSN},
    ],
}  # fmt: skip


# -- evaluation ---------------------------------------------------------------------------


def test_the_documented_example() -> None:
    guard = [("pii-guard", Policy.from_document(PII_GUARD))]
    age = evaluate(guard, READ, AGE)
    assert (age.allowed, age.reason, age.policy, age.sid, age.statement) == (
        True, "allowed", "pii-guard", "ReadFeatures", 1,
    )  # fmt: skip
    ssn = evaluate(guard, READ, SSN)
    assert (ssn.allowed, ssn.reason, ssn.sid, ssn.statement) == (False, "explicit_deny", "NoSSN", 2)
    write = evaluate(guard, "features:Write", AGE)
    assert (write.allowed, write.reason, write.policy, write.sid) == (
        False, "implicit_deny", None, None,
    )  # fmt: skip
    assert "no statement allows it" in write.explain()
    assert "NoSSN" in ssn.explain() and "pii-guard" in ssn.explain()


def test_no_policies_is_implicit_deny() -> None:
    assert evaluate([], READ, AGE).reason == "implicit_deny"


def test_star_spans_slashes_and_question_mark_is_one_character() -> None:
    rules = [("p", policy(allow(READ, ["shipyard:feature:cust*", "shipyard:feature:v?/x"])))]
    assert evaluate(rules, READ, "shipyard:feature:customers/age").allowed
    assert evaluate(rules, READ, "shipyard:feature:v1/x").allowed
    assert not evaluate(rules, READ, "shipyard:feature:v12/x").allowed
    assert not evaluate(rules, READ, "shipyard:feature:v/x").allowed
    # Patterns match whole names, not prefixes.
    exact = [("p", policy(allow(READ, "shipyard:feature:customers/age")))]
    assert not evaluate(exact, READ, "shipyard:feature:customers/age2").allowed


def test_regex_characters_are_literal() -> None:
    rules = [("p", policy(allow(READ, "shipyard:feature:a.b/c")))]
    assert evaluate(rules, READ, "shipyard:feature:a.b/c").allowed
    assert not evaluate(rules, READ, "shipyard:feature:aXb/c").allowed


def test_actions_are_case_insensitive_resources_are_not() -> None:
    rules = [("p", policy(allow("FEATURES:readonline", "shipyard:feature:customers/*")))]
    decision = evaluate(rules, "Features:ReadOnline", AGE)
    assert decision.allowed and decision.action == READ  # reported in its registered spelling
    assert not evaluate(rules, READ, "shipyard:feature:Customers/age").allowed


def test_explicit_deny_wins_across_policies_in_any_order() -> None:
    readers = ("readers", policy(allow("features:*", "*", "All")))
    guard = ("guard", policy(deny("features:Read*", SSN, "NoSSN")))
    for order in ([readers, guard], [guard, readers]):
        decision = evaluate(order, "features:ReadOffline", SSN)
        assert (decision.reason, decision.policy, decision.sid) == (
            "explicit_deny",
            "guard",
            "NoSSN",
        )
        assert evaluate(order, "features:ReadOffline", AGE).policy == "readers"


def test_several_statements_first_matching_allow_decides() -> None:
    rules = [(
        "p",
        policy(
            allow("features:Write", "shipyard:feature:orders/*", "WriteOrders"),
            allow("features:ReadOffline", "*"),
            deny("features:Write", "shipyard:feature:orders/total", "KeepTotal"),
        ),
    )]  # fmt: skip
    assert evaluate(rules, "features:Write", "shipyard:feature:orders/count").sid == "WriteOrders"
    unnamed = evaluate(rules, "features:ReadOffline", AGE)
    assert unnamed.sid is None and unnamed.statement_label == "#2"
    assert evaluate(rules, "features:Write", "shipyard:feature:orders/total").sid == "KeepTotal"
    assert evaluate(rules, "features:Write", AGE).reason == "implicit_deny"


def test_many_resources_in_one_call() -> None:
    compiled = PolicySet([("pii-guard", Policy.from_document(PII_GUARD))])
    features = [feature_resource("customers", f) for f in ("age", "ssn", "city")]
    decisions = compiled.evaluate(READ, features)
    assert [d.allowed for d in decisions] == [True, False, True]
    assert compiled.first_denied(READ, features) == decisions[1]
    assert compiled.first_denied(READ, [AGE, AGE]) is None
    assert evaluate_many(compiled.policies, READ, features) == decisions
    # Remembered decisions are the same objects: a repeated check is a lookup.
    assert compiled.evaluate(READ, features)[0] is decisions[0]


def test_unknown_action_or_bad_resource_at_evaluation() -> None:
    compiled = PolicySet([("p", policy(allow(READ, "*")))])
    with pytest.raises(InvalidInput, match="Unknown action 'features:Raed'"):
        compiled.decide("features:Raed", AGE)
    with pytest.raises(InvalidInput, match="not a resource name"):
        compiled.decide(READ, "feature:customers/age")
    with pytest.raises(InvalidInput, match="not a resource name"):
        compiled.decide(READ, "shipyard:feature:customers/*")


def test_registered_actions_become_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.security import policies

    monkeypatch.setattr(policies, "_ACTIONS", dict(policies._ACTIONS))  # leave no trace
    with pytest.raises(InvalidInput, match="matches no known action"):
        policy(allow("tests:Frobnicate", "*"))
    register_action("tests:Frobnicate")
    assert "tests:Frobnicate" in known_actions()
    assert evaluate([("p", policy(allow("tests:*", "*")))], "tests:frobnicate", AGE).allowed


def test_canonical_document_round_trip() -> None:
    parsed = Policy.from_document(
        {"Statement": {"Effect": "Deny", "Action": "features:Write", "Resource": SSN}}
    )
    document = parsed.to_document()
    assert document == {
        "Version": "2026-11-01",
        "Statement": [{"Effect": "Deny", "Action": ["features:Write"], "Resource": [SSN]}],
    }
    assert Policy.from_document(document) == parsed


# -- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "fragments"),
    [
        ([], ["must be an object"]),
        ({"Statement": []}, ["needs 'Statement'"]),
        ({"Version": "2012-10-17", "Statement": [allow(READ, "*")]},
         ["unknown Version", "2026-11-01"]),
        ({"Statement": [allow(READ, "*")], "Id": "x"}, ["unknown key 'Id'"]),
        ({"statement": [allow(READ, "*")]},
         ["unknown key 'statement'", "Did you mean 'Statement'"]),
        ({"Statement": ["x"]}, ["statement 1 must be an object"]),
        ({"Statement": [allow(READ, "*"), {**allow(READ, "*", "S"), "Effect": "allow"}]},
         ["statement 2 (S)", "'Effect' must be", "capital"]),
        ({"Statement": [{**allow(READ, "*", "S"), "NotResource": SSN}]},
         ["statement 1 (S)", "unknown key 'NotResource'", "do not support NotAction"]),
        ({"Statement": [{**allow(READ, "*"), "Condition": {}}]}, ["unknown key 'Condition'"]),
        ({"Statement": [{"Effect": "Allow", "Resource": "*"}]}, ["'Action' is required"]),
        ({"Statement": [allow([], "*")]}, ["'Action' is required"]),
        ({"Statement": [allow(READ, [""])]}, ["every 'Resource' entry must be a non-empty"]),
        ({"Statement": [allow("features:Raed*", "*", "Typo")]},
         ["statement 1 (Typo)", "Action 'features:Raed*' matches no known action",
          "features:ReadOffline, features:ReadOnline"]),
        ({"Statement": [allow("ReadOnline", "*")]}, ["matches no known action"]),
        ({"Statement": [allow(READ, "shipyard:features:*")]},
         ["Resource 'shipyard:features:*' cannot match", "shipyard:feature:VIEW/FEATURE"]),
        ({"Statement": [allow(READ, "Shipyard:feature:*")]}, ["cannot match"]),
        ({"Statement": [allow(READ, "*", "bad sid!")]}, ["Sid 'bad sid!' is not valid"]),
        ({"Statement": [allow(READ, "*", "A"), deny(READ, SSN, "A")]}, ["Sid 'A' is used by more"]),
    ],
)  # fmt: skip
def test_validation_errors_say_where_and_how(document: Any, fragments: list[str]) -> None:
    with pytest.raises(InvalidInput) as caught:
        Policy.from_document(document, source="Policy 'p'")
    for fragment in fragments:
        assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("resource", "allows_ssn", "allows_age"),
    [
        ("*", True, True),
        ("shipyard:*", True, True),
        ("shipyard:feat*", True, True),
        ("shipyard:feature:*", True, True),
        ("*/ssn", True, False),
        ("shipyard:feature:cust*/a*", False, True),
    ],
)
def test_wildcard_resource_prefixes_are_accepted(
    resource: str, allows_ssn: bool, allows_age: bool
) -> None:
    parsed = policy(allow(READ, resource))
    assert parsed.statements[0].resources == (resource,)  # kept as written
    assert parsed.to_document()["Statement"][0]["Resource"] == [resource]
    rules = [("p", parsed)]
    assert evaluate(rules, READ, SSN).allowed is allows_ssn
    assert evaluate(rules, READ, AGE).allowed is allows_age
    assert not evaluate(rules, "features:Write", AGE).allowed  # only the action allowed


def test_stored_policies_may_name_actions_this_version_does_not_know() -> None:
    document = {"Statement": [allow("models:Deploy", "*")]}
    with pytest.raises(InvalidInput):
        Policy.from_document(document)
    lenient = Policy.from_document(document, check_actions=False)
    assert evaluate([("p", lenient)], READ, AGE).reason == "implicit_deny"


def test_files_json_and_yaml(tmp_path: Path) -> None:
    yaml_file = tmp_path / "guard.yaml"
    yaml_file.write_text(
        "Version: 2026-11-01\n"  # unquoted: YAML reads a date, which is accepted
        "Statement:\n"
        "  - Sid: NoSSN\n    Effect: Deny\n    Action: '*'\n"
        "    Resource: shipyard:feature:customers/ssn\n"
    )
    assert load_policy_file(yaml_file).statements[0].sid == "NoSSN"
    json_file = tmp_path / "guard.json"
    json_file.write_text('{"Statement": [')
    with pytest.raises(InvalidInput, match="not valid JSON"):
        load_policy_file(json_file)
    with pytest.raises(InvalidInput, match="Cannot read the policy file"):
        load_policy_file(tmp_path / "missing.json")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        load_policy_text("a: [", yaml=True)
