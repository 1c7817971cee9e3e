"""A monitoring run's capture profiled on an engine: a variant's hour, or a share of a
busy hour's files (about :data:`PART_BYTES` of Parquet), is one part.

Before a run checks its windows, every hour of ``[start, end)`` with capture files not
profiled yet is handed to the engine's workers, which read those files and profile them
exactly as :func:`~shipyard.monitoring.windows.profile_files` does for the local path;
the caller merges each result into the hour's stored record as it comes back
(:func:`~shipyard.monitoring.windows.store_hour`), so a part done is kept even if a later
one fails (profiles merge: a part's files profiled apart and merged count as profiled).
The run then reads the hours from the store as any rerun does, so its points are those
of the local path.

Workers read the capture folder themselves (a local cluster, or a folder they share) and
never touch the stores. Profiles are made with each model version's baseline kinds, so
the models in the files are found first (one cheap pass over their ``model`` column,
on the workers too) and their kinds sent with the job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.monitoring.windows import (
    KindsOf,
    ModelWindow,
    hour_work,
    hours,
    profile_files,
    store_hour,
)

if TYPE_CHECKING:
    from shipyard.engines import Engine
    from shipyard.stores.artifacts import ArtifactStore
    from shipyard.stores.monitoring import MonitorStore


@dataclass(frozen=True)
class Kinds:
    """Model version -> stage -> column -> kind: every part's profiles are made with them.
    (A class, not a bare dict: Dask would scatter a dict's values one by one.)"""

    by_model: Mapping[str, Mapping[str, Mapping[str, str]]]


PART_BYTES = 128 << 20  # an hour's new files are split into parts of about this much Parquet


@dataclass(frozen=True)
class HourFiles:
    """New capture files of one variant's hour (all of them, or a share of a busy
    hour's, so that one hour keeps every worker busy): one part."""

    index: int  # of the hour's work
    paths: tuple[str, ...]


def split(paths: list[Path], part_bytes: int = PART_BYTES) -> list[tuple[str, ...]]:
    """``paths`` in runs of about ``part_bytes`` of files each (at least one file)."""
    runs: list[tuple[str, ...]] = []
    run: list[str] = []
    size = 0
    for path in paths:
        run.append(str(path))
        size += path.stat().st_size
        if size >= part_bytes:
            runs.append(tuple(run))
            run, size = [], 0
    if run:
        runs.append(tuple(run))
    return runs


def update_hours(
    home: Path,
    store: MonitorStore,
    artifacts: ArtifactStore,
    endpoint: str,
    variants: Iterable[str],
    start: datetime,
    end: datetime,
    kinds_of: KindsOf,
    engine: Engine,
) -> int:
    """Bring the stored hours of ``[start, end)`` up to date on ``engine``; how many
    variant-hours had new files."""
    work = [
        found
        for variant in variants
        for hour in hours(start, end)
        if (found := hour_work(home, store, endpoint, variant, hour)).new
    ]
    parts = [HourFiles(i, run) for i, w in enumerate(work) for run in split(w.paths, PART_BYTES)]
    seen = engine.map_parts(models_in, parts, shared=None)
    kinds = Kinds({model: kinds_of(model) for model in sorted(set().union(*seen))})

    def on_done(part: HourFiles, fresh: dict[str, ModelWindow]) -> None:
        # The hour as stored now (an earlier part of it may have been merged in), with
        # this part's files as the new ones.
        hour = work[part.index]
        now = hour_work(home, store, hour.endpoint, hour.variant, hour.hour)
        names = {Path(p).name for p in part.paths}
        store_hour(store, artifacts, replace(now, new=[n for n in now.new if n in names]), fresh)

    engine.map_parts(profile_hour, parts, shared=kinds, on_done=on_done)
    return len(parts)


def models_in(_: None, part: HourFiles) -> set[str]:
    """The model versions that answered in the part's files ("" for none)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from shipyard.serving.capture import ROW_SCHEMA

    schema = pa.schema([ROW_SCHEMA.field("model")])
    found: set[str] = set()
    for path in part.paths:
        column = ds.dataset(path, schema=schema, format="parquet").to_table().column("model")
        found.update(pc.unique(pc.fill_null(column, "")).to_pylist())
    return found


def profile_hour(kinds: Kinds, part: HourFiles) -> dict[str, ModelWindow]:
    """The part's files profiled as the local path profiles them."""
    return profile_files([Path(p) for p in part.paths], lambda m: kinds.by_model.get(m, {}))
