"""Control-plane state: what it is, and the store's interface (one contract suite, every
database).

Mutable pointers and state machines live in typed tables (revision 0006), each as a
current-state row beside an append-only history:

- **model aliases**: where ``MODEL.ALIAS`` points now, and every move;
- **approvals**: every review of a model version (the latest is its approval);
- **endpoints** with their **variants**, and **deployments**: a ``revision`` each, which
  a write names (``expected_revision``) and which fails with :class:`Conflict` when
  someone else moved first; every write appends an event;
- **schedules**: interval schedules fired as jobs, each interval once across processes;
- the **audit log**: who did what to which resource, when, from where, with what outcome.

Every method joins the caller's :meth:`MetadataStore.transaction` when there is one,
so a registration (version record, lineage, alias) commits or fails as a whole.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shipyard.errors import Conflict
from shipyard.stores.metadata.base import VersionRecord

__all__ = [
    "AliasMove",
    "AliasPointer",
    "AuditEntry",
    "Conflict",
    "ControlEvent",
    "ControlStore",
    "Deployment",
    "Endpoint",
    "Review",
    "Schedule",
    "Variant",
    "VersionState",
]


@dataclass(frozen=True)
class AliasPointer:
    """Where an alias points now (``version`` None once removed) and its revision."""

    model: str
    alias: str
    version: int | None
    revision: int
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class AliasMove:
    """One move of an alias."""

    model: str
    alias: str
    version: int | None
    revision: int
    at: datetime
    by: str


@dataclass(frozen=True)
class Review:
    """One review of a model version."""

    model: str
    version: int
    status: str
    comment: str
    at: datetime
    by: str


@dataclass
class VersionState:
    """What changes about a model version after it is registered, as stored."""

    aliases: list[str] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    tags: list[Any] = field(default_factory=list)  # tag change records, oldest first
    descriptions: list[Any] = field(default_factory=list)  # description records, oldest first


@dataclass(frozen=True)
class Variant:
    """A model version behind an endpoint, with its traffic weight and role."""

    name: str
    model: str
    version: int
    weight: float = 1.0
    role: str = "primary"  # primary | shadow
    spec: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Endpoint:
    """An endpoint's current state: its spec and variants, at ``revision``."""

    name: str
    revision: int
    spec: Mapping[str, Any]
    variants: tuple[Variant, ...]
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class Deployment:
    """A rollout as a persisted state machine, at ``revision``."""

    id: str
    endpoint: str
    strategy: str
    state: str
    revision: int
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class ControlEvent:
    """One change of an endpoint or a deployment."""

    resource_kind: str
    resource: str
    revision: int
    event: str
    detail: Mapping[str, Any]
    at: datetime
    by: str


@dataclass(frozen=True)
class AuditEntry:
    """Who did what to which resource, when, from where, and the outcome."""

    id: int
    at: datetime
    principal: str
    action: str
    resource: str
    outcome: str  # allowed | denied | failed
    source: str
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class Schedule:
    """Enqueue a ``job_kind`` job with ``payload`` every ``interval_seconds``."""

    name: str
    job_kind: str
    payload: Mapping[str, Any]
    interval_seconds: int
    next_fire_at: datetime
    last_fired_at: datetime | None
    last_job_id: int | None
    enabled: bool
    revision: int
    created_at: datetime
    created_by: str


