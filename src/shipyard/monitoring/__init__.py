"""Monitoring: what an endpoint's traffic, quality and business outcomes do over time.

* :mod:`.baseline`: a model version's training baseline (profiles, constraints,
  validation metrics);
* :mod:`.capture_tables` and :mod:`.windows`: the capture as rows per stage, profiled
  by the hour, stored and merged;
* :mod:`.checks`: a window against its baseline, as violations and series points;
* :mod:`.quality`: metrics from ground truth, with intervals;
* :mod:`.series`: the monitored time series;
* :mod:`.service`: ``ws.monitoring``.
"""
