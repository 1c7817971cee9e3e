"""Who belongs to which group and which policies are attached where, one row per fact.

Tables (revision 0006): ``group_members`` (group, principal), ``policy_attachments``
(principal or group, policy), and the append-only ``access_events`` (join, leave,
attach, detach: what changed, for whom, when, by whom). A change is one insert (that
ignores a conflict, so adding what is already there changes nothing) or one delete,
with its event in the same transaction: concurrent writers never lose each other's
changes, and nothing is replayed to find the current state.

The store keeps no rules: names arrive folded and checked by
:class:`~shipyard.security.service.SecurityService`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa

from shipyard.stores.control.sql_common import SqlPart, now
from shipyard.stores.metadata.schema import access_events, group_members, policy_attachments

TargetKind = Literal["principal", "group"]
Change = Literal["join", "leave", "attach", "detach"]


@dataclass(frozen=True)
class AccessEvent:
    """One change of access: ``target`` (a principal or group) joined or left group
    ``subject``, or had policy ``subject`` attached or detached."""

    change: Change
    target_kind: TargetKind
    target: str
    subject: str
    at: datetime
    by: str


@dataclass(frozen=True)
class AccessState:
    """What applies to one principal: its groups, its own policies, its groups' policies."""

    groups: tuple[str, ...]
    policies: tuple[str, ...]
    group_policies: dict[str, tuple[str, ...]]


class SqlAccessStore(SqlPart):
    """Memberships, attachments and their history on the metadata database."""

    # -- reading ------------------------------------------------------------------------

    def groups_of(self, principal: str) -> list[str]:
        """The groups ``principal`` is a member of, by name."""
        c = group_members.c
        query = sa.select(c.group_name).where(c.principal == principal).order_by(c.group_name)
        with self._meta.reading() as conn:
            return list(conn.execute(query).scalars())

    def members_of(self, group: str) -> list[str]:
        """The principals in ``group``, by name."""
        c = group_members.c
        query = sa.select(c.principal).where(c.group_name == group).order_by(c.principal)
        with self._meta.reading() as conn:
            return list(conn.execute(query).scalars())

    def attachments_of(self, target_kind: TargetKind, target: str) -> list[str]:
        """The policies attached to one principal or group, by name."""
        c = policy_attachments.c
        query = (
            sa.select(c.policy)
            .where(c.target_kind == target_kind, c.target == target)
            .order_by(c.policy)
        )
        with self._meta.reading() as conn:
            return list(conn.execute(query).scalars())

    def state_of(self, principal: str) -> AccessState:
        """A principal's groups and every policy that reaches it: one statement (its
        memberships, its own attachments and its groups' attachments, together)."""
        members, attached = group_members.c, policy_attachments.c
        its_groups = sa.select(members.group_name).where(members.principal == principal)
        query = sa.union_all(
            sa.select(sa.literal("member"), members.group_name, sa.literal("")).where(
                members.principal == principal
            ),
            sa.select(attached.target_kind, attached.target, attached.policy).where(
                sa.or_(
                    sa.and_(attached.target_kind == "principal", attached.target == principal),
                    sa.and_(attached.target_kind == "group", attached.target.in_(its_groups)),
                )
            ),
        )
        with self._meta.reading() as conn:
            rows = conn.execute(query).all()
        groups = sorted(target for kind, target, _ in rows if kind == "member")
        policies = tuple(sorted(policy for kind, _, policy in rows if kind == "principal"))
        by_group: dict[str, list[str]] = {group: [] for group in groups}
        for kind, target, policy in rows:
            if kind == "group" and target in by_group:
                by_group[target].append(policy)
        return AccessState(
            tuple(groups),
            policies,
            {group: tuple(sorted(names)) for group, names in by_group.items()},
        )

    def history(
        self,
        *,
        principal: str | None = None,
        group: str | None = None,
        limit: int | None = None,
    ) -> list[AccessEvent]:
        """Access events, oldest first: a principal's own (joins, leaves, its policies), a
        group's (its policies, and principals joining or leaving it), or all; with
        ``limit``, the latest that many."""
        c = access_events.c
        query = sa.select(c.change, c.target_kind, c.target, c.subject, c.at, c.by)
        if principal is not None:
            query = query.where(c.target_kind == "principal", c.target == principal)
        if group is not None:
            own = sa.and_(c.target_kind == "group", c.target == group)
            joined = sa.and_(c.change.in_(("join", "leave")), c.subject == group)
            query = query.where(sa.or_(own, joined))
        if limit is not None:
            query = query.order_by(c.id.desc()).limit(limit)
        else:
            query = query.order_by(c.id)
        with self._meta.reading() as conn:
            events = [AccessEvent(**row._mapping) for row in conn.execute(query)]
        return events[::-1] if limit is not None else events

    # -- changing (each one statement and its event, in one transaction) -----------------

    def add_member(self, group: str, principal: str, *, by: str) -> bool:
        """Put ``principal`` in ``group``; False if it already was (nothing recorded)."""
        row = {"group_name": group, "principal": principal, "added_at": now(), "added_by": by}
        return self._insert(group_members, row, ("join", "principal", principal, group, by))

    def remove_member(self, group: str, principal: str, *, by: str) -> bool:
        """Take ``principal`` out of ``group``; False if it was not a member."""
        c = group_members.c
        where = sa.and_(c.group_name == group, c.principal == principal)
        return self._delete(group_members, where, ("leave", "principal", principal, group, by))

    def attach(self, target_kind: TargetKind, target: str, policy: str, *, by: str) -> bool:
        """Attach ``policy`` to a principal or group; False if it already was."""
        row = {
            "target_kind": target_kind,
            "target": target,
            "policy": policy,
            "attached_at": now(),
            "attached_by": by,
        }
        return self._insert(policy_attachments, row, ("attach", target_kind, target, policy, by))

    def detach(self, target_kind: TargetKind, target: str, policy: str, *, by: str) -> bool:
        """Detach ``policy`` from a principal or group; False if it was not attached."""
        c = policy_attachments.c
        where = sa.and_(c.target_kind == target_kind, c.target == target, c.policy == policy)
        event = ("detach", target_kind, target, policy, by)
        return self._delete(policy_attachments, where, event)

    def _insert(self, table: sa.Table, row: dict[str, object], event: tuple[str, ...]) -> bool:
        with self._meta.transaction() as conn:
            # RETURNING, not rowcount: the rowcount of ON CONFLICT DO NOTHING is not
            # reported by every driver (psycopg gives -1).
            statement = self._meta.insert_ignoring_conflicts(table).values(**row)
            if conn.execute(statement.returning(*table.primary_key)).first() is None:
                return False  # it was there already
            conn.execute(sa.insert(access_events).values(**_event(*event)))
        return True

    def _delete(
        self, table: sa.Table, where: sa.ColumnElement[bool], event: tuple[str, ...]
    ) -> bool:
        with self._meta.transaction() as conn:
            gone = conn.execute(sa.delete(table).where(where).returning(*table.primary_key))
            if gone.first() is None:
                return False  # it was not there
            conn.execute(sa.insert(access_events).values(**_event(*event)))
        return True


def _event(change: str, target_kind: str, target: str, subject: str, by: str) -> dict[str, object]:
    return {
        "change": change,
        "target_kind": target_kind,
        "target": target,
        "subject": subject,
        "at": now(),
        "by": by,
    }
