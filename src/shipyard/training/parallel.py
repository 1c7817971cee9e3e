"""Running experiments with deliberate thread limits, in this process or in several.

Numeric libraries start one thread per core by default; two experiments in parallel,
each using every core, slow each other down many times over. So every experiment runs
under ``threadpool_limits(threads)`` (OpenMP, OpenBLAS, MKL), and worker processes also
get ``OMP_NUM_THREADS`` and friends for libraries loaded later. Workers are started with
the ``spawn`` method (a clean interpreter: no inherited locks or thread pools).

This module imports no scikit-learn, so a worker sets its limits before loading it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from shipyard.training.seeding import seed_everything

if TYPE_CHECKING:
    from shipyard.training.experiment import Experiment, ExperimentData
    from shipyard.training.result import ExperimentResult

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
# A worker process's own copy of what the initializer received: the data is sent once
# per worker instead of once per experiment. Never set in the parent process.
_WORKER: dict[str, Any] = {}


def available_cores() -> int:
    """Cores this process may use (its CPU affinity where the OS reports it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def run_limited(
    experiment: Experiment, data: ExperimentData, threads: int, seed: int
) -> ExperimentResult:
    """Seed, then run ``experiment`` with at most ``threads`` threads per native pool.

    >>> run_limited(LogisticExperiment(), data, threads=1, seed=0).status  # doctest: +SKIP
    'ok'
    """
    from threadpoolctl import threadpool_limits

    seed_everything(seed)
    with threadpool_limits(limits=threads):
        return experiment.run(data)


def _init_worker(threads: int, seed: int, data: ExperimentData) -> None:
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(threads)
    _WORKER.update(threads=threads, seed=seed, data=data)


def _run_in_worker(experiment: Experiment) -> ExperimentResult:
    return run_limited(experiment, _WORKER["data"], _WORKER["threads"], _WORKER["seed"])


def _failed(experiment: Experiment, error: str) -> ExperimentResult:
    from shipyard.training.result import ExperimentResult

    cls = type(experiment)
    return ExperimentResult(
        name=experiment.name,
        experiment_class=f"{cls.__module__}.{cls.__qualname__}",
        task=experiment.task or "classification",
        status="failed",
        error=error,
    )
