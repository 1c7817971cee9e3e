"""Shipyard's profile engine: one mergeable profile per table, for data checks and monitoring.

A profile holds, per column, the row and missing counts and, by kind
(see :mod:`~shipyard.data.profiles.kinds`): for numeric and timestamp columns
the exact mean, variance, min and max, a KLL quantile sketch and an HLL
distinct-count sketch; for categorical, boolean and text columns a
frequent-items sketch, the HLL sketch and, up to 1,000 distinct values, exact
category counts. Profiles of parts merge into the profile of the whole, so a
table can be profiled partition by partition, and a reference is profiled once
and stored (``TableProfile.to_json``; format in
:mod:`~shipyard.data.profiles.serialize`), never re-scanned.

Sketch sizes: KLL ``k = 400`` (double-sided normalized rank error 0.86%,
single-sided 0.68%), HLL ``lg_k = 12`` (relative standard error 1.3%, 1.6%
after a merge), frequent items ``lg_max_k = 10``.

>>> import pyarrow as pa
>>> from shipyard.data.profiles import merge, profile_table, suggest_constraints
>>> a = profile_table(pa.table({"origin": ["JFK", "LGA"], "delay": [3.0, -1.0]}))
>>> b = profile_table(pa.table({"origin": ["JFK", None], "delay": [10.0, 2.0]}))
>>> both = merge(a, b)
>>> both["origin"].category_counts(), both["delay"].mean
({'JFK': 2, 'LGA': 1}, 3.5)
>>> suggest_constraints(both)["delay"].is_non_negative
False
"""

from shipyard.data.profiles.baseline import (
    Baseline,
    load_constraints,
    read_statistics,
    save_constraints,
    statistics_document,
)
from shipyard.data.profiles.column import ColumnProfile, Histogram
from shipyard.data.profiles.constraints import (
    DEFAULT_DRIFT,
    DRIFT_METRICS,
    Constraints,
    FeatureConstraint,
    suggest_constraints,
)
from shipyard.data.profiles.kinds import KINDS, MAX_CATEGORIES, Kind
from shipyard.data.profiles.serialize import FORMAT
from shipyard.data.profiles.sketches import FREQUENT_LG_MAX_K, HLL_LG_K, KLL_K
from shipyard.data.profiles.table import (
    TableProfile,
    merge,
    merge_all,
    profile_batches,
    profile_table,
)

__all__ = [
    "DEFAULT_DRIFT",
    "DRIFT_METRICS",
    "FORMAT",
    "FREQUENT_LG_MAX_K",
    "HLL_LG_K",
    "KINDS",
    "KLL_K",
    "MAX_CATEGORIES",
    "Baseline",
    "ColumnProfile",
    "Constraints",
    "FeatureConstraint",
    "Histogram",
    "Kind",
    "TableProfile",
    "load_constraints",
    "merge",
    "merge_all",
    "profile_batches",
    "profile_table",
    "read_statistics",
    "save_constraints",
    "statistics_document",
    "suggest_constraints",
]
