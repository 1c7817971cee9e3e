"""Quality before the labels: CBPE on a window's stored score profile (stage ``estimated``).

The window's profile of the positive class's score (a KLL sketch, merged over its
hours) stands in for the rows: 2,000 of its quantiles, evenly spaced in rank, are a
sample with the window's score distribution, from which :func:`.cbpe.estimate` gives
the expected ROC AUC, accuracy, precision, recall and F1. The model's calibration is
checked once on its validation scores (kept with its baseline); a poorly calibrated
model's estimates use the recalibrated probabilities and say so in each point's
``detail["warning"]``. No capture is read again.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from shipyard.monitoring.cbpe import Calibration, estimate
from shipyard.stores.monitoring import SeriesPoint

SAMPLE = 2_000  # quantiles taken from the score sketch
MIN_ROWS = 100  # fewer scored rows than this: no estimate


def estimated_points(
    endpoint: str,
    variant: str,
    model: str,
    scores: object,
    positive: int,
    calibration: Calibration | None,
    start: datetime,
    end: datetime,
) -> list[SeriesPoint]:
    """The CBPE points of one window from its ``scores`` stage profile."""
    column = getattr(scores, "columns", {}).get(f"score_{positive}")
    if column is None or column.n < MIN_ROWS:
        return []
    ranks = (np.arange(SAMPLE) + 0.5) / SAMPLE
    sample = np.clip(np.asarray(column.quantiles(ranks), dtype=np.float64), 0.0, 1.0)
    values = estimate(sample, calibration=calibration)
    detail: dict[str, object] = {"model": model, "method": "cbpe"}
    if calibration is not None:
        detail.update(ece=round(calibration.ece, 4), warning=calibration.warning)
    return [
        SeriesPoint(
            endpoint,
            variant,
            "estimated",
            metric,
            "",
            start,
            end,
            value,
            rows=column.n,
            detail=detail,
        )
        for metric, value in values.items()
    ]
