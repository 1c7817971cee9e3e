"""One column's profile: exact counts and moments, plus mergeable sketches.

Numeric and timestamp columns keep the mean and the sum of squared deviations
(merged with Chan et al.'s parallel formula: exact up to floating point), the
exact min and max, a KLL quantile sketch and an HLL distinct-count sketch
(sizes and errors in :mod:`~shipyard.data.profiles.sketches`).
Categorical, boolean and text columns keep a frequent-items sketch, the HLL
sketch and exact category counts while there are at most
:data:`~shipyard.data.profiles.kinds.MAX_CATEGORIES` distinct values (dropped
for good past that, in a merge too, so a merge equals the profile of the whole).
Missing means null, or NaN in a float column; infinities are values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow.compute as pc

from shipyard.data.profiles import kinds as K
from shipyard.data.profiles import sketches as S
from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class Histogram:
    """Bars for a chart: numeric ``edges`` (bins + 1) or categorical ``labels``, and ``counts``."""

    counts: list[float]
    edges: list[float] | None = None
    labels: list[str] | None = None


class ColumnProfile:
    """The profile of one column; build it with :meth:`new` and :meth:`update`.

    ``count`` is rows, ``missing`` the null or NaN ones, ``n`` the present ones.

    >>> import pyarrow as pa
    >>> col = ColumnProfile.new("x", pa.float64())
    >>> col.update(pa.array([1.0, 2.0, None, 6.0]))
    >>> col.count, col.missing, col.mean, col.max, col.quantiles([0.5]).tolist()
    (4, 1, 3.0, 6.0, [2.0])
    """

    def __init__(self, name: str, family: K.Family, arrow_type: str, declared: K.Kind | None):
        self.name, self.family, self.arrow_type, self.declared = name, family, arrow_type, declared
        self.integral = True  # every numeric value seen so far came from an integer type
        self.count = self.missing = 0
        self.min: float | None = None
        self.max: float | None = None
        self._mean = self._m2 = 0.0  # _m2: the sum of squared deviations from the mean
        self._kll: Any = S.new_kll() if self.path == "numeric" else None
        self._freq: Any = S.new_frequent() if self.path == "categorical" else None
        self._counts: dict[str, int] | None = {} if self.path == "categorical" else None
        self._hll: Any = S.new_hll() if self.path != "none" else None
        # Sketch bytes as loaded, dropped on change: a frequent-items sketch writes its hash
        # map in another order after a load, and a loaded profile must write the same bytes.
        self._raw: dict[str, bytes] = {}

    @classmethod
    def new(cls, name: str, arrow_type: pa.DataType, kind: str | None = None) -> ColumnProfile:
        """An empty profile for a column of this Arrow type, optionally with a declared kind."""
        family = K.family_of(arrow_type)
        profile = cls(name, family, str(arrow_type), K.resolve_kind(name, family, kind))
        profile.integral = K.is_integral(arrow_type)
        return profile

    @property
    def path(self) -> K.Path:
        return K.path_of(self.declared or K.default_kind(self.family))

    def update(self, array: pa.Array | pa.ChunkedArray) -> None:
        """Add a chunk of this column's values (vectorised; sketches take numpy arrays)."""
        values, missing = K.present(array)
        n_before, self._raw = self.n, {}
        self.integral = self.integral and K.is_integral(array.type)
        self.count += len(array)
        self.missing += missing
        if not len(values) or self.path == "none":
            return
        if self.path == "categorical":
            return self._update_categories(values)
        # The KLL binding refuses read-only arrays, and Arrow's zero-copy views are read-only.
        x = np.require(K.as_float64(values, self.family), np.float64, ["C", "W"])
        with np.errstate(invalid="ignore"):  # inf - inf: the variance is NaN, not a warning
            mean = float(x.mean())
            dev = x - mean
            m2 = float(np.einsum("i,i", dev, dev))  # not BLAS: no idle threads spinning
        self._mean, self._m2 = S.chan(n_before, self._mean, self._m2, x.size, mean, m2)
        self.min = S.pick(min, self.min, float(x.min()))
        self.max = S.pick(max, self.max, float(x.max()))
        self._kll.update(x)
        self._hll.update_values(x)

    def _update_categories(self, values: pa.Array) -> None:
        tally = pc.value_counts(values)
        keys = K.as_strings(tally.field("values"))
        counts = tally.field("counts").to_pylist()
        for key, weight in zip(keys, counts, strict=True):  # one step per distinct value
            self._freq.update(key, weight)
        self._hll.update_values(np.array(keys, dtype=object))
        if self._counts is not None:
            self._counts = S.add_counts(
                self._counts, dict(zip(keys, counts, strict=True)), K.MAX_CATEGORIES
            )

    def merge(self, other: ColumnProfile) -> ColumnProfile:
        """A new profile of both columns' values together; neither input changes.

        >>> import pyarrow as pa
        >>> a, b = ColumnProfile.new("x", pa.int64()), ColumnProfile.new("x", pa.int64())
        >>> a.update(pa.array([1, 2])); b.update(pa.array([3]))
        >>> a.merge(b).mean
        2.0
        """
        if self.name != other.name or self.declared != other.declared:
            raise InvalidInput(
                f"Cannot merge column {self.name!r} ({self.declared or 'kind inferred'}) with "
                f"column {other.name!r} ({other.declared or 'kind inferred'}).",
                hint="Profile every part of a table with the same columns and kinds=.",
            )
        a, b = self, other
        family = K.merged_family(a.name, a.family, a.arrow_type, b.family, b.arrow_type)
        out = ColumnProfile(
            a.name, family, b.arrow_type if a.family == "null" else a.arrow_type, a.declared
        )
        out.integral = self.integral and other.integral
        out.count, out.missing = self.count + other.count, self.missing + other.missing
        for part in (self, other):
            if part.path == out.path != "none":  # a null-typed part adds only its counts
                out._absorb(part)
        return out

    def _absorb(self, part: ColumnProfile) -> None:
        """Fold another profile's statistics (not its counts) into this new one."""
        self._hll = S.union_hll(self._hll, part._hll)
        if self.path == "numeric":
            n = self._kll.n
            self._mean, self._m2 = S.chan(n, self._mean, self._m2, part.n, part._mean, part._m2)
            self.min, self.max = S.pick(min, self.min, part.min), S.pick(max, self.max, part.max)
            self._kll.merge(part._kll)
            return
        self._freq.merge(part._freq)
        if self._counts is not None:
            self._counts = (
                None
                if part._counts is None
                else S.add_counts(self._counts, part._counts, K.MAX_CATEGORIES)
            )

    @property
    def kind(self) -> K.Kind:
        """The declared kind, else the one inferred from the type (and, for strings, values)."""
        if self.declared is not None:
            return self.declared
        if self.family == "string":
            return K.string_kind(None if self._counts is None else len(self._counts), self.n)
        return K.default_kind(self.family)

    @property
    def n(self) -> int:
        return self.count - self.missing

    @property
    def mean(self) -> float | None:
        return self._mean if self.path == "numeric" and self.n else None

    @property
    def variance(self) -> float | None:
        """Sample variance (n - 1 in the denominator); 0.0 for one value."""
        if self.path != "numeric" or not self.n:
            return None
        return self._m2 / (self.n - 1) if self.n > 1 else 0.0

    @property
    def std(self) -> float | None:
        return None if (variance := self.variance) is None else math.sqrt(variance)

    @property
    def rank_error(self) -> float:
        """The KLL sketch's double-sided normalized rank error (99% confidence)."""
        return S.kll_rank_error()

    def quantiles(self, qs: Any) -> np.ndarray:
        """Values at normalized ranks ``qs``, within :attr:`rank_error`; NaN when empty."""
        qs = np.atleast_1d(np.asarray(qs, dtype=np.float64))
        if self._sketch("quantiles").is_empty():
            return np.full(qs.shape, np.nan)
        return np.asarray(self._kll.get_quantiles(qs.tolist(), True), dtype=np.float64)

    def cdf(self, points: Any) -> np.ndarray:
        """P(X <= point) at each point (any order), from the KLL sketch; NaN when empty."""
        points = np.atleast_1d(np.asarray(points, dtype=np.float64))
        splits = np.unique(points[~np.isnan(points)])  # the sketch wants increasing points
        if self._sketch("cdf").is_empty() or not splits.size:
            return np.full(points.shape, np.nan)
        ranks = np.asarray(self._kll.get_cdf(splits.tolist(), True)[:-1], dtype=np.float64)
        out = ranks[np.searchsorted(splits, np.nan_to_num(points, nan=splits[0]))]
        out[np.isnan(points)] = np.nan
        return out

    def histogram(self, bins: int = 20) -> Histogram:
        """Equal-width bars from the KLL PMF (numeric), or the top ``bins`` categories + other."""
        if self.path == "categorical":
            top = self.frequent_items(bins)
            rest = self.n - sum(c for _, c in top)
            labels = [k for k, _ in top] + (["(other)"] if rest > 0 else [])
            counts = [float(c) for _, c in top] + ([float(rest)] if rest > 0 else [])
            return Histogram(counts=counts, labels=labels)
        if self._sketch("histogram").is_empty():
            return Histogram(counts=[], edges=[])
        low, high = float(self.min or 0.0), float(self.max or 0.0)
        if low == high or not (math.isfinite(low) and math.isfinite(high)):
            return Histogram(counts=[float(self.n)], edges=[low, high])
        edges = np.linspace(low, high, bins + 1)
        pmf = np.asarray(self._kll.get_pmf(edges[1:-1].tolist()), dtype=np.float64)
        # Whole counts: the PMF is an estimate anyway, and charts want integers.
        return Histogram(counts=np.rint(pmf * self.n).tolist(), edges=edges.tolist())

    def category_counts(self) -> dict[str, int] | None:
        """Exact counts per category while the column has at most 1,000; else None."""
        return None if self._counts is None else dict(self._counts)

    def frequent_items(self, k: int = 10) -> list[tuple[str, int]]:
        """The ``k`` most frequent values with their counts (exact when counts are kept)."""
        if self.path != "categorical":
            raise InvalidInput(f"Column {self.name!r} is {self.kind}; it has no frequent items.")
        if self._counts is not None:
            return sorted(self._counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        rows = self._freq.get_frequent_items(S.NO_FALSE_NEGATIVES)
        return [(str(item), int(estimate)) for item, estimate, _, _ in rows[:k]]

    def distinct(self) -> float:
        """Distinct present values: exact while category counts are kept, else the HLL estimate."""
        if self._counts is not None:
            return float(len(self._counts))
        return 0.0 if self._hll is None else float(self._hll.get_estimate())

    def distinct_bounds(self, num_std: int = 2) -> tuple[float, float]:
        """Bounds on :meth:`distinct` at 1, 2 or 3 standard deviations."""
        if self._counts is not None or self._hll is None:
            return self.distinct(), self.distinct()
        return float(self._hll.get_lower_bound(num_std)), float(self._hll.get_upper_bound(num_std))

    @property
    def notes(self) -> list[str]:
        """Things a reader of the profile should know about this column."""
        notes = []
        if self.family in ("null", "other"):
            notes.append(f"Arrow type {self.arrow_type} is only counted (kind {self.kind})")
        if self.count and not self.n:
            notes.append(f"all {self.count} values are missing")
        if self.path == "categorical" and self._counts is None:
            notes.append(f"over {K.MAX_CATEGORIES} distinct values: counts are estimates")
        return notes

    def _sketch(self, what: str) -> Any:
        if self._kll is None:
            raise InvalidInput(f"Column {self.name!r} is {self.kind}; {what} need a numeric one.")
        return self._kll

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        raw = state.pop("_raw")
        for key, write in S.WRITERS.items():
            sketch = state[key]
            state[key] = None if sketch is None else raw.get(key) or getattr(sketch, write)()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        raw = {key: state[key] for key in S.WRITERS if state[key] is not None}
        for key, data in raw.items():
            state[key] = S.READERS[key].deserialize(data)
        self.__dict__.update(state, _raw=raw)

    def __eq__(self, other: object) -> bool:
        """Same state, sketches byte for byte (a merged profile differs from a whole one)."""
        if not isinstance(other, ColumnProfile):
            return NotImplemented
        return self.__getstate__() == other.__getstate__()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ColumnProfile({self.name!r}, kind={self.kind!r}, count={self.count})"
