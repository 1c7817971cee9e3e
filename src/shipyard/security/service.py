"""The security service (``ws.security``): stored policies, principals and groups, and the
access check every service calls before it acts.

Storage (the metadata store's generic ``versions`` table; every change is a new
version, so the history is the audit trail: who changed what, when):

- kind ``policy``, name = the policy name, attributes = the canonical policy
  document, content hash = sha256 of that document and of the version it
  follows. Putting the latest document again creates no version, and neither do
  several processes putting one document at once: they all write the same hash,
  and the metadata store hands the second writer on the version the first made.
- kind ``principal``, name = the principal (or ``principal-<sha256 prefix>`` when
  the principal is not a valid record name, such as ``alice@example.com``),
  attributes ``{"principal": P, "groups": [...], "policies": [...], "change": {...}}``.
- kind ``group``, name = the group, attributes ``{"policies": [...], "change": {...}}``.

Principal and group names are case-folded where they enter (:mod:`.names`):
``ALICE`` is ``alice``. Records stored before that under another spelling still
count for the folded name (:mod:`.legacy_names`); records written since carry
``"folded": true``.

The latest version of a principal or group record is its state; ``change`` says
what that version did (``add``/``remove`` of a group or policy). When two
processes change the same record at once, the loser notices that its version is
not the one after the version it read, replays every recorded change in order,
and writes the merged state, so no attachment or membership is lost.

DEFAULT MODE (to be revisited with tokens): a principal with no policies attached,
directly or through its groups, is **unrestricted**; this keeps the embedded
single-user default working with no set-up. Once a principal has any policy,
IAM evaluation applies to it: explicit Deny wins, else an Allow is needed, else
implicit deny. Note that detaching a principal's last policy makes it
unrestricted again.

Caching: the compiled policies of each principal are kept for ``cache_ttl``
seconds (default 5). Writes through this service clear the cache at once;
changes made by other processes are seen within ``cache_ttl`` seconds. A cached
:meth:`SecurityService.require` costs a few microseconds, which matters because
it is on the online feature read path.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shipyard.errors import AccessDenied, Conflict, IntegrityError, InvalidInput, NotFound
from shipyard.security.legacy_names import GROUP_KIND, PRINCIPAL_KIND, LegacyNames
from shipyard.security.names import group_name, principal_key, principal_name
from shipyard.security.policies import (
    Decision,
    Policy,
    PolicySet,
    canonical_action,
    check_resource,
    describe_resource,
)
from shipyard.types import check_name

if TYPE_CHECKING:
    from shipyard.stores.metadata import MetadataStore, VersionRecord

POLICY_KIND = "policy"
DEFAULT_CACHE_TTL = 5.0  # seconds a principal's policies may be stale across processes

_STATE_FIELDS = {PRINCIPAL_KIND: ("groups", "policies"), GROUP_KIND: ("policies",)}


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
    """A principal's groups and directly attached policies (latest record)."""

    principal: str
    groups: tuple[str, ...]
    policies: tuple[str, ...]


