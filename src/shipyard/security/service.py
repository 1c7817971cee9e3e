"""The security service (``ws.security``): stored policies, group memberships and policy
attachments, and the access check every service calls before it acts.

Storage:

- **policies** are definitions, so they are versions (kind ``policy`` in the metadata
  store's ``versions`` table; attributes = the canonical document). Putting the latest
  document again creates no version, and neither do several processes putting one
  document at once: they all write the same content hash (the document's and the
  version it follows), and the store hands the later writers the first one's version.
- **memberships and attachments** are facts, one row each (``group_members``,
  ``policy_attachments``), changed by one insert or delete with an ``access_events``
  row in the same transaction (:class:`~shipyard.stores.control.sql_access.SqlAccessStore`).
  :meth:`SecurityService.access_history` reads those events: who changed what, when.

Principal and group names are case-folded where they enter (:mod:`.names`): ``ALICE``
is ``alice``. Revision 0006 moved the records of earlier versions into the tables,
folding old spellings together.

Deciding (:meth:`SecurityService.authorize`, :meth:`SecurityService.require`):

- DEFAULT MODE (to be revisited with tokens): a principal with no policies attached,
  directly or through its groups, is **unrestricted**, which keeps the embedded
  single-user default working with no set-up. Detaching a principal's last policy
  makes it unrestricted again.
- Once a principal has any policy, IAM evaluation applies: an explicit Deny wins,
  else an Allow is needed, else implicit deny.
- Built-in rules (:mod:`.builtin_rules`) come on top of both: only the ``pipeline``
  principal moves a model's ``production`` alias, unless a policy explicitly allows
  someone else (an explicit Deny stops the pipeline too).

Administration is checked like everything else (see :mod:`.actions`):
``policies:Put``, ``policies:Attach`` / ``policies:Detach`` (on the policy and on the
principal or group), ``groups:AddMember`` / ``groups:RemoveMember``, and
``policies:Read`` to read a policy or someone else's groups, policies and decisions.

Caching: the compiled policies of each principal are kept for ``cache_ttl`` seconds
(default 5). Writes through this service clear the cache at once; changes made by
other processes are seen within ``cache_ttl`` seconds. A cached :meth:`require` costs
a few microseconds, which matters because it is on the online feature read path.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from shipyard.errors import AccessDenied, IntegrityError, InvalidConfig, InvalidInput, NotFound
from shipyard.security.builtin_rules import apply_rules, builtin_denial, has_rules
from shipyard.security.filtering import permitted, readable
from shipyard.security.names import group_name, principal_name
from shipyard.security.policies import (
    Decision,
    Policy,
    PolicySet,
    canonical_action,
    check_resource,
    describe_resource,
)
from shipyard.stores.control.sql_access import AccessEvent, SqlAccessStore
from shipyard.types import check_name

if TYPE_CHECKING:
    from shipyard.stores.metadata import MetadataStore, VersionRecord

POLICY_KIND = "policy"
DEFAULT_CACHE_TTL = 5.0  # seconds a principal's policies may be stale across processes

Authorize = Callable[[str, "str | Sequence[str]"], None]


@dataclass(frozen=True)
class StoredPolicy:
    """One stored version of a named policy; ``content_hash`` is the document's sha256."""

    name: str
    version: int
    policy: Policy
    created_by: str
    created_at: datetime
    content_hash: str

    @property
    def document(self) -> dict[str, Any]:
        return self.policy.to_document()


@dataclass(frozen=True)
class Membership:
    """A principal's groups and directly attached policies."""

    principal: str
    groups: tuple[str, ...]
    policies: tuple[str, ...]


def policy_resource(name: str) -> str:
    return f"shipyard:policy:{name}"


def principal_resource(principal: str) -> str:
    return f"shipyard:principal:{principal}"


def group_resource(group: str) -> str:
    return f"shipyard:group:{group}"


