"""Profiles of an endpoint's capture by the hour, stored once and merged for longer windows.

The capture is written one folder per endpoint, variant and hour, in files that never
change once written (``serving.capture``). For each variant and hour, the monitoring
store keeps one record (:class:`~shipyard.stores.monitoring.WindowProfile`, stage
``capture``) listing the files already profiled and pointing at a document in the
artifact store with, per model version that answered: the profile of each stage
(:mod:`~shipyard.monitoring.capture_tables`), the requests answered and refused, and
the enrichment statuses. A later run profiles only the files that arrived since (a
replay writes into past hours) and merges them in; raw captures are read once.

A window of several hours is the merge of its hours' profiles, never a re-read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from shipyard.monitoring.capture_tables import STAGES, stage_tables, status_counts
from shipyard.stores.monitoring import WindowProfile

if TYPE_CHECKING:
    from shipyard.data.profiles import TableProfile
    from shipyard.stores.artifacts import ArtifactStore
    from shipyard.stores.monitoring import MonitorStore

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
RECORD_STAGE = "capture"  # the stage of the monitoring store's per-hour record
BATCH_ROWS = 65_536
PIECES_AHEAD = 2  # pieces of capture read and made into rows ahead of the profiling
# Model version -> stage -> column -> kind: profile a window as its baseline was profiled.
KindsOf = Callable[[str], Mapping[str, Mapping[str, str]]]
COLUMNS = ["model", "status", "input", "enriched", "statuses", "scores", "output"]


@dataclass
class ModelWindow:
    """What one model version's traffic looked like in a window (or one hour)."""

    profiles: dict[str, TableProfile] = field(default_factory=dict)  # stage -> profile
    answered: int = 0
    refused: int = 0
    refusals: dict[str, int] = field(default_factory=dict)  # HTTP status -> requests
    statuses: dict[str, dict[str, int]] = field(default_factory=dict)  # feature -> counts

    def merge(self, other: ModelWindow) -> ModelWindow:
        profiles = dict(self.profiles)
        for stage, profile in other.profiles.items():
            mine = profiles.get(stage)
            profiles[stage] = profile if mine is None else merge_loose(mine, profile)
        return ModelWindow(
            profiles,
            self.answered + other.answered,
            self.refused + other.refused,
            _add(self.refusals, other.refusals),
            {
                f: _add(self.statuses.get(f, {}), other.statuses.get(f, {}))
                for f in {*self.statuses, *other.statuses}
            },
        )


def hours(start: datetime, end: datetime) -> Iterator[datetime]:
    """The UTC hours that ``[start, end)`` covers, each by its first instant."""
    at = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while at < end:
        yield at
        at += HOUR


def variants(home: Path, endpoint: str) -> list[str]:
    """The variants with captures of ``endpoint``."""
    folder = home / "capture" / f"endpoint={endpoint}"
    if not folder.is_dir():
        return []
    return sorted(p.name.split("=", 1)[1] for p in folder.glob("variant=*") if p.is_dir())


def window(
    home: Path,
    store: MonitorStore,
    artifacts: ArtifactStore,
    endpoint: str,
    variant: str,
    start: datetime,
    end: datetime,
    kinds_of: KindsOf,
) -> dict[str, ModelWindow]:
    """Model version -> its traffic on ``variant`` over the whole hours of ``[start, end)``."""
    merged: dict[str, ModelWindow] = {}
    for hour in hours(start, end):
        found = hour_profile(home, store, artifacts, endpoint, variant, hour, kinds_of)
        for model, part in found.items():
            merged[model] = part if model not in merged else merged[model].merge(part)
    return merged


@dataclass
class HourWork:
    """One variant's hour as stored, and the capture files that arrived since."""

    endpoint: str
    variant: str
    hour: datetime
    folder: Path
    artifact: str | None  # the stored profiles of the files done, if any
    done: set[str]  # file names already profiled
    new: list[str]  # file names to profile

    @property
    def paths(self) -> list[Path]:
        return [self.folder / name for name in self.new]

    def known(self, artifacts: ArtifactStore) -> dict[str, ModelWindow]:
        """Model version -> its traffic in the files done (read when needed, not listed)."""
        return {} if self.artifact is None else _load(artifacts, self.artifact)


def hour_profile(
    home: Path,
    store: MonitorStore,
    artifacts: ArtifactStore,
    endpoint: str,
    variant: str,
    hour: datetime,
    kinds_of: KindsOf,
) -> dict[str, ModelWindow]:
    """One hour of one variant, bringing its stored record up to date with new files."""
    work = hour_work(home, store, endpoint, variant, hour)
    if not work.new:
        return work.known(artifacts)
    return store_hour(store, artifacts, work, profile_files(work.paths, kinds_of))


