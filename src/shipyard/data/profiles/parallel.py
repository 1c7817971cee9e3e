"""A Parquet input profiled row group by row group on an engine, the parts merged.

Each part is one row group; a worker reads it itself (so workers must see the path: a
local cluster, or a folder they share) and returns its partial profile, pickled with
its sketches' bytes. The caller merges the parts in order with
:func:`~shipyard.data.profiles.table.merge_all`. Against one pass over the file:

- the same, exactly: row and missing counts, min, max, category counts (up to
  1,000 categories), the inferred kinds, and the HLL registers (a union is their
  maximum), so the distinct estimate and its bounds are equal too;
- equal up to floating-point rounding: mean and variance (Chan's parallel formula);
- within the sketch's error: quantiles, CDFs and histograms (KLL merge: 0.86%
  normalized rank error, double-sided, at 99%), and the frequent items of a column
  past 1,000 categories (0.34% of its present values).

So constraints suggested from either profile are the same, and so are the verdicts of
checks against them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.data.profiles.table import BATCH_ROWS, TableProfile, merge_all, profile_batches
from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

    from shipyard.engines import Engine


@dataclass(frozen=True)
class RowGroup:
    """One row group of one Parquet file: a part of the profile."""

    path: str
    index: int


@dataclass(frozen=True)
class ProfileJob:
    """What every part needs: the schema (an empty row group still has columns), the
    declared kinds and the batch size."""

    schema: pa.Schema
    kinds: dict[str, str]
    batch_rows: int


def profile_parquet(
    source: str | os.PathLike[str],
    engine: Engine,
    *,
    kinds: Mapping[str, str] | None = None,
    batch_rows: int = BATCH_ROWS,
) -> TableProfile:
    """The profile of a Parquet file (or a folder of files of one schema), its row groups
    profiled on ``engine``."""
    schema, parts = row_groups(source)
    job = ProfileJob(schema, dict(kinds or {}), batch_rows)
    return merge_all(engine.map_parts(profile_row_group, parts, shared=job))


def profile_row_group(job: ProfileJob, part: RowGroup) -> TableProfile:
    """One row group's profile (empty when the row group is)."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(part.path, pre_buffer=False)
    batches = parquet.iter_batches(batch_size=job.batch_rows, row_groups=[part.index])
    return profile_batches(batches, kinds=job.kinds, schema=job.schema, allow_empty=True)


def row_groups(source: str | os.PathLike[str]) -> tuple[pa.Schema, list[RowGroup]]:
    """The schema and the row groups of a Parquet file, or of the ``.parquet`` files below a
    folder (in name order; names starting with ``.`` or ``_`` are left out)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(source).expanduser().resolve()
    if path.is_dir():
        files = sorted(
            p for p in path.rglob("*.parquet")
            if not any(piece[:1] in "._" for piece in p.relative_to(path).parts)
        )  # fmt: skip
    else:
        files = [path] if path.is_file() else []
    if not files:
        raise InvalidInput(f"No Parquet file at {source}.", hint="Pass a .parquet file or folder.")
    schema: pa.Schema | None = None
    parts: list[RowGroup] = []
    for file in files:
        try:
            metadata = pq.read_metadata(file)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InvalidInput(f"Cannot read {file}: {exc}") from None
        found = metadata.schema.to_arrow_schema()
        if schema is not None and not found.equals(schema):
            raise InvalidInput(
                f"{file} has other columns or types than {files[0]}.",
                hint="Profile files of one schema together.",
            )
        schema = found
        parts += [RowGroup(str(file), group) for group in range(metadata.num_row_groups)]
    assert schema is not None
    return schema, parts
