"""Distances between two distributions: PSI and JS over bins, KS over CDFs.

PSI and JS take counts or shares over the same bins (numeric: bins cut at
reference quantiles; categorical: the categories) and normalise them first.
KS takes two CDFs evaluated at the same points, possibly from sketches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats
from scipy.spatial.distance import jensenshannon

from shipyard.errors import InvalidInput

PSI_EPSILON = 1e-4
"""Floor for a bin's share in PSI: an empty bin would make ln(0) infinite."""

SORT_HINT = "Sort the points and drop duplicates (np.unique does both)."


def shares(values: npt.ArrayLike, what: str = "counts") -> npt.NDArray[np.float64]:
    """``values`` normalised to sum to 1, after checking they are usable counts or shares.

    Example:
        >>> shares([1, 3]).tolist()
        [0.25, 0.75]
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise InvalidInput(
            f"{what} must be a non-empty 1-D sequence, got shape {arr.shape}.",
            hint="Pass one count (or share) per bin.",
        )
    bad = arr[~(np.isfinite(arr) & (arr >= 0))]
    if bad.size:
        raise InvalidInput(
            f"{what} must be finite and non-negative; got {bad[:3].tolist()}.",
            hint="Counts and shares cannot be negative, infinite or NaN.",
        )
    total = arr.sum()
    if total <= 0:
        raise InvalidInput(f"{what} sum to zero.", hint="Each side needs at least one observation.")
    return arr / total


def _pair(
    ref: npt.ArrayLike, cur: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    p, q = shares(ref, "reference counts"), shares(cur, "current counts")
    if p.shape != q.shape:
        raise InvalidInput(
            f"Reference has {p.size} bins but current has {q.size}.",
            hint="Bin both samples with the same edges or categories, in the same order.",
        )
    return p, q


def psi(ref: npt.ArrayLike, cur: npt.ArrayLike, *, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index, ``sum((q - p) * ln(q / p))`` over bins.

    ``p`` and ``q`` are the reference and current shares. Shares below ``epsilon``
    are raised to it and both are renormalised, so an empty bin contributes a
    large but finite term instead of infinity. Common reading: < 0.1 stable,
    0.1-0.25 moderate, > 0.25 large shift (a convention, not a test).

    Example:
        >>> round(psi([50, 50], [25, 75]), 4)
        0.2747
    """
    if not 0.0 < epsilon < 1.0:
        raise InvalidInput(f"epsilon must be in (0, 1), got {epsilon!r}.", hint="Try 1e-4.")
    p, q = _pair(ref, cur)
    p = np.maximum(p, epsilon)
    q = np.maximum(q, epsilon)
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum((q - p) * np.log(q / p)))


def js_distance(ref: npt.ArrayLike, cur: npt.ArrayLike) -> float:
    """Jensen-Shannon distance with base-2 logarithms: 0 for equal, 1 for disjoint.

    It is the square root of the JS divergence, so it is a metric; empty bins
    need no epsilon because each side is compared with the mixture.

    Example:
        >>> round(js_distance([1, 1], [1, 0]), 4)
        0.5579
    """
    p, q = _pair(ref, cur)
    # Rounding can make the divergence a hair below zero, and its sqrt NaN.
    value = float(np.nan_to_num(jensenshannon(p, q, base=2.0), nan=0.0))
    return min(max(value, 0.0), 1.0)


def check_cdf(f: npt.ArrayLike, which: str) -> npt.NDArray[np.float64]:
    """``f`` clipped to [0, 1] after checking it is a CDF (in range, non-decreasing)."""
    f = np.asarray(f, dtype=np.float64)
    if not np.isfinite(f).all() or (f < -1e-9).any() or (f > 1 + 1e-9).any():
        raise InvalidInput(
            f"{which} values must lie in [0, 1].", hint="Pass P(X <= x), not counts."
        )
    if (np.diff(f) < -1e-9).any():
        raise InvalidInput(f"{which} values must not decrease.", hint=SORT_HINT)
    return np.clip(f, 0.0, 1.0)


