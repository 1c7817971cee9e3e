"""What one request may ask of the server: its body's bytes and its number of items.

Both come from settings (``max_request_bytes``, ``max_request_items``), so the
memory and time a request can take are bounded whoever sends it.
"""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.config import DEFAULT_MAX_REQUEST_BYTES, DEFAULT_MAX_REQUEST_ITEMS, Settings
from shipyard.errors import InvalidInput


class RequestTooLarge(InvalidInput):
    """The request is bigger than the server accepts: too many bytes or too many items."""

    code = "request_too_large"
    http_status = 413


@dataclass(frozen=True)
class Limits:
    """The limits one app enforces (``app.state.limits``)."""

    max_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_items: int = DEFAULT_MAX_REQUEST_ITEMS

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(settings.max_request_bytes, settings.max_request_items)

    def too_many_bytes(self) -> RequestTooLarge:
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
