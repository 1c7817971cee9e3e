"""Ground truth and outcomes joined with the captured requests: quality and outcome series.

A record is matched to its request by ``request_id``, or by routing ``key`` to the
latest captured request with that key at or before the record's time. The request's
capture time decides its window, so a label that arrives a day late lands in the window
its request was made in.

Quality (stage ``quality``), per window, variant and model version: the metrics of
:mod:`~shipyard.monitoring.quality` on the labelled rows, each with its interval, the
baseline's validation value beside it, and ``flagged`` when the interval lies wholly on
the worse side of that value (a drop that is not noise).

Outcomes (stage ``outcome``), per window, variant and event: the sum of the values over
the requests answered (a rate per request when each value is 1), with the counts kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shipyard.monitoring import feedback
from shipyard.monitoring.quality import classification_metrics, interval, regression_metrics
from shipyard.stores.monitoring import SeriesPoint

LOWER_IS_BETTER = ("log_loss", "rmse", "mae")
CAPTURED = ["request_id", "key", "variant", "model", "status", "scores", "arrived"]


@dataclass(frozen=True)
class Labelled:
    """The labelled rows of one window, variant and model: labels and scores."""

    y: np.ndarray
    score: np.ndarray


# model version -> (positive score column or None for a regressor, classes, baseline metrics)
ModelInfo = Callable[[str], "tuple[int | None, tuple[Any, ...] | None, Mapping[str, float]]"]


def feedback_points(
    home: Path,
    endpoint: str,
    start: datetime,
    end: datetime,
    step: timedelta,
    info: ModelInfo,
) -> list[SeriesPoint]:
    """Quality and outcome points of every window of ``[start, end)``."""
    from shipyard.serving.capture import read_capture

    if not feedback.posted(home, endpoint):  # nothing to join: an hour's capture unread
        return []
    captured = read_capture(home, endpoint, start, end, columns=CAPTURED).to_pandas()
    captured = captured[captured["status"] < 400]
    if captured.empty:
        return []
    since = feedback.earliest_arrival(captured)  # its feedback came after it
    labels = feedback.read(home, feedback.GROUND_TRUTH, endpoint, since).to_pandas()
    outcomes = feedback.read(home, feedback.OUTCOMES, endpoint, since).to_pandas()
    if labels.empty and outcomes.empty:
        return []
    captured["window"] = start + ((captured["time"] - start) // step) * step
    points: list[SeriesPoint] = []
    if not labels.empty:
        points += _quality(endpoint, captured, match(captured, labels), step, info)
    if not outcomes.empty:
        points += _outcomes(endpoint, captured, match(captured, outcomes), step)
    return points


def match(captured: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """Records with the captured request each is about (unmatched ones dropped)."""
    by_id = records[records["request_id"].notna()].merge(
        captured.drop(columns=["key"]), on="request_id", suffixes=("", "_captured")
    )
    keyed = records[records["key"].notna()].drop(columns=["request_id"])
    parts = [by_id]
    if not keyed.empty:
        left = keyed.sort_values("time")
        right = captured[captured["key"].notna()].sort_values("time")
        right = right.rename(columns={"time": "time_captured"})
        right["time"] = right["time_captured"]
        joined = pd.merge_asof(left, right, on="time", by="key", direction="backward")
        parts.append(joined[joined["request_id"].notna()])
    return pd.concat(parts, ignore_index=True) if parts else by_id


def _quality(
    endpoint: str, captured: pd.DataFrame, matched: pd.DataFrame, step: timedelta, info: ModelInfo
) -> list[SeriesPoint]:
    points = []
    for (at, variant, model), group in matched.groupby(["window", "variant", "model"]):
        window = _moment(at)
        positive, classes, reference = info(str(model))
        rows = _rows(group, positive, classes)
        if rows is None or not len(rows.y):
            continue
        if positive is None:
            values: Mapping[str, float | None] = regression_metrics(rows.y, rows.score)
        else:
            values = classification_metrics(rows.y, rows.score)
        for metric, value in values.items():
            bounds = interval(metric, rows.y, rows.score)
            base = reference.get(metric)
            worse = _worse(metric, bounds, base)
            detail = {"model": model, "low": bounds[0] if bounds else None,
                      "high": bounds[1] if bounds else None, "baseline": base,
                      "labelled_rows": len(rows.y)}  # fmt: skip
            points.append(
                SeriesPoint(
                    endpoint,
                    str(variant),
                    "quality",
                    metric,
                    "",
                    window,
                    window + step,
                    value,
                    flagged=worse,
                    rows=len(rows.y),
                    detail=detail,
                )
            )
    return points


def _rows(group: pd.DataFrame, positive: int | None, classes: Any) -> Labelled | None:
    """Labels and scores, one per labelled row (a request of many rows gives many)."""
    ys: list[float] = []
    scores: list[float] = []
    for label_text, score_text in zip(group["label"], group["scores"], strict=True):
        if score_text is None:
            continue
        score = json.loads(score_text)
        label = json.loads(label_text)
        labels = label if isinstance(label, list) else [label] * len(score)
        if len(labels) != len(score):
            continue  # a list of labels must give one per row
        for one, row in zip(labels, score, strict=True):
            if positive is None:
                if isinstance(one, bool) or not isinstance(one, int | float):
                    continue
                ys.append(float(one))
                scores.append(float(row))
            else:
                if not isinstance(row, list) or positive >= len(row):
                    continue
                ys.append(1.0 if _same(one, classes[positive] if classes else 1) else 0.0)
                scores.append(float(row[positive]))
    if not ys:
        return None
    return Labelled(np.asarray(ys), np.asarray(scores))


def _moment(at: Any) -> datetime:
    return pd.Timestamp(at).to_pydatetime()


def _same(label: Any, cls: Any) -> bool:
    """A posted label against a class: equal values, or equal text (``"1"`` and ``1``)."""
    return bool(label == cls or str(label).lower() == str(cls).lower())


def _worse(metric: str, bounds: tuple[float, float] | None, base: float | None) -> bool:
    if bounds is None or base is None:
        return False
    return bounds[0] > base if metric in LOWER_IS_BETTER else bounds[1] < base


def _outcomes(
    endpoint: str, captured: pd.DataFrame, matched: pd.DataFrame, step: timedelta
) -> list[SeriesPoint]:
    requests = captured.groupby(["window", "variant"]).size()
    points = []
    for (at, variant, event), group in matched.groupby(["window", "variant", "event"]):
        answered = int(requests.get((at, variant), 0))
        window = _moment(at)
        if not answered:
            continue
        total = float(group["value"].sum())
        detail = {"events": len(group), "requests": answered, "sum": total,
                  "requests_with_event": int(group["request_id"].nunique())}  # fmt: skip
        points.append(
            SeriesPoint(
                endpoint,
                str(variant),
                "outcome",
                str(event),
                "",
                window,
                window + step,
                total / answered,
                rows=answered,
                detail=detail,
            )
        )
    return points
