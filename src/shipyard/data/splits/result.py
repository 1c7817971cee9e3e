"""The outcome of a split: a set per row, the counts, and hashes to verify it by."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shipyard.data.splits.plan import SplitPlan
from shipyard.data.splits.slices import SliceReport
from shipyard.errors import InvalidInput


def hash_row_ids(frame: pd.DataFrame, rows: np.ndarray, id_columns: Sequence[str]) -> str:
    """sha256 of the sorted row ids of ``frame.iloc[rows]``, so a set can be verified.

    The bytes hashed are, by case:

    * no id columns: the row positions, ascending, as little-endian int64;
    * one integer id column without nulls: its values, ascending, as little-endian int64;
    * otherwise: each row's id values as ``str()`` joined by ``"\\x1f"``, those
      texts sorted and joined by ``"\\n"``, as UTF-8.

    >>> hash_row_ids(pd.DataFrame({"a": [5, 6]}), np.array([0, 1]), []) == hashlib.sha256(
    ...     np.array([0, 1], dtype="<i8").tobytes()).hexdigest()
    True
    """
    if not id_columns:
        data = np.sort(rows).astype("<i8").tobytes()
    elif (
        len(id_columns) == 1
        and pd.api.types.is_integer_dtype(frame[id_columns[0]].dtype)
        and not frame[id_columns[0]].hasnans
    ):
        values = frame[id_columns[0]].to_numpy(dtype=np.int64)[rows]
        data = np.sort(values).astype("<i8").tobytes()
    else:
        text = frame[id_columns[0]].iloc[rows].astype(str)
        for column in id_columns[1:]:
            text = text + "\x1f" + frame[column].iloc[rows].astype(str)
        data = "\n".join(sorted(text.tolist())).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def _plain(value: Any) -> Any:
    """NumPy scalars as Python scalars, for labels shown to people and JSON."""
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True, eq=False)
class SplitResult:
    """Which set each row went to, with counts, hashes and warnings.

    Attributes:
        assignment: the set index (into ``set_names``) of every row, int8.
        set_names: fraction sets in plan order, then time windows.
        row_ids_hash: set name -> sha256 of its sorted row ids (see :func:`hash_row_ids`).
        counts: set name -> rows.
        class_counts: set name -> class -> rows (stratified plans only, else empty).
        slices: rows per slice per set, and small-slice warnings.
        warnings: everything worth a look, slice warnings included.
        plan: the plan that made this split.
        stats: rows, rows before the windows, units and duplicate rows.
    """

    assignment: np.ndarray
    set_names: tuple[str, ...]
    row_ids_hash: dict[str, str]
    counts: dict[str, int]
    class_counts: dict[str, dict[Any, int]]
    slices: SliceReport
    warnings: list[str]
    plan: SplitPlan
    stats: dict[str, int] = field(default_factory=dict)

    def indices(self, set_name: str) -> np.ndarray:
        """Row positions in ``set_name``, ascending.

        >>> from shipyard.data.splits import SplitPlan, split_frame
        >>> frame = pd.DataFrame({"x": range(10)})
        >>> result = split_frame(frame, SplitPlan(sets={"a": 0.5, "b": 0.5}, dedupe=False))
        >>> len(result.indices("a"))
        5
        """
        if set_name not in self.set_names:
            raise InvalidInput(
                f"No set named {set_name!r} in this split.",
                hint=f"Sets: {', '.join(self.set_names)}.",
            )
        return np.flatnonzero(self.assignment == self.set_names.index(set_name))

    def frames(self, frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """``frame`` cut into one DataFrame per set; ``frame`` must be the split table."""
        if len(frame) != self.assignment.size:
            raise InvalidInput(
                f"The table has {len(frame):,} rows but the split was made for "
                f"{self.assignment.size:,}.",
                hint="Pass the same table that was split.",
            )
        return {name: frame.iloc[self.indices(name)] for name in self.set_names}

    @property
    def digest(self) -> str:
        """One sha256 over every set's name and row-id hash, in set order."""
        lines = "".join(f"{name}={self.row_ids_hash[name]}\n" for name in self.set_names)
        return hashlib.sha256(lines.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (no per-row arrays); class labels become text keys."""
        return {
            "sets": list(self.set_names),
            "counts": dict(self.counts),
            "row_ids_hash": dict(self.row_ids_hash),
            "digest": self.digest,
            "class_counts": {
                name: {str(_plain(c)): n for c, n in classes.items()}
                for name, classes in self.class_counts.items()
            },
            "slices": self.slices.to_dict(),
            "warnings": list(self.warnings),
            "stats": dict(self.stats),
            "plan": self.plan.to_dict(),
        }
