"""The ``monitor_run`` job: a scheduled monitoring run of one endpoint.

``shipyard monitor schedule ENDPOINT --every 1h`` stores a schedule whose firings are
these jobs; a ``shipyard server``'s workers run them as the principal who scheduled
them (whose rights are checked again at each run). Each run covers the last
``lookback_hours`` in windows of ``window_seconds``: hours already profiled are read
from the store, so going back again is cheap, and labels that arrived late since the
last run update the quality of the windows they belong to. The hours not profiled yet
are profiled on the schedule's engine (``local``, or ``dask`` on a cluster: a busy
endpoint's hour of capture is millions of rows).

    {"endpoint": "delay", "window_seconds": 3600, "lookback_hours": 24,
     "requested_by": "alice", "engine": "dask", "scheduler": "tcp://10.0.0.5:8786",
     "workers": null}
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shipyard.engines import check_engine
from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    from shipyard.runtime import Runtime
    from shipyard.stores.jobs import Job

JOB_KIND = "monitor_run"
DEFAULT_LOOKBACK_HOURS = 24


def payload(
    endpoint: str,
    window: timedelta,
    lookback: timedelta,
    by: str,
    *,
    engine: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """A job payload (checked when the schedule is stored, read back by :func:`run_job`)."""
    check_engine(engine, scheduler=scheduler, workers=workers)
    return {
        "endpoint": endpoint,
        "window_seconds": int(window.total_seconds()),
        "lookback_hours": max(1, int(lookback.total_seconds() // 3600)),
        "requested_by": by,
        "engine": engine,
        "scheduler": scheduler,
        "workers": workers,
    }


def run_job(runtime: Runtime, job: Job) -> dict[str, Any]:
    """Run the monitoring the payload asks for; the result sums up what it found."""
    data = job.payload
    endpoint, by = data.get("endpoint"), data.get("requested_by")
    if not isinstance(endpoint, str) or not isinstance(by, str):
        raise InvalidInput(f"Job {job.id} ({job.kind}) names no endpoint or principal.")
    window = timedelta(seconds=int(data.get("window_seconds", 3600)))
    lookback = timedelta(hours=int(data.get("lookback_hours", DEFAULT_LOOKBACK_HOURS)))
    now = datetime.now(UTC)
    ws = runtime.workspace(by)
    found = ws.monitoring.run(
        endpoint, window=window, start=now - lookback, end=now, now=now,
        engine=str(data.get("engine") or "local"), scheduler=data.get("scheduler"),
        workers=data.get("workers"),
    )  # fmt: skip
    return {
        "endpoint": endpoint,
        "windows": len(found.windows),
        "violations": len(found.violations),
        "alarms": [change.to_dict() for change in found.alarms],
    }
