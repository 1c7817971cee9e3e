"""Pipelines: steps defined in Python, run in order, cached, and recorded under one build id.

>>> from shipyard.pipeline import Pipeline, step
>>> @step
... def numbers(n: int) -> list:
...     return list(range(n))
>>> @step(outputs=("total", "count"))
... def summarize(numbers: list) -> tuple:
...     return sum(numbers), len(numbers)
>>> pipeline = Pipeline("demo", steps=[numbers, summarize], params={"n": 4})
>>> run = pipeline.run(ws)                                  # doctest: +SKIP
>>> run.status, run.outputs["total"]                        # doctest: +SKIP
('succeeded', 6)

Importing this package loads only the step and graph definitions; the runner
(and pandas, pyarrow) load when a pipeline runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.pipeline.graph import Pipeline
from shipyard.pipeline.step import Step, StepContext, StepWorkspace, step

if TYPE_CHECKING:
    from shipyard.pipeline.live import LiveRun
    from shipyard.pipeline.loader import load_pipeline
    from shipyard.pipeline.runner import (
        PIPELINE_PRINCIPAL,
        PipelineFailed,
        PipelineRun,
        PipelineService,
        RunObserver,
        Status,
        StepRecord,
    )
    from shipyard.pipeline.values import StoredValue

__all__ = [
    "PIPELINE_PRINCIPAL",
    "LiveRun",
    "Pipeline",
    "PipelineFailed",
    "PipelineRun",
    "PipelineService",
    "RunObserver",
    "Status",
    "Step",
    "StepContext",
    "StepRecord",
    "StepWorkspace",
    "StoredValue",
    "load_pipeline",
    "step",
]

_LAZY = {
    "load_pipeline": "shipyard.pipeline.loader",
    "LiveRun": "shipyard.pipeline.live",
    "StoredValue": "shipyard.pipeline.values",
    **dict.fromkeys(
        (
            "PIPELINE_PRINCIPAL",
            "PipelineFailed",
            "PipelineRun",
            "PipelineService",
            "RunObserver",
            "Status",
            "StepRecord",
        ),
        "shipyard.pipeline.runner",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'shipyard.pipeline' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
