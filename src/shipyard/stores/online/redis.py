"""Redis, the shared online store for teams: one string per entity, writes as one Lua script.

Layout (every key starts with the store's prefix, ``shipyard:`` unless the URL
says ``?prefix=...``):

- ``{prefix}row:{view}:{entity_key}``: the record, a string
  ``"{event_us} {created_us or -} {written_us} {values}"`` (times in µs since
  the epoch, ``values`` a JSON object from feature name to value);
- ``{prefix}views``: a hash from view name to ``{"join_keys": ..., "features": ...}``;
- ``{prefix}checkpoint:{view}``: a running materialization's progress (JSON);
- ``{prefix}intervals:{view}``: a hash from ``"{start_us}:{end_us}"`` to
  ``{"rows": ..., "completed_us": ...}``, the completed intervals.

View names are Shipyard names (no ``:``), so a view's row keys are exactly the
keys under ``{prefix}row:{view}:``.

A write is one Lua script: Redis runs it without interleaving any other
command, so the rows and the checkpoint land together and a client that dies
mid-write leaves nothing half done. Redis is busy for the whole script (a few
microseconds per row), so a large chunk delays other clients' commands that
long: keep ``chunk_rows`` moderate on a Redis that also serves. A read is one
GET, or one MGET for many keys. One string per record (rather than a hash
field per feature) keeps both the script and the reads to one operation per
entity. The client (redis-py) is thread-safe: each command borrows a pooled
connection.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis

from shipyard.errors import BackendUnavailable, InvalidConfig
from shipyard.stores.online.base import (
    EntityKey,
    MaterializeCheckpoint,
    MaterializedInterval,
    OnlineRow,
    OnlineStore,
    check_read_args,
    check_view,
    checkpoint_from_json,
    checkpoint_to_json,
    encode_entity_key,
    encode_rows,
    from_us,
    has_mappings,
    key_values,
    loads_value,
    now_us,
    to_us,
)

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_PREFIX = "shipyard:"
CONNECT_TIMEOUT_SECONDS = 5
COMMAND_TIMEOUT_SECONDS = 60  # a large write script may take a while

# KEYS: checkpoint key, views key, then one row key per row.
# ARGV: checkpoint JSON or "", view, view JSON, then one record per row.
# Newer wins by (event, created); no created time ("-") loses to any; equal is not newer.
_WRITE_SCRIPT = """
local function times(record)
  local event, created = string.match(record, '^(%-?%d+) (%S+)')
  return tonumber(event), tonumber(created)
end
local changed = 0
for i = 3, #KEYS do
  local record = ARGV[i + 1]
  local old = redis.call('GET', KEYS[i])
  local newer = true
  if old then
    local event, created = times(record)
    local old_event, old_created = times(old)
    if event < old_event then
      newer = false
    elseif event == old_event then
      newer = created ~= nil and (old_created == nil or created > old_created)
    end
  end
  if newer then
    redis.call('SET', KEYS[i], record)
    changed = changed + 1
  end
end
if ARGV[1] ~= '' then
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return changed
"""


def parse_redis_url(url: str) -> tuple[str, str]:
    """The URL for redis-py and the key prefix (``?prefix=`` removed from the URL)."""
    parts = urlsplit(url)
    database = parts.path.strip("/")
    if database and not database.isdigit():
        raise InvalidConfig(
            f"online_url {_safe_url(url)!r} names Redis database {database!r}; "
            "a database is a number.",
            hint="Use redis://HOST:PORT/DB, for example redis://127.0.0.1:6379/0.",
        )
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefixes = [value for name, value in query if name == "prefix"]
    rest = [(name, value) for name, value in query if name != "prefix"]
    prefix = prefixes[-1] if prefixes else DEFAULT_PREFIX
    return urlunsplit(parts._replace(query=urlencode(rest))), prefix


def _safe_url(url: str) -> str:
    """``url`` without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