def hour_work(
    home: Path, store: MonitorStore, endpoint: str, variant: str, hour: datetime
) -> HourWork:
    """What is stored of one variant's hour, and which of its files are new."""
    folder = (
        home / "capture" / f"endpoint={endpoint}" / f"variant={variant}"
        / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
    )  # fmt: skip
    files = sorted(p.name for p in folder.glob("*.parquet")) if folder.is_dir() else []
    stored = store.profile(endpoint, variant, RECORD_STAGE, hour)
    done = set() if stored is None else set(stored.files)
    new = [name for name in files if name not in done]
    artifact = None if stored is None else stored.artifact
    return HourWork(endpoint, variant, hour, folder, artifact, done, new)


def store_hour(
    store: MonitorStore,
    artifacts: ArtifactStore,
    work: HourWork,
    fresh: Mapping[str, ModelWindow],
) -> dict[str, ModelWindow]:
    """Merge the new files' profiles into the hour's and store its record; the hour's whole."""
    known = work.known(artifacts)
    for model, part in fresh.items():
        known[model] = part if model not in known else known[model].merge(part)
    digest = artifacts.put_bytes(json.dumps(_dump(known), sort_keys=True).encode()).digest
    store.put_profile(
        WindowProfile(
            endpoint=work.endpoint,
            variant=work.variant,
            stage=RECORD_STAGE,
            hour=work.hour,
            rows=sum(w.answered for w in known.values()),
            files=tuple(sorted(work.done | set(work.new))),
            artifact=digest,
            updated_at=datetime.now(UTC),
        )
    )
    return known


def profile_files(paths: list[Path], kinds_of: KindsOf) -> dict[str, ModelWindow]:
    """Profile captured requests in ``paths``: model version -> its window.

    Files are read one at a time (a dataset scan over all of them reads ahead without
    bound while profiling is slower: 1.7 GB instead of 0.4 GB for an hour of a thousand
    requests a second) and profiled in pieces of about :data:`BATCH_ROWS` requests. Of
    a stage whose JSON the writer parsed, only the parsed column is read: the text is
    most of a file's bytes. Reading and making each piece's tables of rows (Arrow's
    work, mostly without the interpreter lock) run on a thread a few pieces ahead of
    the profiling (sketches, which hold it)."""
    out: dict[str, ModelWindow] = {}
    for model, piece in _ahead(_pieces(paths), PIECES_AHEAD):
        window = piece.profile(kinds_of(model))
        out[model] = window if model not in out else out[model].merge(window)
    return out


@dataclass
class _Piece:
    """One model version's requests of a piece of files, ready to profile."""

    stages: dict[str, pa.Table]  # stage -> its table of rows
    status: Any  # numpy: each request's HTTP status
    statuses: dict[str, dict[str, int]]

    def profile(self, kinds: Mapping[str, Mapping[str, str]]) -> ModelWindow:
        from shipyard.data.checks.suite import known_kinds
        from shipyard.data.profiles import profile_table

        refused = self.status >= 400
        refusals: dict[str, int] = {}
        for code in set(self.status[refused].tolist()):
            refusals[str(code)] = int((self.status == code).sum())
        profiles = {
            stage: profile_table(table, kinds=known_kinds(dict(kinds.get(stage, {})), table))
            for stage, table in self.stages.items()
            if table.num_rows and table.num_columns
        }
        return ModelWindow(
            profiles=profiles,
            answered=int((~refused).sum()),
            refused=int(refused.sum()),
            refusals=refusals,
            statuses=self.statuses,
        )


def _pieces(paths: list[Path]) -> Iterator[tuple[str, _Piece]]:
    """The files' requests in pieces of about :data:`BATCH_ROWS`, by model version."""
    pending: list[tuple[Path, pa.Table]] = []
    rows = 0
    for path in paths:
        table = _read_file(path, parsed=True)
        if table.num_rows:
            pending.append((path, table))
            rows += table.num_rows
        if rows >= BATCH_ROWS:
            yield from _by_model(_concat(pending))
            pending, rows = [], 0
    if pending:
        yield from _by_model(_concat(pending))


def _by_model(table: pa.Table) -> Iterator[tuple[str, _Piece]]:
    models = pc.fill_null(table.column("model"), "")
    one = pc.count_distinct(models).as_py() == 1
    for model in pc.unique(models).to_pylist():
        part = table if one else table.filter(pc.equal(models, model))
        status = part.column("status").to_numpy(zero_copy_only=False)
        yield model, _Piece(stage_tables(part), status, status_counts(part))


