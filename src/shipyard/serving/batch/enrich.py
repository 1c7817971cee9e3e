"""Batch enrichment: the feature-view columns of a model trained on a feature service,
filled by the offline point-in-time join, as its training set was.

Real-time serving reads these columns from the online store (:mod:`shipyard.serving.enrich`);
a batch transform scores history, so it joins each input row with the views as of the row's
own time (:func:`shipyard.features.pit.point_in_time_join`) at the view versions the
model's lineage records, never the latest. A feature with no value at a row's time is null,
as in the training set.

Where: the join runs per part, in the worker, right after the part's row group is read and
before the input check and predict. The join gives one output row per entity row in order,
each depending on that row alone, so per-part joins equal one join of the whole input and
the output is the same on any engine; nothing of input size is held or shipped by the driver.
The driver resolves the sources and checks access once (:func:`plan_enrichment`); a worker
needs only to read the views' source files (a dataset's verified local copy, or Parquet
under a data root), as it reads a dataset input. Each part scans the views' sources once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

    from shipyard.features.source import FeatureSource
    from shipyard.serving.inference import InputSchema
    from shipyard.workspace import Workspace

TIMESTAMP_TAG = "timestamp_column"  # a model tag naming the entity time it was trained with


@dataclass(frozen=True)
class Enrichment:
    """What every part needs to join its rows: shipped with the transform's spec."""

    sources: tuple[FeatureSource, ...]
    timestamp_column: str
    columns: tuple[str, ...]  # the model's input columns the join fills
    needs: tuple[str, ...]  # the input columns the join reads: join keys, then the time
    inputs: InputSchema  # the model's inputs, the filled ones allowed to be missing
    record: dict[str, Any]  # the views, their datasets and the time column: lineage, job key

    def join(self, table: pa.Table) -> pa.Table:
        """``table`` with the filled columns after its own (left exactly as read)."""
        from shipyard.features.pit import point_in_time_join

        if table.num_rows == 0:  # an empty row group: no rows to join, none to predict
            return table
        joined = point_in_time_join(table, self.sources, timestamp_column=self.timestamp_column)
        assert joined is not None
        for name in self.columns:
            table = table.append_column(name, joined.column(name))
        return table


def plan_enrichment(
    workspace: Workspace,
    version: Any,
    schema: InputSchema,
    input_columns: Sequence[str],
    timestamp_column: str | None,
) -> Enrichment | None:
    """The join for a model version (its lineage and tags) with input ``schema``, over an
    input with ``input_columns``; None when no input came from a feature view. Refuses an
    input without the join keys or the time column, or carrying a column the join fills;
    needs ``features:ReadOffline`` on every feature read."""
    from shipyard.features.model_views import model_views

    views = model_views(workspace.features.registry, version.lineage, set(schema.names))
    if not views:
        return None
    columns = tuple(c for v in views for c in v.columns)
    time = timestamp_column or _trained_with(version.tags)
    if not time:
        raise InvalidInput(
            f"The model fills {', '.join(columns)} from feature views by a point-in-time "
            "join, which needs each input row's time, and its record does not say which "
            "column held it in training.",
            hint="Pass timestamp_column (--timestamp-column) naming the input's time column.",
        )
    keys = tuple(dict.fromkeys(k for v in views for k in v.join_keys))
    _check_columns(input_columns, columns, keys, time, [v.name for v in views])
    resolved = workspace.features.resolve(
        [f"{v.name}/{f}" for v in views for f in v.features],
        action="features:ReadOffline", versions={v.name: v.version for v in views},
    )  # fmt: skip
    record = {
        "feature_views": [f"feature_view:{r.view.name}@{r.version}" for r in resolved],
        "datasets": sorted({str(d) for r in resolved for d in r.datasets}),
        "timestamp_column": time,
    }
    return Enrichment(
        tuple(r.source for r in resolved), time, columns, (*keys, time),
        _allowing_missing(schema, columns), record,
    )  # fmt: skip


def _trained_with(tags: Mapping[str, str]) -> str | None:
    return tags.get(TIMESTAMP_TAG) or None


def _check_columns(
    given: Sequence[str], filled: Sequence[str], keys: Sequence[str], time: str, views: list[str]
) -> None:
    missing = [c for c in (*keys, time) if c not in given]
    if missing:
        raise InvalidInput(
            f"The input lacks column(s) {', '.join(map(repr, missing))}, which the "
            f"point-in-time join with feature view(s) {', '.join(views)} needs.",
            hint=f"Give input rows with the entity keys ({', '.join(keys)}) and the time "
            f"column {time!r} (or name another with timestamp_column).",
        )
    sent = [c for c in filled if c in given]
    if sent:
        raise InvalidInput(
            f"The input has column(s) {', '.join(map(repr, sent))}, which the model reads "
            "from feature views at each row's time.",
            hint="Leave them out of the input: the point-in-time join fills them.",
        )


def _allowing_missing(schema: InputSchema, columns: Sequence[str]) -> InputSchema:
    """``schema`` with the filled columns allowed to be missing: a row with no feature
    value at its time gets a null, as in the training set."""
    from shipyard.serving.inference import InputSchema

    return InputSchema(
        tuple(
            dataclasses.replace(c, allows_missing=True) if c.name in columns else c
            for c in schema.columns
        )
    )
