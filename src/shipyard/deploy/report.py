"""A deployment's report: how the candidate did beside the stable variant, from the
captured requests since the deployment started.

For every deployment, per variant: requests, errors, and latency (p50, p99). For a
shadow, whose copies share the request id of the request the stable variant answered,
the two answers are paired: agreement (the share of requests answered the same), the
difference in scores (per request, the largest absolute difference of any score:
its mean, median, 95th percentile and the largest, with that request's id), and the
latency difference.
"""

from __future__ import annotations

import json
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
