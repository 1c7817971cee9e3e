"""Refuse a request body larger than the limit while it arrives, before it is kept in memory.

A pure ASGI middleware: a declared ``Content-Length`` over the limit is refused
before a byte of the body is read; otherwise the bytes are counted as the
server hands them over, and the request fails the moment the count passes the
limit (a chunked upload has no length to check up front). Either way the answer
is a 413 with the API's JSON error body, and the connection is closed so the
rest of the upload is not read.
"""

from __future__ import annotations

import contextlib
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shipyard.api.limits import Limits


class _BodyTooLarge(Exception):
    """Raised into the app from ``receive`` to stop it reading an oversized body."""


class BodySizeLimit:
    """ASGI middleware: at most ``limits.max_bytes`` of request body per HTTP request."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = self.limits.bytes_for(path)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(send, path)
            return

        received = 0
        too_large = False
        answered = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal answered
            if too_large:
                return  # the app's answer to a body it never got whole; the 413 goes instead
            answered = True
            await send(message)

        with contextlib.suppress(_BodyTooLarge):
            await self.app(scope, counting_receive, guarded_send)
        if too_large and not answered:
            await self._refuse(send, path)

    async def _refuse(self, send: Send, path: str) -> None:
        error = self.limits.too_many_bytes(path)
        body = json.dumps(error.to_dict()).encode("utf-8")
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"connection", b"close"),  # the unread rest of the upload ends with the connection
        ]
        await send({"type": "http.response.start", "status": error.http_status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length itself
    return None
