"""What the runner needs from experiment tracking: a structural type for one run.

The runner never imports a tracking backend. It takes any ``tracker`` object whose
``start_run(experiment, name)`` returns something shaped like :class:`RunLogger`:
Shipyard's own tracker (``ws.runs``), an adapter to another tool, or an in-memory
double in tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class RunLogger(Protocol):
    """One tracked run; a context manager that marks it finished, or failed on an error."""

    def log_params(self, params: Mapping[str, Any]) -> Any: ...

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> Any: ...

    def set_tags(self, tags: Mapping[str, str]) -> Any: ...

    def log_bytes(self, name: str, data: bytes) -> Any: ...

    def log_artifact(self, path: str | Path) -> Any: ...

    def note(self, text: str) -> Any: ...

    def __enter__(self) -> Any: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any: ...
