"""Text that cannot be stored: a lone surrogate has no UTF-8 form, so every database,
Redis and JSON encoder refuses it. Found at the boundary, it is the caller's mistake."""

from __future__ import annotations


def lone_surrogate_at(text: str) -> int | None:
    """The index of the first lone surrogate in ``text``, or None if it is valid Unicode.

    >>> lone_surrogate_at("ok"), lone_surrogate_at("ab\\ud800")
    (None, 2)
    """
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None
