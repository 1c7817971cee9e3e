"""Which variant serves a request, and the endpoint state serving processes share.

- :func:`choose_variant`: weights are ratios over the primary variants with a weight
  above 0 (share = weight / sum; weight 0 gets nothing), a weighted random choice;
  ``X-Shipyard-Target-Variant`` names a variant and overrides the weights. During an A/B
  test (the endpoint's spec has ``ab.salt``), a request with a routing key
  (``X-Shipyard-Key``) is assigned by hashing the key with the test's salt: the same key
  gets the same variant for the test's life, and the keys split by the weights.
- :class:`EndpointStates`: endpoints read from the control store, refreshed every
  ``refresh_seconds`` on a background thread, so several serving processes pick up a
  weight change within a few seconds. Each refresh builds a new dict and swaps it in
  one assignment: a request holds the :class:`Endpoint` it started with to its end.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from shipyard.errors import InvalidInput, NotFound, ShipyardError

if TYPE_CHECKING:
    from shipyard.stores.control import ControlStore
    from shipyard.stores.control.base import Endpoint, Variant

log = logging.getLogger("shipyard.serving")

REFRESH_SECONDS = 2.0


def primaries(endpoint: Endpoint) -> list[Variant]:
    """The primary variants that get traffic (weight above 0)."""
    return [v for v in endpoint.variants if v.role == "primary" and v.weight > 0]


def choose_variant(
    endpoint: Endpoint,
    target: str | None = None,
    rng: random.Random | None = None,
    key: str | None = None,
) -> Variant:
    """The variant to serve with: ``target`` if named; during an A/B test, the one
    ``key`` hashes to; else a weighted random primary."""
    if target:
        for variant in endpoint.variants:
            if variant.name == target:
                return variant
        raise InvalidInput(
            f"Endpoint {endpoint.name!r} has no variant {target!r}.",
            hint=f"Its variants: {', '.join(v.name for v in endpoint.variants)} "
            "(X-Shipyard-Target-Variant names one of them).",
        )
    candidates = primaries(endpoint)
    if not candidates:
        raise NotFound(
            f"Endpoint {endpoint.name!r} has no primary variant with a weight above 0.",
            hint="Give a variant traffic: shipyard endpoints show NAME lists them.",
        )
    if len(candidates) == 1:
        return candidates[0]
    salt = (endpoint.spec.get("ab") or {}).get("salt")
    if key is not None and salt:
        return sticky(candidates, f"{salt}:{key}")
    chosen = (rng or random).choices(candidates, weights=[v.weight for v in candidates])
    return chosen[0]


def sticky(candidates: Sequence[Variant], salted_key: str) -> Variant:
    """The variant ``salted_key`` hashes to: a point in [0, 1) laid over the variants'
    shares in name order, so it moves only if the weights or the salt do."""
    digest = hashlib.blake2b(salted_key.encode(), digest_size=8).digest()
    point = int.from_bytes(digest, "big") / float(1 << 64)
    ordered = sorted(candidates, key=lambda v: v.name)
    total = sum(v.weight for v in ordered)
    edge = 0.0
    for variant in ordered:
        edge += variant.weight / total
        if point < edge:
            return variant
    return ordered[-1]


class EndpointStates:
    """The endpoints one process serves (``names``, or every endpoint when None), read
    from the control store and refreshed in the background; thread-safe."""

    def __init__(
        self,
        control: ControlStore,
        names: Sequence[str] | None = None,
        *,
        refresh_seconds: float = REFRESH_SECONDS,
        on_refresh: Callable[[list[Endpoint]], None] | None = None,
    ) -> None:
        self.control = control
        self.on_refresh = on_refresh  # called with the endpoints after each refresh
        self.names = None if names is None else list(names)
        self.refresh_seconds = refresh_seconds
        self._states: dict[str, Endpoint] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def get(self, name: str) -> Endpoint:
        """The endpoint's current state; NotFound if it is not served here or not there."""
        if self.names is not None and name not in self.names:
            raise NotFound(
                f"This server does not serve endpoint {name!r}.",
                hint=f"It serves: {', '.join(self.names)}.",
            )
        self.start()
        found = self._states.get(name)
        if found is None:  # created since the last refresh: read it now
            found = self.control.endpoint(name)
            self._states = {**self._states, name: found}
        return found

    def served(self) -> list[Endpoint]:
        """Every endpoint served here, as last read."""
        self.start()
        return list(self._states.values())

    def refresh(self) -> None:
        """Read the endpoints again and swap them in at once."""
        if self.names is None:
            fresh = {e.name: e for e in self.control.endpoints()}
        else:
            fresh = {}
            for name in self.names:
                # Deleted (or not yet created): its requests get a 404.
                with contextlib.suppress(NotFound):
                    fresh[name] = self.control.endpoint(name)
        self._states = fresh
        if self.on_refresh is not None:
            self.on_refresh(list(fresh.values()))

    def start(self) -> None:
        """Read the endpoints and start refreshing them (once; later calls do nothing)."""
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is not None:
                return
            self.refresh()
            thread = threading.Thread(target=self._run, name="endpoint-states", daemon=True)
            thread.start()
            self._thread = thread

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            try:
                self.refresh()
            except ShipyardError as exc:  # the database away for a moment: keep the last state
                log.warning("endpoint refresh failed: %s", exc)
            except Exception:
                log.exception("endpoint refresh failed")
