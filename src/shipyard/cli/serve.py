"""`shipyard serve ENDPOINT`: one endpoint's data plane on uvicorn, alone in its process.

Several such processes (on one host or many) may serve one endpoint over one shared
metadata database: each reads the endpoint's variants and weights again every few
seconds, so a weight change reaches all of them without a restart.
"""

from __future__ import annotations

import typer

from shipyard.cli.context import console, settings
from shipyard.errors import InvalidInput


def serve(
    ctx: typer.Context,
    endpoint: str = typer.Argument(..., help="The endpoint to serve."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8081, help="Port to listen on (1-65535)."),
    log_level: str = typer.Option("warning", help="uvicorn log level."),
    refresh_seconds: float = typer.Option(
        2.0, "--refresh-seconds", min=0.1, help="How often to re-read the endpoint's variants."
    ),
    request_timeout: float = typer.Option(
        10.0, "--request-timeout", min=0.01, help="Seconds a prediction may take (then 503)."
    ),
    load_timeout: float = typer.Option(
        120.0, "--load-timeout", min=0.1, help="Seconds a model may take to load (then 503)."
    ),
) -> None:
    """Serve one endpoint: POST /endpoints/ENDPOINT/invocations, /health, /ready, /metrics.

    The endpoint must exist (shipyard endpoints create). Its primary variants' models
    load at start-up, so /ready answers 200 once they are warm.
    """
    if not 0 < port < 65536:
        raise InvalidInput(f"--port must be between 1 and 65535, got {port}.")
    import uvicorn

    from shipyard.runtime import runtime_from_settings
    from shipyard.serving.app import create_serving_app

    one_native_thread()
    runtime = runtime_from_settings(settings(ctx))
    ctx.call_on_close(runtime.close)
    runtime.control.endpoint(endpoint)  # NotFound here, in one line, before listening
    app = create_serving_app(
        runtime,
        endpoints=[endpoint],
        refresh_seconds=refresh_seconds,
        request_timeout=request_timeout,
        load_timeout=load_timeout,
    )
    pending = app.state.serving.ready()  # load and warm before the first request
    one_native_thread()  # again: loading the models loaded their native libraries
    if pending:
        console.print(f"Not ready yet: {'; '.join(pending)}")
    console.print(f"Serving endpoint {endpoint} on http://{host}:{port}")
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level)
    finally:
        app.state.serving.stop()


def one_native_thread() -> None:
    """One native thread per prediction (unless OMP_NUM_THREADS says otherwise).

    A request is a few rows: OpenMP's team of threads per call (HistGradientBoosting,
    LightGBM, XGBoost) costs more than it saves there, and spinning teams oversubscribe
    the cores (one row of a HistGradientBoosting: 1 ms on one thread, 6 ms on a team,
    on a busy 2-core machine). The variable reaches libraries not loaded yet;
    threadpoolctl limits those already loaded.
    """
    import os

    from threadpoolctl import threadpool_limits

    threads = os.environ.setdefault("OMP_NUM_THREADS", "1")
    threadpool_limits(limits=int(threads) if threads.isdigit() else 1)
