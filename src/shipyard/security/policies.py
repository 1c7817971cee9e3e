"""IAM-style policies: the language, its validation and its evaluation (pure, no storage).

A policy is a JSON (or YAML) document of statements::

    {"Version": "2026-11-01",
     "Statement": [
       {"Sid": "ReadFeatures", "Effect": "Allow",
        "Action": ["features:Read*"], "Resource": ["shipyard:feature:*"]},
       {"Sid": "NoSSN", "Effect": "Deny",
        "Action": "*", "Resource": "shipyard:feature:customers/ssn"}]}

Top-level keys:

- ``Version``: optional; the only version is ``"2026-11-01"`` (the default).
- ``Statement``: one statement object, or a non-empty list of them.

Statement keys (nothing else is accepted: ``NotAction``, ``NotResource``,
``Principal`` and ``Condition`` are refused rather than silently ignored):

- ``Sid``: optional label, unique within the policy (letters, digits, ``_.-``);
  decisions name the statement by it (or by its 1-based position, ``#2``).
- ``Effect``: ``"Allow"`` or ``"Deny"``.
- ``Action``: a pattern or a non-empty list of patterns over ``service:Action``
  names, matched case-insensitively (as AWS does). Every pattern must match at
  least one known action (see :func:`known_actions`), because one that matches
  none is almost always a typo. The known actions are the catalogue of
  :mod:`shipyard.security.actions` (``shipyard policies actions`` prints it).
- ``Resource``: a pattern or a non-empty list of patterns over resource names
  ``shipyard:<type>:<path>``, matched case-sensitively, such as
  ``shipyard:feature:VIEW/FEATURE`` or ``shipyard:dataset:NAME`` (the types are in
  the same catalogue).

Wildcards in actions and resources: ``*`` matches any run of characters
(including ``/`` and ``:``, and none at all), ``?`` exactly one character.

Evaluation (:func:`evaluate`, :func:`evaluate_many`, :class:`PolicySet`): an
explicit ``Deny`` in any applicable policy wins; otherwise an ``Allow`` is
needed; otherwise the request is implicitly denied. A :class:`Decision` says
which, and names the policy and statement that decided.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Final, Literal

from shipyard.errors import InvalidInput
from shipyard.security.actions import CATALOGUE, RESOURCE_TYPES
from shipyard.yaml_errors import yaml_problem

POLICY_VERSION: Final = "2026-11-01"
RESOURCE_PREFIX: Final = "shipyard"

Effect = Literal["Allow", "Deny"]
Reason = Literal[
    "allowed", "explicit_deny", "implicit_deny", "unrestricted", "builtin_allow", "builtin_deny"
]

_TOP_KEYS = ("Version", "Statement")
_STATEMENT_KEYS = ("Sid", "Effect", "Action", "Resource")
_SID = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
_RESOURCE = re.compile(r"^shipyard:(?P<type>[a-z][a-z_]*):(?P<path>[^*?]+)$")
_MEMO_LIMIT = 65_536  # decisions remembered per policy set before the memo starts over

# -- registries that later parts extend ------------------------------------------------

_ACTIONS: dict[str, str] = {}  # lower-cased name -> canonical name
_RESOURCE_TYPES: dict[str, str] = {}  # type -> what its path looks like


def register_action(name: str) -> str:
    """Make ``service:Action`` known to policies (idempotent); returns the name."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*:[A-Z][A-Za-z0-9]*", name):
        raise InvalidInput(f"Action name {name!r} is not of the form service:Action.")
    _ACTIONS[name.lower()] = name
    return name


def known_actions() -> list[str]:
    """Every action a policy may name, sorted."""
    return sorted(_ACTIONS.values())


def register_resource_type(kind: str, path_form: str) -> None:
    """Make ``shipyard:<kind>:<path>`` a resource name (``path_form`` documents the path)."""
    _RESOURCE_TYPES[kind] = path_form


def resource_types() -> dict[str, str]:
    """Known resource types and the form of their paths."""
    return dict(_RESOURCE_TYPES)


