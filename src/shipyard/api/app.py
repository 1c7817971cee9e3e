"""The app factories: the control plane here, the data plane in :mod:`shipyard.serving.app`.

:func:`build_app` makes an app of any plane from its routers and metric
collectors, and gives every app the same parts:

- the process's runtime on ``app.state`` and the dependencies of
  :mod:`shipyard.api.deps` (runtime, principal, workspace, limits);
- the request limits (``BodySizeLimit`` while the body streams, ``check_json_body``
  on its items and text) and the error handlers (a JSON body with a stable code);
- ``GET /health``, and ``GET /metrics`` over a metrics registry of its own
  (:mod:`shipyard.api.metrics`) holding the collectors it was given.

:func:`create_control_app` (also ``create_app``, the name callers know) is the
control plane: its domain routers are :data:`ROUTERS`, its collectors
:data:`COLLECTORS`. The data plane (``shipyard.serving.app``) is built with
:func:`build_app` too: ``add_serving`` mounts it on the control plane (``shipyard
server`` runs both planes over one runtime), ``create_serving_app`` gives it an app of
its own (``shipyard serve``), so each plane can also run and scale as its own processes.

An app is built over a runtime it is given (``runtime=``, or the runtime of a
``workspace=``, whose principal then becomes the server's), or over one it
opens at start-up from ``settings=`` and closes at shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

from shipyard._version import __version__
from shipyard.api import endpoints, features, health, jobs, metrics, monitoring
from shipyard.api.body_check import check_json_body
from shipyard.api.body_limit import BodySizeLimit
from shipyard.api.deps import WorkspaceCache
from shipyard.api.errors import install_error_handlers
from shipyard.api.limits import Limits
from shipyard.api.metrics import CollectorFactory, MetricsRegistry
from shipyard.config import Settings
from shipyard.runtime import Runtime, runtime_from_settings
from shipyard.workspace import Workspace

# Every app, of either plane, has these.
BASE_ROUTERS: tuple[APIRouter, ...] = (health.router, metrics.router)

# The control plane's domains: each adds its router (and collectors) here as it lands.
ROUTERS: tuple[APIRouter, ...] = (
    features.router,
    endpoints.router,
    monitoring.router,
    jobs.router,
)
COLLECTORS: tuple[CollectorFactory, ...] = (features.FeatureLagCollector, jobs.JobQueueCollector)

DESCRIPTION = "Self-hosted MLOps: data, training, deployment and monitoring."


def create_control_app(
    workspace: Workspace | None = None,
    *,
    runtime: Runtime | None = None,
    settings: Settings | None = None,
    routers: Sequence[APIRouter] = ROUTERS,
    collectors: Sequence[CollectorFactory] = COLLECTORS,
) -> FastAPI:
    """The control-plane app over ``workspace`` (its runtime, acting as its principal),
    a ``runtime``, or a runtime opened from ``settings`` at start-up.

    >>> import shipyard, tempfile
    >>> from shipyard.api.app import create_app
    >>> with shipyard.connect(tempfile.mkdtemp()) as ws:
    ...     paths = create_app(ws).openapi()["paths"]
    >>> [p for p in sorted(paths) if not p.startswith("/endpoints/{name}/")]
    ... # doctest: +NORMALIZE_WHITESPACE
    ['/endpoints', '/endpoints/{name}', '/features/freshness', '/features/online', '/health',
     '/jobs', '/jobs/{job_id}', '/jobs/{job_id}/cancel', '/jobs/{job_id}/retry', '/metrics',
     '/version']
    """
    return build_app(
        title="Shipyard",
        description=DESCRIPTION,
        routers=routers,
        collectors=collectors,
        workspace=workspace,
        runtime=runtime,
        settings=settings,
    )


create_app = create_control_app


def build_app(
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    collectors: Sequence[CollectorFactory] = (),
    workspace: Workspace | None = None,
    runtime: Runtime | None = None,
    settings: Settings | None = None,
) -> FastAPI:
    """An app with the shared parts (see the module) and ``routers``' routes.

    Give exactly one of ``workspace``, ``runtime`` or ``settings``.
    """
    given = [name for name, value in (("workspace", workspace), ("runtime", runtime),
             ("settings", settings)) if value is not None]  # fmt: skip
    if len(given) != 1:
        raise ValueError(f"build_app needs one of workspace, runtime or settings, got {given}")
    if workspace is not None:
        runtime = workspace.runtime
    chosen = runtime.settings if runtime is not None else settings
    assert chosen is not None
    limits = Limits.from_settings(chosen)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime is not None:  # the caller's: opened and closed by the caller
            yield
            return
        assert settings is not None
        attach_runtime(app, runtime_from_settings(settings), settings.principal)
        try:
            yield
        finally:
            app.state.runtime.close()

    app = FastAPI(
        title=title,
        version=__version__,
        description=description,
        lifespan=lifespan,
        # Every route: a JSON body's lists and text are checked before the route sees them.
        dependencies=[Depends(check_json_body)],
    )
    app.state.runtime = None
    app.state.limits = limits
    app.state.metrics = MetricsRegistry()
    if runtime is not None:
        principal = workspace.principal if workspace is not None else chosen.principal
        attach_runtime(app, runtime, principal, keep=workspace)
    for factory in collectors:
        app.state.metrics.add(factory(lambda: app.state.workspaces.get(app.state.principal)))
    app.add_middleware(BodySizeLimit, limits=limits)
    install_error_handlers(app)
    for router in (*BASE_ROUTERS, *routers):
        app.include_router(router)
    return app


def attach_runtime(
    app: FastAPI, runtime: Runtime, principal: str, *, keep: Workspace | None = None
) -> None:
    """Serve requests from ``runtime``, acting as ``principal`` until authentication
    says otherwise; ``keep`` is a workspace to reuse as is for its principal."""
    workspaces = WorkspaceCache(runtime)
    if keep is not None:
        workspaces.keep(keep)
    app.state.workspaces = workspaces
    app.state.principal = principal
    app.state.runtime = runtime
