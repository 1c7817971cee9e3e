"""Serving endpoints (``endpoints show|list --json``, ``GET /endpoints[/NAME]``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, JsonValue

from shipyard.api.schemas.base import Schema, Timestamp

if TYPE_CHECKING:
    from shipyard.stores.control import ControlEvent
    from shipyard.stores.control import Endpoint as StoredEndpoint


class EndpointVariant(Schema):
    """A model version behind an endpoint, its weight, role and share of requests."""

    name: str
    model: str = Field(description="The model version served, as model:NAME@VERSION.")
    weight: float = Field(description="A ratio: share = weight / sum of the primaries'.")
    role: Literal["primary", "shadow"]
    share: float | None = Field(
        description="The fraction of requests it answers; null for a shadow (it sees copies)."
    )
    created_from: str | None = Field(
        None, description="What it was created from (an alias is resolved when it is added)."
    )


class Endpoint(Schema):
    """An endpoint now: its revision (what a compare-and-set names), variants and spec."""

    name: str
    revision: int
    variants: list[EndpointVariant]
    capture_rate: float = Field(description="The fraction of requests captured (0 to 1).")
    capture_parsed: bool = Field(
        default=False, description="Whether the captured JSON is also kept parsed (typed)."
    )
    batching: bool = Field(description="Whether concurrent requests are micro-batched.")
    production: bool = Field(description="Production: only the pipeline may change it.")
    created_from: str | None = Field(description="The model text the endpoint was created from.")
    created_at: Timestamp
    created_by: str
    updated_at: Timestamp
    updated_by: str

    @classmethod
    def from_domain(cls, endpoint: StoredEndpoint) -> Endpoint:
        from shipyard.serving.endpoints import effective_split

        split = effective_split(endpoint)
        spec = endpoint.spec
        variants = [
            EndpointVariant(
                name=v.name, model=f"model:{v.model}@{v.version}", weight=v.weight,
                role="shadow" if v.role == "shadow" else "primary", share=split.get(v.name),
                created_from=_text(v.spec.get("from")),
            )
            for v in endpoint.variants
        ]  # fmt: skip
        return cls(
            name=endpoint.name, revision=endpoint.revision, variants=variants,
            capture_rate=float(spec.get("capture_rate", 1.0)),
            capture_parsed=bool(spec.get("capture_parsed", False)),
            batching=bool(spec.get("batching", True)),
            production=bool(spec.get("production", False)),
            created_from=_text(spec.get("created_from")),
            created_at=endpoint.created_at, created_by=endpoint.created_by,
            updated_at=endpoint.updated_at, updated_by=endpoint.updated_by,
        )  # fmt: skip


class EndpointEvent(Schema):
    """One change of an endpoint (``endpoints history --json``)."""

    revision: int
    event: str
    detail: dict[str, JsonValue]
    at: Timestamp
    by: str

    @classmethod
    def from_domain(cls, event: ControlEvent) -> EndpointEvent:
        from shipyard.jsonsafe import jsonable

        return cls(revision=event.revision, event=event.event,
                   detail=jsonable(dict(event.detail)), at=event.at, by=event.by)  # fmt: skip


def _text(value: object) -> str | None:
    return None if value is None else str(value)
