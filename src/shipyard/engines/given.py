"""An engine as a service's caller gives it: by name (opened for the call, closed after)
or an :class:`~shipyard.engines.Engine` of the caller's own (left open for its next use).

Services that take ``engine=`` keep their original single-process code for the default,
so :func:`is_default` says when nothing but that was asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from shipyard.engines import Engine, open_engine
from shipyard.errors import InvalidInput


def is_default(engine: str | Engine, scheduler: str | None, workers: int | None) -> bool:
    """Whether the call asked for the local engine, one worker: the service's own path."""
    return engine == "local" and scheduler is None and workers in (None, 1)


@contextmanager
def engine_for(
    engine: str | Engine, *, scheduler: str | None = None, workers: int | None = None
) -> Iterator[Engine]:
    """The engine to run on for the length of the ``with``."""
    if isinstance(engine, Engine):
        if scheduler is not None or workers is not None:
            raise InvalidInput(
                "scheduler= and workers= open an engine by name; this one is open already.",
                hint="Pass the engine alone, or its name with them.",
            )
        yield engine
        return
    with open_engine(engine, scheduler=scheduler, workers=workers) as opened:
        yield opened
