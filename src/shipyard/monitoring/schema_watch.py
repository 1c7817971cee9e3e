"""Schema rules at once: each file the capture writes is checked as it is written.

The hourly run compares distributions; a broken caller or feed should not wait for it.
When the capture writer has written a file (every 2 seconds, or 1,000 requests), this
watch counts, over that file's requests: the share refused (4xx and 5xx: missing or new
columns, wrong types...), and the share of enriched values ``missing`` or
``outside_ttl``. Past the rules of :mod:`.checks` (5% of at least 20 requests) it writes
a flagged ``schema`` point for the file's span and evaluates the endpoint's alarms, so
an alarm on ``schema/refused_share`` acts within seconds. Nothing is written while the
traffic is healthy: the hourly run writes those points.

Errors here are logged, never raised: the capture and the requests go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pyarrow.compute as pc

from shipyard.monitoring.capture_tables import status_counts
from shipyard.monitoring.checks import BAD_STATUSES, MIN_REQUESTS, MISSING_SHARE, REFUSED_SHARE
from shipyard.stores.monitoring import SeriesPoint

if TYPE_CHECKING:
    from shipyard.runtime import Runtime

log = logging.getLogger(__name__)


class SchemaWatch:
    """Called by the capture writer with each file it wrote: ``watch(endpoint, variant,
    table)``; ``runtime`` gives the process's runtime when it is first needed.

    The counting is done on the writer's thread (a few vectorized sums); storing a point
    and evaluating alarms, whose actions may wait on a webhook for seconds, run on a
    thread of the watch's own, so the capture never waits for them."""

    def __init__(self, runtime: Callable[[], Runtime]) -> None:
        self._runtime = runtime
        self._acting = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shipyard-schema")

    def __call__(self, endpoint: str, variant: str, table: Any) -> list[SeriesPoint]:
        try:
            found = schema_points(endpoint, variant, table)
        except Exception:
            log.exception("Could not check the schema of %s's captured requests", endpoint)
            return []
        if found:
            self._acting.submit(self._act, endpoint, found)
        return found

    def _act(self, endpoint: str, found: list[SeriesPoint]) -> None:
        from shipyard.monitoring.alarms import evaluate_endpoint

        try:
            runtime = self._runtime()
            runtime.monitoring.put_points(found)
            evaluate_endpoint(runtime, endpoint)
        except Exception:
            log.exception("Could not record or act on %s's schema violations", endpoint)


def schema_points(endpoint: str, variant: str, table: Any) -> list[SeriesPoint]:
    """The flagged schema points of one written file (none while it looks healthy)."""
    requests = table.num_rows
    if requests < MIN_REQUESTS:
        return []
    times = table.column("time")
    start = pc.min(times).as_py()
    end = pc.max(times).as_py() + timedelta(microseconds=1)
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