class SecurityService:
    """Policies, attachments and group membership; authorize and require access.

    ``authorize`` checks this service's own reads and writes (default: :meth:`require`
    as this service's principal).

    >>> ws.security.require("features:ReadOnline", features)  # doctest: +SKIP
    """

    def __init__(
        self,
        metadata: MetadataStore,
        *,
        principal: str,
        cache_ttl: float = DEFAULT_CACHE_TTL,
        clock: Callable[[], float] = time.monotonic,
        authorize: Authorize | None = None,
        access: SqlAccessStore | None = None,
        cache: dict[str, tuple[float, PolicySet | None]] | None = None,
    ) -> None:
        self._metadata = metadata
        self._access = access if access is not None else _access_store(metadata)
        self.principal = principal_name(principal)
        self.cache_ttl = cache_ttl
        self._clock = clock
        self._authorize: Authorize = authorize if authorize is not None else self.require
        # principal -> (expires at, compiled policies or None when unrestricted); shared by
        # the workspaces of one runtime, so a change made through one is seen by all at once
        self._cache: dict[str, tuple[float, PolicySet | None]] = {} if cache is None else cache

    # -- policies -------------------------------------------------------------------

    def put_policy(self, name: str, document: Mapping[str, Any] | Policy) -> int:
        """Validate and store ``document`` as the next version of policy ``name``; an
        unchanged document keeps its version. Returns the version."""
        check_name(name, "Policy name")
        policy = (
            document
            if isinstance(document, Policy)
            else Policy.from_document(document, source=f"Policy {name!r}")
        )
        self._authorize("policies:Put", policy_resource(name))
        canonical = policy.to_document()
        digest = _digest(canonical)
        latest = self._latest_policy(name)
        if latest is not None and _digest(latest.attributes) == digest:
            return latest.version
        # Keyed by the version it follows too: the same document put again after another
        # one is a new version, while processes putting it at once all write this hash,
        # and the store returns the first one's version to the others.
        follows = latest.version if latest is not None else 0
        record, created = self._metadata.create_version(
            POLICY_KIND,
            name,
            created_by=self.principal,
            content_hash=_digest({"document": digest, "follows": follows}),
            attributes=canonical,
            description=f"policy {name}: {len(policy.statements)} statement(s)",
            reuse_same_content=True,
        )
        if created:
            self._cache.clear()
        return record.version

    def get_policy(self, name: str, version: int | None = None) -> StoredPolicy:
        """The latest (or a given) version of a policy; NotFound names the known policies."""
        check_name(name, "Policy name")
        self._authorize("policies:Read", policy_resource(name))
        return self._get_policy(name, version)

    def policy_history(self, name: str) -> list[StoredPolicy]:
        """Every version of a policy, oldest first: the audit trail of its changes."""
        self.get_policy(name)  # checks access; NotFound with the known names
        return [_stored_policy(r) for r in self._metadata.list_versions(POLICY_KIND, name)]

    def list_policies(self) -> list[StoredPolicy]:
        """The latest version of every policy this principal may read, by name."""
        names = self._readable(
            "policies:Read", self._metadata.list_names(POLICY_KIND), policy_resource
        )
        return [self._get_policy(name) for name in names]

    # -- attachments and groups ----------------------------------------------------

    def attach(
        self, policy: str, *, principal: str | None = None, group: str | None = None
    ) -> bool:
        """Attach a stored policy to a principal or a group; False if it already was."""
        kind, target = _target(principal, group)
        check_name(policy, "Policy name")
        self._authorize("policies:Attach", [policy_resource(policy), _resource(kind, target)])
        self._get_policy(policy)  # NotFound naming the known policies
        changed = self._access.attach(kind, target, policy, by=self.principal)
        self._cache.clear()
        return changed

    def detach(
        self, policy: str, *, principal: str | None = None, group: str | None = None
    ) -> bool:
        """Detach a policy; InvalidInput (naming what is attached) if it was not attached."""
        kind, target = _target(principal, group)
        check_name(policy, "Policy name")
        self._authorize("policies:Detach", [policy_resource(policy), _resource(kind, target)])
        if not self._access.detach(kind, target, policy, by=self.principal):
            attached = ", ".join(self._access.attachments_of(kind, target)) or "none"
            raise InvalidInput(
                f"Policy {policy!r} is not attached to {kind} {target!r}.",
                hint=f"Attached: {attached}.",
            )
        self._cache.clear()
        return True

    def add_to_group(self, principal: str, group: str) -> bool:
        """Make ``principal`` a member of ``group``; False if it already was."""
        group, who = group_name(group), principal_name(principal)
        self._authorize("groups:AddMember", group_resource(group))
        changed = self._access.add_member(group, who, by=self.principal)
        self._cache.clear()
        return changed

    def remove_from_group(self, principal: str, group: str) -> bool:
        """Remove ``principal`` from ``group``; InvalidInput if it was not a member."""
        group, who = group_name(group), principal_name(principal)
        self._authorize("groups:RemoveMember", group_resource(group))
        if not self._access.remove_member(group, who, by=self.principal):
            groups = ", ".join(self._access.groups_of(who)) or "none"
            raise InvalidInput(
                f"{who!r} is not a member of group {group!r}.", hint=f"Its groups: {groups}."
            )
        self._cache.clear()
        return True

    def membership(self, principal: str | None = None) -> Membership:
        """A principal's groups and directly attached policies (another principal's need
        ``policies:Read`` on it)."""
        who = self._readable_principal(principal)
        state = self._access.state_of(who)
        return Membership(who, state.groups, state.policies)

    def members(self, group: str) -> list[str]:
        """The principals in a group."""
        group = group_name(group)
        self._authorize("policies:Read", group_resource(group))
        return self._access.members_of(group)

    def group_policies(self, group: str) -> list[str]:
        """The policies attached to a group."""
        group = group_name(group)
        self._authorize("policies:Read", group_resource(group))
        return self._access.attachments_of("group", group)

    def policies_for(self, principal: str | None = None) -> list[tuple[str, Policy]]:
        """Every policy that applies to a principal: attached directly, then via its groups
        (each once). A missing policy counts as empty, so access fails closed."""
        return self._policies_of(self._readable_principal(principal))

    def access_history(
        self, principal: str | None = None, group: str | None = None
    ) -> list[AccessEvent]:
        """Changes of access, oldest first: of one principal (the groups it joined or left,
        the policies attached to or detached from it), of one group (its policies, its
        members coming and going), or of everyone whose access this principal may read."""
        if principal is not None and group is not None:
            raise InvalidInput("Give a principal or a group, not both.")
        if group is not None:
            folded = group_name(group)
            self._authorize("policies:Read", group_resource(folded))
            return self._access.history(group=folded)
        if principal is not None:
            return self._access.history(principal=self._readable_principal(principal))
        events = self._access.history()
        targets = {(e.target_kind, e.target) for e in events}
        readable = {t for t in targets if self._may("policies:Read", _resource(*t))}
        return [e for e in events if (e.target_kind, e.target) in readable]

    # -- access checks ---------------------------------------------------------------

    def authorize(
        self, action: str, resources: str | Sequence[str], *, principal: str | None = None
    ) -> list[Decision]:
        """One decision per resource for ``principal`` (default: this service's; another
        principal's decisions need ``policies:Read`` on it)."""
        items = [resources] if isinstance(resources, str) else list(resources)
        who = self._readable_principal(principal)
        policies = self._policy_set(who)
        if policies is None:
            name = canonical_action(action)
            decisions = [Decision(True, "unrestricted", name, check_resource(r)) for r in items]
        else:
            decisions = policies.evaluate(action, items)
        if has_rules(action):
            decisions = [apply_rules(who, d) for d in decisions]
        return decisions

    def require(
        self, action: str, resources: str | Sequence[str], *, principal: str | None = None
    ) -> None:
        """Raise AccessDenied naming the first denied resource, the action and the
        statement or rule that denied it (or that none allows it). Microseconds when
        cached."""
        if principal is not None and principal_name(principal) != self.principal:
            self._authorize("policies:Read", principal_resource(principal_name(principal)))
        who = self.principal if principal is None else principal_name(principal)
        items = (resources,) if isinstance(resources, str) else resources
        if has_rules(action):  # a built-in rule's
            self._require_with_rules(who, action, items)
            return
        policies = self._policy_set(who)
        if policies is None:
            canonical_action(action)  # a typo in an action is a bug even when unrestricted
            return
        denied = policies.first_denied(action, items)
        if denied is not None:
            raise _access_denied(who, denied, policies, items)

    def invalidate(self) -> None:
        """Forget cached policies (writes through this service do it themselves)."""
        self._cache.clear()

    # -- internals ---------------------------------------------------------------------

    def _require_with_rules(self, who: str, action: str, items: Sequence[str]) -> None:
        policies = self._policy_set(who)
        for resource in items:
            if policies is None:
                decision = Decision(
                    True, "unrestricted", canonical_action(action), check_resource(resource)
                )
            else:
                decision = policies.decide(action, resource)
            decision = apply_rules(who, decision)
            if decision.allowed:
                continue
            if decision.reason == "builtin_deny":
                raise builtin_denial(who, decision)
            assert policies is not None
            raise _access_denied(who, decision, policies, items)

    def _may(self, action: str, resource: str) -> bool:
        return permitted(self._authorize, action, resource)

    def _readable(
        self, action: str, names: Sequence[str], resource: Callable[[str], str]
    ) -> list[str]:
        """The names this principal may ``action`` (one check when all are allowed)."""
        return readable(self._authorize, action, names, resource)

    def _readable_principal(self, principal: str | None) -> str:
        """The folded principal; reading someone else needs ``policies:Read`` on it."""
        who = self.principal if principal is None else principal_name(principal)
        if who != self.principal:
            self._authorize("policies:Read", principal_resource(who))
        return who

    def _policy_set(self, principal: str) -> PolicySet | None:
        entry = self._cache.get(principal)
        now = self._clock()
        if entry is not None and entry[0] > now:
            return entry[1]
        policies = self._policies_of(principal)
        compiled = PolicySet(policies) if policies else None
        self._cache[principal] = (now + self.cache_ttl, compiled)
        return compiled

    def _policies_of(self, principal: str) -> list[tuple[str, Policy]]:
        state = self._access.state_of(principal)
        names = list(state.policies)
        for group in state.groups:
            names.extend(state.group_policies[group])
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return []
        # One statement for all of them; a missing policy counts as empty (fails closed).
        stored = {r.name: r for r in self._metadata.latest_versions(POLICY_KIND, wanted)}
        return [
            (name, _stored_policy(stored[name]).policy if name in stored else Policy(()))
            for name in wanted
        ]

    def _get_policy(self, name: str, version: int | None = None) -> StoredPolicy:
        try:
            record = self._metadata.get_version(POLICY_KIND, name, version)
        except NotFound:
            if version is not None and self._latest_policy(name) is not None:
                raise
            known = ", ".join(self._metadata.list_names(POLICY_KIND)) or "none yet"
            raise NotFound(
                f"No policy named {name!r}.",
                hint=f"Known policies: {known}. Store one with `shipyard policies put`.",
            ) from None
        return _stored_policy(record)

    def _latest_policy(self, name: str) -> VersionRecord | None:
        try:
            return self._metadata.get_version(POLICY_KIND, name)
        except NotFound:
            return None


