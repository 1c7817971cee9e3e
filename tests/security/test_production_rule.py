"""Production is the pipeline's: moving a model's production alias (models:SetAlias on
shipyard:model_alias:MODEL/production) is refused to everyone but the pipeline principal
unless a policy explicitly allows it, and an explicit Deny stops the pipeline too."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.errors import AccessDenied
from shipyard.security.service import SecurityService

SET_ALIAS = "models:SetAlias"
PRODUCTION = "shipyard:model_alias:delay/production"
CHALLENGER = "shipyard:model_alias:delay/challenger"
EVERYTHING_ELSE = [
    ("datasets:Write", "shipyard:dataset:flights"),
    ("models:Write", "shipyard:model:delay"),
    ("models:Approve", "shipyard:model:delay"),
    ("runs:Write", "shipyard:experiment:delay"),
    ("policies:Put", "shipyard:policy:readers"),
    ("pipeline:Run", "shipyard:pipeline:delay"),
]
RELEASE = {"Statement": {"Effect": "Allow", "Action": "models:SetAlias",
                         "Resource": "shipyard:model_alias:*/production"}}  # fmt: skip
NO_RELEASE = {"Statement": {"Sid": "Freeze", "Effect": "Deny", "Action": "models:*",
                            "Resource": "shipyard:model_alias:delay/*"}}  # fmt: skip


def service(ws: Any, principal: str) -> SecurityService:
    return SecurityService(ws.metadata, principal=principal)


def test_an_unrestricted_local_principal_may_do_everything_but_move_production(
    workspace: Any,
) -> None:
    local = service(workspace, "ana")
    for action, resource in EVERYTHING_ELSE:
        local.require(action, resource)
    local.require(SET_ALIAS, CHALLENGER)  # other aliases are people's to move
    with pytest.raises(AccessDenied) as caught:
        local.require(SET_ALIAS, [CHALLENGER, PRODUCTION])
    message, hint = caught.value.message, caught.value.hint or ""
    assert "'ana' may not models:SetAlias on model_alias delay/production" in message
    assert "built-in rule" in message and "'pipeline' principal" in message
    assert "shipyard models approve delay VERSION" in hint and "explicitly Allows" in hint
    decision = local.authorize("models:setalias", PRODUCTION)[0]  # any spelling of it
    assert (decision.allowed, decision.reason) == (False, "builtin_deny")
    assert "only the pipeline principal moves" in decision.explain()
    # Only the production alias, not an alias that merely ends like it.
    local.require(SET_ALIAS, "shipyard:model_alias:delay/preproduction")


def test_the_pipeline_moves_production(workspace: Any) -> None:
    pipeline = service(workspace, "PIPELINE")  # the folded name is the pipeline
    pipeline.require(SET_ALIAS, PRODUCTION)
    decision = pipeline.authorize(SET_ALIAS, PRODUCTION)[0]
    assert (decision.allowed, decision.reason) == (True, "builtin_allow")
    # Even with policies that say nothing about aliases, the built-in grant stands.
    admin = service(workspace, "admin")
    admin.put_policy("features-only", {"Statement": {"Effect": "Allow",
                     "Action": "features:*", "Resource": "*"}})  # fmt: skip
    admin.attach("features-only", principal="pipeline")
    pipeline.invalidate()
    pipeline.require(SET_ALIAS, PRODUCTION)
    with pytest.raises(AccessDenied, match="no statement allows it"):
        pipeline.require(SET_ALIAS, CHALLENGER)  # the grant is production's only


def test_an_explicit_allow_grants_production_to_a_release_manager(workspace: Any) -> None:
    admin = service(workspace, "admin")
    admin.put_policy("release", RELEASE)
    admin.attach("release", group="release-managers")
    admin.add_to_group("rita", "release-managers")
    rita = service(workspace, "rita")
    rita.require(SET_ALIAS, PRODUCTION)
    decision = rita.authorize(SET_ALIAS, PRODUCTION)[0]
    assert (decision.reason, decision.policy) == ("allowed", "release")
    with pytest.raises(AccessDenied, match="built-in rule"):
        admin.require(SET_ALIAS, PRODUCTION)  # the administrator still may not


def test_an_explicit_deny_stops_the_pipeline(workspace: Any) -> None:
    admin = service(workspace, "admin")
    admin.put_policy("freeze", NO_RELEASE)
    admin.attach("freeze", principal="pipeline")
    pipeline = service(workspace, "pipeline")
    with pytest.raises(AccessDenied) as caught:
        pipeline.require(SET_ALIAS, PRODUCTION)
    assert "explicitly denied by policy 'freeze', statement Freeze" in caught.value.message
    assert pipeline.authorize(SET_ALIAS, PRODUCTION)[0].reason == "explicit_deny"
    # A Deny wins over an Allow too.
    admin.put_policy("release", RELEASE)
    admin.attach("release", principal="pipeline")
    admin.attach("release", principal="rita")
    admin.attach("freeze", principal="rita")
    pipeline.invalidate()
    for who in ("pipeline", "rita"):
        with pytest.raises(AccessDenied, match="Freeze"):
            service(workspace, who).require(SET_ALIAS, PRODUCTION)
    service(workspace, "rita").require(SET_ALIAS, "shipyard:model_alias:other/production")
