"""Versioned datasets: tables stored as Parquet artifacts, addressed by their content.

A version's ``content_hash`` covers the table (``table_hash``: column names,
types and rows in order) and its declared roles (time column, ids, target,
columns known only after the event).

Registering streams the input in Arrow record batches: each batch is hashed
(see :func:`shipyard.lineage.hash_table`) and written to a Parquet file as it
passes, so a file larger than memory registers in bounded memory. Identical
content registered again under the same name returns the existing version.

Access: registering needs ``datasets:Write`` and every read (a version, its rows,
its file, its description) ``datasets:Read`` on ``shipyard:dataset:NAME``; a list
shows the datasets the principal may read.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.data.rows import is_pandas_index
from shipyard.errors import InvalidInput, NotFound
from shipyard.lineage import hash_bytes, hash_file, hash_table
from shipyard.security.filtering import readable
from shipyard.stores.metadata.base import VersionRecord
from shipyard.stores.metadata.payloads import damaged_record
from shipyard.types import Ref, check_name

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from shipyard.stores.artifacts import ArtifactStore
    from shipyard.stores.metadata.base import MetadataStore

KIND = "dataset"
BATCH_ROWS = 64 * 1024
READ, WRITE = "datasets:Read", "datasets:Write"

Authorize = Callable[[str, "str | Sequence[str]"], None]


def dataset_resource(name: str) -> str:
    """The policy resource of a dataset (all of its versions)."""
    return f"shipyard:dataset:{name}"


@dataclass(frozen=True)
class DatasetVersion:
    """One registered version of a dataset."""

    name: str
    version: int
    content_hash: str
    table_hash: str
    artifact: str
    rows: int
    columns: tuple[tuple[str, str], ...]
    time_column: str | None
    id_columns: tuple[str, ...]
    target: str | None
    known_after: tuple[str, ...]
    description: str
    size_bytes: int
    source: str
    created_at: datetime
    created_by: str

    @property
    def ref(self) -> Ref:
        return Ref(KIND, self.name, self.version)

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    @property
    def feature_columns(self) -> list[str]:
        """Columns that are neither ids, time, target nor known only after the event."""
        excluded = {*self.id_columns, self.time_column, self.target, *self.known_after}
        return [c for c in self.column_names if c not in excluded]

    @classmethod
    def from_record(cls, record: VersionRecord) -> DatasetVersion:
        """Parse a stored record; one that lacks what every dataset has is damaged."""
        a = record.attributes
        try:
            return cls(
                name=record.name,
                version=record.version,
                content_hash=record.content_hash or "",
                table_hash=a.get("table_hash", ""),
                artifact=a["artifact"],
                rows=a["rows"],
                columns=tuple((c["name"], c["type"]) for c in a["columns"]),
                time_column=a.get("time_column"),
                id_columns=tuple(a.get("id_columns", ())),
                target=a.get("target"),
                known_after=tuple(a.get("known_after", ())),
                description=record.description,
                size_bytes=a.get("size_bytes", 0),
                source=a.get("source", ""),
                created_at=record.created_at,
                created_by=record.created_by,
            )
        except KeyError as exc:
            raise damaged_record(str(record.ref), f"it has no {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise damaged_record(str(record.ref), f"a value has the wrong type ({exc})") from None


class DatasetService:
    """Register, find and load dataset versions (``ws.datasets``)."""

    def __init__(
        self,
        metadata: MetadataStore,
        artifacts: ArtifactStore,
        *,
        principal: str,
        scratch: Path,
        cache: Path,
        authorize: Authorize,
    ) -> None:
        self._metadata = metadata
        self._artifacts = artifacts
        self._principal = principal
        self._scratch = scratch
        self._cache = cache
        self._authorize = authorize

    def without_access_checks(self) -> DatasetService:
        """This service with no access checks, for a service that has checked its own
        action first: the feature store reads a view's source dataset for a principal
        it has allowed to read the view's features. Never hand it to a caller."""
        return DatasetService(
            self._metadata,
            self._artifacts,
            principal=self._principal,
            scratch=self._scratch,
            cache=self._cache,
            authorize=_no_check,
        )

    def register(
        self,
        name: str,
        data: Any,
        *,
        time_column: str | None = None,
        id_columns: Sequence[str] = (),
        target: str | None = None,
        known_after: Sequence[str] = (),
        description: str = "",
        keep_declarations: bool = True,
    ) -> DatasetVersion:
        """Store ``data`` as the next version of dataset ``name``.

        ``data`` is a pandas or polars DataFrame, a pyarrow Table, or the path
        of a Parquet or CSV file. ``known_after`` names columns whose values are
        known only after the event being predicted (the leakage check refuses
        them as features). A column declared known-after on the latest version
        stays declared on the new one (when the new data has it) unless
        ``keep_declarations=False``: a leak is never undeclared by omission.

        >>> ws.datasets.register("flights", "flights.parquet", time_column="time_hour")
        ... # doctest: +SKIP
        """
        check_name(name, "Dataset name")
        self._authorize(WRITE, dataset_resource(name))
        schema, batches, source = _open_batches(data)
        if keep_declarations:
            known_after = [*known_after, *self._declared(name, schema.names, known_after)]
        roles = _check_roles(
            schema, time_column=time_column, id_columns=id_columns, target=target,
            known_after=known_after,
        )  # fmt: skip
        self._scratch.mkdir(parents=True, exist_ok=True)
        temp = self._scratch / f"register-{uuid.uuid4().hex}.parquet"
        try:
            table_hash, rows = _write_parquet(schema, batches, temp)
            if rows == 0:
                raise InvalidInput(f"{source} has no rows; a dataset needs at least one.")
            # The same table with other roles (time, target, ...) is another version.
            content_hash = hash_bytes(json.dumps([table_hash, roles], sort_keys=True).encode())
            existing = self._same_content(name, content_hash)
            if existing is not None:
                if self._artifacts.verify(existing.artifact) != "ok":
                    self._artifacts.put_file(temp)  # the same bytes again: replaces a bad copy
                return existing
            stored = self._artifacts.put_file(temp)
        finally:
            temp.unlink(missing_ok=True)
        attributes = {
            "artifact": stored.digest,
            "format": "parquet",
            "rows": rows,
            "columns": [{"name": f.name, "type": str(f.type)} for f in schema],
            "size_bytes": stored.size,
            "source": source,
            "table_hash": table_hash,
            **roles,
        }
        record, _ = self._metadata.create_version(
            KIND,
            name,
            created_by=self._principal,
            content_hash=content_hash,
            attributes=attributes,
            description=description,
            reuse_same_content=True,
        )
        return DatasetVersion.from_record(record)

    def _declared(self, name: str, columns: Sequence[str], given: Sequence[str]) -> list[str]:
        """Known-after columns of the latest version that the new data has but ``given``
        leaves out."""
        try:
            latest = self._get(_as_ref(name, None))
        except NotFound:
            return []
        return [c for c in latest.known_after if c in columns and c not in given]

    def _same_content(self, name: str, content_hash: str) -> DatasetVersion | None:
        found = self._metadata.find_versions(KIND, name, content_hash=content_hash, limit=1)
        return DatasetVersion.from_record(found[0]) if found else None

    def get(self, name: str | Ref, version: int | None = None) -> DatasetVersion:
        """A version (the latest by default); ``name`` may be ``flights@3``."""
        ref = _as_ref(name, version)
        self._authorize(READ, dataset_resource(ref.name))
        return self._get(ref)

    def _get(self, ref: Ref) -> DatasetVersion:
        return DatasetVersion.from_record(self._metadata.get_version(KIND, ref.name, ref.version))

    def versions(self, name: str) -> list[DatasetVersion]:
        """Every version of ``name``, oldest first."""
        self._authorize(READ, dataset_resource(name))
        return [DatasetVersion.from_record(r) for r in self._metadata.list_versions(KIND, name)]

    def list(self) -> list[DatasetVersion]:
        """The latest version of every dataset this principal may read, by name."""
        names = _readable(self._metadata.list_names(KIND), self._authorize)
        return [self._get(Ref(KIND, name)) for name in names]

    def path(self, name: str | Ref, version: int | None = None) -> Path:
        """A local, verified Parquet file with the version's content (cached in the home)."""
        return self._path(self.get(name, version))

    def _path(self, dataset: DatasetVersion) -> Path:
        cached = self._cache / "datasets" / f"{dataset.artifact}.parquet"
        if cached.is_file() and hash_file(cached) == dataset.artifact:
            return cached
        return self._artifacts.get_file(dataset.artifact, cached)

    def load(
        self, name: str | Ref, version: int | None = None, *, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """The version as a pandas DataFrame (optionally only some columns)."""
        return self.to_arrow(name, version, columns=columns).to_pandas()

    def to_arrow(
        self, name: str | Ref, version: int | None = None, *, columns: Sequence[str] | None = None
    ) -> pa.Table:
        """The version as a pyarrow Table."""
        import pyarrow.parquet as pq

        dataset = self.get(name, version)
        if columns is not None:
            unknown = sorted(set(columns) - set(dataset.column_names))
            if unknown:
                raise InvalidInput(
                    f"{dataset.ref} has no column(s) {', '.join(map(repr, unknown))}.",
                    hint=f"Its columns: {', '.join(dataset.column_names)}.",
                )
        return pq.read_table(self._path(dataset), columns=list(columns) if columns else None)

    def describe(self, name: str | Ref, version: int | None = None) -> dict[str, Any]:
        """Schema, roles and per-column null counts, min and max from Parquet statistics.

        Reads only the file footer, not the data.
        """
        import pyarrow.parquet as pq

        dataset = self.get(name, version)
        metadata = pq.ParquetFile(self._path(dataset)).metadata
        columns = []
        for index, (column, kind) in enumerate(dataset.columns):
            nulls, low, high = _column_stats(metadata, index)
            columns.append({"name": column, "type": kind, "nulls": nulls, "min": low, "max": high})
        return {
            "ref": str(dataset.ref),
            "rows": dataset.rows,
            "content_hash": dataset.content_hash,
            "table_hash": dataset.table_hash,
            "artifact": dataset.artifact,
            "size_bytes": dataset.size_bytes,
            "time_column": dataset.time_column,
            "id_columns": list(dataset.id_columns),
            "target": dataset.target,
            "known_after": list(dataset.known_after),
            "description": dataset.description,
            "created_at": dataset.created_at.isoformat(),
            "created_by": dataset.created_by,
            "columns": columns,
        }


def _no_check(action: str, resources: str | Sequence[str]) -> None:
    """The check of :meth:`DatasetService.without_access_checks`: allows everything."""


def _readable(names: Sequence[str], authorize: Authorize) -> list[str]:
    """The datasets ``authorize`` lets one read (one check when it allows them all)."""
    return readable(authorize, READ, names, dataset_resource)


def _as_ref(name: str | Ref, version: int | None) -> Ref:
    ref = name if isinstance(name, Ref) else Ref.parse(name, kind=KIND)
    if version is not None:
        ref = Ref(KIND, ref.name, version)
    return ref


def _open_batches(data: Any) -> tuple[pa.Schema, Iterable[pa.RecordBatch], str]:
    """The schema and a stream of batches for any accepted input, and a name for messages."""
    import pyarrow as pa

    if isinstance(data, str | os.PathLike):
        return _open_file(Path(data))
    module = type(data).__module__
    if isinstance(data, pa.Table):
        table = data
    elif module.startswith("pandas"):
        table = pa.Table.from_pandas(data, preserve_index=False)
    elif module.startswith("polars"):
        table = data.to_arrow()
    else:
        raise InvalidInput(
            f"Cannot register a {type(data).__name__}.",
            hint="Pass a pandas or polars DataFrame, a pyarrow Table, or a .parquet or .csv path.",
        )
    return table.schema, table.to_batches(max_chunksize=BATCH_ROWS), f"a {type(data).__name__}"


def _open_file(path: Path) -> tuple[pa.Schema, Iterable[pa.RecordBatch], str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from shipyard.data.csv_files import open_csv

    if not path.is_file():
        raise InvalidInput(f"No file at {path}.", hint="Check the path.")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            # pre_buffer would keep every row group read so far in memory.
            parquet = pq.ParquetFile(path, pre_buffer=False)
            # A pandas index written into the file is not data.
            keep = [n for n in parquet.schema_arrow.names if not is_pandas_index(n)]
            batches = parquet.iter_batches(batch_size=BATCH_ROWS, columns=keep)
            schema = pa.schema([parquet.schema_arrow.field(n) for n in keep])
            return schema, batches, str(path)
        if suffix in (".csv", ".gz") and path.name.lower().removesuffix(".gz").endswith(".csv"):
            schema, csv_batches = open_csv(path)
            return schema, csv_batches, str(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"Cannot read {path}: {exc}") from None
    raise InvalidInput(
        f"{path} is neither Parquet nor CSV.",
        hint="Registered files must end in .parquet, .pq, .csv or .csv.gz.",
    )


def _check_roles(
    schema: pa.Schema,
    *,
    time_column: str | None,
    id_columns: Sequence[str],
    target: str | None,
    known_after: Sequence[str],
) -> dict[str, Any]:
    import pyarrow as pa

    names = schema.names
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise InvalidInput(f"Column names repeat: {', '.join(repeated)}; rename them first.")
    if isinstance(id_columns, str) or isinstance(known_after, str):
        raise InvalidInput("id_columns and known_after take a list of column names.")
    named = {
        "time_column": [time_column] if time_column else [],
        "target": [target] if target else [],
    }
    named |= {"id_columns": list(id_columns), "known_after": list(known_after)}
    for role, columns in named.items():
        missing = [c for c in columns if c not in names]
        if missing:
            raise InvalidInput(
                f"{role} names {', '.join(map(repr, missing))}, which the data does not have.",
                hint=f"The columns are: {', '.join(names)}.",
            )
    if time_column:
        kind = schema.field(time_column).type
        if not (pa.types.is_timestamp(kind) or pa.types.is_date(kind)):
            raise InvalidInput(
                f"time_column {time_column!r} has type {kind}, not a timestamp or date.",
                hint="Convert it first, e.g. pd.to_datetime(df[col], utc=True).",
            )
    return {
        "time_column": time_column,
        "id_columns": list(id_columns),
        "target": target,
        "known_after": list(known_after),
    }


def _write_parquet(
    schema: pa.Schema, batches: Iterable[pa.RecordBatch], path: Path
) -> tuple[str, int]:
    """Write the batches to ``path`` while hashing them; return (content hash, rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:

        def passing() -> Iterator[pa.RecordBatch]:
            nonlocal rows
            for batch in batches:
                rows += batch.num_rows
                writer.write_batch(batch)
                yield batch

        try:
            content_hash = hash_table(_with_schema(schema, passing()))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidInput(f"The data cannot be stored as a table: {exc}") from None
    return content_hash, rows


def _with_schema(schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> pa.RecordBatchReader:
    import pyarrow as pa

    return pa.RecordBatchReader.from_batches(schema, batches)


def _column_stats(metadata: Any, index: int) -> tuple[int | None, Any, Any]:
    nulls: int | None = 0
    low: Any = None
    high: Any = None
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(index).statistics
        if stats is None:
            return None, None, None
        nulls = None if nulls is None or stats.null_count is None else nulls + stats.null_count
        if stats.has_min_max:
            low = stats.min if low is None else min(low, stats.min)
            high = stats.max if high is None else max(high, stats.max)
    return nulls, _plain(low), _plain(high)


def _plain(value: Any) -> Any:
    """JSON-friendly statistics: datetimes as ISO text, bytes as text."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value