class RedisOnlineStore(OnlineStore):
    """Online features in a Redis database; opening checks that the server answers."""

    backend = "redis"

    def __init__(self, url: str) -> None:
        client_url, self._prefix = parse_redis_url(url)
        self._url = _safe_url(url)
        try:
            self._client = redis.Redis.from_url(
                client_url,
                socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
                socket_timeout=COMMAND_TIMEOUT_SECONDS,
            )
        except ValueError as exc:
            raise InvalidConfig(
                f"online_url {self._url!r} is not a valid Redis URL: {exc}.",
                hint="Use redis://HOST:PORT/DB or rediss://HOST:PORT/DB.",
            ) from None
        self._write_script = self._client.register_script(_WRITE_SCRIPT)
        self._join_keys: dict[str, tuple[str, ...]] = {}
        with self._errors():
            self._client.ping()

    @property
    def location(self) -> str:
        return self._url

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as exc:
            raise self._unavailable(exc) from None

    def _unavailable(self, exc: BaseException) -> BackendUnavailable:
        return BackendUnavailable(
            f"The online store at {self._url} cannot be used: {exc}",
            hint="Check that Redis runs there and that online_url (host, port, password) is right.",
        )

    # -- keys ----------------------------------------------------------------------

    def _row_key(self, view: str, entity_key: str) -> str:
        return f"{self._prefix}row:{view}:{entity_key}"

    def _views_key(self) -> str:
        return f"{self._prefix}views"

    def _checkpoint_key(self, view: str) -> str:
        return f"{self._prefix}checkpoint:{view}"

    def _intervals_key(self, view: str) -> str:
        return f"{self._prefix}intervals:{view}"

    # -- writes --------------------------------------------------------------------

    def write(
        self,
        view: str,
        table: pa.Table | pa.RecordBatch,
        *,
        join_keys: Sequence[str],
        event_timestamp: str,
        features: Sequence[str],
        created_timestamp: str | None = None,
        checkpoint: MaterializeCheckpoint | None = None,
    ) -> int:
        check_view(view)
        rows = encode_rows(
            table,
            join_keys=join_keys,
            event_timestamp=event_timestamp,
            features=features,
            created_timestamp=created_timestamp,
        )
        written_us = now_us()
        keys = [self._checkpoint_key(view), self._views_key()]
        keys.extend(self._row_key(view, key) for key in rows.keys)
        args = ["" if checkpoint is None else checkpoint_to_json(checkpoint, written_us), view]
        args.append(json.dumps({"join_keys": list(join_keys), "features": list(features)}))
        for event, created, values in zip(
            rows.event_us, rows.created_us, rows.objects(features), strict=True
        ):
            args.append(f"{event} {'-' if created is None else created} {written_us} {values}")
        with self._errors():
            changed = int(self._write_script(keys=keys, args=args))
        self._join_keys[view] = tuple(join_keys)
        return changed

    def finish_materialization(
        self,
        view: str,
        start: datetime,
        end: datetime,
        rows: int,
        last_event: datetime | None = None,
    ) -> None:
        check_view(view)
        field = f"{to_us(start)}:{to_us(end)}"
        last_us = None if last_event is None else to_us(last_event)
        value = json.dumps({"rows": rows, "completed_us": now_us(), "last_event_us": last_us})
        with self._errors():
            pipe = self._client.pipeline(transaction=True)
            pipe.hset(self._intervals_key(view), field, value)
            pipe.delete(self._checkpoint_key(view))
            pipe.execute()

    def delete_view(self, view: str) -> int:
        """Remove the view's keys (SCAN, then UNLINK in batches); concurrent writes may race it."""
        check_view(view)
        pattern = _glob_escape(self._row_key(view, "")) + "*"
        deleted = 0
        with self._errors():
            batch: list[bytes] = []
            for key in self._client.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    deleted += int(self._client.unlink(*batch))
                    batch.clear()
            if batch:
                deleted += int(self._client.unlink(*batch))
            pipe = self._client.pipeline(transaction=True)
            pipe.delete(self._checkpoint_key(view), self._intervals_key(view))
            pipe.hdel(self._views_key(), view)
            pipe.execute()
        self._join_keys.pop(view, None)
        return deleted

    # -- reads ---------------------------------------------------------------------

    def read(
        self,
        view: str,
        entity_keys: Sequence[EntityKey],
        features: Sequence[str],
        *,
        join_keys: Sequence[str] | None = None,
    ) -> list[OnlineRow | None]:
        check_read_args(entity_keys, features)
        order = join_keys
        if order is None and has_mappings(entity_keys):
            order = self._stored_join_keys(view)
        keys = [encode_entity_key(key_values(key, order, view=view)) for key in entity_keys]
        found: list[Any] = []
        try:
            if len(keys) == 1:
                found = [self._client.get(self._row_key(view, keys[0]))]
            elif keys:
                found = self._client.mget([self._row_key(view, key) for key in keys])
        except redis.RedisError as exc:
            raise self._unavailable(exc) from None
        return [_online_row(record, features) for record in found]

    def _stored_join_keys(self, view: str) -> tuple[str, ...] | None:
        if view not in self._join_keys:
            with self._errors():
                found = self._client.hget(self._views_key(), view)
            if found is None:
                return None
            self._join_keys[view] = tuple(json.loads(found)["join_keys"])
        return self._join_keys[view]

    def get_checkpoint(self, view: str) -> MaterializeCheckpoint | None:
        with self._errors():
            found = self._client.get(self._checkpoint_key(view))
        return None if found is None else checkpoint_from_json(found)

    def materialized_intervals(self, view: str) -> list[MaterializedInterval]:
        with self._errors():
            found = self._client.hgetall(self._intervals_key(view))
        intervals = []
        for field, value in found.items():
            start, end = (int(part) for part in _text(field).split(":"))
            data = json.loads(value)
            intervals.append(
                MaterializedInterval(
                    from_us(start),
                    from_us(end),
                    data["rows"],
                    from_us(data["completed_us"]),
                    None if data.get("last_event_us") is None else from_us(data["last_event_us"]),
                )
            )
        return sorted(intervals, key=lambda i: (i.start, i.end))

    def views(self) -> list[str]:
        with self._errors():
            names = self._client.hkeys(self._views_key())
        return sorted(_text(name) for name in names)

    def close(self) -> None:
        self._client.close()


def _online_row(record: bytes | None, features: Sequence[str]) -> OnlineRow | None:
    if record is None:
        return None
    event, created, written, text = record.split(b" ", 3)
    stored = loads_value(text)
    return OnlineRow(
        values={name: stored.get(name) for name in features},
        event_timestamp=from_us(int(event)),
        created_timestamp=None if created == b"-" else from_us(int(created)),
        written_at=from_us(int(written)),
    )


def _text(reply: bytes | str) -> str:
    """A reply as text (the client returns bytes; its type hints allow str)."""
    return reply.decode() if isinstance(reply, bytes) else reply


def _glob_escape(text: str) -> str:
    """``text`` matched literally by a Redis MATCH pattern."""
    return re.sub(r"([\\*?\[\]])", r"\\\1", text)
