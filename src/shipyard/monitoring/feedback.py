"""Ground truth and business outcomes posted after the fact, kept as Parquet beside the capture.

Each post is checked whole, then written as one new file (written to a temporary name
and renamed, so a reader never sees half of it), in a folder per day it was received::

    <home>/monitoring/ground_truth/endpoint=NAME/received=YYYY-MM-DD/part-<uuid>.parquet
    <home>/monitoring/outcomes/endpoint=NAME/received=YYYY-MM-DD/part-<uuid>.parquet

Feedback comes after the request it is about, so a monitoring run reads only the days
received since the earliest of its window's requests reached the server, not every
label ever posted (files of before the folders, directly under ``endpoint=NAME``, are
always read).

A record names the request it is about by ``request_id`` (the ``X-Request-Id`` the
answer carried) or by ``key`` (the routing key, ``X-Shipyard-Key``: it then belongs to
the latest captured request with that key at or before its ``time``).

* ground truth: ``label`` (a class or a number; a list gives one label per row of a
  request of many rows) and ``time``, when it became known (default: now);
* outcome: ``event`` (a name such as ``helpful_click``), ``value`` (default 1) and ``time``.

Labels that arrive late are joined with the window their request was made in, whenever
that window is computed again.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from shipyard.errors import InvalidInput
from shipyard.types import check_name

GROUND_TRUTH, OUTCOMES = "ground_truth", "outcomes"
MAX_RECORDS = 100_000  # per post
MAX_ID = 200

GROUND_TRUTH_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("key", pa.string()),
        ("label", pa.string()),  # JSON: a class, a number, or a list of them (one per row)
        ("time", pa.timestamp("us", tz="UTC")),
        ("received_at", pa.timestamp("us", tz="UTC")),
    ]
)
OUTCOME_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("key", pa.string()),
        ("event", pa.string()),
        ("value", pa.float64()),
        ("time", pa.timestamp("us", tz="UTC")),
        ("received_at", pa.timestamp("us", tz="UTC")),
    ]
)
_HINT = (
    'Send {"records": [{"request_id": "...", "label": 1, "time": "2024-03-01T10:00:00Z"}]} '
    '(or "key" instead of "request_id").'
)
_OUTCOME_HINT = (
    'Send {"records": [{"request_id": "...", "event": "helpful_click", "value": 1}]} '
    '(or "key" instead of "request_id").'
)


def ground_truth_table(records: Sequence[Any], *, now: datetime | None = None) -> pa.Table:
    """Check ground-truth records and return them as a table; InvalidInput names the
    first bad record and what is wrong with it."""
    received = now or datetime.now(UTC)
    rows = []
    for i, record in enumerate(_records(records, _HINT)):
        request_id, key = _target(record, i, _HINT)
        if "label" not in record or record["label"] is None:
            raise InvalidInput(f"Record {i} has no label.", hint=_HINT)
        rows.append(
            {
                "request_id": request_id,
                "key": key,
                "label": _label(record["label"], i),
                "time": _time(record.get("time"), i, received),
                "received_at": received,
            }
        )
    return pa.Table.from_pylist(rows, schema=GROUND_TRUTH_SCHEMA)


def outcome_table(records: Sequence[Any], *, now: datetime | None = None) -> pa.Table:
    """Check business-outcome records and return them as a table."""
    received = now or datetime.now(UTC)
    rows = []
    for i, record in enumerate(_records(records, _OUTCOME_HINT)):
        request_id, key = _target(record, i, _OUTCOME_HINT)
        event = record.get("event")
        if not isinstance(event, str):
            raise InvalidInput(f"Record {i} needs an event name (text).", hint=_OUTCOME_HINT)
        check_name(event, f"Record {i}'s event")
        value = record.get("value", 1.0)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise InvalidInput(
                f"Record {i}'s value must be a finite number, got {value!r}.", hint=_OUTCOME_HINT
            )
        rows.append(
            {
                "request_id": request_id,
                "key": key,
                "event": event,
                "value": float(value),
                "time": _time(record.get("time"), i, received),
                "received_at": received,
            }
        )
    return pa.Table.from_pylist(rows, schema=OUTCOME_SCHEMA)


def append(home: Path, kind: str, endpoint: str, table: pa.Table) -> Path:
    """Write ``table`` as one new file of ``kind`` for ``endpoint`` (atomically), in the
    folder of the day its records were received (one post: one time)."""
    received = table.column("received_at")[0].as_py() if table.num_rows else datetime.now(UTC)
    folder = _folder(home, kind, endpoint) / f"received={received.astimezone(UTC).date()}"
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"part-{uuid.uuid4().hex}.parquet"
    scratch = folder / f".{final.name}.tmp"
    pq.write_table(table, scratch)
    os.replace(scratch, final)
    return final


def read(home: Path, kind: str, endpoint: str, received_since: datetime | None = None) -> pa.Table:
    """The records of ``kind`` posted for ``endpoint`` (an empty table when none): every
    one, or with ``received_since``, those of the days received since then (whole days:
    a few more, never fewer)."""
    schema = GROUND_TRUTH_SCHEMA if kind == GROUND_TRUTH else OUTCOME_SCHEMA
    folder = _folder(home, kind, endpoint)
    if not folder.is_dir():
        return schema.empty_table()
    since = None if received_since is None else str(received_since.astimezone(UTC).date())
    files = [str(p) for p in folder.glob("part-*.parquet")]  # before the day folders
    for day in folder.glob("received=*"):
        if since is None or day.name.removeprefix("received=") >= since:
            files += [str(p) for p in day.glob("part-*.parquet")]
    if not files:
        return schema.empty_table()
    return ds.dataset(sorted(files), schema=schema, format="parquet").to_table()


def posted(home: Path, endpoint: str) -> bool:
    """Whether any ground truth or outcome was ever posted for ``endpoint`` (a look at
    its folders, nothing read): without any, its capture need not be read to join it."""
    return any(
        next(_folder(home, kind, endpoint).rglob("part-*.parquet"), None) is not None
        for kind in (GROUND_TRUTH, OUTCOMES)
    )


def _folder(home: Path, kind: str, endpoint: str) -> Path:
    return home / "monitoring" / kind / f"endpoint={endpoint}"


def earliest_arrival(captured: Any) -> datetime | None:
    """When the first of ``captured``'s requests (a frame of ``read_capture`` with
    ``time`` and ``arrived``) reached the server: their feedback came after it."""
    if captured is None or len(captured) == 0:
        return None
    import pandas as pd

    arrived = captured["arrived"].fillna(captured["time"]) if "arrived" in captured else None
    found = (captured["time"] if arrived is None else arrived).min()
    if pd.isna(found):
        return None
    # No request arrives in the future: one that says so was written with a stated time
    # and no arrival (a test's, an import's), and may have feedback from before it.
    return min(pd.Timestamp(found).to_pydatetime(), datetime.now(UTC))


def read_records_file(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Records from a CSV, Parquet, JSON (a list, or ``{"records": [...]}``) or JSON-lines
    file, for ``shipyard monitor ground-truth FILE`` and ``... outcomes FILE``."""
    file = Path(path)
    if not file.is_file():
        raise InvalidInput(f"No file at {file}.", hint="Pass a CSV, Parquet, JSON or JSONL file.")
    suffix = file.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pq.read_table(file).to_pylist()
        if suffix == ".csv":
            import pyarrow.csv as pcsv

            return pcsv.read_csv(file).to_pylist()
        text = file.read_text(encoding="utf-8")
        if suffix in (".jsonl", ".ndjson"):
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        document = json.loads(text)
    except (OSError, ValueError, pa.ArrowInvalid) as exc:
        raise InvalidInput(f"Cannot read {file}: {exc}".splitlines()[0]) from None
    if isinstance(document, Mapping):
        document = document.get("records")
    if not isinstance(document, list):
        raise InvalidInput(f"{file} holds no list of records.", hint=_HINT)
    return document


