"""Batch transform: a registered model over a whole input, on an engine (``ws.batch``)."""

from __future__ import annotations

from shipyard.serving.batch.service import BatchService, TransformResult

__all__ = ["BatchService", "TransformResult"]
