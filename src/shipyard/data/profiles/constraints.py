"""Constraints suggested from a baseline profile, and their document (``constraints.json``).

:func:`suggest_constraints` reads a profile of good data and proposes, per
column: its type; a minimum completeness (the observed share of present
values less ``completeness_margin``; a column that was complete stays
required to be complete); non-negativity for numbers whose minimum is >= 0;
the allowed categories of a categorical or boolean column whose exact counts
were kept; a value range (min and max, widened by ``range_widening`` times
the span); bounds on the distinct count (the HLL's 3-sigma bounds, widened by
``distinct_margin``, meant for tables of about the baseline's size); and drift
thresholds for the distribution tests (numeric columns: all of ``drift``;
categorical and boolean: those that read category counts; timestamps and text:
none).

``constraints.json`` (or ``.yaml``) uses SageMaker Model Monitor's field names
where they fit (``version``, ``features[].name``, ``inferred_type``,
``completeness``, ``num_constraints.is_non_negative``,
``string_constraints.domains``, ``monitoring_config``) and keeps Shipyard's
own under ``features[].shipyard`` (``kind``, ``range``, ``distinct``,
``drift``) and a top-level ``shipyard``. A document is validated when read
(:func:`~shipyard.data.profiles.baseline.load_constraints`): an unknown key or
a value of the wrong type is an InvalidInput naming the file, feature and key.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from shipyard.data.profiles import serialize
from shipyard.data.profiles.kinds import KINDS, inferred_type
from shipyard.data.profiles.table import TableProfile
from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    from shipyard.data.profiles.column import ColumnProfile

CONSTRAINTS_FORMAT = "shipyard.constraints.v1"
DEFAULT_DRIFT: dict[str, float] = {
    "ks_statistic": 0.1,
    "psi": 0.2,
    "js_distance": 0.1,
    "mean_shift_std": 0.2,
}
# Tests that read category counts rather than a numeric distribution.
CATEGORICAL_DRIFT = ("psi", "js_distance", "chi_square_p_value")
DRIFT_METRICS = (*DEFAULT_DRIFT, "chi_square_p_value")
INFERRED_TYPES = ("Integral", "Fractional", "String", "Unknown")
_MONITORING = {
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "distribution_constraints": {"perform_comparison": "Enabled", "comparison_threshold": 0.1},
}


@dataclass(frozen=True)
class FeatureConstraint:
    """What one column must satisfy; None means "not checked"."""

    name: str
    inferred_type: str
    kind: str
    completeness: float = 0.0
    is_non_negative: bool | None = None
    domain: tuple[str, ...] | None = None
    min_value: float | None = None
    max_value: float | None = None
    distinct_min: float | None = None
    distinct_max: float | None = None
    drift: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Constraints:
    """Every column's constraints, and the monitoring settings (kept as given)."""

    features: tuple[FeatureConstraint, ...]
    monitoring_config: dict[str, Any] = field(default_factory=lambda: dict(_MONITORING))
    version: float = 0.0

    def __getitem__(self, name: str) -> FeatureConstraint:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise InvalidInput(f"No constraints for column {name!r}.")

    def to_dict(self) -> dict[str, Any]:
        """The ``constraints.json`` document."""
        return {
            "version": self.version,
            "features": [_feature_dict(f) for f in self.features],
            "monitoring_config": self.monitoring_config,
            "shipyard": {"format": CONSTRAINTS_FORMAT},
        }

    @classmethod
    def from_dict(
        cls, data: Any, *, source: str = "constraints", columns: Iterable[str] | None = None
    ) -> Constraints:
        """Validate a document; ``columns`` (if given) are the only feature names allowed."""
        return _parse(data, source, None if columns is None else set(columns))


def suggest_constraints(
    profile: TableProfile,
    *,
    completeness_margin: float = 0.02,
    range_widening: float = 0.0,
    distinct_margin: float = 0.25,
    drift: Mapping[str, float] | None = None,
) -> Constraints:
    """Constraints that the profiled (good) data passes, to edit and keep.

    >>> import pyarrow as pa
    >>> from shipyard.data.profiles import profile_table
    >>> table = pa.table({"origin": ["JFK", "LGA", "EWR", "JFK"], "distance": [94, 733, 17, 1]})
    >>> constraints = suggest_constraints(profile_table(table))
    >>> constraints["origin"].domain, constraints["distance"].is_non_negative
    (('EWR', 'JFK', 'LGA'), True)
    """
    thresholds = dict(DEFAULT_DRIFT if drift is None else drift)
    _check(thresholds, _FEATURE["shipyard"]["drift"], "suggest_constraints:", "drift")
    return Constraints(
        tuple(
            _suggest(c, thresholds, completeness_margin, range_widening, distinct_margin)
            for c in profile
        )
    )


def _suggest(
    col: ColumnProfile, thresholds: dict[str, float], margin: float, widen: float, dmargin: float
) -> FeatureConstraint:
    observed = col.n / col.count if col.count else 0.0
    completeness = 1.0 if observed == 1.0 else max(0.0, math.floor((observed - margin) * 1e4) / 1e4)
    kind = col.kind
    out: dict[str, Any] = {"completeness": completeness}
    if col.path == "numeric" and col.min is not None and col.max is not None:
        span = (col.max - col.min) * widen
        low, high = col.min - span, col.max + span
        if kind == "numeric":
            out["is_non_negative"] = col.min >= 0
            low = max(low, 0.0) if col.min >= 0 else low
        # Time moves on: a timestamp's distribution always drifts, so it gets no drift test.
        drift = dict(thresholds) if kind == "numeric" else {}
        out.update(min_value=low, max_value=high, drift=drift)
    elif col.path == "categorical" and kind != "text":
        counts = col.category_counts()
        if counts is not None:
            out["domain"] = tuple(sorted(counts))
        out["drift"] = {k: v for k, v in thresholds.items() if k in CATEGORICAL_DRIFT}
    # Distinct counts of continuous or free-text columns grow with the rows: a bound on them
    # would fail every smaller or larger window. Only categories get one.
    if kind in ("categorical", "boolean") and col.n:
        low, high = col.distinct_bounds(3)
        out.update(
            distinct_min=math.floor(low * (1 - dmargin)),
            distinct_max=math.ceil(high * (1 + dmargin)),
        )
    return FeatureConstraint(col.name, inferred_type(kind, col.integral), kind, **out)


