"""What a route asks for, as FastAPI dependencies, instead of reaching into ``app.state``.

- :func:`get_runtime`: the process's :class:`~shipyard.runtime.Runtime` (the stores,
  opened once), put on ``app.state`` when the app is built or starts.
- :func:`get_principal`: who the request acts as. **The seam for authentication**:
  for now every request acts as the server's principal (the ``principal``
  setting, or the principal of the workspace ``create_app`` was given); the
  authentication issue replaces this one function (a token in, a principal out)
  and every route follows. Tests may override it with
  ``app.dependency_overrides[get_principal]``.
- :func:`get_workspace`: the runtime acting as that principal.
- :func:`get_limits`: the app's request limits (``shipyard.api.metrics.get_metrics``: its
  metrics registry).

A route declares what it needs with the ``...Dep`` aliases::

    @router.get("/things")
    def things(workspace: WorkspaceDep) -> ThingList: ...

Workspaces are cheap, but their services keep short-lived caches (the feature
store's online read plans, each principal's compiled policies): an online read
costs about 0.07 ms on a workspace kept between requests and 4 ms on a new one.
So the app keeps one workspace per principal (:class:`WorkspaceCache`, least
recently used out) rather than building one per request; each is
``runtime.workspace(principal)``, sharing the runtime's engine pool. A change
to policies made through one principal's workspace reaches another's within
the policy cache's ttl, as it does across processes.

The dependencies are ``async``: they only read ``app.state``, so they run on the
event loop instead of costing a hop to a worker thread each.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Annotated

from fastapi import Depends, Request

from shipyard.api.limits import Limits
from shipyard.errors import BackendUnavailable
from shipyard.runtime import Runtime
from shipyard.security.names import principal_name
from shipyard.workspace import Workspace

WORKSPACES_KEPT = 256  # principals whose workspace (and its caches) an app keeps


class WorkspaceCache:
    """One workspace per principal over one runtime; thread-safe (sync routes run in threads)."""

    def __init__(self, runtime: Runtime, size: int = WORKSPACES_KEPT) -> None:
        self.runtime = runtime
        self.size = size
        self._items: OrderedDict[str, Workspace] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, workspace: Workspace) -> None:
        """Serve ``workspace`` itself for its principal (the one ``create_app`` was given,
        so writes made through it, such as a policy change, are seen at once)."""
        with self._lock:
            self._items[workspace.principal] = workspace

    def get(self, principal: str) -> Workspace:
        name = principal_name(principal)
        with self._lock:
            found = self._items.get(name)
            if found is None:
                found = self._items[name] = self.runtime.workspace(name, source="api")
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
            else:
                self._items.move_to_end(name)
            return found

    def __len__(self) -> int:
        return len(self._items)


async def get_runtime(request: Request) -> Runtime:
    """The process's runtime, opened when the app was built or started."""
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        raise BackendUnavailable(
            "The server has not opened its stores yet.",
            hint="Wait for start-up to finish (an app built from settings opens them then).",
        )
    return runtime


async def get_principal(request: Request) -> str:
    """Who the request acts as: for now, the server's principal (replaced by authentication)."""
    principal: str = request.app.state.principal
    return principal


async def get_workspace(
    request: Request,
    runtime: Annotated[Runtime, Depends(get_runtime)],
    principal: Annotated[str, Depends(get_principal)],
) -> Workspace:
    """The runtime acting as the request's principal."""
    workspaces: WorkspaceCache = request.app.state.workspaces
    assert workspaces.runtime is runtime  # both set together (shipyard.api.app.attach_runtime)
    return workspaces.get(principal)


async def get_limits(request: Request) -> Limits:
    """The bytes and items one request may send."""
    limits: Limits = request.app.state.limits
    return limits


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
PrincipalDep = Annotated[str, Depends(get_principal)]
WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
LimitsDep = Annotated[Limits, Depends(get_limits)]
