"""A model's signature: the input columns and types it takes, and what it returns.

The signature is inferred when a model is packaged: the inputs from the input
example (column names and types), the outputs from the model's predictions on
that example, and the classes of a classifier. At prediction time the input is
checked against it: a missing column or a column of an incompatible type is
refused with :class:`~shipyard.errors.InvalidInput` naming the column, and the
columns are passed to the model in the order it was trained on (extra columns
are dropped).

Types are coarse on purpose (``integer`` and ``float`` accept each other, as do
``string`` and ``category``), because a service's JSON payload rarely keeps
pandas dtypes; the exact training dtype is kept in ``dtype`` for reference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from shipyard.errors import InvalidInput

# Which recorded types accept which observed types.
_ACCEPTS: dict[str, frozenset[str]] = {
    "integer": frozenset({"integer", "float"}),
    "float": frozenset({"integer", "float"}),
    "boolean": frozenset({"boolean"}),
    "string": frozenset({"string", "category"}),
    "category": frozenset({"string", "category"}),
    "datetime": frozenset({"datetime"}),
    "timedelta": frozenset({"timedelta"}),
}


@dataclass(frozen=True)
class ColumnSpec:
    """One column: its name, its coarse type and the exact dtype it had when recorded."""

    name: str
    type: str
    dtype: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type, "dtype": self.dtype}


@dataclass(frozen=True)
class Signature:
    """Input columns, output columns and (for a classifier) the classes, in column order.

    >>> frame = pd.DataFrame({"hour": [5, 6], "origin": ["JFK", "LGA"]})
    >>> sig = infer_signature(frame, np.array([True, False]))
    >>> [c.type for c in sig.inputs], sig.outputs[0].type
    (['integer', 'string'], 'boolean')
    """

    inputs: tuple[ColumnSpec, ...]
    outputs: tuple[ColumnSpec, ...]
    classes: tuple[Any, ...] | None = None

    @property
    def input_names(self) -> list[str]:
        return [column.name for column in self.inputs]

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": [c.to_dict() for c in self.inputs],
            "outputs": [c.to_dict() for c in self.outputs],
            "classes": None if self.classes is None else list(self.classes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        classes = data.get("classes")
        return cls(
            inputs=tuple(ColumnSpec(**c) for c in data.get("inputs", [])),
            outputs=tuple(ColumnSpec(**c) for c in data.get("outputs", [])),
            classes=None if classes is None else tuple(classes),
        )

    def check(self, data: Any) -> pd.DataFrame:
        """``data`` as a DataFrame with exactly the input columns, in order; else InvalidInput."""
        frame = as_frame(data, "The input")
        missing = [name for name in self.input_names if name not in frame.columns]
        if missing:
            raise InvalidInput(
                f"The input lacks column(s) {', '.join(map(repr, missing))} that the model needs.",
                hint=f"The model takes: {', '.join(self.input_names)}.",
            )
        for spec in self.inputs:
            found = column_type(frame[spec.name])
            if found != "empty" and found not in _ACCEPTS.get(spec.type, {found}):
                raise InvalidInput(
                    f"Column {spec.name!r} is {found} ({frame[spec.name].dtype}) but the model "
                    f"was trained on {spec.type} ({spec.dtype}).",
                    hint=f"Convert {spec.name!r} to {spec.type} before predicting.",
                )
        return frame[self.input_names]


def infer_signature(
    example: pd.DataFrame, predictions: Any, classes: Sequence[Any] | None = None
) -> Signature:
    """The signature of a model that returned ``predictions`` for ``example``."""
    inputs = tuple(_spec(str(name), example[name]) for name in example.columns)
    values = np.asarray(predictions)
    if values.ndim == 1:
        outputs: tuple[ColumnSpec, ...] = (_spec("prediction", pd.Series(values)),)
    elif values.ndim == 2:
        outputs = tuple(
            _spec(f"prediction_{i}", pd.Series(values[:, i])) for i in range(values.shape[1])
        )
    else:
        raise InvalidInput(
            f"The model's predictions have {values.ndim} dimensions; a package needs 1 or 2.",
            hint="Wrap the model so that predict returns one row per input row.",
        )
    return Signature(inputs, outputs, None if classes is None else tuple(classes))


def _spec(name: str, column: pd.Series) -> ColumnSpec:
    kind = column_type(column)
    return ColumnSpec(name, "object" if kind == "empty" else kind, str(column.dtype))


def column_type(column: pd.Series) -> str:
    """The coarse type of a column: integer, float, boolean, string, category, datetime,
    timedelta, object, or ``empty`` for an object column with only missing values."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "timedelta"
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return "string"
    return _object_type(column)


_INFERRED = {
    "string": "string",
    "empty": "empty",
    "boolean": "boolean",
    "integer": "integer",
    "floating": "float",
    "mixed-integer-float": "float",
    "datetime": "datetime",
    "datetime64": "datetime",
    "timedelta": "timedelta",
    "timedelta64": "timedelta",
}


def _object_type(column: pd.Series) -> str:
    # Object columns hold anything: look at the values (missing ones skipped).
    inferred = pd.api.types.infer_dtype(column, skipna=True)
    return _INFERRED.get(inferred, "object")


def as_frame(data: Any, what: str = "The input example") -> pd.DataFrame:
    """A pandas DataFrame from a DataFrame (pandas or polars), an Arrow table, a dict of
    columns or a list of row dicts; InvalidInput for anything else."""
    frame = _to_pandas(data)
    if frame is None:
        raise InvalidInput(
            f"{what} is a {type(data).__name__}; a model takes named columns.",
            hint="Pass a pandas DataFrame (e.g. pd.DataFrame(X, columns=names)), a dict of "
            "columns or a list of row dicts.",
        )
    names = [c for c in frame.columns if not isinstance(c, str)]
    if names:
        raise InvalidInput(
            f"{what} has column names that are not text: {names[:5]}.",
            hint="Name every column (frame.columns = [...]).",
        )
    return frame


def _to_pandas(data: Any) -> pd.DataFrame | None:
    if isinstance(data, pd.DataFrame):
        return data
    module = type(data).__module__
    if module.startswith("polars") and hasattr(data, "to_pandas"):
        return data.to_pandas()
    if module.startswith("pyarrow") and hasattr(data, "to_pandas"):
        return data.to_pandas()
    if isinstance(data, Mapping):
        columns = dict(data)
        if all(np.ndim(value) == 0 for value in columns.values()):
            return pd.DataFrame([columns])  # one row given as a dict of values
        return pd.DataFrame(columns)
    if isinstance(data, list) and data and all(isinstance(row, Mapping) for row in data):
        return pd.DataFrame(data)
    return None
