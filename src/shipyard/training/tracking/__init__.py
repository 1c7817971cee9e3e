"""Experiment tracking: runs grouped in experiments, with params, metrics, tags, artifacts.

Logging is batched and non-blocking: a background writer flushes queued
params, metrics and tags every ~100 ms (or every 1,000 rows), and
synchronously when a run ends and at interpreter exit.

>>> import shipyard  # doctest: +SKIP
>>> ws = shipyard.connect()  # doctest: +SKIP
>>> with ws.runs.start_run("churn", "hgb") as run:  # doctest: +SKIP
...     run.log_params({"model": "hgb", "lr": 0.1})
...     run.log_metric("val_auc", 0.91, step=3)
>>> ws.runs.search("metrics.val_auc > 0.9 and params.model = 'hgb'")  # doctest: +SKIP
"""

from __future__ import annotations

from shipyard.stores.tracking.base import Experiment, MetricPoint, RunInfo, RunStatus
from shipyard.training.tracking.compare import RunComparison
from shipyard.training.tracking.run import Run
from shipyard.training.tracking.tokens import SearchSyntaxError
from shipyard.training.tracking.tracker import Tracker

__all__ = [
    "Experiment",
    "MetricPoint",
    "Run",
    "RunComparison",
    "RunInfo",
    "RunStatus",
    "SearchSyntaxError",
    "Tracker",
]
