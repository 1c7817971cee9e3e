"""`shipyard worker`: run endpoints' async invocations (and webhook notifications) from
the durable queue, in this process, until stopped."""

from __future__ import annotations

import signal
import threading
from datetime import timedelta
from types import FrameType

import typer

from shipyard.cli.context import console, settings


def worker(
    ctx: typer.Context,
    endpoints: list[str] = typer.Argument(
        None, help="Endpoints whose async invocations to run (default: every endpoint)."
    ),
    threads: int = typer.Option(
        4, "--threads", min=1, max=64, help="At most this many jobs at once (none while idle)."
    ),
    lease: float = typer.Option(
        60.0,
        "--lease",
        min=1.0,
        help="Seconds a job stays claimed without a heartbeat: another worker takes it over "
        "that long after this process dies.",
    ),
) -> None:
    """Run async inference workers: claim queued invocations of ENDPOINTS and webhook
    notifications, predict, write each output, notify; until Ctrl-C or SIGTERM, when
    running jobs get 30 s to finish. Threads follow the queue: none while it is empty, up
    to --threads while jobs wait. Run as many workers, on as many machines, as the queue
    needs: each job runs on one of them at a time.
    """
    from shipyard.errors import InvalidInput
    from shipyard.jobs.elastic import ElasticWorkers
    from shipyard.runtime import runtime_from_settings

    runtime = runtime_from_settings(settings(ctx))
    ctx.call_on_close(runtime.close)
    names = list(endpoints or [])
    known = {e.name for e in runtime.control.endpoints()}
    unknown = sorted(set(names) - known)
    if unknown:
        raise InvalidInput(
            f"No endpoint named {', '.join(unknown)}.",
            hint="`shipyard endpoints list` shows the endpoints; name none to serve every one.",
        )
    stop = threading.Event()
    previous = {sig: signal.signal(sig, _setter(stop)) for sig in (signal.SIGINT, signal.SIGTERM)}
    console.print(
        f"Shipyard worker: async invocations of {', '.join(names) or 'every endpoint'}, up to "
        f"{threads} at once; home {runtime.settings.home}"
    )
    try:
        with ElasticWorkers(
            runtime, most=threads, endpoints=names or None, lease=timedelta(seconds=lease)
        ):
            stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print("worker stopped")


def _setter(stop: threading.Event):  # type: ignore[no-untyped-def]
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    return handler
