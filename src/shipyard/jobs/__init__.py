"""Durable jobs at work: handlers by kind, the worker pool that runs them, the scheduler.

The job store (:mod:`shipyard.stores.jobs`) keeps the queue: enqueue, claim with a
lease, heartbeat, complete, fail with backoff, dead letter. This package is what runs
on it in ``shipyard server``:

- :mod:`~shipyard.jobs.handlers`: which callable runs a job of which kind (the first:
  ``pipeline_run``, a scheduled pipeline run as the ``pipeline`` principal);
- :mod:`~shipyard.jobs.worker`: threads that claim jobs of the kinds they have
  handlers for, keep their leases alive, and complete or fail them;
- :mod:`~shipyard.jobs.scheduler`: a thread that fires due interval schedules (each
  interval once, however many servers run) and expires leases and time-to-lives;
- :mod:`~shipyard.jobs.background`: both, started and stopped with the server.
"""

from __future__ import annotations

from shipyard.jobs.handlers import JobHandler, JobHandlers, default_handlers

__all__ = ["JobHandler", "JobHandlers", "default_handlers"]
