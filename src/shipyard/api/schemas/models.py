"""The model registry: versions, models, and the history of an alias."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import Field, JsonValue

from shipyard.api.schemas.base import Schema, Timestamp

if TYPE_CHECKING:
    from shipyard.registry import records, signature


class ColumnSpec(Schema):
    """One column of a signature: its name, coarse type and exact dtype when recorded."""

    name: str
    type: str
    dtype: str


class Signature(Schema):
    """Input and output columns in order, and a classifier's classes."""

    inputs: list[ColumnSpec]
    outputs: list[ColumnSpec]
    classes: list[JsonValue] | None

    @classmethod
    def from_domain(cls, found: signature.Signature) -> Signature:
        from shipyard.jsonsafe import jsonable

        return cls(
            inputs=[ColumnSpec(name=c.name, type=c.type, dtype=c.dtype) for c in found.inputs],
            outputs=[ColumnSpec(name=c.name, type=c.type, dtype=c.dtype) for c in found.outputs],
            classes=None if found.classes is None else jsonable(list(found.classes)),
        )


class Approval(Schema):
    """A version's review: pending until someone approves or rejects it."""

    status: Literal["pending", "approved", "rejected"]
    by: str | None
    comment: str
    at: Timestamp | None


class ModelVersion(Schema):
    """One registered version with its aliases, tags, approval and lineage."""

    ref: str = Field(examples=["model:delay@7"])
    name: str
    version: int
    flavor: str
    serialization: str | None = Field(description="How the model is stored (null if older).")
    warning: str | None = Field(description="Said of a pickle: loading it runs code.")
    package: str = Field(description="The package's digest, sha256:...")
    signature: Signature
    description: str
    created_at: Timestamp
    created_by: str
    aliases: list[str]
    tags: dict[str, str]
    approval: Approval
    lineage: dict[str, JsonValue]

    @classmethod
    def from_domain(cls, found: records.ModelVersion) -> ModelVersion:
        from shipyard.jsonsafe import jsonable

        review = found.approval
        return cls(
            ref=str(found.ref),
            name=found.name,
            version=found.version,
            flavor=found.flavor,
            serialization=found.serialization,
            warning=found.warning,
            package=f"sha256:{found.package}",
            signature=Signature.from_domain(found.signature),
            description=found.description,
            created_at=found.created_at,
            created_by=found.created_by,
            aliases=list(found.aliases),
            tags=dict(found.tags),
            approval=Approval(
                status=review.status,  # type: ignore[arg-type]
                by=review.by,
                comment=review.comment,
                at=review.at,
            ),
            lineage=jsonable(dict(found.lineage)),
        )


class ModelSummary(Schema):
    """A registered model: its latest version and where its aliases point."""

    name: str
    latest: int
    flavor: str
    updated_at: Timestamp
    aliases: dict[str, int] = Field(description="Alias -> version.")

    @classmethod
    def from_domain(cls, found: records.ModelSummary) -> ModelSummary:
        return cls(
            name=found.name,
            latest=found.latest,
            flavor=found.flavor,
            updated_at=found.updated_at,
            aliases=dict(found.aliases),
        )


class AliasChange(Schema):
    """One move of an alias; ``version`` is null when the alias was removed."""

    version: int | None
    set_at: Timestamp
    set_by: str

    @classmethod
    def from_domain(cls, change: records.AliasChange) -> AliasChange:
        return cls(version=change.version, set_at=change.set_at, set_by=change.set_by)


class AliasAt(Schema):
    """Which version an alias pointed to at a moment (null: it was not set)."""

    model: str
    alias: str
    at: str = Field(description="The moment as asked (a date or an ISO time).")
    version: int | None

    @classmethod
    def from_domain(
        cls, model: str, alias: str, at: str | datetime, version: int | None
    ) -> AliasAt:
        shown = at.isoformat() if isinstance(at, datetime) else at
        return cls(model=model, alias=alias, at=shown, version=version)
