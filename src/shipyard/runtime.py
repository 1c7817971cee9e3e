"""The runtime: what a process opens once (settings, stores, caches) and every workspace shares.

A server answering many principals, a pipeline acting as ``pipeline`` and Dask
tasks each need the stores, but cannot pay for an engine pool, a write probe and
a schema query per principal. So the costly part lives here, opened once, and a
:class:`~shipyard.workspace.Workspace` is just this runtime plus a principal:

>>> import shipyard, tempfile
>>> with shipyard.open_runtime(tempfile.mkdtemp()) as runtime:
...     alice, bob = runtime.workspace("alice"), runtime.workspace("bob")
...     alice.metadata is bob.metadata
True
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from shipyard.config import Settings, load_settings
from shipyard.errors import InvalidConfig
from shipyard.stale_tmp import remove_stale_tmp

if TYPE_CHECKING:
    from shipyard.stores.artifacts import ArtifactStore
    from shipyard.stores.control import ControlStore
    from shipyard.stores.jobs import JobStore
    from shipyard.stores.metadata import MetadataStore
    from shipyard.stores.monitoring import MonitorStore
    from shipyard.stores.online import OnlineStore
    from shipyard.workspace import Workspace

MODEL_CACHE_SIZE = 8  # loaded model packages kept per process, least recently used out


class Runtime:
    """Settings and the stores, opened once per process; thread-safe to share.

    Build one with :func:`open_runtime` (or let :func:`shipyard.connect` build one for
    its workspace); close it when the process is done with it.
    """

    def __init__(self, settings: Settings, metadata: MetadataStore, artifacts: ArtifactStore):
        self.settings = settings
        self.metadata = metadata
        self.artifacts = artifacts
        self._lock = threading.Lock()
        self._online: OnlineStore | None = None
        self.models = ModelCache(MODEL_CACHE_SIZE)
        # Compiled policies by principal, shared by every workspace's security service: a
        # change made in this process applies at once; other processes see it within the
        # cache's time-to-live.
        self.policies: dict[str, Any] = {}

    def workspace(self, principal: str | None = None, *, source: str = "python") -> Workspace:
        """A workspace acting as ``principal`` (default: the principal setting); cheap.
        ``source`` says where its calls come from in the audit log (cli, api 10.0.0.7...)."""
        from shipyard.workspace import Workspace

        return Workspace(self, principal, source=source)

    @cached_property
    def jobs(self) -> JobStore:
        """The durable job queue, in the metadata database."""
        from shipyard.stores.jobs import job_store_for

        return job_store_for(self.metadata)

    @cached_property
    def control(self) -> ControlStore:
        """Aliases, approvals, endpoints, deployments, schedules and the audit log."""
        from shipyard.stores.control import control_store_for

        return control_store_for(self.metadata)

    @cached_property
    def monitoring(self) -> MonitorStore:
        """Window profiles of the capture, monitored series and alarms."""
        from shipyard.stores.monitoring import monitor_store_for

        return monitor_store_for(self.metadata)

    @property
    def online(self) -> OnlineStore:
        """The online feature store, opened on first use and shared."""
        with self._lock:
            if self._online is None:
                from shipyard.stores.online import open_online_store

                self._online = open_online_store(self.settings.online_url)
            return self._online

    def close(self) -> None:
        with self._lock:
            if self._online is not None:
                self._online.close()
                self._online = None
        self.models.clear()
        self.policies.clear()
        self.metadata.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Runtime(home={str(self.settings.home)!r})"


class ModelCache:
    """Loaded models by package digest, least recently used evicted past ``size``.

    A package is immutable (its digest is its content), so a cached load never goes stale.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str) -> Any | None:
        with self._lock:
            found = self._items.get(digest)
            if found is not None:
                self._items.move_to_end(digest)
            return found

    def put(self, digest: str, model: Any) -> None:
        with self._lock:
            self._items[digest] = model
            self._items.move_to_end(digest)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


def open_runtime(home: str | Path | None = None, **overrides: Any) -> Runtime:
    """Open the runtime for the workspace at ``home`` (settings as :func:`shipyard.connect`)."""
    return runtime_from_settings(load_settings(home, **overrides))


def runtime_from_settings(settings: Settings) -> Runtime:
    """Open a runtime from already validated settings: check the home, open the stores, and
    make the schema usable (the embedded store migrates; a shared one must be current)."""
    from shipyard.stores.artifacts import ArtifactStore
    from shipyard.stores.metadata import open_metadata_store

    prepare_home(settings.home)
    remove_stale_tmp(settings.home / "tmp")  # what interrupted work left; best effort
    artifacts = ArtifactStore(settings.artifact_url)
    metadata = open_metadata_store(settings.metadata_url)
    try:
        metadata.ensure_schema()
    except BaseException:
        metadata.close()
        raise
    return Runtime(settings, metadata, artifacts)


def prepare_home(home: Path) -> None:
    """Create the home folder and prove it is writable, or say clearly why not."""
    probe = home / f".write-test-{uuid.uuid4().hex}"
    try:
        home.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InvalidConfig(
            f"The Shipyard home {home} is not a writable folder ({exc.strerror or exc}).",
            hint="Set SHIPYARD_HOME (or pass home=) to a folder you can write to.",
        ) from None
