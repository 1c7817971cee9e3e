"""``--engine``, ``--scheduler`` and ``--workers``: where bulk work runs, for the commands
that profile data (as ``batch-transform`` takes them)."""

from __future__ import annotations

from typing import Any

import typer


def engine_option() -> Any:
    return typer.Option("local", "--engine", help="local or dask.")


def scheduler_option() -> Any:
    return typer.Option(
        None, "--scheduler", help="A Dask scheduler's address (default: a local cluster)."
    )


def workers_option() -> Any:
    return typer.Option(
        None, "--workers", min=1, help="Local processes, or the local Dask cluster's workers."
    )
