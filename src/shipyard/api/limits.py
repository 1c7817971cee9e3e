"""What one request may ask of the server: its body's bytes and its number of items.

Both come from settings (``max_request_bytes``, ``max_request_items``), so the
memory and time a request can take are bounded whoever sends it.
"""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.config import (
    DEFAULT_MAX_ASYNC_REQUEST_BYTES,
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_MAX_REQUEST_ITEMS,
    Settings,
)
from shipyard.errors import InvalidInput

ASYNC_SUFFIX = "/async-invocations"  # the route whose body may be up to max_async_bytes


class RequestTooLarge(InvalidInput):
    """The request is bigger than the server accepts: too many bytes or too many items."""

    code = "request_too_large"
    http_status = 413


@dataclass(frozen=True)
class Limits:
    """The limits one app enforces (``app.state.limits``)."""

    max_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_items: int = DEFAULT_MAX_REQUEST_ITEMS
    # An async invocation's body goes to the artifact store as it arrives, not to memory.
    max_async_bytes: int = DEFAULT_MAX_ASYNC_REQUEST_BYTES

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            settings.max_request_bytes,
            settings.max_request_items,
            settings.max_async_request_bytes,
        )

    def bytes_for(self, path: str) -> int:
        """The body limit of a request to ``path``."""
        return self.max_async_bytes if path.endswith(ASYNC_SUFFIX) else self.max_bytes

    def too_many_bytes(self, path: str = "") -> RequestTooLarge:
        if path.endswith(ASYNC_SUFFIX):
            return RequestTooLarge(
                f"The async invocation's body is larger than this server accepts "
                f"({self.max_async_bytes:,} bytes at most).",
                hint="Pass the input by reference (X-Shipyard-Input-Location), or raise the "
                "max_async_request_bytes setting (SHIPYARD_MAX_ASYNC_REQUEST_BYTES).",
            )
        return RequestTooLarge(
            f"The request body is larger than this server accepts "
            f"({self.max_bytes:,} bytes at most).",
            hint="Split the request into smaller ones, or raise the server's "
            "max_request_bytes setting (SHIPYARD_MAX_REQUEST_BYTES).",
        )

    def check_items(self, count: int, what: str) -> None:
        """Refuse a request of more than ``max_items`` items (``what`` says what was counted)."""
        if count > self.max_items:
            raise RequestTooLarge(
                f"The request asks for {count:,} {what}; this server takes at most "
                f"{self.max_items:,} per request.",
                hint="Split the request into smaller ones, or raise the server's "
                "max_request_items setting (SHIPYARD_MAX_REQUEST_ITEMS).",
            )
