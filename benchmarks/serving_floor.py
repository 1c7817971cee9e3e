"""The floor for bench_serving.py: a bare Starlette app that calls ``model.predict``.

Run: python serving_floor.py MODEL_PICKLE PORT FEATURE [FEATURE ...]

It does the least a JSON endpoint must do: parse the body (``{"records": [{...}]}``,
the same body Shipyard is sent), build one NumPy row in the features' order, predict
on the event loop, answer ``{"predictions": [...]}``. No validation, no request id,
no metrics, no capture: whatever Shipyard spends above this is the cost of those.
It runs on uvicorn in one process with one native thread per prediction, as
``shipyard serve`` does, so the two differ only in the application.
"""

from __future__ import annotations

import os
import pickle
import sys
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before NumPy and the model load OpenMP

import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from threadpoolctl import threadpool_limits


def build_app(model: Any, features: list[str]) -> Starlette:
    async def invocations(request: Request) -> JSONResponse:
        row = (await request.json())["records"][0]
        matrix = np.array([[row[name] for name in features]], dtype=np.float64)
        return JSONResponse({"predictions": model.predict(matrix).tolist()})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/invocations", invocations, methods=["POST"]),
            Route("/health", health),
        ]
    )


def main() -> None:
    path, port, *features = sys.argv[1:]
    with open(path, "rb") as handle:
        model = pickle.load(handle)
    threadpool_limits(limits=1)  # libraries the model loaded: one thread, as Shipyard
    uvicorn.run(build_app(model, features), host="127.0.0.1", port=int(port), log_level="warning")


if __name__ == "__main__":
    main()
