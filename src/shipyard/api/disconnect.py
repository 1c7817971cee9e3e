"""Run a handler's blocking work in a worker thread that stops when the client goes away.

A thread cannot be killed, so the work is handed a ``stopped()`` callable and
asks it between parts; meanwhile the event loop waits for the server's
``http.disconnect`` message and flips it. A client that hangs up mid-request
costs at most one more part of work, not the whole request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import anyio
from starlette.requests import Request

T = TypeVar("T")


async def run_while_connected(request: Request, work: Callable[[Callable[[], bool]], T]) -> T:
    """``work(stopped)`` in a worker thread; ``stopped()`` turns True once the client is gone.

    The work's own exceptions come out as they are (not in an exception group).
    """
    gone = threading.Event()
    outcome: list[T] = []
    failure: list[Exception] = []

    async def watch() -> None:
        # The body has been read, so the next message the server sends is the disconnect.
        while (await request.receive())["type"] != "http.disconnect":
            pass
        gone.set()

    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        try:
            outcome.append(await anyio.to_thread.run_sync(work, gone.is_set))
        except Exception as exc:
            failure.append(exc)
        finally:
            group.cancel_scope.cancel()
    if failure:
        raise failure[0]
    return outcome[0]
