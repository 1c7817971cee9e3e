"""CSV files read as Arrow batches, with errors that name columns and say what to do.

Arrow infers each column's type from the first block and reads text as UTF-8.
Two things then go wrong quietly or obscurely, and both are refused here:

- bytes that are not UTF-8 make Arrow type the column as binary, which would be
  stored as raw bytes;
- a later block that does not fit the inferred type ("abc" in a column of
  numbers, or invalid UTF-8 further down) fails naming the column by position.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

BLOCK_BYTES = 16 << 20
_POSITION = re.compile(r"CSV column #(\d+)")
_ENCODING_HINT = (
    "Save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8 in.csv > out.csv), or read it "
    "with pandas.read_csv(path, encoding='latin-1') and register the DataFrame."
)


def open_csv(path: Path) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The file's schema and its batches; InvalidInput naming the column when one is bad."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"Cannot read {path}: {_named(str(exc), None)}") from None
    binary = [f.name for f in reader.schema if pa.types.is_binary(f.type)]
    if binary:
        raise InvalidInput(
            f"{path}: column(s) {', '.join(binary)} hold bytes that are not UTF-8 text.",
            hint=_ENCODING_HINT,
        )
    return reader.schema, _batches(path, reader)


def _batches(path: Path, reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa

    names = reader.schema.names
    try:
        yield from reader
    except pa.ArrowInvalid as exc:
        message = _named(str(exc), names)
        hint = (
            _ENCODING_HINT
            if "UTF8" in message
            else "Make every value of that column the same type, or read the file with pandas "
            "(dtype=...) and register the DataFrame."
        )
        raise InvalidInput(f"Cannot read {path}: {message}", hint=hint) from None


def _named(message: str, names: list[str] | None) -> str:
    """Arrow's message on one line, with 'CSV column #1' as 'column 'b''."""
    line = " ".join(message.split())
    if names is None:
        return line

    def name(match: re.Match[str]) -> str:
        index = int(match.group(1))
        return f"column {names[index]!r}" if index < len(names) else match.group(0)

    return _POSITION.sub(name, line)
