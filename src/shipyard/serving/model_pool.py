"""The models behind a multi-model endpoint: loaded on first use, least recently used out.

A multi-model endpoint serves many models through one route
(``POST /endpoints/{name}/models/{model}/invocations``), more than a serving process
may hold at once. A :class:`ModelPool` keeps the loaded ones under a memory budget:

- :meth:`ModelPool.get` loads a model on first use, one load per (model, version) at
  a time (callers of that key wait for it; other keys load in parallel), then evicts
  the least recently used models until the pool's estimated bytes fit the budget;
- a model whose own estimate exceeds the whole budget is refused
  (:class:`ModelTooLarge`, 422) and nothing is evicted for it;
- a failed load raises to its caller and changes nothing: the next call tries again.

Eviction only drops the pool's reference, so a request still predicting with an
evicted model finishes with it; the memory goes when the last request does.

Sizes are estimates (:func:`model_bytes`); two different models loading at the same
moment may briefly hold more than the budget, since each fits alone before it is added.
"""

from __future__ import annotations

import pickle
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shipyard.errors import InvalidInput
from shipyard.serving.inference import Predictor

Key = tuple[str, int]  # (model name, version)


class ModelTooLarge(InvalidInput):
    """A model whose estimated memory alone exceeds the endpoint's budget."""

    http_status = 422


class PoolMetrics:
    """The pools' Prometheus metrics, labelled by endpoint. Make one per registry (a
    registry refuses a second metric of the same name) and share it among its pools;
    ``registry=None`` keeps them unregistered."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.loads = Counter(
            "shipyard_endpoint_model_loads",
            "Models loaded into a multi-model endpoint's pool.",
            ["endpoint"],
            registry=registry,
        )
        self.evictions = Counter(
            "shipyard_endpoint_model_evictions",
            "Models evicted from a multi-model endpoint's pool to stay within its budget.",
            ["endpoint"],
            registry=registry,
        )
        self.load_seconds = Histogram(
            "shipyard_endpoint_model_load_seconds",
            "Time to load (and warm) one model of a multi-model endpoint.",
            ["endpoint"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=registry,
        )
        self.models_loaded = Gauge(
            "shipyard_endpoint_models_loaded",
            "Models a multi-model endpoint's pool holds now.",
            ["endpoint"],
            registry=registry,
        )
        self.model_bytes = Gauge(
            "shipyard_endpoint_model_bytes",
            "Estimated memory of the models a multi-model endpoint's pool holds now.",
            ["endpoint"],
            registry=registry,
        )


def model_bytes(predictor: Predictor) -> int:
    """An estimate of the memory a loaded model holds, in bytes.

    Its pickled size (protocol 5): a fitted model's weight is its arrays (coefficients,
    tree nodes, bins), which pickling writes out at their in-memory size, plus a small
    overhead per Python object. It is cheap: the bytes are only counted, never kept, and
    NumPy arrays go out of band, so they are measured by length without being copied.
    A model serving through its matrix twin (:class:`Predictor`) holds a deep copy of
    itself, so it counts twice; the input example kept for warming counts as well.
    """
    size = _pickled_size(predictor.loaded.model)
    if predictor.matrix:
        size *= 2
    example = predictor.loaded.example_frame
    if example is not None:
        size += int(example.memory_usage(index=True, deep=True).sum())
    return size


class _ByteCount:
    """A write-only file that counts what is written to it."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: Any) -> int:
        written = memoryview(data).nbytes
        self.size += written
        return written

    def buffer(self, buffer: pickle.PickleBuffer) -> bool:
        """Count an out-of-band buffer (an array's data) without copying it; False keeps
        it out of band."""
        with buffer.raw() as view:
            self.size += view.nbytes
        return False


def _pickled_size(model: Any) -> int:
    count = _ByteCount()
    pickle.Pickler(count, protocol=5, buffer_callback=count.buffer).dump(model)
    return count.size


