"""Damage in the metadata database, reported as such: which record, what is wrong, what to do.

Records keep their details as JSON text. Decoding happens here rather than in
the database driver, so a payload that does not parse is an IntegrityError
naming its record instead of a bare JSONDecodeError from deep inside a query.
"""

from __future__ import annotations

import json
from typing import Any

from shipyard.errors import IntegrityError

CHECK_HINT = (
    "Run `shipyard db check` to list everything damaged, then restore the metadata "
    "database from a backup (see `shipyard db backup`)."
)


def decode_payload(raw: Any, what: str) -> dict[str, Any]:
    """The JSON object stored for ``what`` (such as ``dataset:flights@2``)."""
    if isinstance(raw, str | bytes | bytearray):
        try:
            value = json.loads(raw)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
            raise damaged_record(what, f"its JSON does not parse ({exc})") from None
    else:  # a driver that parses JSON itself hands over the object
        value = raw
    if not isinstance(value, dict):
        raise damaged_record(what, f"it holds a JSON {type(value).__name__}, not an object")
    return value


def damaged_record(what: str, problem: str) -> IntegrityError:
    """The error for a record that is stored but cannot be read back."""
    return IntegrityError(f"The metadata record {what} is damaged: {problem}.", hint=CHECK_HINT)


def damaged_database(location: str, problem: str) -> IntegrityError:
    """The error for a database file the engine itself reports as corrupt."""
    return IntegrityError(
        f"The metadata database {location} is damaged: {problem}.",
        hint="Restore it from a backup made with `shipyard db backup`: with no Shipyard "
        "process running, copy the backup over the file and delete its -wal and -shm files; "
        "then run `shipyard db check`.",
    )
