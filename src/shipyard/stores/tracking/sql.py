"""The tracking store on the metadata database (SQLite or PostgreSQL), in SQLAlchemy Core.

It borrows the metadata store's engine and transactions, so a SQLite write
takes the write lock up front (``BEGIN IMMEDIATE``) like every other writer.
The two dialects spell the upsert the same way (only the ``insert`` construct
comes from each dialect's module); PostgreSQL appends metric rows with COPY
(``postgres.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError as SqlIntegrityError
from sqlalchemy.pool import StaticPool

from shipyard.errors import AlreadyExists, Conflict, NotFound
from shipyard.stores.metadata.schema import (
    experiments,
    latest_metrics,
    metrics,
    params,
    run_artifacts,
    runs,
    tags,
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
    Executemany,
    chunks,
    latest_of,
    load_runs,
)
from shipyard.stores.tracking.postgres import CopyRows
from shipyard.stores.tracking.query import order_column

if TYPE_CHECKING:
    from shipyard.stores.metadata.sql import SqlMetadataStore


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
        insert = sqlite_insert if dialect.name == "sqlite" else pg_insert
        tag = insert(tags)
        latest = insert(latest_metrics)
        artifact = insert(run_artifacts)
        self._insert_metrics: Callable[[sa.Connection, Sequence[MetricRow]], None]
        if dialect.name == "postgresql" and dialect.driver == "psycopg":
            self._insert_metrics = CopyRows(metrics, METRIC_COLUMNS, dialect)
        else:
            self._insert_metrics = Executemany(sa.insert(metrics), dialect, METRIC_COLUMNS)
        self._upsert_latest = Executemany(
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
        self._insert_params = Executemany(
            insert(params).on_conflict_do_nothing(), dialect, KEY_VALUE
        )
        self._upsert_tags = Executemany(
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
        self._end_runs = (
            sa.update(runs)
            .where(runs.c.id == sa.bindparam("rid"), runs.c.status == "running")
            .values(status=sa.bindparam("st"), end_time=sa.bindparam("et"))
        )

    # -- experiments --------------------------------------------------------------------

    def create_experiment(self, name: str, *, created_by: str) -> Experiment:
        now = datetime.now(UTC)
        values = {"name": name, "created_at": now, "created_by": created_by}
        try:
            with self._meta._write() as conn:
                done = conn.execute(sa.insert(experiments).values(**values))
                new_id = int(done.inserted_primary_key[0])  # type: ignore[index]
        except SqlIntegrityError:
            raise AlreadyExists(
                f"An experiment called {name!r} exists already.",
                hint="Pick another name, or use get_or_create_experiment.",
            ) from None
        return Experiment(new_id, name, now, created_by)

    def get_or_create_experiment(self, name: str, *, created_by: str) -> Experiment:
        with self._meta._read() as conn:
            row = conn.execute(sa.select(experiments).where(experiments.c.name == name)).first()
        if row is None:
            with self._meta._write() as conn:
                conn.execute(
                    self._insert_experiment.values(
                        name=name, created_at=datetime.now(UTC), created_by=created_by
                    )
                )
        return self.get_experiment(name)

    def get_experiment(self, name: str) -> Experiment:
        with self._meta._read() as conn:
            row = conn.execute(sa.select(experiments).where(experiments.c.name == name)).first()
        if row is None:
            raise NotFound(
                f"No experiment called {name!r}.", hint="List them with tracker.experiments()."
            )
        return Experiment(**row._mapping)

    def list_experiments(self) -> list[Experiment]:
        with self._meta._read() as conn:
            rows = conn.execute(sa.select(experiments).order_by(experiments.c.name))
            return [Experiment(**row._mapping) for row in rows]

    # -- writing runs ---------------------------------------------------------------------

    def create_runs(self, new_runs: Sequence[NewRun]) -> list[RunKey]:
        rows = [
            {
                "uid": r.uid,
                "experiment_id": r.experiment_id,
                "name": r.name,
                "parent_id": r.parent_id,
                "status": r.status,
                "start_time": r.start_time,
                "end_time": None if r.status == "running" else r.start_time,
                "created_by": r.created_by,
                "notes": "",
                "record": dict(r.record),
            }
            for r in new_runs
        ]
        with self._meta._write() as conn:
            if len(rows) == 1:
                done = conn.execute(sa.insert(runs), rows[0])
                return [RunKey(int(done.inserted_primary_key[0]), new_runs[0].uid)]  # type: ignore[index]
            conn.execute(sa.insert(runs), rows)
            ids: dict[str, int] = {}
            for chunk in chunks([r["uid"] for r in rows]):
                query = sa.select(runs.c.uid, runs.c.id).where(runs.c.uid.in_(chunk))
                ids.update({uid: rid for uid, rid in conn.execute(query)})
        return [RunKey(ids[r.uid], r.uid) for r in new_runs]

    def log_batch(
        self,
        *,
        params: Sequence[ParamRow] = (),
        metrics: Sequence[MetricRow] = (),
        tags: Sequence[TagRow] = (),
        ends: Sequence[RunEnd] = (),
    ) -> None:
        if not (params or metrics or tags or ends):
            return
        with self._meta._write() as conn:
            if metrics:
                self._insert_metrics(conn, metrics)
                self._upsert_latest(conn, latest_of(metrics))
            if params:
                self._insert_params(conn, params)
            if tags:
                self._upsert_tags(conn, tags)
            if ends:
                conn.execute(self._end_runs, [{"rid": r, "st": s, "et": t} for r, s, t in ends])

    def set_status(self, run_id: int, status: RunStatus, end_time: datetime | None) -> None:
        with self._meta._write() as conn:
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
                raise Conflict(f"Run {row.uid} has already ended ({row.status}).")

    def record_artifact(self, run_id: int, path: str, digest: str, size: int) -> None:
        with self._meta._write() as conn:
            conn.execute(
                self._upsert_artifact.values(run_id=run_id, path=path, digest=digest, size=size)
            )

    def append_note(self, run_id: int, text: str) -> None:
        notes = runs.c.notes
        joined = sa.case((notes == "", sa.literal(text)), else_=notes + "\n\n" + text)
        with self._meta._write() as conn:
            conn.execute(sa.update(runs).where(runs.c.id == run_id).values(notes=joined))

    def update_record(self, run_id: int, values: Mapping[str, Any]) -> None:
        with self._meta._write() as conn:
            query = sa.select(runs.c.record).where(runs.c.id == run_id).with_for_update()
            record = dict(conn.execute(query).scalar_one())
            record.update(values)
            conn.execute(sa.update(runs).where(runs.c.id == run_id).values(record=record))

    # -- reading runs ---------------------------------------------------------------------

    def run_key(self, uid: str) -> RunKey:
        with self._meta._read() as conn:
            found = conn.execute(sa.select(runs.c.id).where(runs.c.uid == uid)).scalar()
        if found is None:
            raise NotFound(
                f"No run {uid!r} in the tracking store.",
                hint="Run ids are 32 hex characters; find them with tracker.search().",
            )
        return RunKey(found, uid)

    def get_run(self, uid: str) -> RunInfo:
        key = self.run_key(uid)
        with self._meta._read() as conn:
            return load_runs(conn, [key.id])[0]

    def search_runs(
        self,
        where: sa.ColumnElement[bool] | None = None,
        order_by: Sequence[OrderTerm] = (),
        *,
        max_results: int = 1000,
        experiments: Sequence[str] = (),
    ) -> list[RunInfo]:
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
        with self._meta._read() as conn:
            ids = list(conn.execute(query.limit(max_results)).scalars())
            return load_runs(conn, ids)

    def metric_history(self, uid: str, key: str) -> list[MetricPoint]:
        run_id = self.run_key(uid).id
        query = (
            sa.select(metrics.c.step, metrics.c.value, metrics.c.timestamp)
            .where(metrics.c.run_id == run_id, metrics.c.key == key)
            .order_by(metrics.c.step, metrics.c.timestamp)
        )
        with self._meta._read() as conn:
            return [MetricPoint(*row) for row in conn.execute(query)]


def _experiment_ids(names: Sequence[str]) -> sa.Select[tuple[int]]:
    return sa.select(experiments.c.id).where(experiments.c.name.in_(list(names)))
