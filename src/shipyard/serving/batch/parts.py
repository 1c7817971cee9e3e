"""One part of a batch transform, as a worker runs it: read a row group, predict in
slices of ``batch_rows``, write one Parquet file atomically.

The file is written under a hidden temporary name and then renamed, so a part file
that exists is whole; its footer carries the job key and the part's index, which is
how a rerun knows the part is done (see :mod:`.output`). Everything here is picklable
and imports only what a worker needs.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.errors import ERRORS_BY_CODE, ShipyardError
from shipyard.serving.batch.inputs import Part

if TYPE_CHECKING:
    import pyarrow as pa

    from shipyard.serving.batch.enrich import Enrichment
    from shipyard.serving.inference import InputSchema, Predictor

JOB_KEY = b"shipyard.batch.job"
PART_KEY = b"shipyard.batch.part"
PREDICTION = "prediction"
PROBA_PREFIX = "proba_"


@dataclass(frozen=True)
class TransformSpec:
    """What every part needs, shipped once to each worker."""

    predictor: Predictor
    model_columns: tuple[str, ...]  # the input filter: columns sent to the model
    joined: tuple[str, ...]  # input columns carried into the output (join_source)
    kept: tuple[str, ...] | None  # the output filter: output columns kept, in order
    proba: bool
    batch_rows: int
    output: str  # the output folder's URL
    job: str
    schema: pa.Schema | None = None  # the output schema, once a probe has found it
    enrichment: Enrichment | None = None  # the point-in-time join filling feature columns

    @property
    def read_columns(self) -> list[str]:
        """The input's columns a part reads: what the join fills is not among them, what
        it needs (entity keys, time) is."""
        if self.enrichment is None:
            return list(dict.fromkeys([*self.joined, *self.model_columns]))
        filled = set(self.enrichment.columns)
        given = [c for c in self.model_columns if c not in filled]
        return list(dict.fromkeys([*self.joined, *given, *self.enrichment.needs]))

    @property
    def input_schema(self) -> InputSchema:
        """The check the model's columns go through."""
        if self.enrichment is None:
            return self.predictor.request_schema
        return self.enrichment.inputs


@dataclass(frozen=True)
class PartResult:
    """A written part: its file, rows and sha256."""

    index: int
    file: str
    rows: int
    sha256: str


class PartFailed(Exception):
    """A part's ShipyardError, carried back from a worker whole (code, message, hint),
    since an exception is pickled with its positional arguments only."""

    def __init__(self, code: str, message: str, hint: str | None, part: str) -> None:
        super().__init__(code, message, hint, part)
        self.code, self.message, self.hint, self.part = code, message, hint, part

    def error(self) -> ShipyardError:
        cls = ERRORS_BY_CODE.get(self.code, ShipyardError)
        return cls(f"{self.part}: {self.message}", hint=self.hint)


def transform_part(spec: TransformSpec, part: Part) -> PartResult:
    """Transform and write one part; its ShipyardError comes back as :class:`PartFailed`."""
    try:
        table = read_part(spec, part)
        data = _parquet_bytes(spec, transform_table(spec, table), part.index)
        _write_atomically(spec.output, part.file_name, data)
    except ShipyardError as exc:
        where = f"Part {part.index} ({part.url}, row group {part.row_group})"
        raise PartFailed(exc.code, exc.message, exc.hint, where) from None
    return PartResult(part.index, part.file_name, table.num_rows, hashlib.sha256(data).hexdigest())


def read_part(spec: TransformSpec, part: Part) -> pa.Table:
    import fsspec
    import pyarrow.parquet as pq

    with fsspec.open(part.url, "rb") as handle:
        table = pq.ParquetFile(handle).read_row_group(part.row_group, columns=spec.read_columns)
    return _enriched(spec, table)


def read_head(spec: TransformSpec, part: Part, rows: int) -> pa.Table:
    """The first ``rows`` rows of a part, without reading the rest of its row group."""
    import fsspec
    import pyarrow as pa
    import pyarrow.parquet as pq

    with fsspec.open(part.url, "rb") as handle:
        batches = pq.ParquetFile(handle).iter_batches(
            rows, row_groups=[part.row_group], columns=spec.read_columns
        )
        table = pa.Table.from_batches([next(batches)])
    return _enriched(spec, table)


def _enriched(spec: TransformSpec, table: pa.Table) -> pa.Table:
    """``table`` with the feature columns the join fills, when the model has any."""
    return table if spec.enrichment is None else spec.enrichment.join(table)


def transform_table(spec: TransformSpec, table: pa.Table) -> pa.Table:
    """``table``'s predictions (and class probabilities), after its joined input columns,
    cut to the output filter; in the spec's output schema when it has one."""
    import pyarrow as pa

    slices = [
        _predict_slice(spec, table.slice(start, spec.batch_rows))
        for start in range(0, table.num_rows, spec.batch_rows)
    ]
    if slices:
        names = list(slices[0])
        predicted = {n: np.concatenate([s[n] for s in slices]) for n in names}
        columns = {n: pa.array(v) for n, v in predicted.items()}
    elif spec.schema is not None:  # an empty row group: no rows, the same columns
        return spec.schema.empty_table()
    else:
        columns = {}
    joined = {name: table.column(name) for name in spec.joined}
    out = pa.table({**joined, **columns})
    if spec.kept is not None:
        out = out.select(list(spec.kept))
    return out if spec.schema is None else out.cast(spec.schema)


def _predict_slice(spec: TransformSpec, table: pa.Table) -> dict[str, np.ndarray]:
    predictor = spec.predictor
    columns = {name: _numpy(table.column(name)) for name in spec.model_columns}
    arrays = spec.input_schema.convert(columns, table.num_rows)
    out = {PREDICTION: np.asarray(predictor.predict(arrays))}
    if spec.proba:
        proba = predictor.predict_proba(arrays)
        for i, name in enumerate(proba_columns(predictor)):
            out[name] = proba[:, i]
    return out


def proba_columns(predictor: Predictor) -> list[str]:
    """``proba_<class>`` for each class, in the model's class order."""
    return [f"{PROBA_PREFIX}{c}" for c in predictor.loaded.classes or ()]


def _numpy(column: pa.ChunkedArray) -> np.ndarray:
    """A column as the serving check takes it: numbers as numbers (integers with nulls as
    floats with NaN), text and anything with nulls as objects."""
    import pyarrow as pa

    if pa.types.is_integer(column.type) and column.null_count:
        column = column.cast(pa.float64())
    return column.to_numpy()


def _parquet_bytes(spec: TransformSpec, table: pa.Table, index: int) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    metadata = {
        **(table.schema.metadata or {}),
        JOB_KEY: spec.job.encode(),
        PART_KEY: b"%d" % index,
    }
    sink = pa.BufferOutputStream()
    pq.write_table(table.replace_schema_metadata(metadata), sink)
    return bytes(sink.getvalue())


def _write_atomically(folder: str, name: str, data: bytes) -> None:
    """``data`` at ``folder/name``, written under a hidden name first and then renamed, so
    the name never holds part of a file (on an object store the rename is a copy of a
    whole object)."""
    from fsspec.core import url_to_fs

    fs, root = url_to_fs(folder)
    temporary = f"{root}/.{name}.{uuid.uuid4().hex}.tmp"
    fs.pipe_file(temporary, data)
    try:
        fs.mv(temporary, f"{root}/{name}")
    except BaseException:
        fs.rm(temporary)
        raise


def describe_error(exc: BaseException) -> Any:
    """The ShipyardError a part's failure stands for (its own exception otherwise)."""
    return exc.error() if isinstance(exc, PartFailed) else exc
