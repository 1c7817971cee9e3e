"""The data-plane app: ``POST /endpoints/{name}/invocations``, ``/health``, ``/ready``,
and ``POST /endpoints/{name}/models/{model}/invocations`` for a multi-model endpoint.

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

A multi-model endpoint (:mod:`shipyard.serving.multi_model`) has no variants: the path
names the model (``MODEL@VERSION`` or ``MODEL@ALIAS``), which its pool loads on first
use and evicts least recently used past the endpoint's memory budget. Both routes share
every stage after the choice of model (:func:`_serve`).

Concurrent requests for one variant of an endpoint whose spec has ``batching`` on (off
by default, until it raises throughput) share predict calls
(:mod:`shipyard.serving.batching`).
"""

from __future__ import annotations

import inspect
import json
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import Counter, Histogram
from starlette.routing import Route as StarletteRoute

from shipyard.api.app import build_app
from shipyard.api.body_check import check_json_value
from shipyard.api.deps import get_principal, get_runtime, get_workspace
from shipyard.api.jobs import JobQueueCollector
from shipyard.api.jobs import router as jobs_router
from shipyard.config import Settings
from shipyard.errors import BackendUnavailable, InvalidInput, ShipyardError
from shipyard.jsonsafe import jsonable
from shipyard.runtime import Runtime
from shipyard.serving.batching import Batcher
from shipyard.serving.capture import CaptureWriter, RequestCapture, close_on_shutdown, sampled
from shipyard.serving.enrich import Enriched
from shipyard.serving.inference import JSON_TYPE, Predictor, media_type, parse_body
from shipyard.serving.loading import load_predictor
from shipyard.serving.multi_model import MultiModels, is_multi_model, parse_target
from shipyard.serving.postprocess import apply as postprocess
from shipyard.serving.postprocess import needs_scores
from shipyard.serving.routing import REFRESH_SECONDS, EndpointStates, choose_variant, primaries
from shipyard.serving.shadowing import ShadowCopy, Shadows
from shipyard.stores.control.base import Endpoint, Variant

log = logging.getLogger(__name__)

