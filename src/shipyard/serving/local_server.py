"""The data plane on uvicorn in a thread of this process, on 127.0.0.1: what the
quickstart replays through, a real HTTP server without a second process to manage.

>>> with serving_locally(runtime) as base:            # doctest: +SKIP
...     httpx.post(f"{base}/endpoints/delay/invocations", json=...)
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from shipyard.errors import BackendUnavailable

if TYPE_CHECKING:
    from shipyard.runtime import Runtime

START_TIMEOUT = 30.0


@contextmanager
def serving_locally(runtime: Runtime, *, refresh_seconds: float = 0.5) -> Iterator[str]:
    """Serve every endpoint of ``runtime`` until the block ends; its base URL. Captured
    requests are all written when it ends."""
    import uvicorn

    from shipyard.serving.app import create_serving_app

    app = create_serving_app(runtime, refresh_seconds=refresh_seconds)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="shipyard-local-serving", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise BackendUnavailable(f"The local serving process did not start on port {port}.")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        app.state.serving.capture.flush()
        server.should_exit = True
        thread.join(timeout=30)
        app.state.serving.stop()