def _ahead(items: Iterator[Any], ahead: int) -> Iterator[Any]:
    """``items``, made on a thread at most ``ahead`` items before they are taken (its
    errors raised here); the thread stops when the caller stops taking."""
    import queue
    import threading

    done = object()
    made: queue.Queue[Any] = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def put(item: Any, error: BaseException | None = None) -> bool:
        while not stop.is_set():
            try:
                made.put((item, error), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False  # the caller stopped taking

    def make() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(done)
        except BaseException as exc:  # raised in the caller's thread
            put(done, exc)

    thread = threading.Thread(target=make, name="shipyard-capture-read", daemon=True)
    thread.start()
    try:
        while True:
            item, error = made.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        thread.join()


def _read_file(path: Path, *, parsed: bool) -> pa.Table:
    """What monitoring reads of one capture file: :data:`COLUMNS` (null where a file
    written before a column lacks it), each stage's parsed column in place of its text
    where the file has one (with ``parsed``), and no stage whose text is null throughout."""
    import pyarrow.parquet as pq

    from shipyard.monitoring.capture_tables import PARSED
    from shipyard.serving.capture import ROW_SCHEMA

    file = pq.ParquetFile(path)  # its footer read once, for the schema and the read
    own = set(file.schema_arrow.names)
    names = list(COLUMNS)
    for stage, name in PARSED.items():
        if parsed and name in own:
            names[names.index(stage)] = name
    # One thread: the files are small, and a thread of ours reads them beside the profiling.
    table = file.read(columns=[n for n in names if n in own], use_threads=False)
    for name in names:
        if name not in own:  # a file from before the column: null throughout
            table = table.append_column(name, pa.nulls(table.num_rows, ROW_SCHEMA.field(name).type))
    empty = [s for s in PARSED if s in names and table.column(s).null_count == table.num_rows]
    return table.drop_columns(empty)


def _concat(pieces: list[tuple[Path, pa.Table]]) -> pa.Table:
    """Captured requests of several files as one table. Their parsed columns' types are
    unified (an integer column of one file and a float one of another make floats);
    where they cannot be, or where one file has a stage parsed and another only as text
    (written before the writer parsed, or its parse failed), every file's text is read
    and parsed together instead, as it was before files kept it."""
    from shipyard.monitoring.capture_tables import PARSED

    tables = [table for _, table in pieces]
    texts = {s for t in tables for s in PARSED if s in t.column_names}
    parsed = {s for t in tables for s, n in PARSED.items() if n in t.column_names}
    if not texts & parsed:
        try:
            return pa.concat_tables(tables, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    plain = [_read_file(path, parsed=False) for path, _ in pieces]
    return pa.concat_tables(plain, promote_options="permissive")


def merge_loose(a: TableProfile, b: TableProfile) -> TableProfile:
    """Merge two profiles whose columns may differ: shared columns merge, the others are
    kept as they are (a column a batch lacked was not sent in it)."""
    from shipyard.data.profiles import TableProfile

    columns: dict[str, Any] = {}
    for name in [*a.columns, *(n for n in b.columns if n not in a.columns)]:
        left, right = a.columns.get(name), b.columns.get(name)
        if left is not None and right is not None:
            try:
                columns[name] = left.merge(right)
            except Exception:  # another type in this part: keep the larger side
                columns[name] = left if left.n >= right.n else right
        else:
            columns[name] = left if left is not None else right
    return TableProfile(columns)


def _add(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in {*a, *b}}


def _dump(windows: Mapping[str, ModelWindow]) -> dict[str, Any]:
    return {
        model: {
            "profiles": {stage: json.loads(p.to_json()) for stage, p in w.profiles.items()},
            "answered": w.answered,
            "refused": w.refused,
            "refusals": w.refusals,
            "statuses": w.statuses,
        }
        for model, w in windows.items()
    }


def _load(artifacts: ArtifactStore, digest: str) -> dict[str, ModelWindow]:
    from shipyard.data.profiles import TableProfile

    document = json.loads(artifacts.get_bytes(digest))
    return {
        model: ModelWindow(
            profiles={
                stage: TableProfile.from_dict(p, source=f"the {stage} profile of {model}")
                for stage, p in w["profiles"].items()
                if stage in STAGES
            },
            answered=int(w["answered"]),
            refused=int(w["refused"]),
            refusals=dict(w["refusals"]),
            statuses={f: dict(c) for f, c in w["statuses"].items()},
        )
        for model, w in document.items()
    }
