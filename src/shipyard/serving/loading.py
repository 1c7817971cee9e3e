"""A model version made ready to serve: loaded, warmed on its input example, and given
its enrich stage when its inputs came from feature views. The real-time app and the
async workers load models the same way."""

from __future__ import annotations

from typing import Any

from shipyard.serving.enrich import plan_enrichment
from shipyard.serving.inference import Predictor


def load_predictor(workspace: Any, model: str, version: int, *, cached: bool = True) -> Predictor:
    """``model`` at ``version`` for serving; ``cached=False`` keeps it out of the process's
    model cache (a pool's model, whose memory must go when the pool evicts it)."""
    found = Predictor(workspace.models.load(model, version, cached=cached))
    found.warm()
    lineage = workspace.models.get(model, version).lineage
    found.enrichment = plan_enrichment(workspace, lineage, found.schema)
    return found
