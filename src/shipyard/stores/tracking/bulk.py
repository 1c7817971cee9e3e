"""Moving tracking rows in bulk: executemany straight to the driver, and loading RunInfos."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from shipyard.stores.metadata.schema import (
    experiments,
    latest_metrics,
    params,
    run_artifacts,
    runs,
    tags,
)
from shipyard.stores.tracking.base import MetricRow, RunInfo

# Keeps IN lists well under every database's limit on bound parameters.
CHUNK = 5000


class Executemany:
    """A Core statement compiled once for the dialect; rows go to the driver's executemany.

    Core's executemany rebuilds every row's parameters, which costs more than the
    insert itself; these tables have no types that convert values, so rows (tuples
    in ``columns`` order) can go to the driver as they are.
    """

    def __init__(self, statement: sa.Insert, dialect: sa.Dialect, columns: Sequence[str]) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.columns = tuple(columns)
        order = getattr(compiled, "positiontup", None)
        self.named = order is None  # pyformat (psycopg) takes a dict per row
        positions = [self.columns.index(name) for name in order or ()]
        self.reorder = None if positions == list(range(len(columns))) else positions

    def __call__(self, conn: sa.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        if self.named:
            conn.exec_driver_sql(
                self.sql, [dict(zip(self.columns, row, strict=True)) for row in rows]
            )
        elif self.reorder is not None:
            conn.exec_driver_sql(self.sql, [tuple(row[i] for i in self.reorder) for row in rows])
        else:
            conn.exec_driver_sql(self.sql, list(rows))


METRIC_COLUMNS = ("run_id", "key", "step", "value", "timestamp")
KEY_VALUE = ("run_id", "key", "value")


def latest_of(rows: Iterable[MetricRow]) -> list[MetricRow]:
    """Per (run, key), the row the stored latest value should become (highest step, last)."""
    best: dict[tuple[int, str], MetricRow] = {}
    for row in rows:
        seen = best.get((row[0], row[1]))
        if seen is None or row[2] >= seen[2]:
            best[row[0], row[1]] = row
    return list(best.values())


def chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def load_runs(conn: sa.Connection, ids: Sequence[int]) -> list[RunInfo]:
    """RunInfos for ``ids``, in that order: five queries, whatever the number of runs."""
    parent = runs.alias("parent")
    found: dict[int, dict[str, Any]] = {}
    for chunk in chunks(ids):
        query = (
            sa.select(runs, experiments.c.name.label("experiment"), parent.c.uid.label("parent"))
            .join(experiments, experiments.c.id == runs.c.experiment_id)
            .outerjoin(parent, parent.c.id == runs.c.parent_id)
            .where(runs.c.id.in_(chunk))
        )
        # .all() fetches in one call; iterating the result fetches row by row.
        for row in conn.execute(query).all():
            data = dict(row._mapping)
            data.update(params={}, metrics={}, tags={}, artifacts={}, record=dict(data["record"]))
            found[data.pop("id")] = data
        for table, field, value in (
            (params, "params", params.c.value),
            (latest_metrics, "metrics", latest_metrics.c.value),
            (tags, "tags", tags.c.value),
            (run_artifacts, "artifacts", run_artifacts.c.digest),
        ):
            name = table.c.path if table is run_artifacts else table.c.key
            query = sa.select(table.c.run_id, name, value).where(table.c.run_id.in_(chunk))
            for run_id, key, item in conn.execute(query.order_by(table.c.run_id, name)).all():
                found[run_id][field][key] = item
    drop = ("experiment_id", "parent_id")
    return [
        RunInfo(**{k: v for k, v in found[i].items() if k not in drop}) for i in ids if i in found
    ]
