"""Experiments' results as each one finishes, in this process or in spawned workers.

The runner logs each experiment's run as soon as its result is here, so a later
experiment that crashes the process, hangs or gets it killed cannot take the
finished ones with it. In this process results come in order; from workers, in
the order they finish (a slow or hung experiment holds up none of the others).
Workers are set up as :mod:`shipyard.training.parallel` describes.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import TYPE_CHECKING

from shipyard.training.parallel import _failed, _init_worker, _run_in_worker, run_limited

if TYPE_CHECKING:
    from shipyard.training.experiment import Experiment, ExperimentData
    from shipyard.training.result import ExperimentResult

WORKER_HINT = (
    "\nExperiments run in worker processes must be picklable instances of importable "
    "classes (defined at module level in a module or script, not inside a function or a "
    "notebook cell); or use n_jobs=1."
)


def results_as_completed(
    experiments: Sequence[Experiment],
    data: ExperimentData,
    *,
    n_jobs: int,
    threads: int,
    seed: int,
) -> Iterator[tuple[int, ExperimentResult]]:
    """``(index in experiments, result)`` for each experiment, as each one finishes.

    A failure inside an experiment is already a failed result; a failure around it (an
    experiment or result that cannot be pickled, a crashed worker) becomes one here.

    >>> for index, result in results_as_completed(experiments, data, n_jobs=2,
    ...                                           threads=1, seed=0):  # doctest: +SKIP
    ...     print(index, result.name, result.status)
    """
    if n_jobs <= 1 or len(experiments) <= 1:
        for index, experiment in enumerate(experiments):
            yield index, run_limited(experiment, data, threads, seed)
        return
    with ProcessPoolExecutor(
        max_workers=min(n_jobs, len(experiments)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(threads, seed, data),
    ) as pool:
        futures = {pool.submit(_run_in_worker, e): i for i, e in enumerate(experiments)}
        for future in as_completed(futures):
            index = futures[future]
            try:
                result = future.result()
            except Exception:
                result = _failed(experiments[index], traceback.format_exc() + WORKER_HINT)
            yield index, result
