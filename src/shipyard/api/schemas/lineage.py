"""Lineage: where a stored thing came from, and the chain back to the raw data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field, JsonValue

from shipyard.api.schemas.base import Schema

if TYPE_CHECKING:
    from shipyard import lineage


class CodeVersion(Schema):
    """The git state of the code that made it (commit null: not in git)."""

    commit: str | None
    dirty: bool
    diff_hash: str | None = Field(description="sha256 of the uncommitted diff.")
    repo: str | None


class Lineage(Schema):
    """What one stored thing was made from; references read ``kind:name@version``."""

    datasets: list[str]
    features: list[str]
    split_plan: str | None
    run: str | None
    code: CodeVersion
    build_id: str | None
    pipeline_run: str | None
    approvals: list[str]
    parents: list[str]
    extra: dict[str, JsonValue]

    @classmethod
    def fields_of(cls, found: lineage.Lineage) -> dict[str, Any]:
        from shipyard.jsonsafe import jsonable

        code = found.code
        return {
            "datasets": list(found.datasets),
            "features": list(found.features),
            "split_plan": found.split_plan,
            "run": found.run,
            "code": CodeVersion(
                commit=code.commit, dirty=code.dirty, diff_hash=code.diff_hash, repo=code.repo
            ),
            "build_id": found.build_id,
            "pipeline_run": found.pipeline_run,
            "approvals": list(found.approvals),
            "parents": list(found.parents),
            "extra": jsonable(dict(found.extra)),
        }

    @classmethod
    def from_domain(cls, found: lineage.Lineage) -> Lineage:
        return cls(**cls.fields_of(found))


class Upstream(Schema):
    """A dataset, feature view or split named upstream, and what it was made from."""

    datasets: list[str]
    features: list[str]
    upstream: dict[str, Upstream | None] = Field(
        description="Each parent's own upstream; null for a source recorded without lineage "
        "(raw data)."
    )


class LineageTrace(Lineage):
    """``shipyard lineage REF --json``: REF's lineage and its upstream, back to the raw data."""

    subject: str = Field(examples=["model:delay@7"])
    upstream: dict[str, Upstream | None]

    @classmethod
    def trace(
        cls, subject: str, found: lineage.Lineage, upstream: Mapping[str, Any]
    ) -> LineageTrace:
        """``upstream`` maps each name to ``{"datasets", "features", "upstream"}`` or None."""
        return cls.model_validate(
            {"subject": subject, **cls.fields_of(found), "upstream": dict(upstream)}
        )
