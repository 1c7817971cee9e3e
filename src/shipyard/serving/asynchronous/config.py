"""An endpoint's async inference settings, kept in its spec under ``async``.

Set with the endpoint (``endpoints create ... --async-config JSON``) so that only who
may write the endpoint chooses where its outputs go and which URLs the server posts
to; a caller of the endpoint chooses neither.

>>> parse_async_config({"timeout_seconds": 60, "notify_success": "http://127.0.0.1:9/ok"})
... # doctest: +NORMALIZE_WHITESPACE
{'max_attempts': 3, 'timeout_seconds': 60.0, 'ttl_seconds': 21600.0, 'output_path': None,
 'notify_success': 'http://127.0.0.1:9/ok', 'notify_error': None, 'secret_env': None}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from shipyard.errors import InvalidInput

KIND_PREFIX = "inference:"  # a job kind per endpoint: workers and policies can pick endpoints
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HINT = (
    'For example {"max_attempts": 3, "timeout_seconds": 600, "ttl_seconds": 21600, '
    '"output_path": "s3://bucket/async", "notify_success": "https://hooks.example/ok", '
    '"notify_error": "https://hooks.example/error", "secret_env": "HOOK_SECRET"}.'
)


def job_kind(endpoint: str) -> str:
    """The job kind of ``endpoint``'s async invocations."""
    return f"{KIND_PREFIX}{endpoint}"


def endpoint_of(kind: str) -> str | None:
    """The endpoint whose async invocations are jobs of ``kind`` (None: another kind)."""
    return kind[len(KIND_PREFIX) :] if kind.startswith(KIND_PREFIX) else None


@dataclass(frozen=True)
class AsyncConfig:
    """``max_attempts``: tries before the dead letter; ``timeout_seconds``: one try's time;
    ``ttl_seconds``: how long a job may wait in the queue before it expires;
    ``output_path``: the folder (any fsspec URL) of outputs, ``<artifact_url>/async`` when
    None; ``notify_*``: webhook URLs; ``secret_env``: the variable holding their secret."""

    max_attempts: int = 3
    timeout_seconds: float = 3600.0
    ttl_seconds: float = 6 * 3600.0
    output_path: str | None = None
    notify_success: str | None = None
    notify_error: str | None = None
    secret_env: str | None = None


def parse_async_config(value: Mapping[str, Any] | None) -> dict[str, Any]:
    """``value`` checked and completed with defaults, as the spec stores it."""
    if not isinstance(value, Mapping | None):
        raise InvalidInput("The async config is a JSON object.", hint=_HINT)
    given = dict(value or {})
    known = {f.name for f in fields(AsyncConfig)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise InvalidInput(f"Unknown async setting(s) {', '.join(unknown)}.", hint=_HINT)
    config = AsyncConfig(**given)
    _whole(config.max_attempts, "max_attempts", 1, 100)
    _seconds(config.timeout_seconds, "timeout_seconds")
    _seconds(config.ttl_seconds, "ttl_seconds")
    for name in ("notify_success", "notify_error"):
        url = getattr(config, name)
        if url is not None and not (
            isinstance(url, str) and url.startswith(("http://", "https://"))
        ):
            raise InvalidInput(f"{name} must be an http(s) URL, got {url!r}.", hint=_HINT)
    if config.secret_env is not None and not (
        isinstance(config.secret_env, str) and _ENV_NAME.match(config.secret_env)
    ):
        raise InvalidInput(
            f"secret_env names an environment variable, got {config.secret_env!r}.", hint=_HINT
        )
    if config.output_path is not None and not (
        isinstance(config.output_path, str) and config.output_path.strip()
    ):
        raise InvalidInput("output_path is a folder path or URL.", hint=_HINT)
    found = asdict(config)
    found["timeout_seconds"] = float(config.timeout_seconds)
    found["ttl_seconds"] = float(config.ttl_seconds)
    return found


def config_of(spec: Mapping[str, Any]) -> AsyncConfig:
    """The endpoint spec's async settings (the defaults when it has none)."""
    return AsyncConfig(**parse_async_config(spec.get("async")))


def _whole(value: Any, name: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{name} is a whole number from {low} to {high}, got {value!r}.")


def _seconds(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 7 * 86400:
        raise InvalidInput(f"{name} is a number of seconds above 0, at most a week, got {value!r}.")
