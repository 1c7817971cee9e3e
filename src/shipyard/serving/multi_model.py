"""Multi-model endpoints: which model a request names, and the pool that holds it.

A multi-model endpoint (``shipyard endpoints create NAME --models 'delay-*'``) has no
variants: ``POST /endpoints/NAME/models/MODEL@VERSION/invocations`` (or
``MODEL@ALIAS``) serves any version of a model whose name matches the endpoint's glob.
Each endpoint has its own :class:`~shipyard.serving.model_pool.ModelPool` under the
memory budget its spec states; an alias is looked up at most once per refresh period,
so moving it takes effect within that period, as a variant's weights do.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections.abc import Callable
from typing import Any

from shipyard.errors import InvalidInput, NotFound
from shipyard.serving.inference import Predictor
from shipyard.serving.model_pool import ModelPool, PoolMetrics
from shipyard.stores.control.base import Endpoint

MIB = 2**20
MAX_VERSION_DIGITS = 9


def is_multi_model(endpoint: Endpoint) -> bool:
    return bool(endpoint.spec.get("multi_model"))


def parse_target(endpoint: Endpoint, text: str) -> tuple[str, int | None, str | None]:
    """``MODEL@VERSION`` or ``MODEL@ALIAS`` as (model, version, alias); a model the
    endpoint's glob does not match is a 404, as a model it does not serve."""
    name, at, ref = text.partition("@")
    if not at or not name or not ref:
        raise InvalidInput(
            f"Name the model as MODEL@VERSION or MODEL@ALIAS, got {text[:80]!r}.",
            hint=f"For example POST /endpoints/{endpoint.name}/models/{name or 'delay'}@3"
            "/invocations.",
        )
    pattern = str(endpoint.spec["multi_model"]["models"])
    if not fnmatch.fnmatchcase(name, pattern):
        raise NotFound(
            f"Endpoint {endpoint.name!r} serves models matching {pattern!r}, not {name!r}.",
            hint="Name a model the endpoint's glob matches, or create an endpoint for it.",
        )
    if ref.isdigit():
        if len(ref) > MAX_VERSION_DIGITS:  # past any stored version, and past the database's
            raise NotFound(f"Model {name!r} has no version {ref[:20]}...", hint="Name a version "
                           "that `shipyard models show` lists.")  # fmt: skip
        return name, int(ref), None
    return name, None, ref


class MultiModels:
    """The pools of the multi-model endpoints one process serves, and their alias
    lookups (``lookup(model, alias) -> version``, cached for ``refresh_seconds``)."""

    def __init__(
        self,
        load: Callable[[str, int], Predictor],
        lookup: Callable[[str, str], int],
        *,
        registry: Any,
        refresh_seconds: float,
    ) -> None:
        self._load = load
        self._lookup = lookup
        self._metrics = PoolMetrics(registry)
        self._refresh = refresh_seconds
        self._pools: dict[str, ModelPool] = {}
        self._aliases: dict[tuple[str, str], tuple[int, float]] = {}  # -> version, expiry
        self._lock = threading.Lock()

    def pool(self, endpoint: Endpoint) -> ModelPool:
        """The endpoint's pool, made on its first request."""
        found = self._pools.get(endpoint.name)
        if found is not None:
            return found
        with self._lock:
            found = self._pools.get(endpoint.name)
            if found is None:
                budget = float(endpoint.spec["multi_model"]["memory_budget_mb"])
                found = self._pools[endpoint.name] = ModelPool(
                    endpoint.name,
                    self._load,
                    budget_bytes=int(budget * MIB),
                    metrics=self._metrics,
                )
        return found

    def cached_version(self, model: str, alias: str) -> int | None:
        """The version ``alias`` pointed to when last looked up, unless that is stale."""
        found = self._aliases.get((model, alias))
        if found is None or found[1] < time.monotonic():
            return None
        return found[0]

    def look_up(self, model: str, alias: str) -> int:
        """The version ``alias`` points to now (a registry read: call off the event loop)."""
        version = self._lookup(model, alias)
        self._aliases[(model, alias)] = (version, time.monotonic() + self._refresh)
        return version
