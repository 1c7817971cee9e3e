"""`shipyard server`: the HTTP API and every endpoint's invocations on uvicorn, with the
scheduler and the job workers running beside it (see :mod:`shipyard.jobs`)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import typer

from shipyard.cli.context import console, settings
from shipyard.errors import InvalidInput


def server(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on (1-65535)."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
    job_workers: int = typer.Option(
        2, "--job-workers", min=0, help="Threads running queued jobs (0: run none here)."
    ),
    async_workers: int = typer.Option(
        4,
        "--async-workers",
        min=0,
        help="Most threads running async invocations at once; they follow the queue, none "
        "while it is empty (0: run none here, `shipyard worker` does).",
    ),
    scheduler: bool = typer.Option(
        True, "--scheduler/--no-scheduler", help="Fire due schedules from this server."
    ),
    serving: bool = typer.Option(
        True,
        "--serving/--no-serving",
        help="Serve every endpoint here too (POST /endpoints/NAME/invocations); "
        "--no-serving when `shipyard serve` processes do.",
    ),
) -> None:
    """Run the Shipyard server: control plane API with /health, /version and /docs, every
    endpoint's invocations (unless --no-serving), the scheduler (fires `shipyard
    schedules`) and job workers (run scheduled pipelines).

    Several servers may share one database: each schedule interval fires once, and each
    job runs on one server. On shutdown (Ctrl-C, SIGTERM) running jobs get 30 s to finish.
    """
    if not 0 < port < 65536:
        raise InvalidInput(f"--port must be between 1 and 65535, got {port}.")
    import uvicorn

    from shipyard.api.app import create_app
    from shipyard.jobs.background import BackgroundWork
    from shipyard.jobs.elastic import ElasticWorkers
    from shipyard.runtime import runtime_from_settings
    from shipyard.serving.app import add_serving

    # Open the runtime before listening, so bad settings fail here in one line; requests
    # get a workspace of it per principal (shipyard.api.deps).
    runtime = runtime_from_settings(settings(ctx))
    ctx.call_on_close(runtime.close)
    console.print(
        f"Shipyard server on http://{host}:{port} (docs at /docs), home {runtime.settings.home}; "
        f"{job_workers} job workers, up to {async_workers} async workers, "
        f"scheduler {'on' if scheduler else 'off'}, "
        f"serving {'every endpoint' if serving else 'off'}"
    )
    app = create_app(runtime=runtime)
    if serving:
        add_serving(app, home=Path(runtime.settings.home))
    previous = _stop_on_sigterm()
    try:
        with (
            BackgroundWork(runtime, workers=job_workers, scheduler=scheduler),
            ElasticWorkers(runtime, most=async_workers),
        ):
            uvicorn.run(app, host=host, port=port, log_level=log_level)
    except _Stopped:
        pass  # SIGTERM: the HTTP server, then the scheduler and the workers, stopped in turn
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


class _Stopped(Exception):
    """SIGTERM, raised again by uvicorn once it has shut down, to stop the background work."""


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise _Stopped


def _stop_on_sigterm() -> Any:
    """Without this, uvicorn's replay of SIGTERM would end the process before the job
    workers could finish or hand back their jobs."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_stopped)
