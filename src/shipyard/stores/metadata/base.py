"""The metadata store's interface, written once: every backend passes one contract suite.

The store keeps small, transactional records: versioned things (datasets,
models, feature views... each a ``kind``), and lineage records. Bulk data lives
in the artifact store; the metadata store keeps only its address.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shipyard.lineage import Lineage
from shipyard.types import Ref


@dataclass(frozen=True)
class VersionRecord:
    """One version of a named thing. Versions start at 1 and only grow."""

    id: str
    kind: str
    name: str
    version: int
    content_hash: str | None
    attributes: Mapping[str, Any]
    description: str
    created_at: datetime
    created_by: str

    @property
    def ref(self) -> Ref:
        return Ref(self.kind, self.name, self.version)


@dataclass(frozen=True)
class SchemaStatus:
    """The database's schema revision against the one this Shipyard needs."""

    current: str | None
    head: str
    known: bool = True  # False when the database is newer than this Shipyard

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


@dataclass(frozen=True)
class StoreInfo:
    """What ``shipyard info`` shows about a store."""

    backend: str
    location: str
    schema: SchemaStatus | None = None
    counts: Mapping[str, int] = field(default_factory=dict)


class MetadataStore(abc.ABC):
    """Transactional storage of versioned records and lineage."""

    backend: str = "abstract"

    @abc.abstractmethod
    def schema_status(self) -> SchemaStatus:
        """The schema revision in the database and the one this code needs."""

    @abc.abstractmethod
    def upgrade(self) -> SchemaStatus:
        """Apply pending migrations (safe to run from several processes at once)."""

    @abc.abstractmethod
    def ensure_schema(self) -> None:
        """Make the schema usable: embedded stores migrate, shared ones refuse if out of date."""

    @abc.abstractmethod
    def transaction(self) -> AbstractContextManager[Any]:
        """One unit of work across records and the typed tables: every store call made
        inside the block (by this thread or task) joins it; committed when the block ends,
        rolled back if it raises."""

    @abc.abstractmethod
    def reading(self) -> AbstractContextManager[Any]:
        """A read-only transaction: a consistent view (inside a transaction, that one)."""

    @abc.abstractmethod
    def create_version(
        self,
        kind: str,
        name: str,
        *,
        created_by: str,
        content_hash: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        description: str = "",
        reuse_same_content: bool = False,
        expected_latest: int | None = None,
    ) -> tuple[VersionRecord, bool]:
        """Allocate the next version of ``kind:name`` atomically and record it.

        With ``reuse_same_content`` and a ``content_hash`` already recorded for
        this name, returns that version instead. With ``expected_latest`` (0: no
        version yet), only if the latest version is still that one: Conflict
        otherwise (a compare-and-set for writers that decided from what they read).
        Returns ``(record, created)``.
        """

    @abc.abstractmethod
    def get_version(self, kind: str, name: str, version: int | None = None) -> VersionRecord:
        """One version (the latest when ``version`` is None); NotFound if absent."""

    @abc.abstractmethod
    def list_versions(self, kind: str, name: str) -> list[VersionRecord]:
        """Every version of ``kind:name``, oldest first (empty if none)."""

    @abc.abstractmethod
    def list_names(self, kind: str) -> list[str]:
        """Names that have at least one version of ``kind``, sorted."""

    @abc.abstractmethod
    def latest_versions(self, kind: str, names: Sequence[str] | None = None) -> list[VersionRecord]:
        """The latest version of every name of ``kind`` (or of ``names``), by name: one
        statement, however many names."""

    @abc.abstractmethod
    def find_versions(
        self,
        kind: str,
        name: str | None = None,
        *,
        content_hash: str | None = None,
        attributes: Mapping[str, str | int | bool] | None = None,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> list[VersionRecord]:
        """Versions of ``kind`` (of one ``name``, or of every name) filtered in the database:
        by content hash and by equality of top-level attributes; by creation order (oldest
        first unless ``newest_first``), at most ``limit``. One statement.

        >>> store.find_versions("baseline", "flights", attributes={"dataset": "flights@2"},
        ...                     newest_first=True, limit=1)  # doctest: +SKIP
        """

    @abc.abstractmethod
    def versions_of(self, kind: str, names: Sequence[str]) -> list[VersionRecord]:
        """Every version of each of ``names``, by name then version: one statement."""

    @abc.abstractmethod
    def put_lineage(self, subject: Ref, lineage: Lineage) -> None:
        """Record (or replace) the lineage of ``subject``."""

    @abc.abstractmethod
    def get_lineage(self, subject: Ref) -> Lineage:
        """The lineage of ``subject``; NotFound if none was recorded."""

    @abc.abstractmethod
    def info(self) -> StoreInfo:
        """Backend, location (password hidden), schema status and row counts."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""