# Every action of the catalogue is known here, so a stored policy naming one is never
# refused just because the service's module was not imported yet.
for _entry in CATALOGUE:
    register_action(_entry.name)
for _type in RESOURCE_TYPES.values():
    register_resource_type(_type.name, _type.path)


def feature_resource(view: str, feature: str) -> str:
    """The resource name of one feature: ``shipyard:feature:VIEW/FEATURE``."""
    return f"{RESOURCE_PREFIX}:feature:{view}/{feature}"


def canonical_action(action: str) -> str:
    """The registered spelling of ``action`` (case-insensitive); InvalidInput if unknown."""
    found = _ACTIONS.get(action.lower()) if isinstance(action, str) else None
    if found is None:
        raise InvalidInput(
            f"Unknown action {action!r}.", hint=f"Known actions: {', '.join(known_actions())}."
        )
    return found


def check_resource(resource: str) -> str:
    """Return ``resource`` if it names one concrete resource, else raise InvalidInput."""
    match = _RESOURCE.match(resource) if isinstance(resource, str) else None
    if match is None or match["type"] not in _RESOURCE_TYPES:
        raise InvalidInput(
            f"{resource!r} is not a resource name.",
            hint=f"Write {_resource_forms()}, without wildcards, "
            "for example 'shipyard:feature:customers/age'.",
        )
    return resource


def describe_resource(resource: str) -> str:
    """``shipyard:feature:customers/ssn`` -> ``feature customers/ssn`` (for messages)."""
    parts = resource.split(":", 2)
    if len(parts) == 3 and parts[0] == RESOURCE_PREFIX:
        return f"{parts[1]} {parts[2]}"
    return resource


def _resource_forms() -> str:
    return " or ".join(f"shipyard:{k}:{v}" for k, v in sorted(_RESOURCE_TYPES.items()))


# -- patterns -------------------------------------------------------------------------


def _glob_regex(pattern: str) -> str:
    """``*`` -> any run of characters, ``?`` -> one character; everything else literal."""
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return "".join(parts)


def _compile(patterns: Sequence[str], *, lower: bool) -> re.Pattern[str]:
    """One regex for a statement's patterns: matching costs one call, not one per pattern."""
    texts = [p.lower() if lower else p for p in patterns]
    return re.compile("(?:" + "|".join(_glob_regex(t) for t in texts) + r")\Z", re.DOTALL)


def _literal_prefix(pattern: str) -> str:
    cut = min((i for i in (pattern.find("*"), pattern.find("?")) if i >= 0), default=len(pattern))
    return pattern[:cut]


def _resource_pattern_ok(pattern: str) -> bool:
    """Could the pattern match some ``shipyard:<known type>:...`` name? (Judged on its
    literal prefix, so a typo such as ``shipyard:features:*`` is caught.)"""
    prefix = _literal_prefix(pattern)
    for kind in _RESOURCE_TYPES:
        start = f"{RESOURCE_PREFIX}:{kind}:"
        if start.startswith(prefix) or prefix.startswith(start):
            return True
    return False


# -- the language -----------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    """One statement: Effect over Action patterns and Resource patterns."""

    effect: Effect
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    sid: str | None = None
    _action_re: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _resource_re: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Compiled once: evaluation only runs the regexes.
        object.__setattr__(self, "_action_re", _compile(self.actions, lower=True))
        object.__setattr__(self, "_resource_re", _compile(self.resources, lower=False))

    def matches_action(self, action: str) -> bool:
        """Case-insensitive, like AWS."""
        return self._action_re.match(action.lower()) is not None

    def matches_resource(self, resource: str) -> bool:
        """Case-sensitive."""
        return self._resource_re.match(resource) is not None

    def to_document(self) -> dict[str, Any]:
        body: dict[str, Any] = {"Sid": self.sid} if self.sid else {}
        body.update(Effect=self.effect, Action=list(self.actions), Resource=list(self.resources))
        return body


