"""The action catalogue: every action a policy may name, what it allows, and on what.

This is the one place actions are defined. :mod:`.policies` registers every entry at
import, so a stored policy naming one is never refused because the service that checks
it was not imported yet; ``shipyard policies actions`` prints the catalogue (``--json``
for scripts). Names follow the AWS IAM style: ``service:Verb``, matched
case-insensitively, with ``*`` and ``?`` wildcards in policies.

Resources are ``shipyard:<type>:<path>`` (case-sensitive), the type named after what
is stored (a ``dataset:flights`` version is covered by ``shipyard:dataset:flights``).
An action whose ``resources`` name two types is checked on one resource of each kind
that the request involves, and every one must be allowed: attaching policy ``readers``
to group ``analysts`` needs ``policies:Attach`` on both ``shipyard:policy:readers``
and ``shipyard:group:analysts``.

Entries with ``planned`` set are registered now so that policies written today keep
working, but no service checks them yet: the issue named there adds the check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ResourceType:
    """``shipyard:<name>:<path>``: what the path is, with an example."""

    name: str
    path: str
    description: str

    @property
    def form(self) -> str:
        return f"shipyard:{self.name}:{self.path}"


@dataclass(frozen=True)
class ActionInfo:
    """One action: its name, the resource types it acts on, and what it allows."""

    name: str
    resources: tuple[str, ...]
    description: str
    planned: str | None = None  # the work that will check it; None: checked today

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.name,
            "resources": [RESOURCE_TYPES[r].form for r in self.resources],
            "description": self.description,
            "checked": self.planned is None,
            "planned": self.planned,
        }


_DEPLOYING = "deployment strategies"

RESOURCE_TYPES: dict[str, ResourceType] = {
    t.name: t
    for t in (
        ResourceType("feature", "VIEW/FEATURE", "one feature of a feature view"),
        ResourceType("pipeline", "NAME", "a pipeline, by name"),
        ResourceType("dataset", "NAME", "every version of a dataset"),
        ResourceType("split", "NAME", "every version of a stored split"),
        ResourceType("baseline", "DATASET", "the profiles and baselines of a dataset"),
        ResourceType("experiment", "NAME", "an experiment and all of its runs"),
        ResourceType("model", "NAME", "a model: versions, tags, reviews, packages"),
        ResourceType("model_alias", "MODEL/ALIAS", "one alias of a model"),
        ResourceType("policy", "NAME", "a stored policy (every version)"),
        ResourceType("principal", "NAME", "a principal: its groups and attached policies"),
        ResourceType("group", "NAME", "a group: its members and attached policies"),
        ResourceType("endpoint", "NAME", "a serving endpoint and its deployments"),
        ResourceType("job", "KIND", "durable jobs of one kind"),
        ResourceType("audit", "TYPE", "audit entries about one resource type"),
    )
}

CATALOGUE: tuple[ActionInfo, ...] = (
    # -- features (FeatureStore) --
    ActionInfo(
        "features:ReadOffline",
        ("feature",),
        "Read feature values into a training set (point-in-time join).",
    ),
    ActionInfo("features:ReadOnline", ("feature",), "Read online feature values."),
    ActionInfo("features:Write", ("feature",), "Materialize feature values to the online store."),
    ActionInfo("features:Apply", ("feature",), "Register or change feature definitions."),
    # -- pipelines --
    ActionInfo(
        "pipeline:Run", ("pipeline",), "Run a pipeline (its steps act as the pipeline principal)."
    ),
    # -- data --
    ActionInfo(
        "datasets:Read", ("dataset",), "Read a dataset: versions, schema, statistics, rows."
    ),
    ActionInfo("datasets:Write", ("dataset",), "Register a new version of a dataset."),
    ActionInfo(
        "splits:Read",
        ("split",),
        "Read a stored split: plan, sets, assignment, reproduction, leakage report.",
    ),
    ActionInfo("splits:Write", ("split",), "Store a split of a dataset version."),
    ActionInfo(
        "quality:Read",
        ("baseline",),
        "Profile a dataset, read its baselines, check data against them.",
    ),
    ActionInfo("quality:Write", ("baseline",), "Store a baseline (profile and constraints)."),
    # -- tracking --
    ActionInfo(
        "runs:Read",
        ("experiment",),
        "Read an experiment's runs: params, metrics, artifacts, search, compare.",
    ),
    ActionInfo(
        "runs:Write", ("experiment",), "Create an experiment; start, tag, annotate or end its runs."
    ),
    # -- model registry --
    ActionInfo(
        "models:Read", ("model",), "Read a model: versions, lineage, aliases, reviews, packages."
    ),
    ActionInfo("models:Write", ("model",), "Register a model version; tag or describe it."),
    ActionInfo("models:Approve", ("model",), "Approve or reject a model version."),
    ActionInfo(
        "models:SetAlias",
        ("model_alias",),
        "Move or remove an alias. For production "
        "only the pipeline may, unless a policy explicitly allows it.",
    ),
    # -- policy administration (SecurityService) --
    ActionInfo(
        "policies:Read",
        ("policy", "principal", "group"),
        "Read a policy, or another principal's or a group's policies and groups.",
    ),
    ActionInfo("policies:Put", ("policy",), "Store a new version of a policy."),
    ActionInfo(
        "policies:Attach",
        ("policy", "principal", "group"),
        "Attach a policy to a principal or group (allowed on both).",
    ),
    ActionInfo(
        "policies:Detach",
        ("policy", "principal", "group"),
        "Detach a policy from a principal or group (allowed on both).",
    ),
    ActionInfo("groups:AddMember", ("group",), "Add a principal to a group."),
    ActionInfo("groups:RemoveMember", ("group",), "Remove a principal from a group."),
    # -- serving (EndpointService) --
    ActionInfo("endpoints:Read", ("endpoint",), "Read an endpoint: variants, split, history."),
    ActionInfo(
        "endpoints:Write",
        ("endpoint",),
        "Create, change or delete an endpoint. For one marked production (checked on "
        "shipyard:endpoint:NAME/production) only the pipeline may, unless a policy "
        "explicitly allows it.",
    ),
    ActionInfo("endpoints:Invoke", ("endpoint",), "Send inference requests to an endpoint."),
    ActionInfo(
        "endpoints:Replay",
        ("endpoint",),
        "State the time a request is made at (X-Shipyard-Event-Time): replay or backfill "
        "through an endpoint as of then.",
    ),
    # -- monitoring (MonitoringService) --
    ActionInfo(
        "monitoring:Read",
        ("endpoint",),
        "Read an endpoint's monitoring: series, violations, alarms, plots.",
    ),
    ActionInfo(
        "monitoring:Write",
        ("endpoint",),
        "Run an endpoint's monitoring, schedule it, and set its alarms.",
    ),
    ActionInfo(
        "monitoring:Report",
        ("endpoint",),
        "Post ground truth and business outcomes for an endpoint's requests.",
    ),
    # -- registered now, checked by the work that adds them --
    ActionInfo("deployments:Read", ("endpoint",), "Read an endpoint's deployments.", _DEPLOYING),
    ActionInfo(
        "deployments:Write",
        ("endpoint",),
        "Start, advance, pause or roll back a deployment.",
        _DEPLOYING,
    ),
    ActionInfo("jobs:Read", ("job",), "Read jobs of a kind: state, progress, result."),
    ActionInfo("jobs:Write", ("job",), "Cancel or retry jobs of a kind."),
    ActionInfo("audit:Read", ("audit",), "Read the audit log (`shipyard audit`)."),
)

ACTIONS: dict[str, ActionInfo] = {a.name: a for a in CATALOGUE}


def action_info(name: str) -> ActionInfo | None:
    """The catalogue entry of ``name`` (exact spelling), or None."""
    return ACTIONS.get(name)


def resource_name(kind: str, path: str) -> str:
    """``shipyard:<kind>:<path>`` for a catalogued resource type.

    >>> resource_name("dataset", "flights")
    'shipyard:dataset:flights'
    """
    if kind not in RESOURCE_TYPES:
        raise KeyError(f"unknown resource type {kind!r}")
    return f"shipyard:{kind}:{path}"