@dataclass
class _Loading:
    """One key's load in progress: its lock, and how many callers use it (the last one
    out forgets it, so names that never load leave nothing behind)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0


@dataclass(frozen=True)
class _Entry:
    predictor: Predictor
    size: int


class ModelPool:
    """The loaded models of one endpoint, least recently used evicted past ``budget_bytes``.

    ``load(model, version)`` returns a ready :class:`Predictor` (loaded and warmed) or
    raises; ``size_of`` estimates a predictor's memory.
    """

    def __init__(
        self,
        endpoint: str,
        load: Callable[[str, int], Predictor],
        *,
        budget_bytes: int,
        metrics: PoolMetrics,
        size_of: Callable[[Predictor], int] = model_bytes,
    ) -> None:
        if budget_bytes <= 0:
            raise InvalidInput(
                f"The memory budget of endpoint {endpoint!r} must be a positive number of "
                f"bytes (got {budget_bytes}).",
                hint="Give the endpoint a budget that holds at least its largest model.",
            )
        self.endpoint = endpoint
        self.budget_bytes = budget_bytes
        self._load = load
        self._size_of = size_of
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()  # least recently used first
        self._loading: dict[Key, _Loading] = {}
        self._too_large: dict[Key, int] = {}  # a version never changes: refuse it unloaded
        self._bytes = 0
        self._lock = threading.Lock()  # guards the fields above; never held while loading
        self._loads = metrics.loads.labels(endpoint)
        self._evictions = metrics.evictions.labels(endpoint)
        self._load_seconds = metrics.load_seconds.labels(endpoint)
        self._models_loaded = metrics.models_loaded.labels(endpoint)
        self._model_bytes = metrics.model_bytes.labels(endpoint)
        self._publish()

    def get(self, model: str, version: int) -> Predictor:
        """The model's predictor, loaded on first use; thread-safe."""
        key = (model, version)
        with self._lock:
            found = self._touch(key)
            if found is not None:
                return found
            loading = self._loading.setdefault(key, _Loading())
            loading.users += 1
        try:
            with loading.lock:  # one load per key; its other callers wait here
                with self._lock:
                    found = self._touch(key)  # loaded while this caller waited
                if found is not None:
                    return found
                return self._load_and_add(key)
        finally:
            with self._lock:
                loading.users -= 1
                if loading.users == 0:
                    del self._loading[key]

    def peek(self, model: str, version: int) -> Predictor | None:
        """The model's predictor if the pool holds it (marked most recently used), else
        None; never loads, so it is safe on the event loop."""
        with self._lock:
            return self._touch((model, version))

    def loaded(self) -> list[Key]:
        """The (model, version) pairs held, least recently used first."""
        with self._lock:
            return list(self._entries)

    @property
    def bytes_used(self) -> int:
        """The estimated bytes of the models held."""
        return self._bytes

    def _touch(self, key: Key) -> Predictor | None:
        """The held predictor for ``key``, marked most recently used; the lock is held.
        A model known to be too large is refused here, without loading it again."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            return entry.predictor
        if key in self._too_large:
            raise self._refusal(key, self._too_large[key])
        return None

    def _load_and_add(self, key: Key) -> Predictor:
        started = time.perf_counter()
        predictor = self._load(*key)  # any error goes to the caller; nothing has changed
        self._load_seconds.observe(time.perf_counter() - started)
        self._loads.inc()
        size = self._size_of(predictor)
        with self._lock:
            if size > self.budget_bytes:
                self._too_large[key] = size
                raise self._refusal(key, size)
            self._entries[key] = _Entry(predictor, size)
            self._bytes += size
            while self._bytes > self.budget_bytes:
                oldest = next(iter(self._entries))  # never the new one: alone, it fits
                self._bytes -= self._entries.pop(oldest).size
                self._evictions.inc()
            self._publish()
        return predictor

    def _refusal(self, key: Key, size: int) -> ModelTooLarge:
        model, version = key
        return ModelTooLarge(
            f"Model {model} version {version} needs about {_mib(size)} of memory, more than "
            f"endpoint {self.endpoint!r}'s whole budget of {_mib(self.budget_bytes)}.",
            hint="Raise the endpoint's memory budget above the model's size, or serve the "
            "model from an endpoint of its own.",
        )

    def _publish(self) -> None:
        self._models_loaded.set(len(self._entries))
        self._model_bytes.set(self._bytes)


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB ({size} bytes)"