# -- writing and checking documents ---------------------------------------------------------


class _Rule(NamedTuple):
    test: Callable[[Any], bool]
    expected: str


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _one_of(values: tuple[str, ...]) -> _Rule:
    return _Rule(lambda v: v in values, f"one of {', '.join(values)}")


_NUMBER = _Rule(
    lambda v: v is None or _is_number(v) or v in ("NaN", "Infinity", "-Infinity"), "a number"
)
_THRESHOLD = _Rule(lambda v: _is_number(v) and v >= 0, "a number >= 0")
_MAPPING = _Rule(lambda v: isinstance(v, dict), "a mapping")
_BOUNDS = {"min": _NUMBER, "max": _NUMBER}
_FEATURE: dict[str, Any] = {
    "name": _Rule(lambda v: isinstance(v, str), "a string"),
    "inferred_type": _one_of(INFERRED_TYPES),
    "completeness": _Rule(lambda v: _is_number(v) and 0 <= v <= 1, "a number from 0 to 1"),
    "num_constraints": {"is_non_negative": _Rule(lambda v: isinstance(v, bool), "true or false")},
    "string_constraints": {
        "domains": _Rule(
            lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
            "a list of strings",
        )
    },
    "monitoring_config_overrides": _MAPPING,
    "shipyard": {
        "kind": _one_of(KINDS),
        "range": _BOUNDS,
        "distinct": _BOUNDS,
        "drift": dict.fromkeys(DRIFT_METRICS, _THRESHOLD),
    },
}
_DOCUMENT: dict[str, Any] = {
    "version": _NUMBER,
    "features": _Rule(lambda v: isinstance(v, list), "a list of features"),
    "monitoring_config": _MAPPING,
    "shipyard": _MAPPING,
}


def _check(value: Any, rule: Any, at: str, key: str) -> None:
    """Raise InvalidInput naming ``at`` (file and feature) and the key that breaks ``rule``."""
    if isinstance(rule, _Rule):
        if not rule.test(value):
            raise InvalidInput(f"{at} key {key!r} must be {rule.expected}, got {value!r}.")
        return
    if not isinstance(value, dict):
        raise InvalidInput(f"{at} key {key!r} must be a mapping, got {value!r}.")
    for name, item in value.items():
        if name not in rule:
            raise InvalidInput(
                f"{at} unknown key {name!r} in {key!r}.", hint=f"Known keys: {', '.join(rule)}."
            )
        _check(item, rule[name], at, name)


def _feature_dict(f: FeatureConstraint) -> dict[str, Any]:
    out: dict[str, Any] = {"name": f.name, "inferred_type": f.inferred_type}
    out["completeness"] = f.completeness
    if f.is_non_negative is not None:
        out["num_constraints"] = {"is_non_negative": f.is_non_negative}
    if f.domain is not None:
        out["string_constraints"] = {"domains": list(f.domain)}
    own: dict[str, Any] = {"kind": f.kind}
    if f.min_value is not None or f.max_value is not None:
        own["range"] = {"min": serialize.number(f.min_value), "max": serialize.number(f.max_value)}
    if f.distinct_min is not None or f.distinct_max is not None:
        own["distinct"] = {"min": f.distinct_min, "max": f.distinct_max}
    out["shipyard"] = {**own, "drift": dict(f.drift)}
    return out


def _parse(data: Any, source: str, columns: set[str] | None) -> Constraints:
    _check(data, _DOCUMENT, f"{source}:", "the document")
    parsed: dict[str, FeatureConstraint] = {}
    for index, item in enumerate(data.get("features", [])):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            raise InvalidInput(f"{source}: feature #{index + 1}: key 'name' must be a string.")
        at = f"{source}: feature {name!r}:"
        if name in parsed or (columns is not None and name not in columns):
            problem = "appears twice" if name in parsed else "names no column of the profile"
            raise InvalidInput(f"{at} key 'name' {problem}.")
        _check(item, _FEATURE, at, "the feature")
        own = item.get("shipyard", {})
        bounds, distinct = own.get("range", {}), own.get("distinct", {})
        parsed[name] = FeatureConstraint(
            name=name,
            inferred_type=item.get("inferred_type", "Unknown"),
            kind=own.get("kind", "unknown"),
            completeness=float(item.get("completeness", 0.0)),
            is_non_negative=item.get("num_constraints", {}).get("is_non_negative"),
            domain=_tuple(item.get("string_constraints", {}).get("domains")),
            min_value=serialize.unnumber(bounds.get("min"), at),
            max_value=serialize.unnumber(bounds.get("max"), at),
            distinct_min=serialize.unnumber(distinct.get("min"), at),
            distinct_max=serialize.unnumber(distinct.get("max"), at),
            drift={k: float(v) for k, v in own.get("drift", {}).items()},
        )
    config = data.get("monitoring_config", _MONITORING)
    version = serialize.unnumber(data.get("version"), source) or 0.0
    return Constraints(tuple(parsed.values()), dict(config), version)


def _tuple(values: list[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)