@dataclass(frozen=True)
class Policy:
    """A validated policy document."""

    statements: tuple[Statement, ...]
    version: str = POLICY_VERSION

    @classmethod
    def from_document(
        cls, document: Any, *, source: str = "the policy", check_actions: bool = True
    ) -> Policy:
        """Validate a parsed JSON/YAML document. ``check_actions=False`` tolerates action
        patterns that match no known action (policies stored by a newer Shipyard)."""
        return _parse_policy(document, source, check_actions)

    def to_document(self) -> dict[str, Any]:
        """The canonical document: lists everywhere, keys in the documented order."""
        return {
            "Version": self.version,
            "Statement": [s.to_document() for s in self.statements],
        }


def load_policy_text(text: str, *, source: str = "the policy", yaml: bool = False) -> Policy:
    """Parse and validate policy text: JSON, or YAML when ``yaml`` (YAML also reads JSON)."""
    if yaml:
        import yaml as pyyaml

        try:
            document = pyyaml.safe_load(text)
        except pyyaml.YAMLError as exc:
            raise InvalidInput(f"{source} is not valid YAML: {yaml_problem(exc)}") from None
    else:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."
            ) from None
    return Policy.from_document(document, source=source)


def load_policy_file(path: str | Path) -> Policy:
    """Read a policy file: YAML for ``.yaml``/``.yml``, JSON otherwise."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"Cannot read the policy file {file}: {exc.strerror or exc}.") from None
    return load_policy_text(text, source=str(file), yaml=file.suffix.lower() in (".yaml", ".yml"))


def _parse_policy(document: Any, source: str, check_actions: bool) -> Policy:
    if not isinstance(document, Mapping):
        raise InvalidInput(
            f"{source} must be an object with 'Version' and 'Statement', "
            f"got {type(document).__name__}.",
            hint='Start from {"Version": "2026-11-01", "Statement": [...]}.',
        )
    _refuse_unknown_keys(document, _TOP_KEYS, source)
    version = document.get("Version", POLICY_VERSION)
    if isinstance(version, date):  # YAML reads an unquoted 2026-11-01 as a date
        version = version.isoformat()
    if version != POLICY_VERSION:
        raise InvalidInput(
            f"{source}: unknown Version {version!r}.",
            hint=f'Write "Version": "{POLICY_VERSION}" (or leave it out).',
        )
    raw = document.get("Statement")
    items = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(items, list) or not items:
        raise InvalidInput(
            f"{source} needs 'Statement': a statement object or a non-empty list of them.",
            hint='For example {"Effect": "Allow", "Action": "features:Read*", '
            '"Resource": "shipyard:feature:*"}.',
        )
    statements = [_parse_statement(item, i, source, check_actions) for i, item in enumerate(items)]
    _refuse_duplicate_sids(statements, source)
    return Policy(tuple(statements), version)


def _parse_statement(item: Any, index: int, source: str, check_actions: bool) -> Statement:
    where = f"{source}, statement {index + 1}"
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{where} must be an object, got {type(item).__name__}.")
    sid = item.get("Sid")
    if sid is not None and not (isinstance(sid, str) and _SID.match(sid)):
        raise InvalidInput(
            f"{where}: Sid {sid!r} is not valid.",
            hint="Use 1 to 128 letters, digits, '_', '.' or '-'.",
        )
    if sid:
        where = f"{where} ({sid})"
    _refuse_unknown_keys(item, _STATEMENT_KEYS, where)
    effect = item.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise InvalidInput(
            f'{where}: \'Effect\' must be "Allow" or "Deny", got {effect!r}.',
            hint="Spell it exactly so, with a capital letter.",
        )
    actions = _patterns(item, "Action", where)
    resources = _patterns(item, "Resource", where)
    for pattern in actions:
        _check_action_pattern(pattern, where, check_actions)
    for pattern in resources:
        _check_resource_pattern(pattern, where)
    return Statement(effect, actions, resources, sid)


def _refuse_unknown_keys(mapping: Mapping[Any, Any], allowed: Sequence[str], where: str) -> None:
    for key in mapping:
        if key in allowed:
            continue
        same = [a for a in allowed if isinstance(key, str) and a.lower() == key.lower()]
        hint = f"Did you mean {same[0]!r}? Keys are case-sensitive." if same else None
        raise InvalidInput(
            f"{where}: unknown key {key!r}; allowed keys are {', '.join(allowed)}.",
            hint=hint
            or ("Shipyard policies do not support NotAction, NotResource, Principal or Condition."),
        )


def _patterns(item: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = item.get(key)
    values = [value] if isinstance(value, str) else value
    example = "features:Read*" if key == "Action" else "shipyard:feature:customers/*"
    if not isinstance(values, list) or not values:
        raise InvalidInput(
            f"{where}: '{key}' is required: a pattern or a non-empty list of patterns.",
            hint=f'For example "{key}": ["{example}"].',
        )
    for pattern in values:
        if not isinstance(pattern, str) or not pattern.strip():
            raise InvalidInput(
                f"{where}: every '{key}' entry must be a non-empty string, got {pattern!r}."
            )
    return tuple(values)


def _check_action_pattern(pattern: str, where: str, check_actions: bool) -> None:
    if not check_actions:
        return
    regex = _compile([pattern], lower=True)
    if not any(regex.match(name) for name in _ACTIONS):
        raise InvalidInput(
            f"{where}: Action {pattern!r} matches no known action.",
            hint=f"Known actions: {', '.join(known_actions())} (patterns may use * and ?).",
        )


def _check_resource_pattern(pattern: str, where: str) -> None:
    if not _resource_pattern_ok(pattern):
        raise InvalidInput(
            f"{where}: Resource {pattern!r} cannot match any Shipyard resource.",
            hint=f"Resources look like {_resource_forms()} (case-sensitive; * and ? allowed), "
            "for example 'shipyard:feature:customers/*'.",
        )


def _refuse_duplicate_sids(statements: Sequence[Statement], source: str) -> None:
    seen: set[str] = set()
    for statement in statements:
        if statement.sid is None:
            continue
        if statement.sid in seen:
            raise InvalidInput(
                f"{source}: Sid {statement.sid!r} is used by more than one statement.",
                hint="Give each statement its own Sid.",
            )
        seen.add(statement.sid)


# -- evaluation -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one (action, resource): allowed or not, why, and what decided it.

    ``reason`` is ``allowed``, ``explicit_deny``, ``implicit_deny``, or (from the
    security service only) ``unrestricted``: the principal has no policies, and
    ``builtin_allow`` / ``builtin_deny``: a built-in rule decided (only the pipeline
    moves a model's ``production`` alias, see :mod:`shipyard.security.builtin_rules`).
    ``statement`` is the deciding statement's 1-based position in ``policy``.
    """

    allowed: bool
    reason: Reason
    action: str
    resource: str
    policy: str | None = None
    sid: str | None = None
    statement: int | None = None

    @property
    def statement_label(self) -> str | None:
        """The deciding statement: its Sid, else ``#N``."""
        if self.statement is None:
            return None
        return self.sid or f"#{self.statement}"

    def explain(self) -> str:
        """One line: what was decided and by which statement."""
        if self.reason == "explicit_deny":
            return (
                f"denied by an explicit Deny: policy {self.policy!r}, "
                f"statement {self.statement_label}"
            )
        if self.reason == "allowed":
            return f"allowed by policy {self.policy!r}, statement {self.statement_label}"
        if self.reason == "unrestricted":
            return "allowed: the principal has no policies attached (default mode: unrestricted)"
        if self.reason == "builtin_allow":
            return "allowed by the built-in rule: the pipeline principal moves production"
        if self.reason == "builtin_deny":
            return (
                "denied by the built-in rule: only the pipeline principal moves a model's "
                "production alias (unless a policy explicitly allows it)"
            )
        return "denied: no statement allows it"


