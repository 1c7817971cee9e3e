"""Captured requests as tables of rows, one per stage: what monitoring profiles.

The capture keeps each request's columns as JSON text (``{"name": [values...]}``: a
request may carry many rows). Monitoring needs rows: :func:`stage_tables` turns a batch
of captured requests into one table per stage, each row one input row of a request
that was answered (status below 400):

* ``input``: the request's own columns, as parsed;
* ``enriched``: the columns the online store filled;
* ``scores``: the model's scores before the lossy step: ``score_0 .. score_k`` (the
  probability of each class, in the model's class order) or ``score`` (a regressor's
  prediction);
* ``output``: ``prediction``, the answer when it is one value per row.

The JSON is parsed by Arrow's C++ reader, a whole batch at once, in blocks of about a
megabyte that Arrow's threads parse side by side; a batch whose values Arrow cannot type
(a column that is a number in one request and text in another) is parsed row by row
instead, its mixed column as text.

The capture writer parses each file's JSON this way as it writes it
(:func:`parsed_columns`, a few microseconds a request, off the request path) and keeps
the result beside the text, one typed value per request (``parsed_input`` and
``parsed_enriched``: a struct of one list per column, or of one value per column when
every request of the file has one row; ``parsed_scores`` and
``parsed_output``: a list per request). :func:`stage_tables` takes those when every
request of the batch has them, so a monitoring run reads typed columns instead of
parsing an hour of JSON at once; requests from files written before them, or whose
types do not unify with the rest of the batch, are parsed from the text as before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

STAGES = ("input", "enriched", "scores", "output")
OK_BELOW = 400  # statuses below this were answered: their rows describe the traffic
# Arrow parses a body's blocks on its threads; a block must hold the longest request.
BLOCK_BYTES = 1 << 20
MAX_BLOCK_BYTES = 1 << 26
# Stage -> the column holding its JSON parsed at write time.
PARSED = {stage: f"parsed_{stage}" for stage in STAGES}


def answered(batch: pa.Table) -> pa.Table:
    """The requests of ``batch`` that were answered and whose input was captured."""
    keep = _answered(batch)
    return batch if keep is None else batch.filter(keep)


def _answered(batch: pa.Table) -> pa.ChunkedArray | None:
    """The mask of :func:`answered`; None when it keeps every request (most batches: no
    copy of their JSON text then)."""
    status = batch.column("status")
    inputs = _column(batch, "input")
    if inputs is None:  # no input in the batch at all
        return pa.chunked_array([pa.array(np.zeros(batch.num_rows, dtype=bool))])
    keep = pc.and_(pc.less(status, OK_BELOW), pc.is_valid(inputs))
    keep = pc.fill_null(keep, False)
    return None if pc.all(keep).as_py() else keep


def stage_tables(batch: pa.Table) -> dict[str, pa.Table]:
    """One table of rows per stage (empty stages left out) from captured requests."""
    requests = answered(batch)
    if not requests.num_rows:
        return {}
    inputs, rows = input_rows(requests)
    if inputs is None or not rows.sum():
        return {}
    tables = {"input": inputs}
    enriched, _ = _columns(_objects(requests, "enriched"), rows)
    if enriched is not None and enriched.num_columns:
        tables["enriched"] = enriched
    scores = _scores(_wrapped(requests, "scores", "s"), rows)
    if scores is not None:
        tables["scores"] = scores
    output = _values(_wrapped(requests, "output", "v"), rows, "prediction")
    if output is not None:
        tables["output"] = output
    return tables


def input_rows(requests: pa.Table) -> tuple[pa.Table | None, np.ndarray]:
    """The callers' columns of ``requests`` (answered ones: see :func:`answered`) as one
    table of rows, and how many rows each request has: the ``input`` stage of
    :func:`stage_tables` alone, one parse of the JSON (None when nothing was parsed)."""
    return _columns(_objects(requests, "input"))


def parsed_columns(batch: pa.Table) -> dict[str, pa.Array]:
    """The JSON columns of captured requests parsed as :func:`stage_tables` parses them:
    :data:`PARSED` name -> one value per request of ``batch``, null where the text is and
    for requests not answered (their input may be anything; monitoring skips them). A
    stage with no text, or whose parse fails, is left out."""
    return parsed_parts([batch])[0]


def parsed_parts(batches: list[pa.Table]) -> list[dict[str, pa.Array]]:
    """:func:`parsed_columns` of each batch (the files of one flush of the capture
    writer), parsed together: Arrow's JSON reader costs most of a millisecond a call
    whatever its size, and a flush writes a file per variant. A part keeps only the
    columns its own requests sent."""
    batch = (
        batches[0] if len(batches) == 1 else pa.concat_tables(batches, promote_options="permissive")
    )
    keep = _answered(batch)
    requests = batch if keep is None else batch.filter(keep)
    if not requests.num_rows:
        return [{} for _ in batches]
    whole: dict[str, pa.Array] = {}
    for stage in ("input", "enriched"):
        texts = requests.column(stage)
        table = _read(texts)
        if table is not None and table.num_columns:
            nulls = pc.is_null(texts.combine_chunks())
            columns = [column.combine_chunks() for column in table.columns]
            whole[stage] = pa.StructArray.from_arrays(columns, table.column_names, mask=nulls)
    for stage, key in (("scores", "s"), ("output", "v")):
        wrapped = _wrap(requests.column(stage), key)
        if wrapped is not None:
            whole[stage] = wrapped.column(0).combine_chunks()
    if keep is not None:  # back to one value per request: null for those left out
        kept = np.flatnonzero(keep.to_numpy(zero_copy_only=False))
        where = np.full(batch.num_rows, -1, dtype=np.int64)
        where[kept] = np.arange(len(kept))
        at = pa.array(where, mask=where < 0)
        whole = {stage: column.take(at) for stage, column in whole.items()}
    out, start = [], 0
    for part in batches:
        found = {}
        for stage, column in whole.items():
            piece = column.slice(start, part.num_rows)
            if stage in ("input", "enriched"):
                piece = _own_columns(piece)
                if piece is None:
                    continue
            found[PARSED[stage]] = piece
        out.append(found)
        start += part.num_rows
    return out


def _own_columns(objects: pa.StructArray) -> pa.StructArray | None:
    """A part of parsed objects without the columns none of its requests sent, in the
    layout :func:`_one_each` picks for it; None when it has no column left."""
    table = pa.Table.from_struct_array(objects)
    sent = [name for name, c in zip(table.column_names, table.columns, strict=True)
            if c.null_count < len(c)]  # fmt: skip
    if not sent:
        return None
    table = _one_each(table.select(sent), pc.is_valid(objects))
    columns = [column.combine_chunks() for column in table.columns]
    return pa.StructArray.from_arrays(columns, table.column_names, mask=pc.is_null(objects))


def _stored(requests: pa.Table, stage: str) -> pa.ChunkedArray | None:
    """The stage's column parsed at write time, when every request with text has it (a
    batch read without the text, as monitoring reads files that have it, has it all)."""
    name = PARSED[stage]
    if name not in requests.column_names:
        return None
    parsed = requests.column(name)
    if stage not in requests.column_names:
        return parsed
    return parsed if parsed.null_count == requests.column(stage).null_count else None


def _column(requests: pa.Table, stage: str) -> pa.ChunkedArray | None:
    """The stage's column: parsed when stored, else its text; None when the batch has
    neither (read without a stage that was null throughout)."""
    parsed = _stored(requests, stage)
    if parsed is not None:
        return parsed
    return requests.column(stage) if stage in requests.column_names else None


def _objects(requests: pa.Table, stage: str) -> pa.Table | pa.ChunkedArray:
    """A stage of JSON objects: its parsed table when stored, else its texts to parse."""
    parsed = _stored(requests, stage)
    if parsed is not None:
        return pa.Table.from_struct_array(parsed)
    if stage in requests.column_names:
        return requests.column(stage)
    return pa.chunked_array([pa.nulls(requests.num_rows, pa.string())])


def _wrapped(requests: pa.Table, stage: str, key: str) -> pa.Table | None:
    """A stage of JSON values as a one-column table (see :func:`_wrap`), stored or parsed."""
    parsed = _stored(requests, stage)
    if parsed is not None:
        return pa.table({key: parsed})
    return _wrap(requests.column(stage), key) if stage in requests.column_names else None


def status_counts(batch: pa.Table) -> dict[str, dict[str, int]]:
    """Enrichment statuses per feature (present, missing, outside_ttl, future) over the
    answered requests of ``batch``: feature -> status -> rows."""
    counts: dict[str, dict[str, int]] = {}
    keep = _answered(batch)
    if "statuses" not in batch.column_names:
        return counts
    texts = batch.column("statuses")
    texts = texts if keep is None else texts.filter(keep)
    if texts.null_count == len(texts):  # no online features: no text to walk
        return counts
    for text in pc.drop_null(texts).to_pylist():
        if not text:
            continue
        for feature, statuses in json.loads(text).items():
            seen = counts.setdefault(feature, {})
            for status in statuses if isinstance(statuses, list) else [statuses]:
                seen[str(status)] = seen.get(str(status), 0) + 1
    return counts


def _columns(
    texts: pa.ChunkedArray | pa.Table, rows: np.ndarray | None = None
) -> tuple[pa.Table | None, np.ndarray]:
    """JSON objects of name -> list of values (one list per request) as one table of rows
    (``texts`` may be those objects parsed already: a table of one row per request).

    ``rows`` (the rows of each request) aligns a stage with the input; a request whose
    object lacks a column, or gives it another length, gets nulls for it."""
    parsed = texts if isinstance(texts, pa.Table) else _read(texts)
    if parsed is None or not parsed.num_columns:
        return None, np.zeros(len(texts), dtype=np.int64)
    one_each = not any(pa.types.is_list(t) for t in parsed.schema.types)  # see _one_each
    if one_each and (rows is None or (rows == 1).all()):
        return parsed.combine_chunks(), np.ones(parsed.num_rows, dtype=np.int64)
    parsed = _as_lists(parsed)
    if rows is None:
        lengths = [_lengths(parsed.column(i)) for i in range(parsed.num_columns)]
        rows = np.max(np.vstack(lengths), axis=0) if lengths else np.zeros(len(texts), np.int64)
    columns = {}
    for name, column in zip(parsed.column_names, parsed.columns, strict=True):
        values = _aligned(column, rows)
        if values is not None:
            columns[name] = values
    return pa.table(columns) if columns else None, rows


def _as_lists(parsed: pa.Table) -> pa.Table:
    """A parsed table with each column of one value a request (:func:`_one_each`) as a
    list of that one value, as the JSON reads."""
    columns = []
    for column in parsed.columns:
        if not pa.types.is_list(column.type):
            values = column.combine_chunks()
            offsets = pa.array(np.arange(len(values) + 1, dtype=np.int32))
            column = pa.chunked_array([pa.ListArray.from_arrays(offsets, values)])
        columns.append(column)
    return pa.table(columns, names=parsed.column_names)


def _one_each(parsed: pa.Table, valid: pa.Array) -> pa.Table:
    """``parsed`` (one list per request and column) as one value per request and column
    when every ``valid`` request's list holds exactly one plain value, as one-row
    requests do: Parquet reads flat columns about twice as fast as lists. Anything else
    is left as it is."""
    flat = []
    for column in parsed.columns:
        kind = column.type
        if not pa.types.is_list(kind) or pa.types.is_nested(kind.value_type):
            return parsed
        lengths = pc.list_value_length(column).filter(valid)
        if lengths.null_count or not pc.all(pc.equal(lengths, 1)).as_py():
            return parsed
        flat.append(pc.list_element(column, 0))  # null where the request is not valid
    return pa.table(flat, names=parsed.column_names)


def _read(texts: pa.ChunkedArray) -> pa.Table | None:
    """Parse JSON texts (None for a null) into a table of one row per text."""
    valid = pc.is_valid(texts)
    if not pc.any(valid).as_py():
        return None
    # A null text becomes {} so that row i of the result stays request i.
    filled = pc.fill_null(texts, "{}").combine_chunks()
    try:
        table = _parse(_joined(filled, suffix="\n"), _longest(filled))
    except (pa.ArrowInvalid, UnicodeEncodeError):
        return _read_slowly(filled.to_pylist())
    if any(not pa.types.is_list(f.type) for f in table.schema):
        return _read_slowly(filled.to_pylist())
    return table


def _read_slowly(texts: list[str]) -> pa.Table | None:
    """Row by row: a column whose values Arrow cannot give one type becomes text."""
    objects = [json.loads(text) for text in texts]
    names = sorted({name for obj in objects if isinstance(obj, dict) for name in obj})
    columns = {}
    for name in names:
        lists = [_as_list(obj.get(name)) if isinstance(obj, dict) else None for obj in objects]
        try:
            columns[name] = pa.array(lists)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            texts_of = [None if v is None else [_text(x) for x in v] for v in lists]
            columns[name] = pa.array(texts_of, pa.list_(pa.string()))
    return pa.table(columns) if columns else None


def _as_list(value: Any) -> list[Any] | None:
    if value is None:
        return None
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str | None:
    return None if value is None else value if isinstance(value, str) else json.dumps(value)


def _lengths(column: pa.ChunkedArray) -> np.ndarray:
    lengths = pc.fill_null(pc.list_value_length(column), 0)
    return np.asarray(lengths.to_numpy(zero_copy_only=False), dtype=np.int64)


def _aligned(column: pa.ChunkedArray, rows: np.ndarray) -> pa.Array | None:
    """The flattened values of a list column, with nulls where a request's list is absent
    or of another length than the request's rows; None for a column of nested values."""
    array = column.combine_chunks()
    if not pa.types.is_list(array.type) or pa.types.is_nested(array.type.value_type):
        return None
    lengths = _lengths(column)
    if np.array_equal(lengths, rows):
        return pc.list_flatten(array)
    good = lengths == rows
    kept = pc.list_flatten(array.filter(pa.array(good)))
    # Slow path, rare: rebuild with a block of nulls for each request that disagrees.
    out: list[Any] = []
    values = kept.to_pylist()
    at = 0
    for ok, n in zip(good, rows, strict=True):
        if ok:
            out.extend(values[at : at + n])
            at += n
        else:
            out.extend([None] * int(n))
    return pa.array(out, type=array.type.value_type)


