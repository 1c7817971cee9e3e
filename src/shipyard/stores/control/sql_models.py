"""Model aliases and approvals in their tables: the current pointer per alias, every move,
every review."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from shipyard.errors import Conflict, NotFound
from shipyard.stores.control.base import AliasMove, AliasPointer, Review, VersionState
from shipyard.stores.control.sql_common import SqlPart, now
from shipyard.stores.metadata.base import VersionRecord
from shipyard.stores.metadata.payloads import decode_payload
from shipyard.stores.metadata.schema import (
    UTCDateTime,
    model_alias_events,
    model_aliases,
    model_approvals,
)
from shipyard.stores.metadata.schema import (
    versions as records,
)
from shipyard.stores.metadata.sql import RECORD_COLUMNS, record_from_row

MODEL_KIND = "model"  # the registry's record kind (shipyard.registry.records)

_UNSET: Any = ...  # "the caller did not say what it expects"

# Alias lookups are on the request path: built once with bound parameters, so a call only
# binds values (building and keying the statement each call took half its CPU time).
_ALIAS = sa.select(model_aliases).where(
    model_aliases.c.model == sa.bindparam("model"), model_aliases.c.alias == sa.bindparam("alias")
)
_ALIASES = (
    sa.select(model_aliases.c.alias, model_aliases.c.version)
    .where(model_aliases.c.model == sa.bindparam("model"), model_aliases.c.version.is_not(None))
    .order_by(model_aliases.c.alias)
)


class ModelStateSql(SqlPart):
    """Aliases (``model_aliases`` + ``model_alias_events``) and ``model_approvals``."""

    def alias(self, model: str, alias: str) -> AliasPointer | None:
        with self._meta.reading() as conn:
            row = conn.execute(_ALIAS, {"model": model, "alias": alias}).first()
        return None if row is None else AliasPointer(**row._mapping)

    def aliases(self, model: str) -> dict[str, int]:
        with self._meta.reading() as conn:
            return {alias: version for alias, version in conn.execute(_ALIASES, {"model": model})}

    def all_aliases(self) -> dict[str, dict[str, int]]:
        query = (
            sa.select(model_aliases.c.model, model_aliases.c.alias, model_aliases.c.version)
            .where(model_aliases.c.version.is_not(None))
            .order_by(model_aliases.c.model, model_aliases.c.alias)
        )
        found: dict[str, dict[str, int]] = {}
        with self._meta.reading() as conn:
            for model, alias, version in conn.execute(query):
                found.setdefault(model, {})[alias] = version
        return found

    def move_alias(
        self,
        model: str,
        alias: str,
        version: int | None,
        *,
        by: str,
        expected_version: int | object | None = _UNSET,
        expected_revision: int | None = None,
    ) -> AliasPointer:
        key = (model_aliases.c.model == model, model_aliases.c.alias == alias)
        with self._meta.transaction() as conn:
            # Take the row for the rest of the transaction (PostgreSQL; SQLite already holds
            # the write lock), so the check and the move are one step.
            row = conn.execute(sa.select(model_aliases).where(*key).with_for_update()).first()
            current = None if row is None else AliasPointer(**row._mapping)
            _check_expected(model, alias, current, expected_version, expected_revision)
            if current is not None and current.version == version:
                return current  # already there: nothing to record
            if current is None and version is None:
                raise NotFound(f"Model {model!r} has never had alias {alias!r}.")
            revision = (current.revision if current else 0) + 1
            at = now()
            values = {"version": version, "revision": revision, "updated_at": at, "updated_by": by}
            if current is None:
                # PostgreSQL has no row to lock before the first move: of two first moves at
                # once, the second's insert waits for the first to commit, finds the row
                # taken, and the move is judged again against that row.
                taken = conn.execute(
                    self._meta.insert_ignoring_conflicts(model_aliases)
                    .values(model=model, alias=alias, **values)
                    .returning(model_aliases.c.revision)
                ).first()
                if taken is None:
                    return self.move_alias(
                        model,
                        alias,
                        version,
                        by=by,
                        expected_version=expected_version,
                        expected_revision=expected_revision,
                    )
            else:
                conn.execute(sa.update(model_aliases).where(*key).values(**values))
            conn.execute(
                sa.insert(model_alias_events).values(
                    model=model, alias=alias, version=version, revision=revision, at=at, by=by
                )
            )
        return AliasPointer(model, alias, version, revision, at, by)

    def alias_history(self, model: str, alias: str) -> list[AliasMove]:
        events = model_alias_events.c
        query = (
            sa.select(
                events.model, events.alias, events.version, events.revision, events.at, events.by
            )
            .where(events.model == model, events.alias == alias)
            .order_by(events.id)
        )
        with self._meta.reading() as conn:
            return [AliasMove(**row._mapping) for row in conn.execute(query)]

    # -- a model version with its state, in two statements ---------------------------

    def model_record(
        self, model: str, *, version: int | None = None, alias: str | None = None
    ) -> VersionRecord | None:
        """The ``model`` version record: the latest, ``version``, or where ``alias`` points
        (joined in the same statement); None when there is no such version."""
        query = sa.select(*RECORD_COLUMNS).where(
            records.c.kind == MODEL_KIND, records.c.name == model
        )
        if alias is not None:
            a = model_aliases.c
            query = query.join(
                model_aliases,
                (a.model == records.c.name) & (a.version == records.c.version) & (a.alias == alias),
            )
        elif version is not None:
            query = query.where(records.c.version == version)
        else:
            query = query.order_by(records.c.version.desc()).limit(1)
        with self._meta.reading() as conn:
            row = conn.execute(query).first()
        return None if row is None else record_from_row(row)

    def version_states(
        self, model: str, versions: Sequence[int], *, tags_kind: str, description_kind: str
    ) -> dict[int, VersionState]:
        """For each of ``versions``: the aliases pointing at it, its reviews, its tag
        changes and description changes (records named ``MODEL.V``), in one statement."""
        if not versions:
            return {}
        wanted = list(versions)
        a, r, v = model_aliases.c, model_approvals.c, records.c
        text, number = sa.String(), sa.BigInteger()
        null_at = sa.cast(sa.null(), UTCDateTime)
        aliases = sa.select(
            sa.literal("alias", text).label("part"),
            a.version.label("of"),
            sa.cast(0, number).label("seq"),
            a.alias.label("a"),
            sa.cast(sa.null(), sa.Text).label("b"),
            null_at.label("at"),
            sa.cast(sa.null(), text).label("by"),
        ).where(a.model == model, a.version.in_(wanted))
        reviews = sa.select(
            sa.literal("review", text),
            r.version,
            sa.cast(r.id, number),
            r.status,
            r.comment,
            r.at,
            r.by,
        ).where(r.model == model, r.version.in_(wanted))
        names = {f"{model}.{n}": n for n in wanted}
        changes = sa.select(
            v.kind,
            sa.cast(sa.null(), sa.Integer),
            sa.cast(v.version, number),
            v.name,
            sa.cast(v.attributes, sa.Text),
            v.created_at,
            v.created_by,
        ).where(v.kind.in_([tags_kind, description_kind]), v.name.in_(list(names)))
        query = sa.union_all(aliases, reviews, changes)
        found = {n: VersionState() for n in wanted}
        with self._meta.reading() as conn:
            rows = sorted(conn.execute(query), key=lambda row: (row[0], row[2]))
        for part, of, _seq, first, second, at, by in rows:
            if part == "alias":
                found[of].aliases.append(first)
            elif part == "review":
                found[of].reviews.append(Review(model, of, first, second or "", at, by))
            else:
                state = found[names[first]]
                change = decode_payload(second, f"{part} {first}")
                (state.tags if part == tags_kind else state.descriptions).append(change)
        return found

    def add_review(self, model: str, version: int, status: str, comment: str, *, by: str) -> Review:
        review = Review(model, version, status, comment, now(), by)
        with self._meta.transaction() as conn:
            conn.execute(
                sa.insert(model_approvals).values(
                    model=model,
                    version=version,
                    status=status,
                    comment=comment,
                    at=review.at,
                    by=by,
                )
            )
        return review

    def reviews(self, model: str, version: int) -> list[Review]:
        c = model_approvals.c
        query = (
            sa.select(c.model, c.version, c.status, c.comment, c.at, c.by)
            .where(c.model == model, c.version == version)
            .order_by(c.id)
        )
        with self._meta.reading() as conn:
            return [Review(**row._mapping) for row in conn.execute(query)]


def _check_expected(
    model: str,
    alias: str,
    current: AliasPointer | None,
    expected_version: int | object | None,
    expected_revision: int | None,
) -> None:
    """Conflict unless the alias is still where (or at the revision) the caller saw it."""
    where = "unset" if current is None or current.version is None else f"at {current.version}"
    if expected_version is not _UNSET:
        now_at = None if current is None else current.version
        if now_at != expected_version:
            saw = "unset" if expected_version is None else f"at {expected_version}"
            raise Conflict(
                f"Alias {alias!r} of model {model!r} moved: it is {where}, not {saw} as expected.",
                hint="Read where it points now and decide again.",
            )
    if expected_revision is not None:
        revision = 0 if current is None else current.revision
        if revision != expected_revision:
            raise Conflict(
                f"Alias {alias!r} of model {model!r} is at revision {revision}, not "
                f"{expected_revision} as expected (it is {where}).",
                hint="Read it again and decide again.",
            )
