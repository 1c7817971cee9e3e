"""The Dask engine: parts as tasks on a ``dask.distributed`` cluster.

Either a local cluster started for the job (closed with the engine) or an existing
scheduler's address (``tcp://host:8786``); workers need the same Shipyard and model
libraries installed and access to the input and output (a shared folder or an object
store URL). The shared object is scattered once to every worker, so the model crosses
the network once per worker, not once per part.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from shipyard.engines.base import Engine, P, R, S
from shipyard.errors import BackendUnavailable, InvalidInput

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

CONNECT_TIMEOUT = "10s"


def _require_distributed() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise InvalidInput(
            "The dask engine needs dask.distributed, which is not installed.",
            hint='pip install "shipyard[dask]"',
        ) from None


class DaskEngine(Engine):
    """Parts on a Dask cluster: ``scheduler`` (an address), ``client`` (a connected
    ``distributed.Client``, left open) or, with neither, a local cluster of ``workers``
    processes (threads with ``processes=False``) bound to 127.0.0.1, without a dashboard.
    """

    name = "dask"

    def __init__(
        self,
        scheduler: str | None = None,
        *,
        client: Client | None = None,
        workers: int | None = None,
        threads_per_worker: int = 1,
        processes: bool = True,
    ) -> None:
        _require_distributed()
        from distributed import Client, LocalCluster

        self._cluster: LocalCluster | None = None
        self._owns_client = client is None
        if client is not None:
            self.client = client
        elif scheduler is not None:
            try:
                self.client = Client(scheduler, timeout=CONNECT_TIMEOUT)
            except (OSError, TimeoutError, ValueError) as exc:
                raise BackendUnavailable(
                    f"Cannot reach the Dask scheduler at {scheduler}: {exc}",
                    hint="Start one (`dask scheduler`, then `dask worker ADDRESS`) or leave out "
                    "--scheduler to start a local cluster for the job.",
                ) from None
        else:
            if workers is not None and (isinstance(workers, bool) or workers < 1):
                raise InvalidInput(f"workers must be 1 or more, got {workers!r}.")
            # Worker processes talk over TCP on the loopback only; threads in this
            # process talk in-process (no socket at all).
            network = {"host": "127.0.0.1"} if processes else {}
            self._cluster = LocalCluster(
                **network,
                dashboard_address=None,
                n_workers=workers,
                threads_per_worker=threads_per_worker,
                processes=processes,
                # No dashboard; the scheduler's own HTTP routes (health) on a free
                # loopback port, not 8787, which another cluster may hold.
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            )
            self.client = Client(self._cluster)

    def map_parts(
        self,
        fn: Callable[[S, P], R],
        parts: Sequence[P],
        *,
        shared: S,
        on_done: Callable[[P, R], None] | None = None,
    ) -> list[R]:
        from distributed import as_completed

        if not parts:
            return []
        # hash=False: a fresh key each job, so a model changed in place is never reused.
        shared_future = self.client.scatter(shared, broadcast=True, hash=False)
        futures = self.client.map(fn, [shared_future] * len(parts), parts, pure=False)
        index = {future.key: i for i, future in enumerate(futures)}
        results: dict[int, R] = {}
        try:
            for future in as_completed(futures):
                if future.status == "error":
                    future.result()  # raises the part's own exception
                at = index[future.key]
                results[at] = future.result()
                if on_done is not None:
                    on_done(parts[at], results[at])
        finally:
            self.client.cancel([f for f in futures if not f.done()])
            shared_future.release()
        return [results[i] for i in range(len(parts))]

    def describe(self) -> dict[str, Any]:
        info = self.client.scheduler_info()
        return {
            "engine": self.name,
            "scheduler": "local cluster" if self._cluster is not None else info.get("address"),
            "workers": len(info.get("workers", {})),
        }

    def close(self) -> None:
        if self._owns_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
