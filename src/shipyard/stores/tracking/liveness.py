"""Whether a running run is still alive, decided when it is read.

While a run is open, its tracker refreshes two columns every heartbeat interval:
``heartbeat_at`` (now) and ``alive_until`` (a few intervals later). A run still
``running`` after its ``alive_until`` lost its process (killed, crashed, machine
gone): it reads as ``killed``, ended at its last heartbeat.

The status is computed on read, never written by a reader, because a stalled
process is not always a dead one: a suspended laptop or a database outage stops
the beats, and such a run reads as running again at its next beat. Ending the
run (``shipyard runs end``) records a final status for good. Runs without a
deadline (imported, or stored before revision 0004) read as stored.

Deadlines are written by the run's machine and compared on the reader's, so their
clocks should agree to well within a heartbeat interval (NTP does).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from shipyard.stores.metadata.schema import UTCDateTime, runs

KILLED = "killed"


def status_as_read(status: str, alive_until: datetime | None, now: datetime) -> str:
    """The status a run reads as: ``killed`` when it is running past its deadline.

    >>> now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    >>> status_as_read("running", datetime(2026, 12, 2, 11, 59, tzinfo=UTC), now)
    'killed'
    >>> status_as_read("finished", datetime(2026, 12, 2, 11, 59, tzinfo=UTC), now)
    'finished'
    """
    if status == "running" and alive_until is not None and alive_until < now:
        return KILLED
    return status


def status_column() -> sa.ColumnElement[Any]:
    """The status as read, in SQL: what a search compares ``attributes.status`` with.

    The time is taken when the statement runs, so a cached statement stays right.
    """
    now = sa.bindparam("now", type_=UTCDateTime, callable_=_now, unique=True)
    past_deadline = (runs.c.status == "running") & (runs.c.alive_until < now)
    return sa.case((past_deadline, sa.literal(KILLED)), else_=runs.c.status)


def _now() -> datetime:
    return datetime.now(UTC)
