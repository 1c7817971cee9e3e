"""The one interface bulk work runs through, whatever runs it.

A job is a list of independent parts (row groups of a Parquet input) and one function
applied to each; :meth:`Engine.map_parts` runs it. ``shared`` is what every part needs
and is large (a loaded model): an engine ships it to each worker once, not once per
part. Callers never see how: a Ray or Spark engine is one more subclass here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar

P = TypeVar("P")  # a part
R = TypeVar("R")  # what one part returns
S = TypeVar("S")  # what every part shares

PartFunction = Callable[[S, P], R]


class Engine(ABC):
    """Runs ``fn(shared, part)`` for every part; usable as a context manager (closed at
    exit, releasing what the engine started: processes, a local cluster)."""

    name: str = "engine"

    @abstractmethod
    def map_parts(
        self,
        fn: Callable[[S, P], R],
        parts: Sequence[P],
        *,
        shared: S,
        on_done: Callable[[P, R], None] | None = None,
    ) -> list[R]:
        """``fn(shared, part)`` for each part, results in part order.

        ``on_done(part, result)`` is called in the caller's thread as each part finishes
        (in any order), so a caller can record progress. The first error raised by a part
        is raised here, after the parts still running were cancelled; parts that finished
        before it were reported to ``on_done``. ``fn`` must be a module-level function
        and ``shared`` and the parts picklable: an engine may run them elsewhere.
        """

    def describe(self) -> dict[str, Any]:
        """What ran the job, for its record."""
        return {"engine": self.name}

    def close(self) -> None:  # noqa: B027 (optional: most engines start nothing)
        """Release what the engine started (nothing by default)."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
