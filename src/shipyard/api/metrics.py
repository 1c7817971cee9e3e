"""The metrics registry: one per app, each domain adding its collectors; ``GET /metrics``.

Built on Prometheus' client library. Each app has a ``CollectorRegistry`` of its
own (not the library's process-wide default), so two apps in one process, the
control plane and a data plane or two test apps, expose their own metrics.
Every registry starts with the process's CPU, memory, open files and Python GC.

A domain adds metrics in one of two ways:

- Values read from the stores when Prometheus scrapes (a feature view's lag):
  a *collector*, an object whose ``collect()`` yields metric families. Pass a
  factory in ``build_app(collectors=...)``: it is called with a ``workspace()``
  callable (the server principal's workspace, resolved at each scrape) and
  returns the collector; see ``shipyard.api.features.FeatureLagCollector``.
- Values counted as things happen (requests, predictions): a ``Counter`` or
  ``Histogram`` registered on ``app.state.metrics.registry`` (or added with
  ``metrics.add``) when the app is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    generate_latest,
)
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from shipyard.workspace import Workspace

# The text format every Prometheus server reads (what generate_latest writes).
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"

WorkspaceSource = Callable[[], "Workspace"]
CollectorFactory = Callable[[WorkspaceSource], Collector]


class MetricsRegistry:
    """One app's metrics: add collectors, then :meth:`exposition` renders them all."""

    def __init__(self, *, process: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        if process:
            for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                self.registry.register(collector)

    def add(self, collector: Collector) -> None:
        """Register ``collector``; a second metric of the same name is a ``ValueError``."""
        self.registry.register(collector)

    def exposition(self) -> bytes:
        """Every metric in Prometheus' text format (collectors read the stores now)."""
        return generate_latest(self.registry)


async def get_metrics(request: Request) -> MetricsRegistry:
    """The app's metrics registry."""
    metrics: MetricsRegistry = request.app.state.metrics
    return metrics


router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    summary="Prometheus metrics.",
    description="Every metric of this app in Prometheus' text format, version 0.0.4: "
    "each domain's (such as shipyard_feature_view_lag_seconds) and the process's.",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus' text exposition format.",
            "content": {TEXT_FORMAT: {"schema": {"type": "string"}}},
        }
    },
)
def metrics(registry: Annotated[MetricsRegistry, Depends(get_metrics)]) -> Response:
    # A plain def: FastAPI runs it in a worker thread, so collectors may query the stores.
    return Response(registry.exposition(), media_type=TEXT_FORMAT)
