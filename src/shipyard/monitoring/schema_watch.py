"""Schema rules at once: each file the capture writes is checked as it is written.

The hourly run compares distributions; a broken caller or feed should not wait for it.
When the capture writer has written a file (every 2 seconds, or 1,000 requests), this
watch counts, over that file's requests: the share refused (4xx and 5xx: missing or new
columns, wrong types...), and the share of enriched values ``missing`` or
``outside_ttl``. Past the rules of :mod:`.checks` (5% of at least 20 requests) it writes
a flagged ``schema`` point for the file's span and evaluates the endpoint's alarms, so
an alarm on ``schema/refused_share`` acts within seconds. Nothing is written while the
traffic is healthy: the hourly run writes those points.

New categories too: for a model whose baseline knows the categories of some of its
input columns (the ``domains`` of its constraints), the answered rows' values of those
columns outside them are counted; past the rule of a window's category check (at least
``NEW_CATEGORY_SHARE_TO_FAIL``, 1%, of the column's values and
``NEW_CATEGORY_ROWS_TO_FAIL``, 20, rows: :mod:`shipyard.data.checks.constraint_checks`)
a flagged ``schema/new_categories`` point names them. The known categories are cached
per model version (read once, then reread each minute on the watch's own thread): a file
of a model without a baseline or without categorical inputs costs a dict lookup, the
others one parse of their input JSON.

Errors here are logged, never raised: the capture and the requests go on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shipyard.data.checks.constraint_checks import (
    NEW_CATEGORY_ROWS_TO_FAIL,
    NEW_CATEGORY_SHARE_TO_FAIL,
)
from shipyard.monitoring.capture_tables import answered, input_rows, status_counts
from shipyard.monitoring.checks import BAD_STATUSES, MIN_REQUESTS, MISSING_SHARE, REFUSED_SHARE
from shipyard.stores.monitoring import SeriesPoint

if TYPE_CHECKING:
    from shipyard.runtime import Runtime
    from shipyard.workspace import Workspace

log = logging.getLogger(__name__)

REFRESH_SECONDS = 60.0  # how long a model's known categories are used before a reread
LISTED = 20  # new categories a point names (the most frequent)
VALUE_CHARS = 100  # a longer category is cut to this many characters in the point

Known = Mapping[str, pa.Array]  # categorical input column -> its baseline's categories


class SchemaWatch:
    """Called by the capture writer with each file it wrote: ``watch(endpoint, variant,
    table)``; ``runtime`` gives the process's runtime when it is first needed.

    The counting is done on the writer's thread (a few vectorized sums, and for a model
    with categorical inputs one parse of the input JSON); storing a point, evaluating
    alarms (whose actions may wait on a webhook for seconds) and rereading a model's
    known categories run on a thread of the watch's own, so the capture never waits for
    them. A model's known categories are read on the writer's thread once, the first
    time a file holds its requests. ``workspace`` gives the workspace baselines are read
    as (the serving app's principal's; default: the runtime's own)."""

    def __init__(
        self,
        runtime: Callable[[], Runtime],
        *,
        workspace: Callable[[], Workspace] | None = None,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self._runtime = runtime
        self._workspace = workspace or (lambda: runtime().workspace())
        self._acting = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shipyard-schema")
        self._refresh_seconds = refresh_seconds
        self._known: dict[str, tuple[float, Known]] = {}  # model ref -> (read at, categories)
        self._refreshing: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, endpoint: str, variant: str, table: Any) -> list[SeriesPoint]:
        found: list[SeriesPoint] = []
        try:
            found += schema_points(endpoint, variant, table)
        except Exception:
            log.exception("Could not check the schema of %s's captured requests", endpoint)
        try:
            found += new_category_points(endpoint, variant, table, self.known_categories)
        except Exception:
            log.exception("Could not check the categories of %s's captured requests", endpoint)
        if found:
            self._acting.submit(self._act, endpoint, found)
        return found

    def known_categories(self, model: str) -> Known:
        """The categories ``model`` (``NAME@VERSION``)'s baseline knows per input column
        (empty: nothing to check), from the cache; an entry older than the refresh period
        is reread on the watch's thread while this one is used."""
        cached = self._known.get(model)
        if cached is None:
            known = self._read(model)
            self._known[model] = (time.monotonic(), known if known is not None else {})
            return self._known[model][1]
        read_at, known = cached
        if time.monotonic() - read_at >= self._refresh_seconds:
            with self._lock:
                stale = model not in self._refreshing
                self._refreshing.add(model)
            if stale:
                self._acting.submit(self._refresh, model)
        return known

    def _refresh(self, model: str) -> None:
        try:
            known = self._read(model)
            if known is None:  # could not read it now: keep what was known, retry later
                known = self._known.get(model, (0.0, {}))[1]
            self._known[model] = (time.monotonic(), known)
        finally:
            with self._lock:
                self._refreshing.discard(model)

    def _read(self, model: str) -> Known | None:
        """The model's known categories from its baseline (None: could not read them)."""
        try:
            return baseline_categories(self._workspace(), model)
        except Exception:
            log.exception("Could not read the monitoring baseline of %s", model)
            return None

    def _act(self, endpoint: str, found: list[SeriesPoint]) -> None:
        from shipyard.monitoring.alarms import evaluate_endpoint

        try:
            runtime = self._runtime()
            runtime.monitoring.put_points(found)
            evaluate_endpoint(runtime, endpoint)
        except Exception:
            log.exception("Could not record or act on %s's schema violations", endpoint)


def baseline_categories(ws: Workspace, model: str) -> dict[str, pa.Array]:
    """Per categorical input column of ``model``'s (``NAME@VERSION``) baseline, the
    categories its constraints allow; empty when it has no baseline or no such column
    (or a column's categories were too many to keep)."""
    from shipyard.monitoring.baseline import load_baseline

    name, _, version = model.rpartition("@")
    if not name or not version.isdigit():
        return {}
    baseline = load_baseline(ws, name, int(version))
    if baseline is None:
        return {}
    return {
        feature.name: pa.array(feature.domain, pa.string())
        for feature in baseline.input.constraints.features
        if feature.kind == "categorical" and feature.domain
    }


def _span(table: Any) -> tuple[datetime, datetime]:
    """The file's span: from its first request's time to just after its last."""
    times = table.column("time")
    return pc.min(times).as_py(), pc.max(times).as_py() + timedelta(microseconds=1)


def schema_points(endpoint: str, variant: str, table: Any) -> list[SeriesPoint]:
    """The flagged schema points of one written file (none while it looks healthy)."""
    requests = table.num_rows
    if requests < MIN_REQUESTS:
        return []
    start, end = _span(table)
    status = table.column("status")
    refused = int(pc.sum(pc.greater_equal(status, 400)).as_py() or 0)
    found = []
    share = refused / requests
    if share > REFUSED_SHARE:
        codes = pc.value_counts(pc.filter(status, pc.greater_equal(status, 400))).to_pylist()
        detail = {"threshold": REFUSED_SHARE, "at_once": True,
                  "refusals": {str(c["values"]): c["counts"] for c in codes}}  # fmt: skip
        found.append(SeriesPoint(endpoint, variant, "schema", "refused_share", "", start, end,
                                 share, flagged=True, rows=requests, detail=detail))  # fmt: skip
    for feature, counts in sorted(status_counts(table).items()):
        total = sum(counts.values())
        bad = sum(counts.get(s, 0) for s in BAD_STATUSES) / total if total else 0.0
        if total >= MIN_REQUESTS and bad > MISSING_SHARE:
            detail = {"threshold": MISSING_SHARE, "at_once": True, "statuses": counts}
            found.append(SeriesPoint(endpoint, variant, "schema", "enrichment_missing_share",
                                     feature, start, end, bad, flagged=True, rows=total,
                                     detail=detail))  # fmt: skip
    return found


def new_category_points(
    endpoint: str, variant: str, table: Any, known_of: Callable[[str], Known]
) -> list[SeriesPoint]:
    """The flagged ``new_categories`` points of one written file: per model that answered
    and categorical input column its baseline knows, when the values outside the known
    categories pass the window's rule (1% of the values, and 20 rows). ``known_of`` gives
    a model's known categories (empty: nothing to check, and nothing is parsed)."""
    refs = [ref for ref in pc.unique(table.column("model")).to_pylist() if ref is not None]
    checked = {ref: known for ref in refs if (known := known_of(ref))}
    if not checked:
        return []
    requests = answered(table)
    if len(checked) < len(refs) or table.column("model").null_count:
        keep = pc.is_in(requests.column("model"), value_set=pa.array(list(checked), pa.string()))
        requests = requests.filter(pc.fill_null(keep, False))
    if not requests.num_rows:
        return []
    inputs, rows = input_rows(requests)
    if inputs is None:
        return []
    start, end = _span(table)
    owner = None
    if len(checked) > 1:  # rows of several models: each row's model, to split them
        models = requests.column("model").to_numpy(zero_copy_only=False)
        owner = np.repeat(models.astype(object), rows)
    found = []
    for ref, known in sorted(checked.items()):
        part = inputs if owner is None else inputs.filter(pa.array(owner == ref))
        for feature, categories in sorted(known.items()):
            if feature not in part.column_names:
                continue  # a missing column is refused, and the refusals say so
            point = _new_categories(part.column(feature), categories)
            if point is not None:
                share, total, detail = point
                at = (endpoint, variant, "schema", "new_categories", feature, start, end, share)
                found.append(
                    SeriesPoint(*at, flagged=True, rows=total, detail=dict(detail, model=ref))
                )
    return found


def _new_categories(
    column: pa.ChunkedArray | pa.Array, categories: pa.Array
) -> tuple[float, int, dict[str, Any]] | None:
    """(share, values, detail) when the values outside ``categories`` are at least
    ``NEW_CATEGORY_SHARE_TO_FAIL`` of the values and ``NEW_CATEGORY_ROWS_TO_FAIL`` rows;
    values are compared as the profiles keep them (their Arrow string form)."""
    values = pc.drop_null(column)
    if len(values) < NEW_CATEGORY_ROWS_TO_FAIL:
        return None
    if not pa.types.is_string(values.type):
        try:
            values = pc.cast(values, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None  # not a category's type: the type checks say so
    new = values.filter(pc.invert(pc.is_in(values, value_set=categories)))
    share = len(new) / len(values)
    if len(new) < NEW_CATEGORY_ROWS_TO_FAIL or share < NEW_CATEGORY_SHARE_TO_FAIL:
        return None
    tally = pc.value_counts(new)
    counts = sorted(
        zip(tally.field("values").to_pylist(), tally.field("counts").to_pylist(), strict=True),
        key=lambda vc: (-vc[1], vc[0]),
    )
    listed: dict[str, int] = {}
    for value, count in counts[:LISTED]:
        shown = value if len(value) <= VALUE_CHARS else value[: VALUE_CHARS - 1] + "\u2026"
        listed[shown] = listed.get(shown, 0) + count
    detail = {
        "at_once": True,
        "threshold": NEW_CATEGORY_SHARE_TO_FAIL,
        "min_rows": NEW_CATEGORY_ROWS_TO_FAIL,
        "new_rows": len(new),
        "n_new_categories": len(counts),
        "categories": listed,
    }
    return share, len(values), detail
