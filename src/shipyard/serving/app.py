"""The data-plane app: ``POST /endpoints/{name}/invocations``, ``/health``, ``/ready``.

Built with :func:`shipyard.api.app.build_app`, so it has the control plane's error
handlers, body limits (413) and a metrics registry of its own. A request:

1. is checked for ``endpoints:Invoke`` on ``shipyard:endpoint:NAME`` through the
   request's workspace (:mod:`shipyard.api.deps`);
2. gets a variant (:mod:`shipyard.serving.routing`: weights, or the
   ``X-Shipyard-Target-Variant`` header) from the endpoint state the
   :class:`~shipyard.serving.routing.EndpointStates` keeps fresh;
3. has its body parsed and checked against that variant's model
   (:mod:`shipyard.serving.inference`), every problem listed in one 4xx;
4. is predicted on a worker thread within ``request_timeout`` (503 with
   ``Retry-After`` past it); models load on first use (within ``load_timeout``)
   through the runtime's model cache, and are warmed on the input example.

A sampled request is captured (:mod:`shipyard.serving.capture`) off the request path.

A model whose inputs came from feature views (its lineage says which) has an enrich
stage (:mod:`shipyard.serving.enrich`): the request carries entity keys, and the online
store fills the features as of the request's time, which is now, or the time a replay
states in ``X-Shipyard-Event-Time`` (``endpoints:Replay`` only). The endpoint's
postprocess step (:mod:`shipyard.serving.postprocess`) turns the model's scores into
the answer.

Concurrent requests for one variant of an endpoint whose spec has ``batching`` on (off
by default, until it raises throughput) share predict calls
(:mod:`shipyard.serving.batching`).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, FastAPI, Header, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import Counter, Histogram

from shipyard.api.app import build_app
from shipyard.api.deps import WorkspaceDep
from shipyard.config import Settings
from shipyard.errors import BackendUnavailable, InvalidInput, ShipyardError
from shipyard.jsonsafe import jsonable
from shipyard.runtime import Runtime
from shipyard.serving.batching import Batcher
from shipyard.serving.capture import CaptureWriter, RequestCapture, close_on_shutdown
from shipyard.serving.enrich import Enriched, plan_enrichment
from shipyard.serving.inference import JSON_TYPE, Predictor, media_type, parse_body
from shipyard.serving.postprocess import apply as postprocess
from shipyard.serving.postprocess import needs_scores
from shipyard.serving.routing import REFRESH_SECONDS, EndpointStates, choose_variant, primaries
from shipyard.stores.control.base import Endpoint, Variant

LOAD_TIMEOUT = 120.0  # seconds a model may take to load and warm
REQUEST_TIMEOUT = 10.0  # seconds a prediction may take
# Up to this many rows, a model taking a float matrix predicts on the event loop: for a
# linear model or a small forest that is well under a millisecond, less than the hop to
# a worker thread costs under load. Larger requests go to a thread, under the timeout.
INLINE_ROWS = 16


def endpoint_resource(name: str) -> str:
    return f"shipyard:endpoint:{name}"


class Serving:
    """What the app keeps between requests: endpoint states, loaded predictors, metrics."""

    def __init__(
        self,
        app: FastAPI,
        endpoints: Sequence[str] | None,
        *,
        home: Path,
        refresh_seconds: float,
        load_timeout: float,
        request_timeout: float,
    ) -> None:
        self.app = app
        self.capture = CaptureWriter(home / "capture", app.state.metrics.registry)
        self.names = None if endpoints is None else list(endpoints)
        self.refresh_seconds = refresh_seconds
        self.load_timeout = load_timeout
        self.request_timeout = request_timeout
        self._states: EndpointStates | None = None
        self._predictors: dict[tuple[str, int], Predictor] = {}
        self._loading: dict[tuple[str, int], threading.Lock] = {}
        self._lock = threading.Lock()
        registry = app.state.metrics.registry
        self.requests = Counter(
            "shipyard_endpoint_requests",
            "Invocations by endpoint, variant and HTTP status.",
            ["endpoint", "variant", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "shipyard_endpoint_request_seconds",
            "Invocation latency (parse, check, predict) by endpoint and variant.",
            ["endpoint", "variant"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=registry,
        )
        self.batch_requests = Histogram(
            "shipyard_endpoint_batch_requests",
            "Requests per micro-batched predict call, by endpoint and variant.",
            ["endpoint", "variant"],
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=registry,
        )
        self._batchers: dict[tuple[str, str, str, int, bool], Batcher] = {}

    @property
    def states(self) -> EndpointStates:
        if self._states is None:
            with self._lock:
                if self._states is None:
                    runtime: Runtime | None = self.app.state.runtime
                    if runtime is None:
                        raise BackendUnavailable("The server has not opened its stores yet.")
                    self._states = EndpointStates(
                        runtime.control, self.names, refresh_seconds=self.refresh_seconds
                    )
        return self._states

    def predictor(self, variant: Variant) -> Predictor:
        """The variant's model, loaded and warmed on first use (one load at a time each)."""
        key = (variant.model, variant.version)
        found = self._predictors.get(key)
        if found is not None:
            return found
        with self._lock:
            lock = self._loading.setdefault(key, threading.Lock())
        with lock:
            found = self._predictors.get(key)
            if found is None:
                found = self.load(variant.model, variant.version)
                self._predictors[key] = found
        return found

    def load(self, model: str, version: int) -> Predictor:
        """The model version loaded, warmed and planned for serving (its enrich stage)."""
        workspace = self.app.state.workspaces.get(self.app.state.principal)
        found = Predictor(workspace.models.load(model, version))
        found.warm()
        lineage = workspace.models.get(model, version).lineage
        found.enrichment = plan_enrichment(workspace, lineage, found.schema)
        return found

    async def enrich(
        self, endpoint: Endpoint, predictor: Predictor, arrays: Any, rows: int, at: datetime
    ) -> Enriched:
        """The request's online features as of ``at``, read on a worker thread (the
        online store may be across the network)."""
        runtime: Runtime = self.app.state.runtime
        policies = endpoint.spec.get("on_missing") or {}
        plan = predictor.enrichment

        def read() -> Enriched:
            return plan.enrich(runtime.online, arrays, rows, now=at, policies=policies)

        with anyio.move_on_after(self.request_timeout) as scope:
            return await anyio.to_thread.run_sync(read, abandon_on_cancel=True)
        assert scope.cancelled_caught
        raise Overloaded(
            f"Reading online features took over {self.request_timeout:g} s.",
            hint="Check the online store, or raise the request timeout.",
        )

    async def loaded(self, variant: Variant) -> Predictor:
        found = self._predictors.get((variant.model, variant.version))
        if found is not None:
            return found
        with anyio.move_on_after(self.load_timeout) as scope:
            return await anyio.to_thread.run_sync(self.predictor, variant, abandon_on_cancel=True)
        assert scope.cancelled_caught
        raise Overloaded(
            f"Loading model {variant.model} version {variant.version} took over "
            f"{self.load_timeout:g} s.",
            hint="Retry shortly (the load goes on), or raise the load timeout.",
        )

    async def predict(
        self, predictor: Predictor, arrays: Any, rows: int, scores: bool = False
    ) -> Any:
        """Predictions (or, with ``scores``, class probabilities) for ``arrays``: a few
        rows on the event loop (a thread hop would cost more than the model), more on a
        worker thread within the request timeout."""
        call = predictor.predict_proba if scores else predictor.predict
        if rows <= INLINE_ROWS and predictor.matrix:
            return call(arrays)
        with anyio.move_on_after(self.request_timeout) as scope:
            return await anyio.to_thread.run_sync(call, arrays, abandon_on_cancel=True)
        assert scope.cancelled_caught
        raise Overloaded(
            f"The prediction took over {self.request_timeout:g} s.",
            hint="Send fewer rows per request, or raise the request timeout.",
        )

    async def infer(
        self,
        endpoint: Endpoint,
        variant: Variant,
        predictor: Predictor,
        arrays: Any,
        rows: int,
        scores: bool = False,
    ) -> Any:
        """Predictions (or probabilities, with ``scores``) for one request: micro-batched
        with concurrent requests for the same variant if the endpoint's spec has
        ``batching`` on (off by default)."""
        if not endpoint.spec.get("batching", False):
            return await self.predict(predictor, arrays, rows, scores)
        key = (endpoint.name, variant.name, variant.model, variant.version, scores)
        batcher = self._batchers.get(key)
        if batcher is None:  # one per variant and model version; only the event loop adds
            histogram = self.batch_requests.labels(endpoint.name, variant.name)
            batcher = self._batchers[key] = Batcher(
                lambda stacked, total: self.predict(predictor, stacked, total, scores),
                on_batch=lambda requests, _rows: histogram.observe(requests),
            )
        return await batcher.submit(arrays, rows)

    def ready(self) -> list[str]:
        """What is not ready: each served primary variant not yet loaded and warmed."""
        pending = []
        for endpoint in self.states.served():
            for variant in primaries(endpoint):
                try:
                    self.predictor(variant)
                except ShipyardError as exc:
                    pending.append(f"{endpoint.name}/{variant.name}: {exc.message}")
        return pending

    def stop(self) -> None:
        self.capture.close()  # writes every captured request still queued
        if self._states is not None:
            self._states.stop()


