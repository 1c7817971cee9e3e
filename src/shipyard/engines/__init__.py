"""Local and Dask execution for bulk work (batch transform, profiles): one interface,
:class:`Engine`, and :func:`open_engine` to pick one by name."""

from __future__ import annotations

from shipyard.engines.base import Engine
from shipyard.engines.local import LocalEngine
from shipyard.errors import InvalidInput

__all__ = ["ENGINES", "Engine", "LocalEngine", "open_engine"]

ENGINES = ("local", "dask")


def open_engine(name: str, *, scheduler: str | None = None, workers: int | None = None) -> Engine:
    """The engine called ``name``: ``local`` (``workers`` processes, default 1) or ``dask``
    (the cluster at ``scheduler``, else a local cluster of ``workers`` processes)."""
    if name == "local":
        if scheduler is not None:
            raise InvalidInput(
                "--scheduler is for the dask engine.", hint="Add --engine dask, or leave it out."
            )
        return LocalEngine(1 if workers is None else workers)
    if name == "dask":
        from shipyard.engines.dask_engine import DaskEngine

        if scheduler is not None and workers is not None:
            raise InvalidInput(
                "--workers sizes a local cluster; an existing cluster has its own workers.",
                hint="Leave out --workers or --scheduler.",
            )

        return DaskEngine(scheduler, workers=workers)
    raise InvalidInput(f"Unknown engine {name!r}.", hint=f"Choose one of: {', '.join(ENGINES)}.")
