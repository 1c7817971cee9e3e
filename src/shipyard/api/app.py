"""The app factory: one FastAPI app hosting the control plane, endpoints and UI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

from shipyard._version import __version__
from shipyard.api import features, health
from shipyard.api.body_check import check_json_body
from shipyard.api.body_limit import BodySizeLimit
from shipyard.api.errors import install_error_handlers
from shipyard.api.limits import Limits
from shipyard.config import Settings
from shipyard.workspace import Workspace, open_workspace

# Each domain adds its router here as it lands.
ROUTERS: tuple[APIRouter, ...] = (health.router, features.router)


def create_app(
    workspace: Workspace | None = None,
    *,
    settings: Settings | None = None,
    routers: Sequence[APIRouter] = ROUTERS,
) -> FastAPI:
    """Build the app over ``workspace`` (or one opened from ``settings`` at start-up).

    >>> from shipyard.api.app import create_app
    >>> app = create_app(settings=None)   # doctest: +SKIP
    """
    chosen = workspace.settings if workspace is not None else settings
    if chosen is None:
        raise ValueError("create_app needs a workspace or settings")
    limits = Limits.from_settings(chosen)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = workspace is None
        if workspace is None:
            assert settings is not None
            app.state.workspace = open_workspace(settings)
        try:
            yield
        finally:
            if owned:
                app.state.workspace.close()

    app = FastAPI(
        title="Shipyard",
        version=__version__,
        description="Self-hosted MLOps: data, training, deployment and monitoring.",
        lifespan=lifespan,
        # Every route: a JSON body's lists and text are checked before the route sees them.
        dependencies=[Depends(check_json_body)],
    )
    if workspace is not None:
        app.state.workspace = workspace
    app.state.limits = limits
    app.add_middleware(BodySizeLimit, limits=limits)
    install_error_handlers(app)
    for router in routers:
        app.include_router(router)
    return app
