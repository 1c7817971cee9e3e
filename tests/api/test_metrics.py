"""The metrics registry: one per app, domains add collectors, /metrics renders them all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import Counter
from prometheus_client.core import CounterMetricFamily, Metric

import shipyard
from shipyard.api.app import create_app
from shipyard.api.features import FeatureLagCollector
from shipyard.api.metrics import TEXT_FORMAT, WorkspaceSource


class ModelCount:
    """A domain's collector: the number of registered models, read at each scrape."""

    def __init__(self, workspace: WorkspaceSource) -> None:
        self.workspace = workspace
        self.scrapes = 0

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily("shipyard_probe_models", "Models registered.")

    def collect(self) -> Iterator[Metric]:
        self.scrapes += 1
        count = len(self.workspace().metadata.list_names("model"))
        yield CounterMetricFamily("shipyard_probe_models", "Models registered.", value=count)


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[shipyard.Workspace]:
    with shipyard.connect(tmp_path / "home") as opened:
        yield opened


def sample(text: str, name: str) -> float:
    [value] = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ")]
    return value


def test_each_app_has_its_own_registry_with_its_collectors(ws: shipyard.Workspace) -> None:
    made: list[ModelCount] = []

    def model_count(source: WorkspaceSource) -> ModelCount:
        made.append(ModelCount(source))
        return made[-1]

    with_models = create_app(ws, collectors=(FeatureLagCollector, model_count))
    plain = create_app(ws)
    assert made[0].scrapes == 0  # registering it read nothing
    scraped = TestClient(with_models).get("/metrics")
    assert scraped.status_code == 200 and scraped.headers["content-type"] == TEXT_FORMAT
    assert sample(scraped.text, "shipyard_probe_models_total") == 0
    assert "# TYPE shipyard_feature_view_lag_seconds gauge" in scraped.text
    assert "process_" in scraped.text or "python_gc_" in scraped.text
    assert "shipyard_probe_models" not in TestClient(plain).get("/metrics").text

    # An event counter a domain registers on its app's registry at build time.
    served = Counter(
        "shipyard_probe_requests", "Probe requests.", registry=plain.state.metrics.registry
    )
    served.inc(3)
    assert sample(TestClient(plain).get("/metrics").text, "shipyard_probe_requests_total") == 3
    with pytest.raises(ValueError, match="Duplicated"):  # one name, one metric, per app
        with_models.state.metrics.add(ModelCount(lambda: ws))