def _access_store(metadata: MetadataStore) -> SqlAccessStore:
    from shipyard.stores.metadata.sql import SqlMetadataStore

    if not isinstance(metadata, SqlMetadataStore):
        raise InvalidConfig(f"No access store for a {type(metadata).__name__}.")
    return SqlAccessStore(metadata)


def _target(principal: str | None, group: str | None) -> tuple[Literal["principal", "group"], str]:
    """(kind, folded name) of an attachment's target."""
    if (principal is None) == (group is None):
        raise InvalidInput(
            "Give exactly one of a principal or a group.",
            hint="For example --principal alice, or --group analysts.",
        )
    if group is not None:
        return "group", group_name(group)
    assert principal is not None
    return "principal", principal_name(principal)


def _resource(kind: str, target: str) -> str:
    return principal_resource(target) if kind == "principal" else group_resource(target)


def _digest(document: Mapping[str, Any]) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _stored_policy(record: VersionRecord) -> StoredPolicy:
    source = f"stored policy {record.name}@{record.version}"
    try:
        policy = Policy.from_document(dict(record.attributes), source=source, check_actions=False)
    except InvalidInput as exc:  # fail closed, loudly: never skip a policy we cannot read
        raise IntegrityError(f"{exc.message}", hint="Store a corrected version.") from None
    return StoredPolicy(
        record.name,
        record.version,
        policy,
        record.created_by,
        record.created_at,
        _digest(policy.to_document()),  # the stored hash also names the version it follows
    )


def _access_denied(
    principal: str, denied: Decision, policies: PolicySet, resources: Sequence[str]
) -> AccessDenied:
    what = describe_resource(denied.resource)
    if denied.reason == "explicit_deny":
        why = f"explicitly denied by policy {denied.policy!r}, statement {denied.statement_label}"
    else:
        checked = ", ".join(repr(n) for n in policies.names)
        why = f"no statement allows it (policies checked: {checked})"
    others = sum(1 for r in resources if not policies.decide(denied.action, r).allowed) - 1
    more = f" ({others} more of the {len(resources)} requested resources are denied too)"
    return AccessDenied(
        f"{principal!r} may not {denied.action} on {what} ({denied.resource}): {why}."
        + (more if others > 0 else ""),
        hint="Ask an administrator to change the policies; "
        f"`shipyard policies check {denied.action} {denied.resource} --principal {principal}` "
        "shows the decision.",
    )
