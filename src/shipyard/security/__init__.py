"""Security: the action catalogue (:mod:`.actions`), IAM-style policies (:mod:`.policies`,
pure), built-in rules (:mod:`.builtin_rules`) and the service that stores policies,
memberships and attachments and checks access (:mod:`.service`, ``ws.security``)."""

from shipyard.security.actions import CATALOGUE, ActionInfo
from shipyard.security.policies import (
    POLICY_VERSION,
    Decision,
    Policy,
    PolicySet,
    Statement,
    evaluate,
    evaluate_many,
    feature_resource,
    known_actions,
    load_policy_file,
    register_action,
    register_resource_type,
)
from shipyard.security.service import (
    DEFAULT_CACHE_TTL,
    Membership,
    SecurityService,
    StoredPolicy,
)

__all__ = [
    "CATALOGUE",
    "DEFAULT_CACHE_TTL",
    "POLICY_VERSION",
    "ActionInfo",
    "Decision",
    "Membership",
    "Policy",
    "PolicySet",
    "SecurityService",
    "Statement",
    "StoredPolicy",
    "evaluate",
    "evaluate_many",
    "feature_resource",
    "known_actions",
    "load_policy_file",
    "register_action",
    "register_resource_type",
]