class Overloaded(BackendUnavailable):
    """Too slow or too busy right now: 503 with Retry-After."""


async def _json(request: Request) -> Any:
    """The JSON body as the app's body check already parsed it (Starlette keeps it), or
    None: not JSON, or not readable (then parse_body says precisely why)."""
    if media_type(request.headers.get("content-type")) != JSON_TYPE:
        return None
    try:
        return await request.json()
    except (ValueError, RecursionError):
        return None


def _router(serving: Serving) -> APIRouter:
    router = APIRouter(tags=["serving"])

    @router.post(
        "/endpoints/{name}/invocations",
        summary="Predict with an endpoint.",
        description='JSON {"records": [...]} or {"columns": {...}}, or an Arrow IPC stream; '
        "returns the predictions, the request id and the variant that served.",
    )
    async def invoke(
        name: str,
        request: Request,
        workspace: WorkspaceDep,
        target: Annotated[str | None, Header(alias="X-Shipyard-Target-Variant")] = None,
        key: Annotated[str | None, Header(alias="X-Shipyard-Key")] = None,
        request_id: Annotated[str | None, Header(alias="X-Request-Id")] = None,
        event_time: Annotated[str | None, Header(alias="X-Shipyard-Event-Time")] = None,
    ) -> Response:
        started = time.perf_counter()
        _check_header("X-Request-Id", request_id)  # echoed and stored: bounded first
        _check_header("X-Shipyard-Key", key)
        request_id = request_id or uuid.uuid4().hex
        capture = RequestCapture(serving.capture, request_id, key)
        variant_name = "none"
        status = 500
        try:
            workspace.authorize("endpoints:Invoke", endpoint_resource(name))
            at = _stated_time(event_time, workspace, name)
            capture.at = at
            endpoint = serving.states.get(name)
            capture.endpoint(endpoint.spec)
            variant = choose_variant(endpoint, target)
            variant_name = variant.name
            predictor = await serving.loaded(variant)
            capture.parsing()
            columns, rows = parse_body(
                await request.body(), request.headers.get("content-type"), await _json(request)
            )
            capture.columns = columns
            plan = predictor.enrichment
            if plan is not None:
                plan.check_request(columns)
            arrays = predictor.request_schema.convert(columns, rows)
            capture.checked(arrays)
            if plan is not None:
                enriched = await serving.enrich(
                    endpoint, predictor, arrays, rows, at or datetime.now(UTC)
                )
                arrays = {**arrays, **enriched.arrays}
                capture.enriched(enriched, arrays)
            step = endpoint.spec.get("postprocess") or {"kind": "predict"}
            if needs_scores(endpoint.spec):
                scores = await serving.infer(endpoint, variant, predictor, arrays, rows, True)
                predictions = postprocess(step, scores, predictor.loaded.classes)
                capture.predicted(predictor, predictions, scores)
            else:
                predictions = await serving.infer(endpoint, variant, predictor, arrays, rows)
                capture.predicted(predictor, predictions)
            status = 200
        except ShipyardError as exc:
            status = exc.http_status
            headers = {"X-Request-Id": request_id, "X-Shipyard-Variant": variant_name}
            if isinstance(exc, BackendUnavailable):
                headers["Retry-After"] = "1"
            body = {**exc.to_dict(), "request_id": request_id}
            capture.error = body
            return JSONResponse(jsonable(body), status_code=status, headers=headers)
        finally:
            serving.requests.labels(name, variant_name, str(status)).inc()
            serving.latency.labels(name, variant_name).observe(time.perf_counter() - started)
            capture.done(name, variant_name, status)
        body = {
            "predictions": predictions if isinstance(predictions, list) else predictions.tolist(),
            "request_id": request_id,
            "variant": variant.name,
        }
        if key is not None:
            body["key"] = key
        return Response(
            json.dumps(body, allow_nan=False, default=str).encode(),
            media_type="application/json",
            headers={"X-Request-Id": request_id, "X-Shipyard-Variant": variant.name},
        )

    @router.get("/ready", summary="Every primary variant loaded and warmed.")
    def ready() -> JSONResponse:
        pending = serving.ready()
        if pending:
            return JSONResponse(
                {"ready": False, "pending": pending}, status_code=503, headers={"Retry-After": "1"}
            )
        return JSONResponse({"ready": True, "pending": []})

    return router


