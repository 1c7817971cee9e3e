"""Row identity for data checks: one 64-bit hash per row over chosen columns.

Splits use it to keep exact duplicates in one set; the leakage report uses it to
find duplicates across sets. Values hash by type: the integer 1 and the float
1.0 differ, two nulls in the same column are equal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from shipyard.errors import InvalidInput

_PANDAS_INDEX = re.compile(r"^__index_level_\d+__$")


def is_pandas_index(column: str) -> bool:
    """True for the column pandas writes its index into (not data)."""
    return bool(_PANDAS_INDEX.match(column))


def row_hashes(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> np.ndarray:
    """A uint64 per row of ``frame`` over ``columns`` (default: all), vectorised.

    >>> import pandas as pd
    >>> h = row_hashes(pd.DataFrame({"a": [1, 1, 2], "b": ["x", "x", "y"]}))
    >>> bool(h[0] == h[1]), bool(h[0] == h[2])
    (True, False)
    """
    chosen = list(frame.columns if columns is None else columns)
    missing = [c for c in chosen if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"Column(s) {', '.join(map(repr, missing))} not in the table.",
            hint=f"The table has: {', '.join(map(str, frame.columns))}.",
        )
    if not chosen:
        raise InvalidInput("row_hashes needs at least one column.")
    hashed = pd.util.hash_pandas_object(frame[chosen], index=False, categorize=True)
    return np.asarray(hashed.to_numpy(), dtype=np.uint64)


def duplicated(
    frame: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    keep: Literal["first", "last"] = "first",
) -> np.ndarray:
    """Which rows repeat an earlier (``keep="first"``) or later (``"last"``) row, like
    ``DataFrame.duplicated`` but by hashing: one pass of vectorised hashes, then each
    flagged row is compared by value with the row it repeats, so a hash collision is
    never reported as a duplicate.

    >>> import pandas as pd
    >>> duplicated(pd.DataFrame({"a": [1, 2, 1], "b": ["x", "y", "x"]})).tolist()
    [False, False, True]
    """
    if keep not in ("first", "last"):
        raise InvalidInput(f"keep must be 'first' or 'last', got {keep!r}.")
    chosen = list(frame.columns if columns is None else columns)
    hashes = row_hashes(frame, chosen)
    flags = pd.Series(hashes).duplicated(keep=keep).to_numpy().copy()
    flagged = np.flatnonzero(flags)
    if not len(flagged):
        return flags
    codes, uniques = pd.factorize(hashes)
    kept = np.flatnonzero(~flags)  # one representative row per hash
    representative = np.empty(len(uniques), dtype=np.int64)
    representative[codes[kept]] = kept
    same = _rows_equal(frame[chosen], flagged, representative[codes[flagged]])
    flags[flagged[~same]] = False
    return flags


def _rows_equal(frame: pd.DataFrame, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Row-by-row equality of two sets of positions, with nulls equal to nulls."""
    equal = np.ones(len(left), dtype=bool)
    for column in frame.columns:
        values = frame[column]
        a = values.iloc[left].reset_index(drop=True)
        b = values.iloc[right].reset_index(drop=True)
        both_null = (a.isna() & b.isna()).to_numpy()
        equal &= ((a == b).fillna(False).to_numpy(dtype=bool)) | both_null
    return equal
