"""The capture writer's JSON parse, run in a process of its own.

The writer keeps each file's JSON parsed beside the text (``parsed_*``: what monitoring
reads). Parsing is a few hundred short Arrow calls a flush; on the writer's thread each
return from Arrow asks the serving process's interpreter lock back from the requests,
which cost an endpoint with full capture a sixth of its throughput
(``benchmarks/bench_deploy.py``). So the writer sends the flush's JSON columns to one
helper process (Arrow IPC, one copy), waits for the parsed columns there without the
lock, and writes the files. The helper starts with the first flush and is shared by
every writer of the process; if it cannot be used the text is kept alone, and
monitoring parses it as before.
"""

from __future__ import annotations

import atexit
import logging
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

SENT = ["status", "input", "enriched", "scores", "output"]  # what the parse reads
TIMEOUT_SECONDS = 60.0  # a flush never waits longer for its parse

_helper: ProcessPoolExecutor | None = None
_starting = threading.Lock()


def parsed_parts_apart(tables: list[Any]) -> list[dict[str, Any]]:
    """:func:`shipyard.monitoring.capture_tables.parsed_parts` of ``tables``, computed in
    the helper process (raises what the parse or the helper raised)."""
    import pyarrow as pa

    sizes = [t.num_rows for t in tables]
    sent = pa.concat_tables([t.select(SENT) for t in tables], promote_options="permissive")
    found = _pool().submit(_parse, _to_bytes(sent), sizes).result(TIMEOUT_SECONDS)
    return [_columns(part) for part in found]


def _pool() -> ProcessPoolExecutor:
    global _helper
    with _starting:
        if _helper is None:
            import multiprocessing

            # spawn: the serving process holds threads (the event loop, the writer)
            context = multiprocessing.get_context("spawn")
            _helper = ProcessPoolExecutor(max_workers=1, mp_context=context)
            atexit.register(stop)
        return _helper


def stop() -> None:
    """Stop the helper (at exit, or after it failed; a later flush starts another)."""
    global _helper
    with _starting:
        helper, _helper = _helper, None
    if helper is not None:
        helper.shutdown(wait=False, cancel_futures=True)


def _parse(body: bytes, sizes: list[int]) -> list[bytes]:
    """In the helper: the parts' parsed columns, each as an Arrow IPC table."""
    import pyarrow as pa

    from shipyard.monitoring.capture_tables import parsed_parts

    table = _from_bytes(body)
    parts, start = [], 0
    for size in sizes:
        parts.append(table.slice(start, size))
        start += size
    out = []
    for columns in parsed_parts(parts):
        if columns:
            out.append(_to_bytes(pa.table(columns)))
        else:
            out.append(b"")
    return out


def _columns(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    table = _from_bytes(body)
    return {name: table.column(name).combine_chunks() for name in table.column_names}


def _to_bytes(table: Any) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def _from_bytes(body: bytes) -> Any:
    import pyarrow as pa

    return pa.ipc.open_stream(pa.py_buffer(body)).read_all()
