"""Split a table into training, validation, testing and time-window sets.

A :class:`SplitPlan` names the sets and their fractions and adds constraints:
stratified by a label, grouped (rows sharing a key, and exact duplicate rows,
stay together), time windows such as ``recent_testing``, and named slices whose
size in every set is checked. :func:`split_frame` applies a plan; the same data,
plan and seed always give the same split, and :class:`SplitResult` carries a
sha256 of each set's row ids to prove it.

Example:
    >>> import pandas as pd
    >>> from shipyard.data.splits import SplitPlan, split_frame
    >>> frame = pd.DataFrame({
    ...     "id": range(1000),
    ...     "x": [(i * 37) % 1000 for i in range(1000)],
    ...     "late": [i % 3 == 0 for i in range(1000)],
    ...     "at": pd.date_range("2013-01-01", periods=1000, freq="h", tz="UTC"),
    ... })
    >>> plan = SplitPlan.from_yaml('''
    ... sets: {training: 0.7, validation: 0.15, testing: 0.15}
    ... stratify: late
    ... id_columns: [id]
    ... time_column: at
    ... windows: {recent_testing: {last: 7D}}
    ... slices: {small_x: x < 5}
    ... ''')
    >>> result = split_frame(frame, plan)
    >>> result.counts
    {'training': 582, 'validation': 125, 'testing': 125, 'recent_testing': 168}
    >>> frames = result.frames(frame)
    >>> bool(frames["training"]["at"].max() < frames["recent_testing"]["at"].min())
    True
"""

from __future__ import annotations

from shipyard.data.splits.assign import split_frame
from shipyard.data.splits.groups import default_feature_columns
from shipyard.data.splits.plan import DEFAULT_FRACTIONS, SplitPlan, suggest_fractions
from shipyard.data.splits.result import SplitResult, hash_row_ids
from shipyard.data.splits.slices import SliceReport, halfwidth, rows_needed
from shipyard.data.splits.windows import TimeWindow

__all__ = [
    "DEFAULT_FRACTIONS",
    "SliceReport",
    "SplitPlan",
    "SplitResult",
    "TimeWindow",
    "default_feature_columns",
    "halfwidth",
    "hash_row_ids",
    "rows_needed",
    "split_frame",
    "suggest_fractions",
]
