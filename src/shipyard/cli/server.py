"""`shipyard server`: the HTTP API (and later the endpoints and UI) on uvicorn."""

from __future__ import annotations

import typer

from shipyard.cli.context import console, settings
from shipyard.errors import InvalidInput


def server(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on (1-65535)."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
) -> None:
    """Run the Shipyard server: control plane API with /health, /version and /docs."""
    if not 0 < port < 65536:
        raise InvalidInput(f"--port must be between 1 and 65535, got {port}.")
    import uvicorn

    from shipyard.api.app import create_app
    from shipyard.workspace import open_workspace

    # Open the workspace before listening, so bad settings fail here in one line.
    ws = open_workspace(settings(ctx))
    ctx.call_on_close(ws.close)
    console.print(
        f"Shipyard server on http://{host}:{port} (docs at /docs), home {ws.settings.home}"
    )
    uvicorn.run(create_app(ws), host=host, port=port, log_level=log_level)