LOAD_TIMEOUT = 120.0  # seconds a model may take to load and warm
REQUEST_TIMEOUT = 10.0  # seconds a prediction may take
# Up to this many rows, a model taking a float matrix predicts on the event loop: for a
# linear model or a small forest that is well under a millisecond, less than the hop to
# a worker thread costs under load. Larger requests go to a thread, under the timeout.
INLINE_ROWS = 16
STAGES = ("parse", "enrich", "model")  # as RequestCapture.stages gives them


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
        self._warming: threading.Thread | None = None
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
        self.stage_latency = Histogram(
            "shipyard_endpoint_stage_seconds",
            "Time in each stage of an invocation (parse: parse and check; enrich: online "
            "features; model: predict and postprocess) by endpoint and variant.",
            ["endpoint", "variant", "stage"],
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1),
            registry=registry,
        )
        self.batch_requests = Histogram(
            "shipyard_endpoint_batch_requests",
            "Requests per micro-batched predict call, by endpoint and variant.",
            ["endpoint", "variant"],
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=registry,
        )
        self.variant_loads = Counter(
            "shipyard_variant_model_loads",
            "Model versions loaded and warmed for endpoint variants (a deployment's "
            "candidate, a variant after a restart); a rollback loads none.",
            ["model", "version"],
            registry=registry,
        )
        self._batchers: dict[tuple[Any, ...], Batcher] = {}
        self.shadows = Shadows(self, registry)
        self.multi = MultiModels(
            lambda model, version: self.load(model, version, cached=False),
            self._alias_version,
            registry=registry,
            refresh_seconds=refresh_seconds,
        )

    @property
    def states(self) -> EndpointStates:
        if self._states is None:
            with self._lock:
                if self._states is None:
                    runtime: Runtime | None = self.app.state.runtime
                    if runtime is None:
                        raise BackendUnavailable("The server has not opened its stores yet.")
                    self._states = EndpointStates(
                        runtime.control,
                        self.names,
                        refresh_seconds=self.refresh_seconds,
                        on_refresh=self.warm_all,
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
                self.variant_loads.labels(variant.model, str(variant.version)).inc()
        return found

    def warm_all(self, endpoints: list[Endpoint]) -> None:
        """Load every variant of ``endpoints`` not loaded yet, weight 0 too, on a thread
        of its own: a deployment's candidate is warm before it gets traffic, and a
        stable variant at weight 0 stays loaded for an instant rollback."""
        pending = [
            variant
            for endpoint in endpoints
            if not is_multi_model(endpoint)
            for variant in endpoint.variants
            if (variant.model, variant.version) not in self._predictors
        ]
        if not pending or (self._warming is not None and self._warming.is_alive()):
            return

        def warm() -> None:
            for variant in pending:
                try:
                    self.predictor(variant)
                except Exception:  # its requests will say why; warming is best effort
                    log.warning("could not warm %s@%s", variant.model, variant.version)

        self._warming = threading.Thread(target=warm, name="shipyard-warm", daemon=True)
        self._warming.start()

    def load(self, model: str, version: int, *, cached: bool = True) -> Predictor:
        """The model version loaded, warmed and planned for serving (its enrich stage);
        ``cached=False`` keeps it out of the process's model cache (a pool's model, whose
        memory must go when the pool evicts it)."""
        return load_predictor(self._workspace(), model, version, cached=cached)

    def _workspace(self) -> Any:
        return self.app.state.workspaces.get(self.app.state.principal)

    def _alias_version(self, model: str, alias: str) -> int:
        return int(self._workspace().models.get(model, alias=alias).version)

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
        self, endpoint: Endpoint, route: Served, arrays: Any, rows: int, scores: bool = False
    ) -> Any:
        """Predictions (or probabilities, with ``scores``) for one request: micro-batched
        with concurrent requests for the same variant if the endpoint's spec has
        ``batching`` on (off by default; a multi-model endpoint's models never batch)."""
        predictor = route.predictor
        if route.batch_key is None or not endpoint.spec.get("batching", False):
            return await self.predict(predictor, arrays, rows, scores)
        key = (endpoint.name, *route.batch_key, scores)
        batcher = self._batchers.get(key)
        if batcher is None:  # one per variant and model version; only the event loop adds
            histogram = self.batch_requests.labels(endpoint.name, route.label)
            batcher = self._batchers[key] = Batcher(
                lambda stacked, total: self.predict(predictor, stacked, total, scores),
                on_batch=lambda requests, _rows: histogram.observe(requests),
            )
        return await batcher.submit(arrays, rows)

    async def resolve(self, endpoint: Endpoint, target: str) -> tuple[str, int]:
        """The (model, version) a multi-model request names: MODEL@VERSION, or
        MODEL@ALIAS looked up at most once per refresh period."""
        model, version, alias = parse_target(endpoint, target)
        if version is not None:
            return model, version
        assert alias is not None
        found = self.multi.cached_version(model, alias)
        if found is None:
            found = await anyio.to_thread.run_sync(self.multi.look_up, model, alias)
        return model, found

    async def pooled(self, endpoint: Endpoint, model: str, version: int) -> Predictor:
        """The model from the endpoint's pool, loaded (within the load timeout) on first
        use, evicting the least recently used past the endpoint's memory budget."""
        pool = self.multi.pool(endpoint)
        found = pool.peek(model, version)
        if found is not None:
            return found
        with anyio.move_on_after(self.load_timeout) as scope:
            return await anyio.to_thread.run_sync(pool.get, model, version, abandon_on_cancel=True)
        assert scope.cancelled_caught
        raise Overloaded(
            f"Loading model {model} version {version} took over {self.load_timeout:g} s.",
            hint="Retry shortly (the load goes on), or raise the load timeout.",
        )

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


@dataclass(frozen=True)
class Served:
    """What serves one request: its label in metrics, capture and the answer (the
    variant, or MODEL@VERSION on a multi-model endpoint), its model, and the key its
    micro-batches share (None: never batched)."""

    label: str
    predictor: Predictor
    batch_key: tuple[Any, ...] | None
    model: str  # MODEL@VERSION: what monitoring compares with that version's baseline


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


@dataclass(frozen=True)
class Caller:
    """The headers a caller may send with an invocation."""

    target: str | None
    key: str | None
    request_id: str | None
    event_time: str | None
    extra_columns: str | None  # "ignore": drop the columns this variant's model does not take

    @classmethod
    def of(cls, request: Request) -> Caller:
        headers = request.headers
        return cls(
            headers.get("x-shipyard-target-variant"),
            headers.get("x-shipyard-key"),
            headers.get("x-request-id"),
            headers.get("x-shipyard-event-time"),
            headers.get("x-shipyard-extra-columns"),
        )


