"""Built-in rules: decisions Shipyard makes before any policy is written.

One rule today, the guardrail that production is the pipeline's: moving (or removing)
a model's ``production`` alias is the action ``models:SetAlias`` on
``shipyard:model_alias:MODEL/production``, and it is

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
PROTECTED_ALIAS = "production"
_ALIAS_PREFIX = "shipyard:model_alias:"
_PROTECTED_SUFFIX = f"/{PROTECTED_ALIAS}"


def is_protected(resource: str) -> bool:
    """Whether ``resource`` is the production alias of some model."""
    return (
        resource.startswith(_ALIAS_PREFIX)
        and resource.endswith(_PROTECTED_SUFFIX)
        and resource.count("/") == 1
    )


def apply_rules(principal: str, decision: Decision) -> Decision:
    """The decision once built-in rules are applied to what the policies (or the
    unrestricted default) decided. Only ``models:SetAlias`` on a production alias
    changes: an explicit Deny or Allow of a policy stands; otherwise the pipeline
    principal is allowed and everyone else denied."""
    if decision.action != SET_ALIAS or not is_protected(decision.resource):
        return decision
    if decision.reason in ("explicit_deny", "allowed"):
        return decision
    if principal == PIPELINE_PRINCIPAL:
        return Decision(True, "builtin_allow", decision.action, decision.resource)
    return Decision(False, "builtin_deny", decision.action, decision.resource)


def builtin_denial(principal: str, decision: Decision) -> AccessDenied:
    """The error for a decision the production rule denied: what, why, and what to do."""
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
