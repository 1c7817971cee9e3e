"""Row identity for data checks: one 64-bit hash per row over chosen columns.

Splits use it to keep exact duplicates in one set; the leakage report uses it to
find duplicates across sets. Values hash by type: the integer 1 and the float
1.0 differ, two nulls in the same column are equal.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from shipyard.errors import InvalidInput


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