def _routes(serving: Serving) -> list[StarletteRoute]:
    """The invocation routes, as plain Starlette routes: FastAPI's dependency solving
    cost about a fifth of a one-row request's time, and these read their few headers
    and path parameters themselves (the body checks run in :func:`_serve`)."""

    async def invoke(request: Request) -> Response:
        name = request.path_params["name"]
        caller = Caller.of(request)

        async def choose(endpoint: Endpoint) -> Served:
            if is_multi_model(endpoint):
                raise InvalidInput(
                    f"Endpoint {name!r} serves many models: name one in the path.",
                    hint=f"POST /endpoints/{name}/models/MODEL@VERSION/invocations.",
                )
            variant = choose_variant(endpoint, caller.target, key=caller.key)
            predictor = await serving.loaded(variant)
            key = (variant.name, variant.model, variant.version)
            return Served(variant.name, predictor, key, f"{variant.model}@{variant.version}")

        return await _serve(serving, name, request, caller, choose)

    async def invoke_model(request: Request) -> Response:
        name, model = request.path_params["name"], request.path_params["model"]
        caller = Caller.of(request)

        async def choose(endpoint: Endpoint) -> Served:
            if not is_multi_model(endpoint):
                raise InvalidInput(
                    f"Endpoint {name!r} serves its variants, not a model named in the path.",
                    hint=f"POST /endpoints/{name}/invocations.",
                )
            if caller.target is not None:
                raise InvalidInput(
                    "A multi-model endpoint has no variants: leave X-Shipyard-Target-Variant "
                    "out, the path names the model."
                )
            chosen, version = await serving.resolve(endpoint, model)
            predictor = await serving.pooled(endpoint, chosen, version)
            return Served(f"{chosen}@{version}", predictor, None, f"{chosen}@{version}")

        return await _serve(serving, name, request, caller, choose)

    return [
        StarletteRoute("/endpoints/{name}/invocations", invoke, methods=["POST"]),
        StarletteRoute(
            "/endpoints/{name}/models/{model}/invocations", invoke_model, methods=["POST"]
        ),
    ]


def _router(serving: Serving) -> APIRouter:
    router = APIRouter(tags=["serving"])

    @router.get("/ready", summary="Every primary variant loaded and warmed.")
    def ready() -> JSONResponse:
        pending = serving.ready()
        if pending:
            return JSONResponse(
                {"ready": False, "pending": pending}, status_code=503, headers={"Retry-After": "1"}
            )
        return JSONResponse({"ready": True, "pending": []})

    return router


async def request_principal(request: Request) -> str:
    """Who the request acts as: ``get_principal``, or what the app's
    ``dependency_overrides`` put in its place, as FastAPI would for its own routes."""
    override = request.app.dependency_overrides.get(get_principal)
    if override is None:
        return await get_principal(request)
    found = override(request) if inspect.signature(override).parameters else override()
    return str(await found if inspect.isawaitable(found) else found)


async def _serve(
    serving: Serving,
    name: str,
    request: Request,
    caller: Caller,
    choose: Callable[[Endpoint], Awaitable[Served]],
) -> Response:
    """One invocation, whichever route: check, route (``choose``), parse, enrich,
    predict, postprocess, capture; a ShipyardError becomes its 4xx/503 JSON body."""
    started = time.perf_counter()
    check_header("X-Request-Id", caller.request_id)  # echoed and stored: bounded first
    check_header("X-Shipyard-Key", caller.key)
    request_id = caller.request_id or uuid.uuid4().hex
    capture = RequestCapture(serving.capture, request_id, caller.key)
    label = "none"
    status = 500
    try:
        workspace = await get_workspace(
            request, await get_runtime(request), await request_principal(request)
        )
        workspace.authorize("endpoints:Invoke", endpoint_resource(name))
        at = stated_time(caller.event_time, workspace, name)
        capture.at = at
        endpoint = serving.states.get(name)
        capture.endpoint(endpoint.spec)
        route = await choose(endpoint)
        label, predictor = route.label, route.predictor
        capture.model = route.model
        capture.parsing()
        body = await request.body()
        data = await _json(request)
        if data is not None:  # what the control plane's routes get from check_json_body
            check_json_value(data, request.app.state.limits)
        sent, rows = parse_body(body, request.headers.get("content-type"), data)
        columns = taken(sent, predictor, caller.extra_columns)
        capture.columns = columns
        plan = predictor.enrichment
        if plan is not None:
            plan.check_request(columns)
        arrays = checked = predictor.request_schema.convert(columns, rows)
        capture.checked(arrays)
        if plan is not None:
            as_of = at or datetime.now(UTC)
            enriched = await serving.enrich(endpoint, predictor, arrays, rows, as_of)
            arrays = {**arrays, **enriched.arrays}
            capture.enriched(enriched, arrays)
        step = endpoint.spec.get("postprocess") or {"kind": "predict"}
        if needs_scores(endpoint.spec):
            scores = await serving.infer(endpoint, route, arrays, rows, True)
            predictions = postprocess(step, scores, predictor.loaded.classes)
            capture.predicted(predictor, predictions, scores)
        else:
            predictions = await serving.infer(endpoint, route, arrays, rows)
            capture.predicted(predictor, predictions)
        status = 200
    except ShipyardError as exc:
        status = exc.http_status
        headers = {"X-Request-Id": request_id, "X-Shipyard-Variant": label}
        if isinstance(exc, BackendUnavailable):
            headers["Retry-After"] = "1"
        error = {**exc.to_dict(), "request_id": request_id}
        capture.error = error
        return JSONResponse(jsonable(error), status_code=status, headers=headers)
    finally:
        ended = time.perf_counter()
        serving.requests.labels(name, label, str(status)).inc()
        serving.latency.labels(name, label).observe(ended - started)
        for stage, seconds in zip(STAGES, capture.stages(ended), strict=True):
            if seconds is not None:
                serving.stage_latency.labels(name, label, stage).observe(seconds)
        capture.done(name, label, status, ended)
    answer = {
        "predictions": predictions if isinstance(predictions, list) else predictions.tolist(),
        "request_id": request_id,
        "variant": label,
    }
    if caller.key is not None:
        answer["key"] = caller.key
    copies = shadows(endpoint, request_id)
    if copies:  # run after this request is done, a batch at a time
        serving.shadows.offer([
            ShadowCopy(endpoint, variant, request_id, caller.key, sent, rows, at,
                       caller.extra_columns, (predictor.request_schema, checked), len(body))
            for variant in copies
        ])  # fmt: skip
    return Response(
        json.dumps(answer, allow_nan=False, default=str).encode(),
        media_type="application/json",
        headers={"X-Request-Id": request_id, "X-Shipyard-Variant": label},
    )


