"""The tracking store on the metadata database (SQLite or PostgreSQL), in SQLAlchemy Core.

It borrows the metadata store's engine and transactions, so a SQLite write
takes the write lock up front (``BEGIN IMMEDIATE``) like every other writer.
The two dialects spell the upsert the same way (only the ``insert`` construct
comes from each dialect's module); PostgreSQL appends metric rows with COPY
(``postgres.py``).

The hot paths, writing a batch (``log_batch``, ``create_runs``, ``reserve_run_ids``)
and loading the runs a search or ``get_run`` found, run statements compiled once
(``bulk.py``) on the driver's own connection and cursor: SQLAlchemy's per-statement
execution costs more than SQLite takes to run them.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError as SqlIntegrityError
from sqlalchemy.pool import StaticPool

from shipyard.errors import AlreadyExists, BackendUnavailable, Conflict, NotFound, SchemaOutOfDate
from shipyard.stores.metadata.schema import (
    JSONType,
    UTCDateTime,
    experiments,
    latest_metrics,
    metrics,
    params,
    run_artifacts,
    runs,
    tags,
    tracking_counters,
)
from shipyard.stores.tracking.base import (
    Experiment,
    MetricPoint,
    MetricRow,
    NewRun,
    OrderTerm,
    ParamRow,
    RunEnd,
    RunInfo,
    RunKey,
    RunStatus,
    TagRow,
    TrackingStore,
)
from shipyard.stores.tracking.bulk import (
    KEY_VALUE,
    METRIC_COLUMNS,
    RUN_COLUMNS,
    DriverStatement,
    RunLoader,
    latest_of,
    sqlite_time_in,
)
from shipyard.stores.tracking.postgres import CopyRows
from shipyard.stores.tracking.query import order_column

if TYPE_CHECKING:
    from shipyard.stores.metadata.sql import SqlMetadataStore


# Search statements kept per store, oldest dropped first.
SEARCHES_KEPT = 128


class SqlTrackingStore(TrackingStore):
    """Tracking tables in the metadata database.

    >>> from shipyard.stores.metadata import open_metadata_store
    >>> meta = open_metadata_store("sqlite://"); _ = meta.upgrade()
    >>> store = SqlTrackingStore(meta)
    >>> store.get_or_create_experiment("demo", created_by="ana").name
    'demo'
    """

    def __init__(self, metadata: SqlMetadataStore) -> None:
        self._meta = metadata
        self.supports_threads = not isinstance(metadata.engine.pool, StaticPool)
        dialect = metadata.engine.dialect
        self._sqlite = dialect.name == "sqlite"
        insert = sqlite_insert if self._sqlite else pg_insert
        tag = insert(tags)
        latest = insert(latest_metrics)
        artifact = insert(run_artifacts)
        self._insert_metrics: Callable[[Any, Sequence[MetricRow]], None]
        if dialect.name == "postgresql" and dialect.driver == "psycopg":
            self._insert_metrics = CopyRows(metrics, METRIC_COLUMNS, dialect)
        else:
            # On SQLite, metrics is keyed by the whole point (revision 0003): a point
            # repeated exactly is kept once rather than failing the batch.
            append = sqlite_insert(metrics).on_conflict_do_nothing() if self._sqlite else None
            self._insert_metrics = DriverStatement(
                append if append is not None else sa.insert(metrics), dialect, METRIC_COLUMNS
            )
        self._upsert_latest = DriverStatement(
            latest.on_conflict_do_update(
                index_elements=[latest_metrics.c.run_id, latest_metrics.c.key],
                set_={
                    "value": latest.excluded.value,
                    "step": latest.excluded.step,
                    "timestamp": latest.excluded.timestamp,
                },
                where=latest.excluded.step >= latest_metrics.c.step,
            ),
            dialect,
            METRIC_COLUMNS,
        )
        self._insert_params = DriverStatement(
            insert(params).on_conflict_do_nothing(), dialect, KEY_VALUE
        )
        self._upsert_tags = DriverStatement(
            tag.on_conflict_do_update(
                index_elements=[tags.c.run_id, tags.c.key], set_={"value": tag.excluded.value}
            ),
            dialect,
            KEY_VALUE,
        )
        self._upsert_artifact = artifact.on_conflict_do_update(
            index_elements=[run_artifacts.c.run_id, run_artifacts.c.path],
            set_={"digest": artifact.excluded.digest, "size": artifact.excluded.size},
        )
        self._insert_experiment = insert(experiments).on_conflict_do_nothing()
        self._insert_runs = DriverStatement(sa.insert(runs), dialect, RUN_COLUMNS)
        self._beat = DriverStatement(
            sa.update(runs)
            .where(
                runs.c.id == sa.bindparam("rid"), runs.c.status == sa.literal_column("'running'")
            )
            .values(heartbeat_at=sa.bindparam("at"), alive_until=sa.bindparam("until")),
            dialect,
            ("at", "until", "rid"),
        )
        self._end_runs = DriverStatement(
            sa.update(runs)
            .where(
                runs.c.id == sa.bindparam("rid"), runs.c.status == sa.literal_column("'running'")
            )
            .values(status=sa.bindparam("st"), end_time=sa.bindparam("et")),
            dialect,
            ("st", "et", "rid"),
        )
        counter = tracking_counters.c
        self._reserve = DriverStatement(
            sa.update(tracking_counters)
            .where(counter.name == sa.literal_column("'runs'"))
            .values(next_id=counter.next_id + sa.bindparam("n", type_=sa.BigInteger))
            .returning(counter.next_id),
            dialect,
            ("n",),
        )
        # Values the driver cannot take as they are: times (UTC, naive on SQLite) and JSON.
        self._time_in = sqlite_time_in if self._sqlite else _processor(UTCDateTime(), dialect)
        self._json_in = _processor(JSONType, dialect)
        self._load = RunLoader(dialect)
        self._searches: dict[tuple[Any, ...], tuple[Any, sa.Select[Any]]] = {}
        self._searches_lock = threading.Lock()
        self._driver_errors: tuple[type[BaseException], ...] = (sa.exc.DBAPIError,)
        if dialect.loaded_dbapi is not None:
            self._driver_errors += (dialect.loaded_dbapi.Error,)
        # Writes to a SQLite file keep a connection of their own: checking one out of the
        # pool and back costs as much as SQLite takes to insert a short run's rows.
        self._keep_connection = self._sqlite and self.supports_threads
        self._kept: Any = None
        self._kept_pid = 0
        self._kept_lock = threading.Lock()
        os.register_at_fork(after_in_child=lambda ref=weakref.ref(self): _forget_kept(ref))

    def _connect(self) -> Any:
        """A DBAPI connection from the engine's pool, as SQLAlchemy set it up."""
        try:
            return self._meta.engine.raw_connection()
        except self._driver_errors as exc:
            raise BackendUnavailable(
                f"Cannot connect to the metadata database {self._meta.location}: "
                f"{str(getattr(exc, 'orig', None) or exc).strip().splitlines()[0]}",
                hint="Check SHIPYARD_METADATA_URL and that the database server is running.",
            ) from None

    @contextmanager
    def _writing(self) -> Iterator[Any]:
        """A write transaction on a driver cursor (``BEGIN IMMEDIATE`` on SQLite)."""
        if not self._keep_connection:
            raw = self._connect()
            try:
                with self._transaction(raw) as cursor:
                    yield cursor
            finally:
                raw.close()
            return
        with self._kept_lock:
            if self._kept is None:
                self._kept, self._kept_pid = self._connect(), os.getpid()
            try:
                with self._transaction(self._kept) as cursor:
                    yield cursor
            except self._driver_errors:
                self._drop_kept()  # a fresh connection next time, in case this one is broken
                raise

    @contextmanager
    def _transaction(self, raw: Any) -> Iterator[Any]:
        cursor = raw.cursor()
        try:
            if self._sqlite:
                cursor.execute("BEGIN IMMEDIATE")
            yield cursor
            raw.commit()
        except BaseException:
            raw.rollback()
            raise
        finally:
            cursor.close()

    def _drop_kept(self) -> None:
        kept, self._kept = self._kept, None
        if kept is not None:
            with suppress(*self._driver_errors):
                kept.close()

    # -- experiments --------------------------------------------------------------------

    def create_experiment(self, name: str, *, created_by: str) -> Experiment:
        now = datetime.now(UTC)
        values = {"name": name, "created_at": now, "created_by": created_by}
        try:
            with self._meta.transaction() as conn:
                done = conn.execute(sa.insert(experiments).values(**values))
                new_id = int(done.inserted_primary_key[0])  # type: ignore[index]
        except SqlIntegrityError:
            raise AlreadyExists(
                f"An experiment called {name!r} exists already.",
                hint="Pick another name, or use get_or_create_experiment.",
            ) from None
        return Experiment(new_id, name, now, created_by)

    def get_or_create_experiment(self, name: str, *, created_by: str) -> Experiment:
        with self._meta.reading() as conn:
            row = conn.execute(sa.select(experiments).where(experiments.c.name == name)).first()
        if row is None:
            with self._meta.transaction() as conn:
                conn.execute(
                    self._insert_experiment.values(
                        name=name, created_at=datetime.now(UTC), created_by=created_by
                    )
                )
        return self.get_experiment(name)

    def get_experiment(self, name: str) -> Experiment:
        with self._meta.reading() as conn:
            row = conn.execute(sa.select(experiments).where(experiments.c.name == name)).first()
        if row is None:
            raise NotFound(
                f"No experiment called {name!r}.", hint="List them with tracker.experiments()."
            )
        return Experiment(**row._mapping)

    def list_experiments(self) -> list[Experiment]:
        with self._meta.reading() as conn:
            rows = conn.execute(sa.select(experiments).order_by(experiments.c.name))
            return [Experiment(**row._mapping) for row in rows]

    # -- writing runs ---------------------------------------------------------------------

    def reserve_run_ids(self, count: int) -> range:
        if count < 1:
            raise ValueError(f"reserve at least one run id, not {count}")
        with self._writing() as cursor:
            return self._take_ids(cursor, count)

    def _take_ids(self, cursor: Any, count: int) -> range:
        row = self._reserve.execute(cursor, (count,)).fetchone()
        if row is None:
            raise SchemaOutOfDate(
                f"The metadata database {self._meta.location} has no run id counter.",
                hint="Run `shipyard db upgrade`.",
            )
        end = int(row[0])
        return range(end - count, end)

    def create_runs(self, new_runs: Sequence[NewRun]) -> list[RunKey]:
        with self._writing() as cursor:
            missing = sum(1 for r in new_runs if r.id is None)
            fresh = iter(self._take_ids(cursor, missing) if missing else ())
            numbered = [r if r.id is not None else replace(r, id=next(fresh)) for r in new_runs]
            self._create(cursor, numbered, ())
        return [RunKey(r.id, r.uid) for r in numbered]  # type: ignore[arg-type]

    def _create(
        self, cursor: Any, new_runs: Sequence[NewRun], ends: Sequence[RunEnd]
    ) -> list[RunEnd]:
        """Insert ``new_runs``; those that ``ends`` ends are inserted ended. The other ends."""
        created = {r.id for r in new_runs}
        if None in created:
            raise ValueError("log_batch needs runs with ids: reserve them with reserve_run_ids")
        ending = {e[0]: e for e in ends if e[0] in created}
        time_in, rows = self._time_in, []
        for r in new_runs:
            status: str = r.status
            end_time = None if status == "running" else r.start_time
            if status == "running" and r.id in ending:
                _, status, end_time = ending[r.id]
            start, end, record = time_in(r.start_time), time_in(end_time), dict(r.record)
            # A tracked run's start is its first heartbeat.
            beat = None if r.alive_until is None else start
            rows.append((r.id, r.uid, r.experiment_id, r.name, r.parent_id, status, start, end,
                         r.created_by, "", self._json_in(record), beat,
                         time_in(r.alive_until)))  # fmt: skip
        if len(rows) == 1:
            self._insert_runs.execute(cursor, rows[0])
        else:
            self._insert_runs(cursor, rows)
        return [e for e in ends if e[0] not in ending]

    def log_batch(
        self,
        *,
        params: Sequence[ParamRow] = (),
        metrics: Sequence[MetricRow] = (),
        tags: Sequence[TagRow] = (),
        ends: Sequence[RunEnd] = (),
        runs: Sequence[NewRun] = (),
    ) -> None:
        if not (params or metrics or tags or ends or runs):
            return
        with self._writing() as cursor:
            if runs:
                ends = self._create(cursor, runs, ends)
            if metrics:
                self._insert_metrics(cursor, metrics)
                self._upsert_latest(cursor, latest_of(metrics))
            if params:
                self._insert_params(cursor, params)
            if tags:
                self._upsert_tags(cursor, tags)
            if ends:
                time_in = self._time_in
                self._end_runs(cursor, [(st, time_in(et), rid) for rid, st, et in ends])

    def heartbeat(self, run_ids: Sequence[int], at: datetime, alive_until: datetime) -> None:
        if not run_ids:
            return
        beat, until = self._time_in(at), self._time_in(alive_until)
        with self._writing() as cursor:
            self._beat(cursor, [(beat, until, run_id) for run_id in run_ids])

    def set_status(self, run_id: int, status: RunStatus, end_time: datetime | None) -> None:
        with self._meta.transaction() as conn:
            done = conn.execute(
                sa.update(runs)
                .where(runs.c.id == run_id, runs.c.status == "running")
                .values(status=status, end_time=end_time)
            )
            if done.rowcount == 0:
                row = conn.execute(
                    sa.select(runs.c.uid, runs.c.status).where(runs.c.id == run_id)
                ).first()
                if row is None:
                    raise NotFound(f"No run with id {run_id}.")
                raise Conflict(
                    f"Run {row.uid} has already ended ({row.status}).",
                    hint="An ended run keeps its status; annotate it with tags or a note.",
                )

    def record_artifact(self, run_id: int, path: str, digest: str, size: int) -> None:
        with self._meta.transaction() as conn:
            conn.execute(
                self._upsert_artifact.values(run_id=run_id, path=path, digest=digest, size=size)
            )

    def append_note(self, run_id: int, text: str) -> None:
        notes = runs.c.notes
        joined = sa.case((notes == "", sa.literal(text)), else_=notes + "\n\n" + text)
        with self._meta.transaction() as conn:
            conn.execute(sa.update(runs).where(runs.c.id == run_id).values(notes=joined))

    def update_record(self, run_id: int, values: Mapping[str, Any]) -> None:
        with self._meta.transaction() as conn:
            query = sa.select(runs.c.record).where(runs.c.id == run_id).with_for_update()
            record = dict(conn.execute(query).scalar_one())
            record.update(values)
            conn.execute(sa.update(runs).where(runs.c.id == run_id).values(record=record))

    # -- reading runs ---------------------------------------------------------------------

    def run_key(self, uid: str) -> RunKey:
        with self._meta.reading() as conn:
            found = conn.execute(sa.select(runs.c.id).where(runs.c.uid == uid)).scalar()
        if found is None:
            raise _no_run(uid)
        return RunKey(found, uid)

    def get_run(self, uid: str) -> RunInfo:
        with self._meta.reading() as conn:
            found = conn.execute(sa.select(runs.c.id).where(runs.c.uid == uid)).scalar()
            if found is None:
                raise _no_run(uid)
            return self._load_runs(conn, [found])[0]

    def _load_runs(self, conn: sa.Connection, ids: Sequence[int]) -> list[RunInfo]:
        cursor = conn.connection.cursor()
        try:
            return self._load(cursor, ids)
        finally:
            cursor.close()

    def search_runs(
        self,
        where: sa.ColumnElement[bool] | None = None,
        order_by: Sequence[OrderTerm] = (),
        *,
        max_results: int = 1000,
        experiments: Sequence[str] = (),
    ) -> list[RunInfo]:
        query = self._search_query(where, tuple(order_by), tuple(experiments), max_results)
        with self._meta.reading() as conn:
            ids = list(conn.execute(query).scalars())
            return self._load_runs(conn, ids)

    def _search_query(
        self,
        where: sa.ColumnElement[bool] | None,
        order_by: tuple[OrderTerm, ...],
        experiments: tuple[str, ...],
        max_results: int,
    ) -> sa.Select[Any]:
        """The id query of a search, built once per search repeated with the same objects.

        The tracker hands the same ``where`` object for the same filter text (it caches
        compiled filters), so a repeated search skips building the statement.
        """
        key = (id(where), order_by, experiments, max_results)
        with self._searches_lock:
            cached = self._searches.get(key)
        if cached is not None and cached[0] is where:
            return cached[1]
        source: sa.FromClause = runs
        ordering: list[sa.ColumnElement[Any]] = []
        for position, term in enumerate(order_by):
            source, column = order_column(source, term, position)
            ordering.append((column.desc() if term.descending else column.asc()).nulls_last())
        query = sa.select(runs.c.id).select_from(source)
        if experiments:
            query = query.where(runs.c.experiment_id.in_(_experiment_ids(experiments)))
        if where is not None:
            query = query.where(where)
        query = query.order_by(*ordering, runs.c.start_time.desc(), runs.c.id.desc())
        query = query.limit(max_results)
        with self._searches_lock:
            if len(self._searches) >= SEARCHES_KEPT:
                self._searches.pop(next(iter(self._searches)))
            self._searches[key] = (where, query)  # keeps ``where`` alive: its id stays its own
        return query

    def metric_history(self, uid: str, key: str) -> list[MetricPoint]:
        run_id = self.run_key(uid).id
        query = (
            sa.select(metrics.c.step, metrics.c.value, metrics.c.timestamp)
            .where(metrics.c.run_id == run_id, metrics.c.key == key)
            .order_by(metrics.c.step, metrics.c.timestamp)
        )
        with self._meta.reading() as conn:
            return [MetricPoint(*row) for row in conn.execute(query)]


def _experiment_ids(names: Sequence[str]) -> sa.Select[tuple[int]]:
    return sa.select(experiments.c.id).where(experiments.c.name.in_(list(names)))


# Connections a forked child found kept by its parent: the parent's to close, so never
# closed (nor garbage-collected) in the child.
_LEFT_TO_PARENT: list[Any] = []


def _forget_kept(ref: weakref.ref[SqlTrackingStore]) -> None:
    store = ref()
    if store is not None:
        if store._kept is not None and store._kept_pid != os.getpid():
            _LEFT_TO_PARENT.append(store._kept)
            store._kept = None
        store._kept_lock = threading.Lock()
        store._searches_lock = threading.Lock()


def _processor(type_: sa.types.TypeEngine[Any], dialect: sa.Dialect) -> Callable[[Any], Any]:
    """The function that turns a Python value into what ``dialect``'s driver takes."""
    process = type_.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else (lambda value: value)


def _no_run(uid: str) -> NotFound:
    return NotFound(
        f"No run {uid!r} in the tracking store.",
        hint="Run ids are 32 hex characters; find them with tracker.search().",
    )
