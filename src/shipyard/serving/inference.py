"""Request bodies to model input, checked against the model's signature, without pandas.

A model's :class:`~shipyard.registry.signature.Signature` is compiled once, when the
model is loaded for serving, into an :class:`InputSchema`: the column order, each
column's coarse type and whether it may hold missing values (those the input
example held missing values in: the model was shown them). Each request is then:

1. parsed (:func:`parse_body`): JSON ``{"records": [{...}, ...]}``, JSON
   ``{"columns": {"a": [...]}}`` or an Arrow IPC stream
   (``application/vnd.apache.arrow.stream``) into columns of plain values;
2. checked and converted (:meth:`InputSchema.convert`) into one NumPy array per
   column, collecting **every** problem (missing or unknown columns, wrong types,
   NaN/Infinity or null where not allowed, empty input, nested values) into one
   :class:`InvalidRequest`, so a caller fixes a body in one round trip.

An :class:`InvalidRequest` is a 400 (the body cannot be read: invalid JSON or UTF-8,
nesting too deep), 415 (a content type not served) or 422 (readable, but not what
the model takes), with a JSON body whose ``problems`` lists each one.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput
from shipyard.registry.signature import Signature

JSON_TYPE = "application/json"
ARROW_TYPE = "application/vnd.apache.arrow.stream"
CONTENT_TYPES = (JSON_TYPE, ARROW_TYPE)

PROBLEMS_LISTED = 50  # a body of a million bad cells gets the first fifty, and a count

_NUMERIC = frozenset({"integer", "float"})
_TEXT = frozenset({"string", "category"})


class InvalidRequest(InvalidInput):
    """A request body the endpoint cannot serve, with every problem found in it."""

    def __init__(self, problems: Sequence[str], *, status: int = 422, hint: str | None = None):
        shown = list(problems[:PROBLEMS_LISTED])
        if len(problems) > PROBLEMS_LISTED:
            shown.append(f"and {len(problems) - PROBLEMS_LISTED} more problems")
        count = len(problems)
        super().__init__(
            f"The request has {count} problem{'s' if count != 1 else ''}: {shown[0]}"
            + (" (and more, listed in problems)." if count > 1 else "."),
            hint=hint,
        )
        self.problems = shown
        self.http_status = status

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["problems"] = self.problems
        return body


@dataclass(frozen=True)
class InputColumn:
    """One input column as the hot path needs it."""

    name: str
    kind: str  # the signature's coarse type: integer, float, boolean, string, ...
    allows_missing: bool


@dataclass(frozen=True)
class InputSchema:
    """A signature compiled for serving: columns in model order. Build with :meth:`compile`."""

    columns: tuple[InputColumn, ...]

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def numeric(self) -> bool:
        """Whether every column is a number (so the input may be one float matrix)."""
        return all(column.kind in _NUMERIC for column in self.columns)

    @classmethod
    def compile(cls, signature: Signature, example: Any = None) -> InputSchema:
        """The schema of ``signature``; a column allows missing values if ``example`` (a
        DataFrame, the package's input example) has any in it."""
        missing: set[str] = set()
        if example is not None:
            counts = example.isna().sum()
            missing = {str(name) for name, count in counts.items() if count}
        return cls(tuple(InputColumn(c.name, c.type, c.name in missing) for c in signature.inputs))

    def convert(self, columns: Mapping[str, Any], rows: int) -> dict[str, np.ndarray]:
        """``columns`` (name -> list of values or NumPy/Arrow array) as one array per
        input column in model order; :class:`InvalidRequest` listing every problem."""
        problems: list[str] = []
        if rows == 0:
            problems.append("the input has no rows; send at least one")
        unknown = sorted(set(columns) - set(self.names))
        if unknown:
            problems.append(
                f"unknown column(s) {', '.join(map(repr, unknown))}; "
                f"the model takes {', '.join(self.names)}"
            )
        arrays: dict[str, np.ndarray] = {}
        for column in self.columns:
            if column.name not in columns:
                problems.append(f"missing column {column.name!r} ({column.kind})")
                continue
            array = _convert(column, columns[column.name], problems)
            if array is not None:
                arrays[column.name] = array
        if problems:
            raise InvalidRequest(problems, hint=f"The model takes: {', '.join(self.describe())}.")
        return arrays

    def describe(self) -> list[str]:
        return [
            f"{c.name} ({c.kind}{', may be null' if c.allows_missing else ''})"
            for c in self.columns
        ]


def _convert(column: InputColumn, values: Any, problems: list[str]) -> np.ndarray | None:
    if isinstance(values, np.ndarray):  # from Arrow: typed already
        return _convert_array(column, values, problems)
    found = len(problems)
    for row, value in enumerate(values):
        problem = _check_value(column, value)
        if problem is not None:
            problems.append(f"column {column.name!r}, row {row}: {problem}")
            if len(problems) - found >= PROBLEMS_LISTED:
                break
    if len(problems) > found:
        return None
    if column.kind == "float" or (column.kind == "integer" and None in values):
        return np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    if column.kind == "integer":
        return np.array(values, dtype=np.int64)
    if column.kind == "boolean":
        return np.array(values, dtype=bool)
    return np.array(values, dtype=object)


def _check_value(column: InputColumn, value: Any) -> str | None:
    """Why ``value`` cannot go into ``column``, or None."""
    if value is None:
        return None if column.allows_missing else "null, but this column may not be missing"
    kind = column.kind
    if isinstance(value, (dict, list)):
        return f"a nested {type(value).__name__}, but the column is {kind}"
    if kind in _NUMERIC:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{_shown(value)} is not a number"
        if isinstance(value, float) and not math.isfinite(value):
            if math.isnan(value):
                return None if column.allows_missing else "NaN, but this column may not be missing"
            return f"{value} is not a finite number"
        return None
    if kind == "boolean":
        return None if isinstance(value, bool) else f"{_shown(value)} is not true or false"
    if kind in _TEXT or kind in ("datetime", "timedelta"):
        return None if isinstance(value, str) else f"{_shown(value)} is not text"
    return None  # object columns take any scalar


def _convert_array(
    column: InputColumn, array: np.ndarray, problems: list[str]
) -> np.ndarray | None:
    kind = column.kind
    where = f"column {column.name!r}"
    if kind in _NUMERIC:
        if array.dtype.kind not in "iuf":
            problems.append(f"{where} is {array.dtype}, but the model takes numbers")
            return None
        if array.dtype.kind == "f":
            nan = np.isnan(array)
            if np.isinf(array).any():
                problems.append(f"{where} holds Infinity, which is not a finite number")
            if nan.any() and not column.allows_missing:
                problems.append(
                    f"{where}, row {int(np.argmax(nan))}: NaN or null, but this "
                    "column may not be missing"
                )
            return array
        return array.astype(np.float64) if kind == "float" else array
    if kind == "boolean" and array.dtype.kind != "b":
        problems.append(f"{where} is {array.dtype}, but the model takes true or false")
        return None
    if kind in _TEXT:
        if array.dtype.kind != "O":
            problems.append(f"{where} is {array.dtype}, but the model takes text")
            return None
        bad = [
            i
            for i, v in enumerate(array)
            if not isinstance(v, str) and not (v is None and column.allows_missing)
        ]
        if bad:
            problems.append(f"{where}, row {bad[0]}: {_shown(array[bad[0]])} is not text")
            return None
    return array


def _shown(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (str, int, float, bool)) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# -- parsing ------------------------------------------------------------------------------


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_body(
    body: bytes, content_type: str | None, parsed: Any = None
) -> tuple[dict[str, Any], int]:
    """The body's columns (name -> values) and its row count; InvalidRequest if unreadable.

    ``parsed`` is the JSON body already parsed (the app's body check parses it once)."""
    kind = media_type(content_type)
    if kind == ARROW_TYPE:
        return parse_arrow(body)
    if kind != JSON_TYPE:
        raise InvalidRequest(
            [f"content type {kind or '(none)'!r} is not served"],
            status=415,
            hint=f'Send {JSON_TYPE} ({{"records": [...]}} or {{"columns": {{...}}}}) '
            f"or {ARROW_TYPE}.",
        )
    return columns_of(load_json(body) if parsed is None else parsed)


def load_json(body: bytes) -> Any:
    """``body`` parsed as JSON; InvalidRequest (400) for bad UTF-8, bad JSON, deep nesting.

    Depth needs no limit of its own: the parser stops at the recursion limit, and a value
    nested inside a cell is refused by the column checks.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            [f"the body is not valid UTF-8 (byte {exc.start})"], status=400
        ) from None
    try:
        return json.loads(text)
    except RecursionError:
        raise InvalidRequest(["the JSON is nested too deeply to read"], status=400) from None
    except ValueError as exc:
        raise InvalidRequest([f"the body is not valid JSON: {exc}"], status=400) from None


def columns_of(data: Any) -> tuple[dict[str, Any], int]:
    """Columns and row count from ``{"records": [...]}`` or ``{"columns": {...}}``."""
    hint = 'Send {"records": [{"column": value, ...}, ...]} or {"columns": {"column": [...]}}.'
    if not isinstance(data, dict) or len(set(data) & {"records", "columns"}) != 1:
        raise InvalidRequest(
            ['the body must be an object with exactly one of "records" or "columns"'],
            hint=hint,
        )
    if "records" in data:
        return _from_records(data["records"], hint)
    columns = data["columns"]
    if not isinstance(columns, dict) or not all(isinstance(v, list) for v in columns.values()):
        raise InvalidRequest(['"columns" must map each column name to a list of values'], hint=hint)
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise InvalidRequest([f"the columns have different lengths: {sorted(lengths)}"], hint=hint)
    return columns, (lengths.pop() if lengths else 0)


def _from_records(records: Any, hint: str) -> tuple[dict[str, Any], int]:
    if not isinstance(records, list):
        raise InvalidRequest(['"records" must be a list of objects'], hint=hint)
    problems = [
        f"record {i} is not an object" for i, r in enumerate(records) if not isinstance(r, dict)
    ]
    if problems:
        raise InvalidRequest(problems, hint=hint)
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    absent: list[str] = []
    columns: dict[str, list[Any]] = {}
    for name in names:
        values = []
        for i, record in enumerate(records):
            if name in record:
                values.append(record[name])
            else:
                absent.append(f"record {i} lacks column {name!r}")
                values.append(None)
        columns[name] = values
    if absent:
        raise InvalidRequest(absent, hint="Give every record the same columns.")
    return columns, len(records)


def parse_arrow(body: bytes) -> tuple[dict[str, Any], int]:
    """Columns (NumPy arrays; text and nulls as objects) of an Arrow IPC stream."""
    import pyarrow as pa

    try:
        table = pa.ipc.open_stream(body).read_all()
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        raise InvalidRequest([f"the body is not an Arrow IPC stream: {exc}"], status=400) from None
    return arrow_columns(table), table.num_rows


def arrow_columns(table: Any) -> dict[str, Any]:
    """Columns (NumPy arrays; text and nulls as objects) of an Arrow table or batch."""
    import pyarrow as pa

    columns: dict[str, Any] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_integer(column.type) and column.null_count:
            column = column.cast(pa.float64())  # nulls as NaN, as JSON nulls become
        columns[name] = column.to_numpy(zero_copy_only=False)
    return columns


# -- predicting ---------------------------------------------------------------------------


class Predictor:
    """A loaded model compiled for serving: its input schema, and the cheapest call it takes.

    Building a DataFrame per request costs milliseconds (pandas, and the signature check
    of :meth:`LoadedModel.predict`), the model's own predict on a matrix far less. So
    :meth:`warm` tries a twin of the model without its recorded column names
    (``feature_names_in_``, which make scikit-learn want a DataFrame) on one float
    matrix; if the twin predicts the input example exactly as the model does, requests
    use it. A model that needs its column names (a ``ColumnTransformer`` selecting by
    name), text columns or decoded labels keeps the DataFrame call.
    """

    def __init__(self, loaded: Any) -> None:
        self.loaded = loaded
        self.schema = InputSchema.compile(loaded.signature, loaded.example_frame)
        self._twin: Any = None  # the matrix-fed twin, once warm() has proven it
        # The enrich stage's plan (serving.enrich.EnrichPlan) when the model reads online
        # features: then a request carries entity keys instead of those columns.
        self.enrichment: Any = None

    @property
    def request_schema(self) -> InputSchema:
        """What a request must carry: the model's inputs, or the enrich plan's."""
        return self.schema if self.enrichment is None else self.enrichment.request

    @property
    def matrix(self) -> bool:
        """Whether requests go to the model as one float matrix (no pandas)."""
        return self._twin is not None

    def predict(self, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        """Predictions for checked ``arrays``; a value the model itself refuses (a
        category it never saw, say) is the caller's problem (422), not a server error."""
        try:
            return self._predict(arrays)
        except ValueError as exc:
            raise InvalidRequest(
                [f"the model refused the input: {str(exc)[:300]}"],
                hint="Send values like those the model was trained on.",
            ) from None

    def predict_proba(self, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        """Class probabilities for checked ``arrays`` (one column per class, in
        ``loaded.classes`` order), by the same call predictions take."""
        if not self.loaded.supports_proba:
            raise InvalidInput(
                "This endpoint's postprocess step needs class probabilities, and its model "
                "gives none.",
                hint="Recreate the endpoint with --postprocess predict.",
            )
        try:
            if self._twin is not None and hasattr(self._twin, "predict_proba"):
                return np.asarray(self._twin.predict_proba(self._stack(arrays)))
            import pandas as pd

            frame = pd.DataFrame(arrays, columns=self.schema.names, copy=False)
            return np.asarray(self.loaded.model.predict_proba(frame))
        except ValueError as exc:
            raise InvalidRequest(
                [f"the model refused the input: {str(exc)[:300]}"],
                hint="Send values like those the model was trained on.",
            ) from None

    def proba_matrix(self, arrays: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """The float matrix :meth:`predict_proba_matrix` takes for ``arrays``, or None
        when the model's probabilities need a DataFrame."""
        if self._twin is None or not hasattr(self._twin, "predict_proba"):
            return None
        return self._stack(arrays)

    def predict_proba_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """Class probabilities for a matrix from :meth:`proba_matrix`."""
        return np.asarray(self._twin.predict_proba(matrix))

    def _predict(self, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        if self._twin is not None:
            return np.asarray(self._twin.predict(self._stack(arrays)))
        import pandas as pd

        return self.loaded.predict(pd.DataFrame(arrays, columns=self.schema.names, copy=False))

    def warm(self) -> None:
        """Predict the input example, so the first request pays no first-call costs, and
        choose the matrix call if it gives the same predictions."""
        example = self.loaded.example_frame
        arrays = {name: example[name].to_numpy() for name in self.schema.names}
        self._twin = self._matrix_twin(arrays, np.asarray(self.loaded.predict(example)))
        self.predict(arrays)

    def _stack(self, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        columns = [arrays[name] for name in self.schema.names]
        if columns and len(columns[0]) == 1:  # most requests: one row, in a third the time
            return np.array([[column[0] for column in columns]], dtype=np.float64)
        return np.column_stack(columns).astype(np.float64, copy=False)

    def _matrix_twin(self, arrays: Mapping[str, np.ndarray], expected: np.ndarray) -> Any:
        if not self.schema.numeric or self.loaded.manifest.get("decode_labels"):
            return None
        twin = without_feature_names(self.loaded.model)
        try:
            found = np.asarray(twin.predict(self._stack(arrays)))
        except Exception:  # it needs its column names: keep the DataFrame call
            return None
        return twin if found.shape == expected.shape and np.array_equal(found, expected) else None


def without_feature_names(model: Any) -> Any:
    """A copy of ``model`` whose estimators (steps of a pipeline too) forget the column
    names they were fitted with, so a matrix is not refused or warned about."""
    twin = copy.deepcopy(model)
    pending = [twin]
    while pending:
        estimator = pending.pop()
        with contextlib.suppress(AttributeError):  # absent, or a pipeline's read-only view
            del estimator.feature_names_in_
        pending.extend(step for _, step in getattr(estimator, "steps", ()) or ())
    return twin
