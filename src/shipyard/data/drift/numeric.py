"""Drift statistics for one numeric column: KS (exact or from sketches), Welch, PSI, JS."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from shipyard.data.drift.decision import ColumnStats, StatResult
from shipyard.data.drift.divergence import (
    SORT_HINT,
    KSResult,
    check_cdf,
    js_distance,
    ks_from_cdfs,
    ks_samples,
    psi,
)
from shipyard.errors import InvalidInput

FloatArray = npt.NDArray[np.float64]
ArrayFn = Callable[[FloatArray], npt.ArrayLike]


@dataclass(frozen=True)
class NumericSummary:
    """What the numeric tests need to know about one sample, raw or sketched.

    Attributes:
        n: number of non-missing values (at least 2).
        mean: their mean.
        variance: their sample variance (``ddof=1``; at large n the difference
            from the population variance does not matter).
        cdf: ``cdf(points) -> F(points)`` with ``F(x) = P(X <= x)``, one value
            per point; points come sorted ascending and unique.
        quantiles: ``quantiles(ranks) -> values`` for ranks in [0, 1].
        rank_error: how far ``cdf`` may be from the true CDF, as a share of n
            (0 for raw data; a KLL sketch's normalized rank error otherwise).
        n_missing: missing values, reported but not tested.

    A column profile (KLL sketch plus streaming moments) adapts as::

        NumericSummary(n=profile.n, mean=profile.mean, variance=profile.variance,
                       cdf=profile.cdf, quantiles=profile.quantiles,
                       rank_error=profile.rank_error)

    Example:
        >>> s = NumericSummary.from_sample([1.0, 2.0, 3.0, 4.0])
        >>> s.n, s.mean, s.cdf(np.array([2.5])).tolist()
        (4, 2.5, [0.5])
    """

    n: int
    mean: float
    variance: float
    cdf: ArrayFn
    quantiles: ArrayFn
    rank_error: float = 0.0
    n_missing: int = 0

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.n, int | np.integer) or self.n < 2:
            problems.append(f"n must be an integer >= 2, got {self.n!r}")
        if not math.isfinite(self.mean):
            problems.append(f"mean must be finite, got {self.mean!r}")
        if not (math.isfinite(self.variance) and self.variance >= 0):
            problems.append(f"variance must be finite and >= 0, got {self.variance!r}")
        if not 0.0 <= self.rank_error < 0.5:
            problems.append(f"rank_error must be in [0, 0.5), got {self.rank_error!r}")
        if self.n_missing < 0:
            problems.append(f"n_missing must be >= 0, got {self.n_missing!r}")
        if not (callable(self.cdf) and callable(self.quantiles)):
            problems.append("cdf and quantiles must be callables")
        if problems:
            raise InvalidInput(
                "Bad numeric summary: " + "; ".join(problems) + ".",
                hint="Build it with NumericSummary.from_sample(values) or from a profile.",
            )

    @classmethod
    def from_sample(cls, values: npt.ArrayLike) -> NumericSummary:
        """The exact summary of raw values (NaN counted as missing, ``rank_error`` 0)."""
        data, missing = _clean(values, "sample")
        return cls._from_sorted(np.sort(data), missing)

    @classmethod
    def _from_sorted(cls, data: FloatArray, missing: int) -> NumericSummary:
        n = data.size
        return cls(
            n=n,
            mean=float(data.mean()),
            variance=float(data.var(ddof=1)),
            cdf=lambda x: np.searchsorted(data, x, side="right") / n,
            quantiles=lambda q: np.quantile(data, q, method="inverted_cdf"),
            n_missing=missing,
        )

    @classmethod
    def from_cdf_table(
        cls,
        points: npt.ArrayLike,
        cdf_values: npt.ArrayLike,
        *,
        n: int,
        mean: float,
        variance: float,
        rank_error: float,
        n_missing: int = 0,
    ) -> NumericSummary:
        """A summary from a stored CDF table, e.g. a sketch's quantiles at 1,001 ranks.

        Between ``points`` the CDF is taken as a step (exact at the points), so
        give points at least as dense as the sketch's own resolution.
        """
        x = np.asarray(points, dtype=np.float64)
        f = np.asarray(cdf_values, dtype=np.float64)
        if x.ndim != 1 or x.shape != f.shape or x.size == 0:
            raise InvalidInput(
                f"CDF table has {x.size} points but {f.size} cdf values.",
                hint="Give one cdf value per point, both 1-D and non-empty.",
            )
        if not (np.isfinite(x).all() and (np.diff(x) > 0).all()):
            raise InvalidInput("CDF points must be finite and strictly increasing.", hint=SORT_HINT)
        check_cdf(f, "CDF table")
        return cls(
            n=n,
            mean=mean,
            variance=variance,
            cdf=lambda p: np.concatenate([[0.0], f])[np.searchsorted(x, p, side="right")],
            quantiles=lambda q: x[np.minimum(np.searchsorted(f, q, side="left"), x.size - 1)],
            rank_error=rank_error,
            n_missing=n_missing,
        )


def _clean(values: npt.ArrayLike, which: str) -> tuple[FloatArray, int]:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"The {which} must be numeric: {exc}.", hint="Use categorical_drift for labels."
        ) from exc
    if arr.ndim != 1:
        raise InvalidInput(f"The {which} must be 1-D, got {arr.shape}.", hint="Pass one column.")
    if np.isinf(arr).any():
        raise InvalidInput(f"The {which} has infinite values.", hint="Clip them or make them NaN.")
    nan = np.isnan(arr)
    if arr.size - nan.sum() < 2:
        raise InvalidInput(
            f"The {which} has {arr.size - nan.sum()} non-missing values; at least 2 are needed.",
            hint="Compare a longer window, or check that the column is not all NaN.",
        )
    return arr[~nan], int(nan.sum())


def _call_cdf(s: NumericSummary, points: FloatArray, which: str) -> FloatArray:
    f = np.asarray(s.cdf(points), dtype=np.float64)
    if f.shape != points.shape:
        raise InvalidInput(
            f"The {which} cdf returned {f.size} values for {points.size} points.",
            hint="Return one value per point (datasketches' get_cdf adds a final 1.0: drop it).",
        )
    return check_cdf(f, f"The {which} cdf")


def _call_quantiles(s: NumericSummary, ranks: FloatArray, which: str) -> FloatArray:
    q = np.asarray(s.quantiles(ranks), dtype=np.float64)
    if q.shape != ranks.shape or not np.isfinite(q).all():
        raise InvalidInput(
            f"The {which} quantiles must be {ranks.size} finite values.",
            hint="Return one value per requested rank.",
        )
    return q


def welch_from_summaries(ref: NumericSummary, cur: NumericSummary) -> tuple[float, float]:
    """Welch's t (current minus reference) and two-sided p from summaries alone.

    Example:
        >>> a, b = (NumericSummary.from_sample(x) for x in ([1, 2, 3, 4], [2, 3, 4, 5]))
        >>> round(welch_from_summaries(a, b)[0], 3)
        1.095
    """
    diff = cur.mean - ref.mean
    if ref.variance + cur.variance == 0:  # both constant: the means say it all
        return (0.0, 1.0) if diff == 0 else (math.copysign(math.inf, diff), 0.0)
    res = stats.ttest_ind_from_stats(
        cur.mean, math.sqrt(cur.variance), cur.n,
        ref.mean, math.sqrt(ref.variance), ref.n,
        equal_var=False,
    )  # fmt: skip
    return float(res.statistic), float(res.pvalue)


def mean_shift(ref: NumericSummary, cur: NumericSummary) -> tuple[float, float]:
    """``(smd, cohens_d)``: the mean shift in reference std and in pooled std.

    SMD divides by the reference std, so it reads "moved by x of what was
    normal"; Cohen's d divides by the pooled std. A constant reference falls
    back to the pooled std; both constant gives 0 or +-inf.
    """
    diff = cur.mean - ref.mean
    pooled = math.sqrt(
        ((ref.n - 1) * ref.variance + (cur.n - 1) * cur.variance) / (ref.n + cur.n - 2)
    )

    def scaled(scale: float) -> float:
        if scale > 0:
            return diff / scale
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)

    return scaled(math.sqrt(ref.variance) or pooled), scaled(pooled)


def _assemble(
    ref: NumericSummary, cur: NumericSummary, ks: KSResult, bins: int, method: str
) -> ColumnStats:
    if not isinstance(bins, int) or bins < 2:
        raise InvalidInput(f"bins must be an integer >= 2, got {bins!r}.", hint="Try 10.")
    t, p_t = welch_from_summaries(ref, cur)
    smd, d = mean_shift(ref, cur)
    # PSI/JS bins: cut at reference quantiles; ties in the reference merge bins.
    edges = np.unique(_call_quantiles(ref, np.linspace(0, 1, bins + 1)[1:-1], "reference"))
    p_bins = np.diff(np.concatenate([[0.0], _call_cdf(ref, edges, "reference"), [1.0]]))
    q_bins = np.diff(np.concatenate([[0.0], _call_cdf(cur, edges, "current"), [1.0]]))
    psi_value, js_value = psi(p_bins, q_bins), js_distance(p_bins, q_bins)
    ratio = _spread_ratio(ref, cur)
    tests = {
        "ks": StatResult(ks.statistic, ks.p_value, ks.adjusted),
        "welch": StatResult(t, p_t, smd),
        # Effect: the larger of the ratio and its inverse, so shrinking counts like growing.
        "spread": StatResult(ratio, None, max(ratio, 1.0 / ratio) if ratio > 0 else math.inf),
        "psi": StatResult(psi_value, None, psi_value),
        "js": StatResult(js_value, None, js_value),
    }
    details: dict[str, Any] = {"method": method, "n_ref": ref.n, "n_cur": cur.n}
    for side, s in (("ref", ref), ("cur", cur)):
        details[f"mean_{side}"], details[f"std_{side}"] = s.mean, math.sqrt(s.variance)
        details[f"missing_share_{side}"] = s.n_missing / (s.n + s.n_missing)
    details.update(cohens_d=d, ks_tolerance=ks.tolerance, n_effective=ks.n_effective)
    details["bins"] = int(edges.size + 1)
    return ColumnStats("numeric", tests, details)


def _spread_ratio(ref: NumericSummary, cur: NumericSummary) -> float:
    """Current over reference interquartile range; the std ratio where the IQR is zero."""
    quartiles = np.array([0.25, 0.75])
    iqr_ref = float(np.diff(_call_quantiles(ref, quartiles, "reference"))[0])
    iqr_cur = float(np.diff(_call_quantiles(cur, quartiles, "current"))[0])
    if iqr_ref > 0 and iqr_cur > 0:
        return iqr_cur / iqr_ref
    if ref.variance > 0:
        return math.sqrt(cur.variance / ref.variance)
    return 1.0 if cur.variance == 0 else math.inf


def numeric_drift_from_samples(
    ref: npt.ArrayLike, cur: npt.ArrayLike, *, bins: int = 10
) -> ColumnStats:
    """All numeric statistics on raw values: exact KS, Welch, PSI and JS.

    NaN is dropped and counted as missing; infinities are refused.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> s = numeric_drift_from_samples(rng.normal(size=5000), rng.normal(0.5, 1, 5000))
        >>> round(s.tests["welch"].effect, 1)
        0.5
    """
    (ra, miss_a), (rb, miss_b) = _clean(ref, "reference"), _clean(cur, "current")
    ra, rb = np.sort(ra), np.sort(rb)  # sorted once, shared by the summaries and KS
    a, b = NumericSummary._from_sorted(ra, miss_a), NumericSummary._from_sorted(rb, miss_b)
    return _assemble(a, b, ks_samples(ra, rb), bins, "exact")


def numeric_drift_from_summaries(
    ref: NumericSummary, cur: NumericSummary, *, bins: int = 10, grid_size: int = 1001
) -> ColumnStats:
    """All numeric statistics from summaries (sketches), with the KS error allowance.

    The KS grid is the union of both summaries' quantiles at ``grid_size``
    evenly spaced ranks; both CDFs are evaluated there (see :func:`ks_from_cdfs`).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> a, b = (NumericSummary.from_sample(rng.normal(size=1000)) for _ in "ab")
        >>> numeric_drift_from_summaries(a, b).tests["ks"].statistic < 0.1
        True
    """
    if not isinstance(grid_size, int) or grid_size < 2:
        raise InvalidInput(
            f"grid_size must be an integer >= 2, got {grid_size!r}.", hint="Try 1001."
        )
    ranks = np.linspace(0.0, 1.0, grid_size)
    both = [_call_quantiles(s, ranks, side) for s, side in ((ref, "reference"), (cur, "current"))]
    grid = np.unique(np.concatenate(both))
    ks = ks_from_cdfs(
        _call_cdf(ref, grid, "reference"),
        _call_cdf(cur, grid, "current"),
        n_ref=ref.n,
        n_cur=cur.n,
        rank_error_ref=ref.rank_error,
        rank_error_cur=cur.rank_error,
    )
    method = "sketch" if ks.tolerance > 0 else "summary"
    return _assemble(ref, cur, ks, bins, method)
