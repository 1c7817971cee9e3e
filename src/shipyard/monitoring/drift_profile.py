"""An endpoint's drift profile: how often, how fast and how abruptly its data changes.

Read from the stored series (no capture is read), per feature and stage:

* ``share_drifted``: the share of its monitored windows whose drift test flagged it;
* ``episodes``: runs of consecutive flagged windows; each starts ``sudden`` (the KS
  distance jumped past twice its threshold in one window) or ``gradual`` (it crossed the
  threshold from below, or the window before was already near it);
* ``first_after_deployment``: for each deployment on the timeline, how long until the
  feature's first flagged window after it (None if it never drifted since).

The summary says how often to retrain: the typical time from a deployment to its first
drift, and the features that drift most.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shipyard.stores.monitoring import SeriesPoint

DRIFT_STAGES = ("input", "enriched", "scores", "output")
SUDDEN_FACTOR = 2.0  # a first flagged window past this many thresholds: a sudden change
NEAR = 0.8  # a window before at this share of the threshold: the change was under way


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's drift history on one stage."""

    stage: str
    feature: str
    windows: int
    drifted: int
    episodes: tuple[dict[str, Any], ...]
    first_after_deployment: tuple[float | None, ...]  # hours, per deployment

    @property
    def share_drifted(self) -> float:
        return self.drifted / self.windows if self.windows else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "feature": self.feature,
            "windows": self.windows,
            "drifted": self.drifted,
            "share_drifted": self.share_drifted,
            "episodes": list(self.episodes),
            "first_after_deployment_hours": list(self.first_after_deployment),
        }


def drift_profile(
    points: Sequence[SeriesPoint], deployments: Sequence[datetime] = ()
) -> dict[str, Any]:
    """The profile of ``points`` (an endpoint's stored series; ``ks`` and ``chi2`` points
    of the drift stages are used) against the ``deployments``' start times."""
    tests = [p for p in points if p.stage in DRIFT_STAGES and p.metric in ("ks", "chi2")]
    by_feature: dict[tuple[str, str], dict[datetime, tuple[bool, float]]] = {}
    for p in tests:
        seen = by_feature.setdefault((p.stage, p.feature), {})
        flagged, ratio = seen.get(p.start, (False, 0.0))
        threshold = p.detail.get("threshold") or 0.0
        mine = (p.value or 0.0) / threshold if threshold else 0.0
        seen[p.start] = (flagged or p.flagged, max(ratio, mine))  # any variant flagged
    features = [
        _feature(stage, feature, windows, sorted(deployments))
        for (stage, feature), windows in sorted(by_feature.items())
    ]
    firsts = [h for f in features for h in f.first_after_deployment if h is not None]
    kinds = [e["onset"] for f in features for e in f.episodes]
    ranked = sorted(features, key=lambda f: -f.share_drifted)
    summary = {
        "features": len(features),
        "windows": max((f.windows for f in features), default=0),
        "most_drifting": [f"{f.stage}/{f.feature}" for f in ranked[:5] if f.drifted],
        "median_hours_to_first_drift": statistics.median(firsts) if firsts else None,
        "sudden_episodes": kinds.count("sudden"),
        "gradual_episodes": kinds.count("gradual"),
    }
    summary["advice"] = _advice(summary)
    return {"summary": summary, "features": [f.to_dict() for f in ranked]}


def _feature(
    stage: str,
    feature: str,
    windows: dict[datetime, tuple[bool, float]],
    deployments: list[datetime],
) -> FeatureDrift:
    times = sorted(windows)
    episodes: list[dict[str, Any]] = []
    start: datetime | None = None
    for i, at in enumerate(times):
        flagged, ratio = windows[at]
        if flagged and start is None:
            start = at
            before = windows[times[i - 1]][1] if i else 0.0
            sudden = ratio >= SUDDEN_FACTOR and before < NEAR
            episodes.append({"start": at.isoformat(), "onset": "sudden" if sudden else "gradual",
                             "windows": 1})  # fmt: skip
        elif flagged:
            episodes[-1]["windows"] += 1
        else:
            start = None
    flagged_times = [t for t in times if windows[t][0]]
    firsts: list[float | None] = []
    for d, deployed in enumerate(deployments):
        until = deployments[d + 1] if d + 1 < len(deployments) else None
        after = [t for t in flagged_times if t >= deployed and (until is None or t < until)]
        firsts.append((after[0] - deployed) / timedelta(hours=1) if after else None)
    return FeatureDrift(stage, feature, len(times), len(flagged_times), tuple(episodes),
                        tuple(firsts))  # fmt: skip


def _advice(summary: dict[str, Any]) -> str:
    hours = summary["median_hours_to_first_drift"]
    if not summary["most_drifting"]:
        return "No feature drifted in the monitored windows: the current schedule is enough."
    when = (
        f"the data drifted a median {hours:.0f} hours after a deployment: retrain at about "
        "that interval, or on the drift alarm"
        if hours is not None
        else "no deployment on the timeline to measure the time to drift from"
    )
    sudden = summary["sudden_episodes"] > summary["gradual_episodes"]
    mix = "mostly suddenly" if sudden else "mostly gradually"
    return f"Drift came {mix}; {when}. Most drifting: {', '.join(summary['most_drifting'])}."


def profile_png(profile: dict[str, Any], path: Any, *, title: str) -> Any:
    """A bar chart of each feature's share of drifted windows, as PNG (no display)."""
    import os
    from pathlib import Path

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    target = Path(path)
    if not target.parent.is_dir():
        from shipyard.errors import InvalidInput

        raise InvalidInput(f"Cannot write {target}: the folder {target.parent} does not exist.")
    rows = profile["features"][:25]
    figure = Figure(figsize=(8, 0.35 * max(len(rows), 4) + 1.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    names = [f"{r['stage']}/{r['feature']}" for r in rows][::-1]
    shares = [r["share_drifted"] for r in rows][::-1]
    axes.barh(names, shares, color=["#d62728" if s > 0.5 else "#1f77b4" for s in shares])
    axes.set_xlim(0, 1)
    axes.set_xlabel("share of monitored windows with drift")
    axes.set_title(title + "\n" + profile["summary"]["advice"], fontsize=8, loc="left")
    figure.tight_layout()
    scratch = target.with_name(f".{target.name}.part")
    figure.savefig(scratch, format="png", dpi=100)
    os.replace(scratch, target)
    return target