@dataclass(frozen=True)
class KSResult:
    """A two-sample KS comparison; ``adjusted`` allows for the sketches' rank error."""

    statistic: float
    adjusted: float
    tolerance: float
    n_effective: float
    p_value: float


def ks_from_cdfs(
    ref_cdf: npt.ArrayLike,
    cur_cdf: npt.ArrayLike,
    *,
    n_ref: int,
    n_cur: int,
    rank_error_ref: float = 0.0,
    rank_error_cur: float = 0.0,
) -> KSResult:
    """KS from two CDFs evaluated at the same points (e.g. from two KLL sketches).

    ``D = max |F_ref - F_cur|``. Each sketched CDF is off by up to its rank
    error, so D can exceed the true distance by their sum; the p-value is
    taken on ``max(0, D - tolerance)`` with ``n_eff = n_ref*n_cur/(n_ref+n_cur)``.

    Example:
        >>> r = ks_from_cdfs([0.2, 0.6], [0.1, 0.3], n_ref=10**6, n_cur=10**6,
        ...                  rank_error_ref=0.01, rank_error_cur=0.01)
        >>> round(r.statistic, 2), round(r.adjusted, 2)
        (0.3, 0.28)
    """
    f_ref = check_cdf(ref_cdf, "Reference CDF")
    f_cur = check_cdf(cur_cdf, "Current CDF")
    if f_ref.ndim != 1 or f_ref.shape != f_cur.shape or f_ref.size == 0:
        raise InvalidInput(
            f"CDFs have {f_ref.size} and {f_cur.size} values.",
            hint="Evaluate both CDFs at the same non-empty list of points.",
        )
    if min(n_ref, n_cur) < 1 or not all(0 <= e < 0.5 for e in (rank_error_ref, rank_error_cur)):
        raise InvalidInput(
            f"Need sizes >= 1 and rank errors in [0, 0.5); got n = {n_ref}, {n_cur} and "
            f"rank errors {rank_error_ref}, {rank_error_cur}.",
            hint="Pass the number of values behind each CDF and its normalized rank error.",
        )
    d = float(np.max(np.abs(f_ref - f_cur)))
    tolerance = rank_error_ref + rank_error_cur
    adjusted = max(0.0, d - tolerance)
    n_eff = n_ref * n_cur / (n_ref + n_cur)
    return KSResult(d, adjusted, tolerance, n_eff, ks_p_value(adjusted, n_eff))


_EXACT_UP_TO = 10_000


def ks_p_value(d: float, n_eff: float) -> float:
    """Two-sided KS p-value of distance ``d`` at effective sample size ``n_eff``.

    Up to ``n_eff`` = 10,000 this is scipy's finite-n ``kstwo``; above, the
    Kolmogorov limit law of ``sqrt(n_eff) * d``, which is within 0.003 of it
    there and takes microseconds where ``kstwo`` can take a second.

    Example:
        >>> round(ks_p_value(0.0043, 10**5), 2)
        0.05
    """
    if n_eff <= _EXACT_UP_TO:
        return float(stats.kstwo.sf(d, max(1, round(n_eff))))
    return float(stats.kstwobign.sf(d * math.sqrt(n_eff)))


def ks_samples(ref: npt.NDArray[np.float64], cur: npt.NDArray[np.float64]) -> KSResult:
    """Exact two-sample KS on raw values, both sorted ascending.

    With at most 10,000 values a side this is scipy's ``ks_2samp`` (exact
    p-value); above, the same statistic with :func:`ks_p_value`.
    """
    n, m = ref.size, cur.size
    n_eff = n * m / (n + m)
    if max(n, m) <= _EXACT_UP_TO:
        res = stats.ks_2samp(ref, cur)
        return KSResult(float(res.statistic), float(res.statistic), 0.0, n_eff, float(res.pvalue))
    both = np.concatenate([ref, cur])
    gap = (
        np.searchsorted(ref, both, side="right") / n - np.searchsorted(cur, both, side="right") / m
    )
    d = float(np.max(np.abs(gap)))
    return KSResult(d, d, 0.0, n_eff, ks_p_value(d, n_eff))