def _records(records: Any, hint: str) -> Iterable[Mapping[str, Any]]:
    if not isinstance(records, Sequence) or isinstance(records, str | bytes) or not records:
        raise InvalidInput("Send a non-empty list of records.", hint=hint)
    if len(records) > MAX_RECORDS:
        raise InvalidInput(
            f"{len(records):,} records in one post; at most {MAX_RECORDS:,}.",
            hint="Split them into several posts.",
        )
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise InvalidInput(f"Record {i} is not an object.", hint=hint)
        yield record


def _target(record: Mapping[str, Any], i: int, hint: str) -> tuple[str | None, str | None]:
    request_id, key = record.get("request_id"), record.get("key")
    if (request_id is None) == (key is None):
        raise InvalidInput(f"Record {i} needs exactly one of request_id and key.", hint=hint)
    for name, value in (("request_id", request_id), ("key", key)):
        if value is not None and (not isinstance(value, str) or not 0 < len(value) <= MAX_ID):
            raise InvalidInput(
                f"Record {i}'s {name} must be text of 1 to {MAX_ID} characters.", hint=hint
            )
    return request_id, key


def _label(value: Any, i: int) -> str:
    items = value if isinstance(value, list) else [value]
    if not items or not all(_scalar(v) for v in items):
        raise InvalidInput(
            f"Record {i}'s label must be a class or a number (or a list of them, one per "
            f"row), got {value!r}.",
            hint=_HINT,
        )
    return json.dumps(value)


def _scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str | int | bool)


def _time(value: Any, i: int, default: datetime) -> datetime:
    if value is None:
        return default
    if isinstance(value, datetime):
        at = value
    elif isinstance(value, str):
        try:
            at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(
                f"Record {i}'s time {value!r} is not an ISO 8601 time.",
                hint="Write it like 2024-03-01T10:00:00Z.",
            ) from None
    else:
        raise InvalidInput(f"Record {i}'s time must be ISO 8601 text, got {value!r}.")
    if at.tzinfo is None:
        raise InvalidInput(
            f"Record {i}'s time {value!r} has no timezone.", hint="Add Z (UTC) or an offset."
        )
    return at.astimezone(UTC)