def _scores(wrapped: pa.Table | None, rows: np.ndarray) -> pa.Table | None:
    """Per-row probabilities (a list per row) as ``score_i`` columns, or plain scores as
    ``score``; None when the requests' scores do not line up with their rows."""
    if wrapped is None:
        return None
    column = wrapped.column(0).combine_chunks()
    if not pa.types.is_list(column.type) or not np.array_equal(_lengths(wrapped.column(0)), rows):
        return None
    flat = pc.list_flatten(column)
    if pa.types.is_list(flat.type):  # one list of class probabilities per row
        width = pc.list_value_length(flat)
        classes = pc.max(width).as_py() or 0
        if classes == 0 or pc.min(width).as_py() != classes:
            return None
        values = pc.list_flatten(flat).to_numpy(zero_copy_only=False).reshape(-1, classes)
        return pa.table({f"score_{i}": values[:, i].astype(np.float64) for i in range(classes)})
    if pa.types.is_integer(flat.type) or pa.types.is_floating(flat.type):
        return pa.table({"score": pc.cast(flat, pa.float64())})
    return None


def _values(wrapped: pa.Table | None, rows: np.ndarray, name: str) -> pa.Table | None:
    """One scalar per row (the answer) as a column ``name``; None for other shapes."""
    if wrapped is None:
        return None
    column = wrapped.column(0).combine_chunks()
    if not pa.types.is_list(column.type) or pa.types.is_nested(column.type.value_type):
        return None
    if not np.array_equal(_lengths(wrapped.column(0)), rows):
        return None
    return pa.table({name: pc.list_flatten(column)})