EXTRA_COLUMNS = ("refuse", "ignore")


def taken(columns: dict[str, Any], predictor: Predictor, extra: str | None) -> dict[str, Any]:
    """The columns a request's model takes: all it sent (an unknown one is then refused,
    the default), or, with ``X-Shipyard-Extra-Columns: ignore``, those the model takes, for
    a caller that sends every column it knows whichever variant answers."""
    if extra is None or extra == "refuse":
        return columns
    if extra != "ignore":
        raise InvalidInput(
            f"X-Shipyard-Extra-Columns is one of {', '.join(EXTRA_COLUMNS)}, got {extra[:40]!r}.",
            hint="ignore: columns the model does not take are dropped; refuse (the default): "
            "they are a 422.",
        )
    wanted = set(predictor.request_schema.names)
    return {name: values for name, values in columns.items() if name in wanted}


def shadows(endpoint: Endpoint, request_id: str) -> list[Variant]:
    """The shadow variants that get a copy of this request: each samples requests at its
    spec's ``sample`` rate (1 when unset), stably by request id."""
    found = []
    for variant in endpoint.variants:
        if variant.role == "shadow":
            rate = float((variant.spec or {}).get("sample", 1.0))
            if sampled(f"{variant.name}:{request_id}", rate):
                found.append(variant)
    return found


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
    app = build_app(
        title="Shipyard serving",
        description="Real-time and async inference on Shipyard endpoints.",
        routers=(jobs_router,),  # GET /jobs/{id}: an async invocation's status
        collectors=(JobQueueCollector,),
        runtime=runtime,
        settings=settings,
    )
    chosen = runtime.settings if runtime is not None else settings
    assert chosen is not None  # build_app has refused neither
    add_serving(
        app,
        endpoints,
        home=Path(chosen.home),
        refresh_seconds=refresh_seconds,
        load_timeout=load_timeout,
        request_timeout=request_timeout,
    )
    return app


def add_serving(
    app: FastAPI,
    endpoints: Sequence[str] | None = None,
    *,
    home: Path,
    refresh_seconds: float = REFRESH_SECONDS,
    load_timeout: float = LOAD_TIMEOUT,
    request_timeout: float = REQUEST_TIMEOUT,
) -> Serving:
    """Serve ``endpoints`` (every endpoint when None) from ``app``, an app of
    :func:`~shipyard.api.app.build_app`: the invocation routes and ``/ready``, the
    serving metrics in its registry, captures under ``home``. ``shipyard server`` adds
    it to the control plane; ``create_serving_app`` to an app of its own."""
    serving = Serving(
        app,
        endpoints,
        home=home,
        refresh_seconds=refresh_seconds,
        load_timeout=load_timeout,
        request_timeout=request_timeout,
    )
    app.state.serving = serving
    from shipyard.monitoring.schema_watch import SchemaWatch

    serving.capture.on_write = SchemaWatch(
        lambda: serving._workspace().runtime, workspace=serving._workspace
    )
    close_on_shutdown(app, serving.capture, before=serving.shadows.drain)
    from shipyard.serving.asynchronous.accept import async_routes

    app.router.routes.extend([*_routes(serving), *async_routes(serving)])
    app.include_router(_router(serving))
    return serving


MAX_HEADER_ID = 128  # characters of a caller's X-Request-Id or X-Shipyard-Key


def check_header(name: str, value: str | None) -> None:
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


def stated_time(text: str | None, workspace: Any, endpoint: str) -> datetime | None:
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
