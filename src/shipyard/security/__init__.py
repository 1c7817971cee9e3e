"""Security: IAM-style policies (:mod:`.policies`, pure) and the service that stores them,
resolves a principal's policies and checks access (:mod:`.service`, ``ws.security``)."""

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
    "DEFAULT_CACHE_TTL",
    "POLICY_VERSION",
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
