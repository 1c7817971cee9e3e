"""What the model registry returns, the record kinds it stores, and its name rules.

Storage (the metadata store's generic ``versions`` table; no table of its own):

==================  ============  ================================================
kind                name          attributes (one record per change: history kept)
==================  ============  ================================================
model               MODEL         flavor, serialization, package digest, signature,
                                  description, datasets, feature_views,
                                  feature_service, split, run, code, build_id,
                                  pipeline_run
model_alias         MODEL.ALIAS   {"model", "alias", "version": N | null (removed)}
model_tags          MODEL.V       {"model", "version", "set": {...}, "remove": [...]}
model_approval      MODEL.V       {"model", "version", "status", "comment"}
model_description   MODEL.V       {"model", "version", "description"}
==================  ============  ================================================

``created_by`` and ``created_at`` of each record say who made the change and
when. An alias record holds the alias's whole state, so the latest record is
the alias; tag records hold changes and are replayed in order, so two people
tagging at once lose nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from shipyard.errors import InvalidInput
from shipyard.registry.signature import Signature
from shipyard.types import Ref

MODEL_KIND = "model"
ALIAS_KIND = "model_alias"
TAGS_KIND = "model_tags"
APPROVAL_KIND = "model_approval"
DESCRIPTION_KIND = "model_description"

# Who may move the aliases that serve traffic (the security issue generalises this).
PIPELINE_PRINCIPAL = "pipeline"
PROTECTED_ALIASES = frozenset({"production"})

APPROVAL_STATUSES = ("pending", "approved", "rejected")

# What `models show` says of a package whose model is a pickle.
RUNS_CODE_WARNING = "loading runs code: load only packages you trust (trust=True)"

_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
_MAX_RECORD_NAME = 128
_MAX_TAG_KEY = 250
_MAX_TAG_VALUE = 5000


@dataclass(frozen=True)
class Approval:
    """A version's review: pending until someone approves or rejects it."""

    status: str = "pending"
    by: str | None = None
    comment: str = ""
    at: datetime | None = None


class AliasChange(NamedTuple):
    """One move of an alias; ``version`` is None when the alias was removed."""

    version: int | None
    set_at: datetime
    set_by: str


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model, with its current aliases, tags and approval."""

    name: str
    version: int
    flavor: str
    package: str  # the package's artifact digest
    signature: Signature
    description: str
    created_at: datetime
    created_by: str
    lineage: Mapping[str, Any]
    aliases: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    approval: Approval = field(default_factory=Approval)
    serialization: str | None = None  # None for versions registered before it was recorded

    @property
    def ref(self) -> Ref:
        return Ref(MODEL_KIND, self.name, self.version)

    @property
    def warning(self) -> str | None:
        """Said of a pickled model: loading it runs code."""
        pickled = self.serialization == "pickle" or self.flavor == "python"
        return RUNS_CODE_WARNING if pickled else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": str(self.ref),
            "name": self.name,
            "version": self.version,
            "flavor": self.flavor,
            "serialization": self.serialization,
            "warning": self.warning,
            "package": f"sha256:{self.package}",
            "signature": self.signature.to_dict(),
            "description": self.description,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "aliases": list(self.aliases),
            "tags": dict(self.tags),
            "approval": {
                "status": self.approval.status,
                "by": self.approval.by,
                "comment": self.approval.comment,
                "at": self.approval.at.isoformat() if self.approval.at else None,
            },
            "lineage": dict(self.lineage),
        }


@dataclass(frozen=True)
class ModelSummary:
    """A registered model: its latest version and where its aliases point."""

    name: str
    latest: int
    flavor: str
    updated_at: datetime
    aliases: Mapping[str, int] = field(default_factory=dict)


def check_alias(alias: str) -> str:
    """Return ``alias`` if valid: a letter, then letters, digits, '_' or '-' (no '.')."""
    if not isinstance(alias, str) or not _ALIAS.match(alias):
        raise InvalidInput(
            f"Alias {alias!r} is not valid.",
            hint="Start with a letter, then use up to 63 letters, digits, '_' or '-' "
            "(for example 'production' or 'challenger').",
        )
    return alias


def check_version(version: Any) -> int:
    """Return ``version`` if it is a version number (an integer from 1)."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInput(
            f"Model version {version!r} is not valid.", hint="Versions are integers from 1."
        )
    return version


def check_tag(key: str, value: Any) -> tuple[str, str]:
    """A tag as (key, text): a key of 1-250 characters, a value of at most 5000."""
    if not isinstance(key, str) or not key.strip() or len(key) > _MAX_TAG_KEY:
        raise InvalidInput(
            f"Tag key {key!r} is not valid.", hint="Use 1 to 250 characters of text."
        )
    text = str(value)
    if len(text) > _MAX_TAG_VALUE:
        raise InvalidInput(
            f"The value of tag {key!r} has {len(text):,} characters; the limit is 5,000.",
            hint="Store long text as the description, or as an artifact.",
        )
    return key, text


def record_name(model: str, suffix: str | int) -> str:
    """``MODEL.SUFFIX``, the name of an alias, tag, approval or description record."""
    name = f"{model}.{suffix}"
    if len(name) > _MAX_RECORD_NAME:
        raise InvalidInput(
            f"Model name {model!r} with {suffix!r} is {len(name)} characters long; "
            f"records of a model are limited to {_MAX_RECORD_NAME}.",
            hint="Use a shorter model name or alias.",
        )
    return name
