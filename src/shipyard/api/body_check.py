"""Checks every JSON request body gets before a route sees it (an app-wide dependency).

- No list or object holds more than ``max_request_items`` items: a small body of
  tiny items (``[0,0,0,...]``) would otherwise cost far more than its bytes.
- No string holds a lone surrogate (JSON allows ``"\\ud800"``, but such text has
  no UTF-8 form: storing or echoing it would fail deep inside as a 500).

Both run on the parsed body before the request model validates it, so a bad body
never costs a validation error per item.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import Request

from shipyard.api.limits import Limits
from shipyard.errors import InvalidInput
from shipyard.unicode_text import lone_surrogate_at

_BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")


async def check_json_body(request: Request) -> None:
    """Refuse a JSON body with too many items in one list or object, or invalid text."""
    if request.method not in _BODY_METHODS:
        return
    if not await request.body():
        return
    try:
        data = await request.json()  # parsed once: FastAPI reuses it for the route
    except (ValueError, RecursionError):
        return  # not JSON (or absurdly nested): the route's own validation says so
    limits: Limits = getattr(request.app.state, "limits", Limits())
    check_json_value(data, limits)


def check_json_value(data: Any, limits: Limits) -> None:
    """The checks on one parsed JSON value; iterative, so depth costs no stack."""
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if lone_surrogate_at(item) is not None:
                _refuse_text(data)
        elif isinstance(item, list):
            limits.check_items(len(item), "items in one list")
            pending.extend(item)
        elif isinstance(item, dict):
            limits.check_items(len(item), "fields in one object")
            for key, value in item.items():
                if lone_surrogate_at(key) is not None:
                    _refuse_text(data)
                pending.append(value)


def _refuse_text(data: Any) -> None:
    where, text = next(_bad_strings(data, "body"))
    at = lone_surrogate_at(text) or 0
    raise InvalidInput(
        f"The request's text at {where} is not valid Unicode: it holds a lone surrogate "
        f"({text[at]!r}) at character {at}.",
        hint="Send text as valid UTF-8; a \\ud800-\\udfff escape must be half of a pair.",
    )


def _bad_strings(data: Any, path: str) -> Iterator[tuple[str, str]]:
    """Where each string (value or key) with a lone surrogate is, as ``body.a[0].b``."""
    pending: list[tuple[Any, str]] = [(data, path)]
    while pending:
        item, where = pending.pop()
        if isinstance(item, str) and lone_surrogate_at(item) is not None:
            yield where, item
        elif isinstance(item, list):
            pending.extend((value, f"{where}[{i}]") for i, value in enumerate(item))
        elif isinstance(item, dict):
            for key, value in item.items():
                shown = json.dumps(key)  # escapes the surrogate, so the path itself is printable
                if lone_surrogate_at(key) is not None:
                    yield f"{where} (the key {shown})", key
                pending.append((value, f"{where}.{key if key.isidentifier() else shown}"))
