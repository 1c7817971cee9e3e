"""An async invocation's input, read a record batch at a time.

Formats: JSON (``{"records": [...]}`` or ``{"columns": {...}}``, read whole, as the
real-time route reads it), and, for inputs too large for that, an Arrow IPC stream,
Parquet, CSV and JSON lines, each read in batches of :data:`BATCH_ROWS` so a large
input never sits whole in memory. A reference's format is its content type when
given, else its suffix.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from shipyard.serving.inference import (
    ARROW_TYPE,
    JSON_TYPE,
    InvalidRequest,
    arrow_columns,
    columns_of,
    load_json,
    media_type,
)

if TYPE_CHECKING:
    from shipyard.workspace import Workspace

BATCH_ROWS = 50_000
# A JSON document is parsed whole, at about 50 times its size in memory: larger inputs
# come in a format read by record batch.
MAX_JSON_BYTES = 64 << 20
PARQUET_TYPE = "application/vnd.apache.parquet"
CSV_TYPE = "text/csv"
JSONL_TYPE = "application/jsonlines"
FORMATS = (JSON_TYPE, ARROW_TYPE, PARQUET_TYPE, CSV_TYPE, JSONL_TYPE)
ALIASES = {
    "application/x-parquet": PARQUET_TYPE,
    "application/x-ndjson": JSONL_TYPE,
    "application/x-jsonlines": JSONL_TYPE,
    "application/jsonl": JSONL_TYPE,
}
SUFFIXES = {
    ".json": JSON_TYPE,
    ".arrow": ARROW_TYPE,
    ".arrows": ARROW_TYPE,
    ".parquet": PARQUET_TYPE,
    ".csv": CSV_TYPE,
    ".jsonl": JSONL_TYPE,
    ".ndjson": JSONL_TYPE,
}

Batch = tuple[dict[str, Any], int]  # columns (name -> values) and the row count


def input_format(content_type: str | None, location: str | None = None) -> str:
    """The format of an input: its content type, else its location's suffix; a 415 if
    neither names one served."""
    kind = media_type(content_type)
    kind = ALIASES.get(kind, kind)
    if not kind and location is not None:
        kind = SUFFIXES.get(Path(location).suffix.lower(), "")
    if kind not in FORMATS:
        raise InvalidRequest(
            [f"content type {kind or '(none)'!r} is not served asynchronously"],
            status=415,
            hint=f"Send one of {', '.join(FORMATS)} (for a reference: in "
            "X-Shipyard-Input-Content-Type, or a file ending .json, .arrow, .parquet, .csv "
            "or .jsonl).",
        )
    return kind


@contextmanager
def opened(workspace: Workspace, location: str) -> Iterator[IO[bytes]]:
    """A binary handle on the input at ``location`` (checked when it was accepted): an
    artifact is copied out verified first, so a changed byte is refused."""
    if location.startswith("sha256:"):
        temp = Path(workspace.settings.home) / "tmp" / f"async-input-{uuid.uuid4().hex}"
        try:
            workspace.artifacts.get_file(location, temp)
            with temp.open("rb") as handle:
                yield handle
        finally:
            temp.unlink(missing_ok=True)
        return
    if location.startswith("dataset:"):
        location = str(workspace.datasets.path(location.removeprefix("dataset:")))
    from fsspec.core import url_to_fs

    fs, path = url_to_fs(location)
    with fs.open(path, "rb") as handle:
        yield handle


def batches(handle: IO[bytes], kind: str) -> Iterator[Batch]:
    """The input's record batches as columns; InvalidRequest (400) when unreadable."""
    import pyarrow as pa

    try:
        if kind == JSON_TYPE:
            yield columns_of(load_json(read_json_body(handle)))
            return
        for batch in _arrow_batches(handle, kind):
            if batch.num_rows:
                yield arrow_columns(batch), batch.num_rows
    except (pa.ArrowInvalid, pa.ArrowException, OSError, ValueError) as exc:
        if isinstance(exc, InvalidRequest):
            raise
        raise InvalidRequest([f"the input is not readable as {kind}: {exc}"], status=400) from None


def too_large_for_json(size: int) -> InvalidRequest:
    return InvalidRequest(
        [f"a JSON input is read whole, so at most {MAX_JSON_BYTES >> 20} MiB; "
         f"this one has {size:,} bytes or more"],
        status=413,
        hint=f"Send large inputs as JSON lines ({JSONL_TYPE}), CSV, Parquet or an Arrow "
        "stream: they are read a record batch at a time.",
    )  # fmt: skip


def read_json_body(handle: IO[bytes]) -> bytes:
    """The whole JSON input, refused (413) past MAX_JSON_BYTES before it is parsed."""
    body = handle.read(MAX_JSON_BYTES + 1)
    if len(body) > MAX_JSON_BYTES:
        raise too_large_for_json(len(body))
    return bytes(body)


def _arrow_batches(handle: IO[bytes], kind: str) -> Iterator[Any]:
    import pyarrow as pa

    if kind == ARROW_TYPE:
        yield from pa.ipc.open_stream(handle)
    elif kind == PARQUET_TYPE:
        import pyarrow.parquet as pq

        yield from pq.ParquetFile(handle).iter_batches(batch_size=BATCH_ROWS)
    elif kind == CSV_TYPE:
        import pyarrow.csv as csv

        yield from csv.open_csv(handle, read_options=csv.ReadOptions(block_size=8 << 20))
    else:
        import pyarrow.json as pj

        yield from pj.open_json(handle, read_options=pj.ReadOptions(block_size=8 << 20))
