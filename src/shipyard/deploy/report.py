"""A deployment's report: how the candidate did beside the stable variant, from the
captured requests since the deployment started.

For every deployment, per variant: requests, errors, and latency (p50, p99). For a
shadow, whose copies share the request id of the request the stable variant answered,
the two answers are paired: agreement (the share of requests answered the same), the
difference in scores (per request, the largest absolute difference of any score:
its mean, median, 95th percentile and the largest, with that request's id), and the
latency difference. Business outcomes posted for the requests (``ws.monitoring.outcomes``)
are compared per event: each variant's rate, the difference with its interval, a
two-proportion z-test, and whether the sample is large enough to decide.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def variant_summary(rows: Any) -> dict[str, Any]:
    """Requests, errors and latency of one variant's captured rows (a pandas frame)."""
    if rows is None or len(rows) == 0:
        return {"requests": 0, "errors": 0, "error_rate": None, "p50_ms": None, "p99_ms": None}
    ok = rows[rows["status"] == 200]["total_seconds"].to_numpy(dtype=float)
    errors = int((rows["status"] != 200).sum())
    return {
        "requests": len(rows),
        "errors": errors,
        "error_rate": errors / len(rows),
        "p50_ms": _percentile_ms(ok, 50),
        "p99_ms": _percentile_ms(ok, 99),
    }


def paired(stable: Any, candidate: Any) -> dict[str, Any]:
    """Agreement, score and latency differences over the requests both answered (200)."""
    if stable is None or candidate is None or len(stable) == 0 or len(candidate) == 0:
        return {"requests": 0}
    left = stable[stable["status"] == 200].drop_duplicates("request_id").set_index("request_id")
    right = candidate[candidate["status"] == 200].drop_duplicates("request_id")
    right = right.set_index("request_id")
    both = left.index.intersection(right.index)
    if len(both) == 0:
        return {"requests": 0}
    left, right = left.loc[both], right.loc[both]
    same = [json.loads(a) == json.loads(b) for a, b in zip(left["output"], right["output"],
                                                           strict=True)]  # fmt: skip
    differences = [
        _largest_difference(a, b) for a, b in zip(left["scores"], right["scores"], strict=True)
    ]
    known = np.asarray([d for d in differences if d is not None], dtype=float)
    latency = (right["model_seconds"] - left["model_seconds"]).to_numpy(dtype=float) * 1000
    scores: dict[str, Any] = {"requests": int(known.size)}
    if known.size:
        worst = int(np.argmax([-1.0 if d is None else d for d in differences]))
        scores.update(
            mean=float(known.mean()),
            p50=float(np.percentile(known, 50)),
            p95=float(np.percentile(known, 95)),
            max=float(known.max()),
            max_request_id=str(both[worst]),
        )
    return {
        "requests": len(both),
        "agreement": float(np.mean(same)),
        "score_difference": scores,
        "model_ms_difference": {
            "p50": float(np.nanpercentile(latency, 50)),
            "p99": float(np.nanpercentile(latency, 99)),
        },
    }


def _largest_difference(left: str | None, right: str | None) -> float | None:
    if left is None or right is None:
        return None
    try:
        a = np.asarray(json.loads(left), dtype=float)
        b = np.asarray(json.loads(right), dtype=float)
    except (TypeError, ValueError):  # labels, not numbers: agreement says it
        return None
    if a.shape != b.shape:
        return None
    return float(np.max(np.abs(a - b))) if a.size else None


def _percentile_ms(seconds: np.ndarray, q: float) -> float | None:
    return float(np.percentile(seconds, q) * 1000) if seconds.size else None


# -- business outcomes (an A/B test's decision) -------------------------------------------

Z95, Z80 = 1.959964, 0.841621  # two-sided 5% and 80% power


def outcome_comparison(
    stable: Any, candidate: Any, matched: Any, *, alpha: float = 0.05
) -> dict[str, Any]:
    """Per outcome event: each variant's rate (requests with the event over requests
    answered), the difference with a 95% interval, a two-proportion z-test, and whether
    the sample decides it (if not, about how many more requests each variant needs).

    ``matched`` holds the outcome records with the request each is about (``variant``
    and ``request_id`` columns), as :func:`shipyard.monitoring.joined.match` gives them.
    """
    from scipy import stats

    def answered(rows: Any) -> set[str]:
        if rows is None or len(rows) == 0:
            return set()
        return set(rows.loc[rows["status"] < 400, "request_id"])

    sides = {"stable": answered(stable), "candidate": answered(candidate)}
    out: dict[str, Any] = {}
    events = sorted(set(matched["event"])) if len(matched) else []
    for event in events:
        with_event = set(matched.loc[matched["event"] == event, "request_id"])
        counts = {side: (len(ids & with_event), len(ids)) for side, ids in sides.items()}
        (x1, n1), (x2, n2) = counts["stable"], counts["candidate"]
        entry: dict[str, Any] = {
            side: {"requests": n, "with_event": x, "rate": x / n if n else None}
            for side, (x, n) in counts.items()
        }
        if not n1 or not n2:
            entry["decision"] = "no requests answered on one side yet"
            out[event] = entry
            continue
        p1, p2 = x1 / n1, x2 / n2
        diff = p2 - p1
        se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
        pooled = (x1 + x2) / (n1 + n2)
        se0 = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        p_value = float(2 * stats.norm.sf(abs(diff) / se0)) if se0 > 0 else 1.0
        entry.update(
            difference=diff,
            interval=[diff - Z95 * se, diff + Z95 * se],
            p_value=p_value,
            significant=p_value < alpha,
        )
        if p_value < alpha:
            better = "candidate" if diff > 0 else "stable"
            entry["decision"] = f"{better} has the higher {event} rate (p = {p_value:.2g})"
        else:
            effect = abs(diff) if diff else max(0.1 * pooled, 1.0 / (n1 + n2))
            needed = _per_variant(pooled, effect)
            more = max(0, needed - min(n1, n2))
            entry["needed_per_variant"] = needed
            entry["decision"] = (
                f"too small to decide: about {more:,} more requests per variant would detect "
                f"a difference of {effect:.3g} (80% power, 5% two-sided)"
            )
        out[event] = entry
    return out


def _per_variant(rate: float, effect: float) -> int:
    """Requests per variant for a two-proportion test to detect ``effect`` at ``rate``."""
    low, high = max(rate - effect / 2, 1e-9), min(rate + effect / 2, 1 - 1e-9)
    mean = (low + high) / 2
    top = Z95 * math.sqrt(2 * mean * (1 - mean)) + Z80 * math.sqrt(
        low * (1 - low) + high * (1 - high)
    )
    return math.ceil((top / effect) ** 2)
