"""The local engine: parts run in this process one after another (streaming, so memory
holds one part at a time), or in worker processes when ``workers`` > 1.

Processes pay off when a part's work holds the GIL (a model whose predict is Python
code) and the parts are large enough to hide the cost of starting each process and
sending it the shared model once. A vectorised model on a few cores gains little: NumPy
and Arrow already release the GIL, so the default is one in-process worker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from typing import Any

from shipyard.engines.base import Engine, P, R, S
from shipyard.errors import InvalidInput

_SHARED: Any = None  # in a worker process: what every part shares, set once at its start


def _install(shared: Any) -> None:
    global _SHARED
    _SHARED = shared


def _call(fn: Callable[[Any, Any], Any], part: Any) -> Any:
    return fn(_SHARED, part)


class LocalEngine(Engine):
    """Parts in this process (``workers=1``) or in a pool of ``workers`` processes."""

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InvalidInput(f"workers must be a whole number of 1 or more, got {workers!r}.")
        self.workers = workers

    def map_parts(
        self,
        fn: Callable[[S, P], R],
        parts: Sequence[P],
        *,
        shared: S,
        on_done: Callable[[P, R], None] | None = None,
    ) -> list[R]:
        if self.workers == 1 or len(parts) < 2:
            results = []
            for part in parts:
                result = fn(shared, part)
                if on_done is not None:
                    on_done(part, result)
                results.append(result)
            return results
        return self._in_processes(fn, parts, shared, on_done)

    def _in_processes(
        self,
        fn: Callable[[S, P], R],
        parts: Sequence[P],
        shared: S,
        on_done: Callable[[P, R], None] | None,
    ) -> list[R]:
        import multiprocessing

        # spawn, not fork: the caller may hold threads (a tracker's writer, a database pool).
        context = multiprocessing.get_context("spawn")
        workers = min(self.workers, len(parts))
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_install, initargs=(shared,)
        ) as pool:
            futures: dict[Future[R], int] = {
                pool.submit(_call, fn, part): i for i, part in enumerate(parts)
            }
            results: dict[int, R] = {}
            pending: set[Future[R]] = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                failed = [f for f in done if f.exception() is not None]
                for future in (f for f in done if f.exception() is None):
                    index = futures[future]
                    results[index] = future.result()
                    if on_done is not None:
                        on_done(parts[index], results[index])
                if failed:
                    for other in pending:
                        other.cancel()
                    raise failed[0].exception()  # type: ignore[misc]
        return [results[i] for i in range(len(parts))]

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "workers": self.workers}
