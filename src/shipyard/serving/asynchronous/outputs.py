"""An invocation's output, written so that it appears whole, once.

Bytes go to a temporary object beside the outputs (``.tmp/``) and are moved to the
output location when complete: a rename on a local disk, a server-side copy on an
object store, either way the location holds the whole output or nothing. A job
delivered twice (its worker lost the lease but finished) writes the same bytes to the
same location, so one output stays, identical to a single run's. The JSON is built a
record batch at a time, never whole in memory.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any

from fsspec.core import url_to_fs


@contextmanager
def written_whole(location: str) -> Iterator[IO[bytes]]:
    """A handle whose bytes appear at ``location`` only when the block ends without error."""
    fs, path = url_to_fs(location)
    folder = path.rsplit("/", 1)[0]
    temp = f"{folder}/.tmp/{uuid.uuid4().hex}.part"
    fs.makedirs(f"{folder}/.tmp", exist_ok=True)
    try:
        with fs.open(temp, "wb") as handle:
            yield handle
        fs.mv(temp, path)
    finally:
        if fs.exists(temp):
            fs.rm(temp)


class PredictionsJson:
    """Writes ``{...header, "predictions": [...], "rows": N}`` one batch at a time."""

    def __init__(self, handle: IO[bytes], header: Mapping[str, Any]) -> None:
        self.handle = handle
        self.rows = 0
        head = json.dumps(dict(header), sort_keys=True, allow_nan=False, default=str)
        handle.write(f'{head[:-1]}, "predictions": ['.encode())

    def add(self, predictions: Any) -> None:
        """Append one batch's predictions (a list or NumPy array)."""
        values = predictions if isinstance(predictions, list) else predictions.tolist()
        if not values:
            return
        text = json.dumps(values, allow_nan=False, default=str)[1:-1]
        self.handle.write((text if self.rows == 0 else ", " + text).encode())
        self.rows += len(values)

    def close(self) -> None:
        self.handle.write(f'], "rows": {self.rows}}}'.encode())


def write_json(location: str, document: Mapping[str, Any]) -> None:
    """``document`` at ``location``, whole or not at all (a failure record)."""
    with written_whole(location) as handle:
        handle.write(json.dumps(dict(document), sort_keys=True, default=str).encode())


def read_json(location: str) -> Any:
    """The JSON document at ``location`` (an output or a failure record)."""
    fs, path = url_to_fs(location)
    with fs.open(path, "rb") as handle:
        return json.load(handle)