class SecurityService:
    """Policies, attachments and group membership; authorize and require access.

    >>> ws.security.require("features:ReadOnline", features)  # doctest: +SKIP
    """

    def __init__(
        self,
        metadata: MetadataStore,
        *,
        principal: str,
        cache_ttl: float = DEFAULT_CACHE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._metadata = metadata
        self.principal = principal_name(principal)
        self.cache_ttl = cache_ttl
        self._clock = clock
        # principal -> (expires at, compiled policies or None when unrestricted)
        self._cache: dict[str, tuple[float, PolicySet | None]] = {}
        self._legacy = LegacyNames(metadata)

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
        canonical = policy.to_document()
        digest = _digest(canonical)
        latest = self._latest(POLICY_KIND, name)
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
        try:
            record = self._metadata.get_version(POLICY_KIND, name, version)
        except NotFound:
            if version is not None and self._latest(POLICY_KIND, name) is not None:
                raise
            known = ", ".join(self._metadata.list_names(POLICY_KIND)) or "none yet"
            raise NotFound(
                f"No policy named {name!r}.",
                hint=f"Known policies: {known}. Store one with `shipyard policies put`.",
            ) from None
        return _stored_policy(record)

    def policy_history(self, name: str) -> list[StoredPolicy]:
        """Every version of a policy, oldest first: the audit trail of its changes."""
        self.get_policy(name)  # NotFound with the known names
        return [_stored_policy(r) for r in self._metadata.list_versions(POLICY_KIND, name)]

    def list_policies(self) -> list[StoredPolicy]:
        """The latest version of every policy, by name."""
        return [self.get_policy(name) for name in self._metadata.list_names(POLICY_KIND)]

    # -- attachments and groups ----------------------------------------------------

    def attach(
        self, policy: str, *, principal: str | None = None, group: str | None = None
    ) -> bool:
        """Attach a stored policy to a principal or a group; False if it already was."""
        kind, name, owner = self._target(principal, group)
        self.get_policy(policy)
        change = {"op": "add", "field": "policies", "value": policy}
        return self._change(kind, name, change, owner=owner)

    def detach(
        self, policy: str, *, principal: str | None = None, group: str | None = None
    ) -> bool:
        """Detach a policy; InvalidInput (naming what is attached) if it was not attached."""
        kind, name, owner = self._target(principal, group)
        state = self._state(kind, name, owner=owner)
        if policy not in state["policies"]:
            who = f"{kind} {owner if kind == PRINCIPAL_KIND else name!r}"
            attached = ", ".join(state["policies"]) or "none"
            raise InvalidInput(
                f"Policy {policy!r} is not attached to {who}.", hint=f"Attached: {attached}."
            )
        change = {"op": "remove", "field": "policies", "value": policy}
        return self._change(kind, name, change, owner=owner)

    def add_to_group(self, principal: str, group: str) -> bool:
        """Make ``principal`` a member of ``group``; False if it already was."""
        group, who = group_name(group), principal_name(principal)
        change = {"op": "add", "field": "groups", "value": group}
        return self._change(PRINCIPAL_KIND, principal_key(who), change, owner=who)

    def remove_from_group(self, principal: str, group: str) -> bool:
        """Remove ``principal`` from ``group``; InvalidInput if it was not a member."""
        group, who = group_name(group), principal_name(principal)
        key = principal_key(who)
        groups = self._state(PRINCIPAL_KIND, key, owner=who)["groups"]
        if group not in groups:
            raise InvalidInput(
                f"{who!r} is not a member of group {group!r}.",
                hint=f"Its groups: {', '.join(groups) or 'none'}.",
            )
        change = {"op": "remove", "field": "groups", "value": group}
        return self._change(PRINCIPAL_KIND, key, change, owner=who)

    def membership(self, principal: str | None = None) -> Membership:
        """A principal's groups and directly attached policies."""
        who = self.principal if principal is None else principal_name(principal)
        state = self._state(PRINCIPAL_KIND, principal_key(who), owner=who)
        return Membership(who, tuple(state["groups"]), tuple(state["policies"]))

    def group_policies(self, group: str) -> list[str]:
        """The policies attached to a group."""
        return list(self._state(GROUP_KIND, group_name(group))["policies"])

    def policies_for(self, principal: str | None = None) -> list[tuple[str, Policy]]:
        """Every policy that applies to a principal: attached directly, then via its groups
        (each once). A missing policy counts as empty, so access fails closed."""
        member = self.membership(principal)
        names = list(member.policies)
        for group in member.groups:
            names.extend(self._state(GROUP_KIND, group)["policies"])
        return [(name, self._load_policy(name)) for name in dict.fromkeys(names)]

    # -- access checks ---------------------------------------------------------------

    def authorize(
        self, action: str, resources: str | Sequence[str], *, principal: str | None = None
    ) -> list[Decision]:
        """One decision per resource for ``principal`` (default: this service's)."""
        items = [resources] if isinstance(resources, str) else list(resources)
        policies = self._policy_set(
            self.principal if principal is None else principal_name(principal)
        )
        if policies is None:
            name = canonical_action(action)
            return [Decision(True, "unrestricted", name, check_resource(r)) for r in items]
        return policies.evaluate(action, items)

    def require(
        self, action: str, resources: str | Sequence[str], *, principal: str | None = None
    ) -> None:
        """Raise AccessDenied naming the first denied resource, the action and the
        statement that denied it (or that none allows it). Microseconds when cached."""
        who = self.principal if principal is None else principal_name(principal)
        policies = self._policy_set(who)
        if policies is None:
            canonical_action(action)  # a typo in an action is a bug even when unrestricted
            return
        items = (resources,) if isinstance(resources, str) else resources
        denied = policies.first_denied(action, items)
        if denied is not None:
            raise _access_denied(who, denied, policies, items)

    def invalidate(self) -> None:
        """Forget cached policies (writes through this service do it themselves)."""
        self._cache.clear()

    # -- internals ---------------------------------------------------------------------

    def _policy_set(self, principal: str) -> PolicySet | None:
        entry = self._cache.get(principal)
        now = self._clock()
        if entry is not None and entry[0] > now:
            return entry[1]
        policies = self.policies_for(principal)
        compiled = PolicySet(policies) if policies else None
        self._cache[principal] = (now + self.cache_ttl, compiled)
        return compiled

    def _load_policy(self, name: str) -> Policy:
        record = self._latest(POLICY_KIND, name)
        if record is None:
            return Policy(())
        return _stored_policy(record).policy

    def _target(self, principal: str | None, group: str | None) -> tuple[str, str, str | None]:
        """(kind, record name, principal or None) of an attachment's target."""
        if (principal is None) == (group is None):
            raise InvalidInput(
                "Give exactly one of a principal or a group.",
                hint="For example --principal alice, or --group analysts.",
            )
        if group is not None:
            return GROUP_KIND, group_name(group), None
        assert principal is not None
        who = principal_name(principal)
        return PRINCIPAL_KIND, principal_key(who), who

    def _latest(self, kind: str, name: str) -> VersionRecord | None:
        try:
            return self._metadata.get_version(kind, name)
        except NotFound:
            return None

    def _state(self, kind: str, name: str, *, owner: str | None = None) -> dict[str, list[str]]:
        record = self._latest(kind, name)
        if record is not None and owner is not None:
            _check_owner(record, owner)
        return self._current(kind, name, record)

    def _current(self, kind: str, name: str, record: VersionRecord | None) -> dict[str, list[str]]:
        """The state of a folded name: its record's, with any older spellings' until the
        record has taken them in."""
        if record is not None and record.attributes.get("folded"):
            return _state_of(kind, record.attributes)
        own = _state_of(kind, record.attributes if record else {})
        return _union(kind, [own, self._old_spellings(kind, name)])

    def _old_spellings(self, kind: str, name: str) -> dict[str, list[str]]:
        """The groups and policies that records under other spellings of ``name`` hold."""
        states = [
            _state_of(kind, self._metadata.get_version(kind, old).attributes)
            for old in self._legacy.records(kind, name)
        ]
        return _union(kind, states)

    def _change(self, kind: str, name: str, change: dict[str, str], *, owner: str | None) -> bool:
        """Apply one add/remove to the latest record; repair if a concurrent write raced."""
        latest = self._latest(kind, name)
        if latest is not None and owner is not None:
            _check_owner(latest, owner)
        before = self._current(kind, name, latest)
        after = _apply(before, change)
        if after == before:
            return False
        record = self._write(kind, name, after, change, owner)
        if record.version != (latest.version if latest else 0) + 1:
            self._repair(kind, name, owner)
        self._cache.clear()
        return True

    def _write(
        self,
        kind: str,
        name: str,
        state: dict[str, list[str]],
        change: dict[str, str],
        owner: str | None,
    ) -> VersionRecord:
        attributes: dict[str, Any] = {**state, "change": change, "folded": True}
        if kind == PRINCIPAL_KIND:
            attributes["principal"] = owner  # the real name, checked on every read
        record, _ = self._metadata.create_version(
            kind,
            name,
            created_by=self.principal,
            attributes=attributes,
            description=f"{change['op']} {change['field'][:-1]} {change['value']}",
        )
        return record

    def _repair(self, kind: str, name: str, owner: str | None) -> None:
        """Another process wrote between our read and our write, so the latest record
        may lack its change: replay every recorded change in order and store the result."""
        for _ in range(10):
            history = self._metadata.list_versions(kind, name)
            state = self._old_spellings(kind, name)
            for record in history:
                change = record.attributes.get("change")
                if isinstance(change, Mapping) and change.get("op") in ("add", "remove"):
                    state = _apply(state, dict(change))
            last = history[-1]
            if _state_of(kind, last.attributes) == state:
                return
            merge = {"op": "merge", "field": "-", "value": "-"}
            record = self._write(kind, name, state, merge, owner)
            if record.version == last.version + 1:
                return
        raise Conflict(f"Could not settle concurrent changes to {kind} {name!r}; try again.")


def _check_owner(record: VersionRecord, principal: str) -> None:
    """A hashed record name could collide with a real one: fail closed if it does."""
    owner = record.attributes.get("principal")
    if not isinstance(owner, str) or principal_name(owner) != principal:
        raise IntegrityError(
            f"The principal record {record.name!r} belongs to {owner!r}, not {principal!r}; "
            "refusing to use it.",
            hint="Rename one of the two principals.",
        )


def _state_of(kind: str, attributes: Mapping[str, Any]) -> dict[str, list[str]]:
    return {
        f: sorted({_folded(f, str(v)) for v in attributes.get(f) or []})
        for f in _STATE_FIELDS[kind]
    }


def _folded(field: str, value: str) -> str:
    """Group names as they are compared (records from before folding may spell them
    otherwise); policy names are kept as they are."""
    return value.casefold() if field == "groups" else value


def _union(kind: str, states: Sequence[Mapping[str, list[str]]]) -> dict[str, list[str]]:
    return {
        f: sorted({v for state in states for v in state.get(f, [])}) for f in _STATE_FIELDS[kind]
    }


def _apply(state: dict[str, list[str]], change: Mapping[str, str]) -> dict[str, list[str]]:
    values = set(state.get(change["field"], []))
    value = _folded(change["field"], change["value"])
    if change["op"] == "add":
        values.add(value)
    else:
        values.discard(value)
    return {**state, change["field"]: sorted(values)}


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
