"""What the async inference tests share: a model, an endpoint, a webhook receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import shipyard

COLUMNS = ["a", "b", "c"]


def frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, 3)), columns=COLUMNS)


def make_endpoint(home: Path, name: str = "scores", model: Any = None, **config: Any) -> Any:
    """Endpoint ``name`` serving a logistic regression (or ``model``), with ``config`` as
    its async settings; the fitted model."""
    train = frame(300, 1)
    labels = (train["a"] + train["b"] > 0).astype(int)
    fitted = model if model is not None else LogisticRegression().fit(train, labels)
    with shipyard.connect(home) as ws:
        version = ws.models.register("clf", fitted, input_example=train.head(5)).version
        ws.endpoints.create(name, f"clf@{version}", async_config=config or None)
    return fitted


class Received:
    """What a webhook receiver got: (path, headers, body) per POST."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        self.event = threading.Event()

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, _, body in self.posts]


@contextmanager
def webhook_receiver(fail_first: int = 0) -> Iterator[tuple[str, Received]]:
    """An HTTP server on 127.0.0.1 recording POSTs; the first ``fail_first`` get a 503."""
    received = Received()
    failures = {"left": fail_first}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if failures["left"] > 0:
                failures["left"] -= 1
                self.send_response(503)
                self.end_headers()
                return
            received.posts.append((self.path, dict(self.headers), body))
            received.event.set()
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