def _wrap(texts: pa.ChunkedArray, key: str) -> pa.Table | None:
    """JSON values (one per request) as a one-column table, via ``{"key": value}``."""
    valid = pc.is_valid(texts)
    if not pc.any(valid).as_py():
        return None
    filled = pc.fill_null(texts, "null").combine_chunks()
    try:
        table = _parse(_joined(filled, prefix=f'{{"{key}":', suffix="}\n"), _longest(filled))
    except pa.ArrowInvalid:
        return None
    return table if table.num_columns == 1 else None


def _joined(texts: pa.Array, *, prefix: str = "", suffix: str = "") -> pa.Buffer:
    """Every text between ``prefix`` and ``suffix``, as one buffer, in Arrow: no Python
    string per request, and no copy of the joined text."""
    parts = [pa.scalar(prefix), texts, pa.scalar(suffix)] if prefix else [texts, pa.scalar(suffix)]
    joined = pc.binary_join_element_wise(*parts, "")
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32)[joined.offset :]
    start, end = int(offsets[0]), int(offsets[len(joined)])
    return joined.buffers()[2].slice(start, end - start)


def _longest(texts: pa.Array) -> int:
    """The length in bytes of the longest text."""
    return int(pc.max(pc.binary_length(texts)).as_py() or 0)