def create_serving_app(
    runtime: Runtime | None = None,
    *,
    settings: Settings | None = None,
    endpoints: Sequence[str] | None = None,
    refresh_seconds: float = REFRESH_SECONDS,
    load_timeout: float = LOAD_TIMEOUT,
    request_timeout: float = REQUEST_TIMEOUT,
) -> FastAPI:
    """The data-plane app serving ``endpoints`` (every endpoint when None) over ``runtime``
    (or one opened from ``settings`` at start-up)."""
    router = APIRouter()
    app = build_app(
        title="Shipyard serving",
        description="Real-time inference on Shipyard endpoints.",
        routers=(router,),
        runtime=runtime,
        settings=settings,
    )
    chosen = runtime.settings if runtime is not None else settings
    assert chosen is not None  # build_app has refused neither
    serving = Serving(
        app,
        endpoints,
        home=Path(chosen.home),
        refresh_seconds=refresh_seconds,
        load_timeout=load_timeout,
        request_timeout=request_timeout,
    )
    app.state.serving = serving
    close_on_shutdown(app, serving.capture)
    app.include_router(_router(serving))
    return app


MAX_HEADER_ID = 128  # characters of a caller's X-Request-Id or X-Shipyard-Key


def _check_header(name: str, value: str | None) -> None:
    """A caller's id is echoed in headers and stored in the capture: 1 to 128 visible ASCII
    characters, or a 400 saying so."""
    if value is None:
        return
    if not 0 < len(value) <= MAX_HEADER_ID or not (value.isascii() and value.isprintable()):
        raise InvalidInput(
            f"{name} must be 1 to {MAX_HEADER_ID} printable ASCII characters "
            f"(got {len(value)} characters).",
            hint=f"Send a shorter id, such as a UUID, or leave {name} out.",
        )


def _stated_time(text: str | None, workspace: Any, endpoint: str) -> datetime | None:
    """The time a replay states its request was made at (``X-Shipyard-Event-Time``, ISO
    8601, UTC when it names no zone), allowed with ``endpoints:Replay`` only; None for an
    ordinary request, which is made now."""
    if text is None:
        return None
    workspace.authorize("endpoints:Replay", endpoint_resource(endpoint))
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"X-Shipyard-Event-Time {text[:40]!r} is not an ISO 8601 time.",
            hint="For example 2013-07-01T09:00:00Z.",
        ) from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