_Entry = tuple[str, int, Statement]  # policy name, 1-based position, statement


class PolicySet:
    """Policies compiled once for fast evaluation; decisions are remembered per
    (action, resource), so repeated checks cost a dictionary lookup.

    >>> readers = Policy.from_document({"Statement": {"Effect": "Allow",
    ...     "Action": "features:Read*", "Resource": "shipyard:feature:*"}})
    >>> PolicySet([("readers", readers)]).decide("features:ReadOnline",
    ...     "shipyard:feature:customers/age").reason
    'allowed'
    """

    def __init__(self, policies: Iterable[tuple[str, Policy]]) -> None:
        self.policies: tuple[tuple[str, Policy], ...] = tuple(policies)
        entries = [
            (name, position, statement)
            for name, policy in self.policies
            for position, statement in enumerate(policy.statements, start=1)
        ]
        self._denies = [e for e in entries if e[2].effect == "Deny"]
        self._allows = [e for e in entries if e[2].effect == "Allow"]
        self._by_action: dict[str, tuple[str, list[_Entry], list[_Entry]]] = {}
        self._memo: dict[str, dict[str, Decision]] = {}
        self._memo_size = 0

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.policies]

    def decide(self, action: str, resource: str) -> Decision:
        """The decision for one resource."""
        memo = self._memo.get(action)
        found = memo.get(resource) if memo is not None else None
        return found if found is not None else self._decide(action, resource)

    def evaluate(self, action: str, resources: Iterable[str]) -> list[Decision]:
        """One decision per resource, in order."""
        return [self.decide(action, resource) for resource in resources]

    def first_denied(self, action: str, resources: Iterable[str]) -> Decision | None:
        """The first denied resource's decision, or None when all are allowed (the hot path)."""
        memo = self._memo.get(action)
        for resource in resources:
            found = memo.get(resource) if memo is not None else None
            if found is None:
                found = self._decide(action, resource)
                memo = self._memo.get(action)
            if not found.allowed:
                return found
        return None

    def _decide(self, action: str, resource: str) -> Decision:
        canonical, denies, allows = self._statements_for(action)
        check_resource(resource)
        decision = _first_match(denies, canonical, resource, allowed=False)
        if decision is None:
            decision = _first_match(allows, canonical, resource, allowed=True)
        if decision is None:
            decision = Decision(False, "implicit_deny", canonical, resource)
        self._remember(action, resource, decision)
        return decision

    def _statements_for(self, action: str) -> tuple[str, list[_Entry], list[_Entry]]:
        """The action's registered spelling and the Deny and Allow statements that match
        it (filtered once per action)."""
        found = self._by_action.get(action)
        if found is None:
            canonical = canonical_action(action)
            found = (
                canonical,
                [e for e in self._denies if e[2].matches_action(canonical)],
                [e for e in self._allows if e[2].matches_action(canonical)],
            )
            self._by_action[action] = found
        return found

    def _remember(self, action: str, resource: str, decision: Decision) -> None:
        if self._memo_size >= _MEMO_LIMIT:  # bound memory under many distinct resources
            self._memo.clear()
            self._memo_size = 0
        self._memo.setdefault(action, {})[resource] = decision
        self._memo_size += 1


def _first_match(
    entries: Sequence[_Entry], action: str, resource: str, *, allowed: bool
) -> Decision | None:
    for name, position, statement in entries:
        if statement.matches_resource(resource):
            reason: Reason = "allowed" if allowed else "explicit_deny"
            return Decision(allowed, reason, action, resource, name, statement.sid, position)
    return None


def _as_set(policies: PolicySet | Iterable[tuple[str, Policy]]) -> PolicySet:
    return policies if isinstance(policies, PolicySet) else PolicySet(policies)


def evaluate(
    policies: PolicySet | Iterable[tuple[str, Policy]], action: str, resource: str
) -> Decision:
    """Decide one request against ``(name, policy)`` pairs: explicit Deny wins, else an
    Allow is needed, else implicit deny. Compile a :class:`PolicySet` to reuse."""
    return _as_set(policies).decide(action, resource)


def evaluate_many(
    policies: PolicySet | Iterable[tuple[str, Policy]], action: str, resources: Iterable[str]
) -> list[Decision]:
    """:func:`evaluate` for many resources at once (e.g. every feature a request reads)."""
    return _as_set(policies).evaluate(action, resources)