def _parse(body: pa.Buffer, longest: int) -> pa.Table:
    """Parse newline-delimited JSON objects (``longest`` bytes at most, with its wrapping)
    in blocks of about :data:`BLOCK_BYTES`, which Arrow parses on its threads.

    Arrow infers each block's types on its own and then unifies them; it cannot when a
    column is null throughout one block and typed in a later one, or in cases like it,
    which one block of :data:`MAX_BLOCK_BYTES` reads. Any failure is therefore retried
    in such blocks, so the result and the errors are those of reading in one block."""
    block = min(max(BLOCK_BYTES, 2 * longest + 64), MAX_BLOCK_BYTES)
    if block < body.size:
        try:
            return _read_json(body, block)
        except (pa.ArrowException, UnicodeEncodeError):
            pass
    return _read_json(body, MAX_BLOCK_BYTES)


def _read_json(body: pa.Buffer, block: int) -> pa.Table:
    # Arrow's threads only for several blocks: handing a small body to its pool costs the
    # capture writer's process (serving requests beside it) more than it saves.
    options = pj.ReadOptions(block_size=block, use_threads=body.size > 4 * block)
    table = pj.read_json(pa.BufferReader(body), read_options=options)
    if all(_sound(column) for column in table.columns):
        return table
    # Arrow's reader builds a broken list (too few values under its offsets) where a
    # request's list held only nulls; read again with the types it inferred, given.
    schema = pa.schema([pa.field(f.name, _no_null_type(f.type)) for f in table.schema])
    parse = pj.ParseOptions(explicit_schema=schema)
    return pj.read_json(pa.BufferReader(body), read_options=options, parse_options=parse)


def _sound(column: pa.ChunkedArray) -> bool:
    """Whether each list holds as many values as its offsets claim (nested lists too)."""
    for chunk in column.chunks:
        while pa.types.is_list(chunk.type):
            claimed = pc.sum(pc.list_value_length(chunk)).as_py() or 0
            chunk = pc.list_flatten(chunk)
            if len(chunk) != claimed:
                return False
    return True


def _no_null_type(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_list(kind):
        return pa.list_(_no_null_type(kind.value_type))
    return pa.float64() if pa.types.is_null(kind) else kind


def with_kinds(table: pa.Table, kinds: Mapping[str, str]) -> dict[str, str]:
    """The baseline's kinds of the columns ``table`` has (the rest are inferred)."""
    return {name: kind for name, kind in kinds.items() if name in table.column_names}
