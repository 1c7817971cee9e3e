"""Monitored time series: one point per endpoint, variant, stage, metric, feature and window.

A monitoring run writes a point for each statistic it computes over a window (a
feature's drift statistic and p-value, a quality metric once ground truth arrived,
a business-outcome rate, the CBPE estimate); alarms, plots and reports read them
back. A window computed again (late labels, more captures) replaces its points.

``stage`` is where the value was measured: ``input`` (the raw request columns),
``enriched`` (the columns the online store filled), ``scores`` (the model's scores
before the lossy step), ``output`` (the answer), ``schema`` (refusals, new
categories, enrichment statuses), ``quality`` (against ground truth), ``estimated``
(quality estimated before ground truth, CBPE) and ``outcome`` (business outcomes).
``variant`` is the served variant, or ``""`` for the whole endpoint.
"""

from __future__ import annotations

from shipyard.stores.monitoring.base import SeriesPoint

__all__ = ["STAGES", "SeriesPoint"]

STAGES = ("input", "enriched", "scores", "output", "schema", "quality", "estimated", "outcome")