class ControlStore(abc.ABC):
    """Typed control-plane state with compare-and-set writes and histories."""

    # -- model aliases ----------------------------------------------------------------

    @abc.abstractmethod
    def alias(self, model: str, alias: str) -> AliasPointer | None:
        """The alias's current row (None if it was never set): one indexed statement."""

    @abc.abstractmethod
    def aliases(self, model: str) -> dict[str, int]:
        """Alias -> version for every alias of ``model`` that points somewhere."""

    @abc.abstractmethod
    def all_aliases(self) -> dict[str, dict[str, int]]:
        """Model -> its aliases, for every model that has one (one statement)."""

    @abc.abstractmethod
    def move_alias(
        self,
        model: str,
        alias: str,
        version: int | None,
        *,
        by: str,
        expected_version: int | object | None = ...,
        expected_revision: int | None = None,
    ) -> AliasPointer:
        """Point ``alias`` at ``version`` (None removes it) and record the move.

        Compare-and-set: with ``expected_version`` (None meaning "unset"), or with
        ``expected_revision`` (0 meaning "never set"), the move happens only if the
        alias is still as the caller last saw it; otherwise :class:`Conflict`. Moving
        an alias to where it already points records nothing and returns the row.
        """

    @abc.abstractmethod
    def alias_history(self, model: str, alias: str) -> list[AliasMove]:
        """Every move of the alias, oldest first."""

    @abc.abstractmethod
    def model_record(
        self, model: str, *, version: int | None = None, alias: str | None = None
    ) -> VersionRecord | None:
        """The ``model`` version record: the latest, ``version``, or where ``alias`` points,
        in one statement; None when there is none."""

    @abc.abstractmethod
    def version_states(
        self, model: str, versions: Sequence[int], *, tags_kind: str, description_kind: str
    ) -> dict[int, VersionState]:
        """Aliases, reviews, tag and description changes of each version, in one statement."""

    # -- approvals ----------------------------------------------------------------------

    @abc.abstractmethod
    def add_review(self, model: str, version: int, status: str, comment: str, *, by: str) -> Review:
        """Record a review (approved, rejected or pending)."""

    @abc.abstractmethod
    def reviews(self, model: str, version: int) -> list[Review]:
        """Every review of the version, oldest first."""

    # -- endpoints ------------------------------------------------------------------------

    @abc.abstractmethod
    def create_endpoint(
        self, name: str, spec: Mapping[str, Any], variants: Sequence[Variant], *, by: str
    ) -> Endpoint:
        """A new endpoint at revision 1; :class:`AlreadyExists` if the name is taken."""

    @abc.abstractmethod
    def endpoint(self, name: str) -> Endpoint:
        """The endpoint; NotFound if there is none."""

    @abc.abstractmethod
    def endpoints(self) -> list[Endpoint]:
        """Every endpoint, by name."""

    @abc.abstractmethod
    def update_endpoint(
        self,
        name: str,
        *,
        expected_revision: int,
        by: str,
        event: str,
        spec: Mapping[str, Any] | None = None,
        variants: Sequence[Variant] | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> Endpoint:
        """Replace the spec and/or the variants as one change, if the endpoint is still at
        ``expected_revision`` (:class:`Conflict` otherwise); the revision goes up by one."""

    @abc.abstractmethod
    def delete_endpoint(self, name: str, *, expected_revision: int, by: str) -> None:
        """Delete the endpoint and its variants (its events stay)."""

    # -- deployments --------------------------------------------------------------------

    @abc.abstractmethod
    def create_deployment(
        self,
        endpoint: str,
        strategy: str,
        spec: Mapping[str, Any],
        *,
        by: str,
        state: str = "pending",
        status: Mapping[str, Any] | None = None,
    ) -> Deployment:
        """A new deployment at revision 1."""

    @abc.abstractmethod
    def deployment(self, deployment_id: str) -> Deployment:
        """The deployment; NotFound if there is none."""

    @abc.abstractmethod
    def deployments(self, endpoint: str | None = None, *, limit: int = 100) -> list[Deployment]:
        """Deployments, newest first (of one endpoint, or of all)."""

    @abc.abstractmethod
    def update_deployment(
        self,
        deployment_id: str,
        *,
        expected_revision: int,
        by: str,
        event: str,
        state: str | None = None,
        status: Mapping[str, Any] | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> Deployment:
        """Move the deployment's state and/or status, compare-and-set on the revision."""

    @abc.abstractmethod
    def events(self, resource_kind: str, resource: str) -> list[ControlEvent]:
        """Every change of an endpoint or deployment, oldest first."""

    # -- audit log --------------------------------------------------------------------------

    @abc.abstractmethod
    def audit(
        self,
        principal: str,
        action: str,
        resource: str,
        outcome: str,
        *,
        source: str = "python",
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Append one entry to the audit log."""

    @abc.abstractmethod
    def audit_log(
        self,
        *,
        principal: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Entries, newest first, filtered by principal, action and time."""

    # -- schedules --------------------------------------------------------------------------

    @abc.abstractmethod
    def put_schedule(
        self,
        name: str,
        job_kind: str,
        payload: Mapping[str, Any],
        interval_seconds: int,
        *,
        by: str,
        first_fire_at: datetime | None = None,
        enabled: bool = True,
    ) -> Schedule:
        """Create or replace a schedule (its next firing is ``first_fire_at`` or now)."""

    @abc.abstractmethod
    def schedules(self) -> list[Schedule]:
        """Every schedule, by name."""

    @abc.abstractmethod
    def delete_schedule(self, name: str) -> None:
        """Remove a schedule; NotFound if there is none."""

    @abc.abstractmethod
    def fire_due(self, now: datetime, *, by: str) -> list[tuple[Schedule, int]]:
        """Enqueue one job for each enabled schedule due at ``now`` and move it to its next
        interval, each as one compare-and-set: of several processes calling this at
        once, exactly one fires each due interval. Returns (schedule, job id) pairs."""
