"""Built-in rules: decisions Shipyard makes before any policy is written.

One rule, the guardrail that production is the pipeline's. It covers moving (or
removing) a model's ``production`` alias, the action ``models:SetAlias`` on
``shipyard:model_alias:MODEL/production``, and changing an endpoint marked production,
the action ``endpoints:Write`` on ``shipyard:endpoint:NAME/production``. Either is

- denied to everyone by an explicit ``Deny`` in an attached policy (the pipeline too);
- else allowed to anyone by an explicit ``Allow`` in an attached policy (a release
  manager, say);
- else allowed to the ``pipeline`` principal only.

So the embedded single-user default, where a principal with no policies may do
everything, still cannot write production by hand: people approve versions
(``shipyard models approve``) and the pipeline promotes the ones that pass the gate.
"""

from __future__ import annotations

from shipyard.errors import AccessDenied
from shipyard.security.names import PIPELINE_PRINCIPAL
from shipyard.security.policies import Decision, describe_resource

SET_ALIAS = "models:SetAlias"
WRITE_ENDPOINT = "endpoints:Write"
PROTECTED_ALIAS = "production"
_ALIAS_PREFIX = "shipyard:model_alias:"
_ENDPOINT_PREFIX = "shipyard:endpoint:"
_PROTECTED_SUFFIX = f"/{PROTECTED_ALIAS}"
# The action each rule governs, and the resources of that action it protects.
_PREFIX_OF = {SET_ALIAS: _ALIAS_PREFIX, WRITE_ENDPOINT: _ENDPOINT_PREFIX}
RULED_ACTIONS = frozenset(action.lower() for action in _PREFIX_OF)


def has_rules(action: object) -> bool:
    """Whether a built-in rule may decide ``action`` (any spelling)."""
    return isinstance(action, str) and action.lower() in RULED_ACTIONS


def is_protected(resource: str, action: str = SET_ALIAS) -> bool:
    """Whether ``resource`` is production for ``action``: a model's production alias
    (``models:SetAlias``) or a production endpoint (``endpoints:Write``)."""
    prefix = _PREFIX_OF.get(action)
    return (
        prefix is not None
        and resource.startswith(prefix)
        and resource.endswith(_PROTECTED_SUFFIX)
        and resource.count("/") == 1
    )


def apply_rules(principal: str, decision: Decision) -> Decision:
    """The decision once built-in rules are applied to what the policies (or the
    unrestricted default) decided. Only ``models:SetAlias`` on a production alias and
    ``endpoints:Write`` on a production endpoint change: an explicit Deny or Allow of a
    policy stands; otherwise the pipeline principal is allowed and everyone else denied."""
    if not is_protected(decision.resource, decision.action):
        return decision
    if decision.reason in ("explicit_deny", "allowed"):
        return decision
    if principal == PIPELINE_PRINCIPAL:
        return Decision(True, "builtin_allow", decision.action, decision.resource)
    return Decision(False, "builtin_deny", decision.action, decision.resource)


def builtin_denial(principal: str, decision: Decision) -> AccessDenied:
    """The error for a decision the production rule denied: what, why, and what to do."""
    if decision.action == WRITE_ENDPOINT:
        return _endpoint_denial(principal, decision)
    model = decision.resource[len(_ALIAS_PREFIX) :].rsplit("/", 1)[0]
    return AccessDenied(
        f"{principal!r} may not {decision.action} on {describe_resource(decision.resource)} "
        f"({decision.resource}): a built-in rule lets only the {PIPELINE_PRINCIPAL!r} "
        f"principal move a model's {PROTECTED_ALIAS!r} alias.",
        hint=f"People approve versions (`shipyard models approve {model} VERSION --comment "
        "...`) and the pipeline promotes approved versions that pass the gate. To let "
        f"someone else move it, attach a policy that explicitly Allows {decision.action} on "
        f"{decision.resource}.",
    )


def _endpoint_denial(principal: str, decision: Decision) -> AccessDenied:
    endpoint = decision.resource[len(_ENDPOINT_PREFIX) :].rsplit("/", 1)[0]
    return AccessDenied(
        f"{principal!r} may not {decision.action} on endpoint {endpoint!r} "
        f"({decision.resource}): it is marked production, and a built-in rule lets only the "
        f"{PIPELINE_PRINCIPAL!r} principal change a production endpoint.",
        hint="Change it through a pipeline (or a deployment it runs). To let someone else "
        f"change it, attach a policy that explicitly Allows {decision.action} on "
        f"{decision.resource}.",
    )
