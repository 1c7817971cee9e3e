"""The SQL that every metadata backend shares; dialect files add only what differs."""

from __future__ import annotations

import abc
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.util.exc import CommandError
from sqlalchemy.exc import DBAPIError, OperationalError

from shipyard.errors import (
    BackendUnavailable,
    Conflict,
    InvalidInput,
    NotFound,
    SchemaOutOfDate,
)
from shipyard.lineage import Lineage
from shipyard.stores.metadata import migrate
from shipyard.stores.metadata.base import MetadataStore, SchemaStatus, StoreInfo, VersionRecord
from shipyard.stores.metadata.payloads import damaged_database, decode_payload
from shipyard.stores.metadata.schema import TABLES, lineage, version_counters, versions
from shipyard.types import Ref, check_name

# Set on a connection to make its next transaction a write transaction.
WRITE_OPTION = "shipyard_write"

# A version record's columns, its attributes as the stored text: _to_record decodes them,
# so a payload that does not parse is reported with the record it belongs to.
RECORD_COLUMNS = (
    *(column for column in versions.c if column.name != "attributes"),
    sa.cast(versions.c.attributes, sa.Text).label("attributes"),
)


class SqlMetadataStore(MetadataStore):
    """A metadata store on any SQLAlchemy database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = self._create_engine(url)
        # The connection of the write transaction this thread or task is inside, if any.
        self._active: ContextVar[sa.Connection | None] = ContextVar(
            f"shipyard_transaction_{id(self)}", default=None
        )

    # -- what a dialect provides ------------------------------------------------

    @abc.abstractmethod
    def _create_engine(self, url: str) -> sa.Engine:
        """An engine set up for this database (pragmas, pool, write transactions)."""

    @abc.abstractmethod
    def _insert_ignoring_conflicts(self, table: sa.Table) -> Any:
        """``INSERT ... ON CONFLICT DO NOTHING`` in this dialect."""

    def insert_ignoring_conflicts(self, table: sa.Table) -> Any:
        """``INSERT ... ON CONFLICT DO NOTHING`` on ``table``, for the stores sharing this
        database."""
        return self._insert_ignoring_conflicts(table)

    def _lock_for_migration(self, connection: sa.Connection) -> None:
        """Keep two processes from migrating at once (a write transaction may suffice)."""

    def _is_damage(self, exc: DBAPIError) -> bool:
        """Whether the database reports its own storage as corrupt (not merely unreachable)."""
        return False

    # -- integrity and backups (``shipyard db check`` / ``shipyard db backup``) ----------

    def integrity_check(self) -> list[str] | None:
        """The database engine's own consistency check: the problems it finds (empty when
        clean), or None when this backend has no such check Shipyard can run."""
        return None

    def backup(self, target: Path) -> Path:
        """Write a consistent copy of the database to ``target``; returns the file written."""
        raise InvalidInput(
            f"`shipyard db backup` cannot copy a {self.backend} database.",
            hint="Back it up with the database server's own tools.",
        )

    # -- transactions -------------------------------------------------------------

    def transaction(self) -> AbstractContextManager[sa.Connection]:
        """One unit of work that writes, across records and the typed tables: committed as
        a whole when the block ends, rolled back if it raises; on SQLite it holds the write
        lock from its first statement. Every store call made inside the block (by this
        thread or task) joins it, so several calls commit or fail together:

        >>> with ws.metadata.transaction():  # doctest: +SKIP
        ...     record, _ = ws.metadata.create_version("model", "delay", created_by="me")
        ...     ws.metadata.put_lineage(record.ref, lineage)  # both or neither
        """
        return self._write()

    def reading(self) -> AbstractContextManager[sa.Connection]:
        """A read-only transaction: a consistent view of the database (inside a
        :meth:`transaction`, that transaction)."""
        return self._read()

    @contextmanager
    def one_statement(self) -> Iterator[sa.Connection]:
        """A connection for one write statement that is atomic by itself (a job claim): on
        a server database it runs in autocommit, saving the BEGIN and COMMIT round trips;
        on SQLite, and inside a :meth:`transaction`, it is an ordinary write transaction."""
        if self._active.get() is not None or self.backend == "sqlite":
            with self._write() as conn:
                yield conn
            return
        with self._connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")

    @property
    def in_transaction(self) -> bool:
        """Whether this thread or task is inside a :meth:`transaction`."""
        return self._active.get() is not None

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        active = self._active.get()
        if active is not None:
            yield active  # join the enclosing unit of work
            return
        with self._connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                token = self._active.set(conn)
                try:
                    yield conn
                finally:
                    self._active.reset(token)

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        active = self._active.get()
        if active is not None:
            yield active  # see what the enclosing transaction wrote
            return
        with self._connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _connect(self) -> Iterator[sa.Connection]:
        try:
            conn = self.engine.connect()
        except (OperationalError, DBAPIError) as exc:
            if self._is_damage(exc):
                raise damaged_database(self.location, _first_line(exc)) from None
            raise BackendUnavailable(
                f"Cannot connect to the metadata database {self.location}: "
                f"{str(exc.orig).strip().splitlines()[0] if exc.orig else exc}",
                hint="Check SHIPYARD_METADATA_URL and that the database server is running.",
            ) from None
        try:
            yield conn
        except DBAPIError as exc:
            if self._is_damage(exc):
                raise damaged_database(self.location, _first_line(exc)) from None
            raise
        except UnicodeEncodeError as exc:  # the driver cannot send it: the caller's text
            raise InvalidInput(
                f"Text with a lone surrogate ({exc.object[exc.start : exc.end]!r}) cannot be "
                "stored: it is not valid Unicode.",
                hint="Pass text decoded from valid UTF-8 (a name, description, tag or value).",
            ) from None
        finally:
            conn.close()

    @property
    def location(self) -> str:
        return sa.make_url(self.url).render_as_string(hide_password=True)

    # -- schema ---------------------------------------------------------------------

    def schema_status(self) -> SchemaStatus:
        with self._read() as conn:
            return migrate.current_status(conn)

    def upgrade(self) -> SchemaStatus:
        with self._write() as conn:
            self._lock_for_migration(conn)
            status = migrate.current_status(conn)
            if not status.known:
                raise SchemaOutOfDate(
                    f"The metadata database {self.location} is at revision {status.current}, "
                    "which is newer than this Shipyard knows.",
                    hint="Upgrade Shipyard.",
                )
            if not status.up_to_date:
                try:
                    migrate.upgrade_to_head(conn)
                except CommandError as exc:
                    raise SchemaOutOfDate(f"Migration failed: {exc}") from None
        return self.schema_status()

    def _refuse_if_out_of_date(self) -> None:
        status = self.schema_status()
        if status.up_to_date:
            return
        if not status.known:
            raise SchemaOutOfDate(
                f"The metadata database {self.location} is at revision {status.current}, "
                f"newer than this Shipyard's {status.head}.",
                hint="Upgrade Shipyard to match the database.",
            )
        raise SchemaOutOfDate(
            f"The metadata database {self.location} is at schema revision "
            f"{status.current or 'none (empty)'}; this Shipyard needs {status.head}.",
            hint="Run `shipyard db upgrade`.",
        )

    # -- versions -------------------------------------------------------------------

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
        check_name(name)
        key = (version_counters.c.kind == kind) & (version_counters.c.name == name)
        with self._write() as conn:
            conn.execute(
                self._insert_ignoring_conflicts(version_counters).values(
                    kind=kind, name=name, latest=0
                )
            )
            # FOR UPDATE holds the counter row (PostgreSQL) while we look for equal content.
            latest = conn.execute(
                sa.select(version_counters.c.latest).where(key).with_for_update()
            ).scalar_one()
            if expected_latest is not None and latest != expected_latest:
                raise Conflict(
                    f"{Ref(kind, name)} is at version {latest}, not {expected_latest} as "
                    "expected: someone else wrote a version meanwhile.",
                    hint="Read the latest version and decide again.",
                )
            if reuse_same_content and content_hash:
                row = conn.execute(
                    sa.select(*RECORD_COLUMNS)
                    .where(versions.c.kind == kind, versions.c.name == name)
                    .where(versions.c.content_hash == content_hash)
                    .order_by(versions.c.version)
                    .limit(1)
                ).first()
                if row is not None:
                    return _to_record(row), False
            version = latest + 1
            conn.execute(sa.update(version_counters).where(key).values(latest=version))
            values = {
                "id": uuid.uuid4().hex,
                "kind": kind,
                "name": name,
                "version": version,
                "content_hash": content_hash,
                "attributes": dict(attributes or {}),
                "description": description,
                "created_at": datetime.now(UTC),
                "created_by": created_by,
            }
            conn.execute(sa.insert(versions).values(**values))
        return VersionRecord(**values), True

    def get_version(self, kind: str, name: str, version: int | None = None) -> VersionRecord:
        query = sa.select(*RECORD_COLUMNS).where(versions.c.kind == kind, versions.c.name == name)
        if version is None:
            query = query.order_by(versions.c.version.desc()).limit(1)
        else:
            query = query.where(versions.c.version == version)
        with self._read() as conn:
            row = conn.execute(query).first()
        if row is None:
            ref = Ref(kind, name, version)
            known = self.list_versions(kind, name)
            hint = (
                f"Known versions: {', '.join(str(r.version) for r in known)}."
                if known
                else f"Nothing named {name!r} has been registered as a {kind}; check the name."
            )
            raise NotFound(f"No {ref} in the metadata store.", hint=hint)
        return _to_record(row)

    def list_versions(self, kind: str, name: str) -> list[VersionRecord]:
        query = (
            sa.select(*RECORD_COLUMNS)
            .where(versions.c.kind == kind, versions.c.name == name)
            .order_by(versions.c.version)
        )
        with self._read() as conn:
            return [_to_record(row) for row in conn.execute(query)]

    def list_names(self, kind: str) -> list[str]:
        query = (
            sa.select(version_counters.c.name)
            .where(version_counters.c.kind == kind, version_counters.c.latest > 0)
            .order_by(version_counters.c.name)
        )
        with self._read() as conn:
            return list(conn.execute(query).scalars())

    def latest_versions(self, kind: str, names: Sequence[str] | None = None) -> list[VersionRecord]:
        counters = version_counters.c
        query = (
            sa.select(*RECORD_COLUMNS)
            .join(
                version_counters,
                (counters.kind == versions.c.kind)
                & (counters.name == versions.c.name)
                & (counters.latest == versions.c.version),
            )
            .where(versions.c.kind == kind)
            .order_by(versions.c.name)
        )
        if names is not None:
            query = query.where(versions.c.name.in_(list(names)))
        with self._read() as conn:
            return [_to_record(row) for row in conn.execute(query)]

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
        query = sa.select(*RECORD_COLUMNS).where(versions.c.kind == kind)
        if name is not None:
            query = query.where(versions.c.name == name)
        if content_hash is not None:
            query = query.where(versions.c.content_hash == content_hash)
        for key, value in (attributes or {}).items():
            field = versions.c.attributes[key]
            if isinstance(value, bool):
                query = query.where(field.as_boolean() == value)
            elif isinstance(value, int):
                query = query.where(field.as_integer() == value)
            else:
                query = query.where(field.as_string() == str(value))
        order = (versions.c.created_at, versions.c.name, versions.c.version)
        query = query.order_by(*(c.desc() for c in order) if newest_first else order)
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise InvalidInput(f"limit must be a whole number from 0, got {limit!r}.")
            query = query.limit(limit)
        with self._read() as conn:
            return [_to_record(row) for row in conn.execute(query)]

    def versions_of(self, kind: str, names: Sequence[str]) -> list[VersionRecord]:
        if not names:
            return []
        query = (
            sa.select(*RECORD_COLUMNS)
            .where(versions.c.kind == kind, versions.c.name.in_(list(names)))
            .order_by(versions.c.name, versions.c.version)
        )
        with self._read() as conn:
            return [_to_record(row) for row in conn.execute(query)]

    # -- lineage --------------------------------------------------------------------

    def put_lineage(self, subject: Ref, record: Lineage) -> None:
        with self._write() as conn:
            conn.execute(sa.delete(lineage).where(lineage.c.subject == str(subject)))
            conn.execute(
                sa.insert(lineage).values(
                    subject=str(subject), record=record.to_dict(), created_at=datetime.now(UTC)
                )
            )

    def get_lineage(self, subject: Ref) -> Lineage:
        with self._read() as conn:
            record = conn.execute(
                sa.select(sa.cast(lineage.c.record, sa.Text)).where(
                    lineage.c.subject == str(subject)
                )
            ).scalar_one_or_none()
        if record is None:
            raise NotFound(f"No lineage recorded for {subject}.")
        return Lineage.from_dict(decode_payload(record, f"lineage of {subject}"))

    # -- housekeeping -----------------------------------------------------------------

    def info(self) -> StoreInfo:
        status = self.schema_status()
        counts: dict[str, int] = {}
        if status.up_to_date:
            with self._read() as conn:
                for table in TABLES:
                    counts[table.name] = conn.execute(
                        sa.select(sa.func.count()).select_from(table)
                    ).scalar_one()
        return StoreInfo(self.backend, self.location, status, counts)

    def close(self) -> None:
        self.engine.dispose()


def _first_line(exc: DBAPIError) -> str:
    return str(exc.orig or exc).strip().splitlines()[0]


def record_from_row(row: sa.Row[Any]) -> VersionRecord:
    """A version record from a row of RECORD_COLUMNS (for stores that join ``versions``)."""
    return _to_record(row)


def _to_record(row: sa.Row[Any]) -> VersionRecord:
    """A version record from a row of RECORD_COLUMNS."""
    data = row._mapping
    ref = Ref(data["kind"], data["name"], data["version"])
    return VersionRecord(
        id=data["id"],
        kind=data["kind"],
        name=data["name"],
        version=data["version"],
        content_hash=data["content_hash"],
        attributes=decode_payload(data["attributes"], str(ref)),
        description=data["description"],
        created_at=data["created_at"],
        created_by=data["created_by"],
    )
