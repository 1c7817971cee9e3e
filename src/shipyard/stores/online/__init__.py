"""The online store: pick a backend by the URL's scheme (the ``online_url`` setting)."""

from __future__ import annotations

from shipyard.errors import InvalidConfig
from shipyard.stores.online.base import (
    MaterializeCheckpoint,
    MaterializedInterval,
    OnlineRow,
    OnlineStore,
    decode_entity_key,
    encode_entity_key,
)

__all__ = [
    "MaterializeCheckpoint",
    "MaterializedInterval",
    "OnlineRow",
    "OnlineStore",
    "decode_entity_key",
    "encode_entity_key",
    "open_online_store",
]

_ACCEPTED = (
    "Use sqlite:///PATH for a file (the default is sqlite:///<home>/online.db), "
    "sqlite:// for memory, or redis://HOST:PORT/DB (rediss:// for TLS) for a shared Redis."
)


def open_online_store(url: str) -> OnlineStore:
    """A store for ``url``: ``sqlite:///PATH``, ``sqlite://`` (memory) or ``redis://HOST:PORT/DB``.

    A SQLite file (and its folder) is created when missing. A Redis URL may end
    in ``?prefix=NAME:`` to keep several stores in one database (default
    ``shipyard:``); opening it pings the server, so an unreachable one raises
    BackendUnavailable at once.
    """
    scheme = url.split("://", 1)[0].lower() if isinstance(url, str) and "://" in url else ""
    if scheme == "sqlite":
        from shipyard.stores.online.sqlite import SqliteOnlineStore

        return SqliteOnlineStore(_sqlite_path(url))
    if scheme in ("redis", "rediss"):
        _require_redis_client()
        from shipyard.stores.online.redis import RedisOnlineStore

        return RedisOnlineStore(url)
    raise InvalidConfig(
        f"online_url {url!r} is not a URL of a supported online store.", hint=_ACCEPTED
    )


def _sqlite_path(url: str) -> str | None:
    """The file of ``sqlite:///PATH`` (None for memory)."""
    rest = url.split("://", 1)[1]
    if rest in ("", "/:memory:"):
        return None
    if not rest.startswith("/") or rest == "/":
        raise InvalidConfig(
            f"online_url {url!r} has no file path: SQLite URLs are sqlite:///PATH.",
            hint=_ACCEPTED,
        )
    return rest[1:]


def _require_redis_client() -> None:
    try:
        import redis  # noqa: F401
    except ImportError:
        raise InvalidConfig(
            "online_url is a Redis URL, but the Redis client is not installed.",
            hint="pip install 'shipyard[redis]'",
        ) from None
