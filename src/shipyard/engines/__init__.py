"""Local and Dask execution for bulk work (batch transform, profiles): one interface,
:class:`Engine`, and :func:`open_engine` to pick one by name."""

from __future__ import annotations

from shipyard.engines.base import Engine
from shipyard.engines.local import LocalEngine
from shipyard.errors import InvalidInput

__all__ = ["ENGINES", "Engine", "LocalEngine", "check_engine", "open_engine"]

ENGINES = ("local", "dask")


def open_engine(name: str, *, scheduler: str | None = None, workers: int | None = None) -> Engine:
    """The engine called ``name``: ``local`` (``workers`` processes, default 1) or ``dask``
    (the cluster at ``scheduler``, else a local cluster of ``workers`` processes)."""
    check_engine(name, scheduler=scheduler, workers=workers)
    if name == "local":
        return LocalEngine(1 if workers is None else workers)
    from shipyard.engines.dask_engine import DaskEngine

    return DaskEngine(scheduler, workers=workers)


def check_engine(name: str, *, scheduler: str | None = None, workers: int | None = None) -> None:
    """Refuse a choice :func:`open_engine` would refuse, without opening anything (a
    schedule's engine is checked when it is stored, opened at each run)."""
    if name not in ENGINES:
        raise InvalidInput(
            f"Unknown engine {name!r}.", hint=f"Choose one of: {', '.join(ENGINES)}."
        )
    if workers is not None and workers < 1:
        raise InvalidInput(f"--workers must be at least 1, got {workers}.")
    if name == "local" and scheduler is not None:
        raise InvalidInput(
            "--scheduler is for the dask engine.", hint="Add --engine dask, or leave it out."
        )
    if name == "dask" and scheduler is not None and workers is not None:
        raise InvalidInput(
            "--workers sizes a local cluster; an existing cluster has its own workers.",
            hint="Leave out --workers or --scheduler.",
        )
