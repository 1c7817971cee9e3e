"""Settings, read in one place: overrides, then environment, then shipyard.toml, then defaults.

| setting        | environment variable    | default                              |
| -------------- | ----------------------- | ------------------------------------ |
| home           | SHIPYARD_HOME           | ./.shipyard                          |
| metadata_url   | SHIPYARD_METADATA_URL   | sqlite:///<home>/metadata.db         |
| artifact_url   | SHIPYARD_ARTIFACT_URL   | <home>/artifacts (any fsspec URL)    |
| online_url     | SHIPYARD_ONLINE_URL     | sqlite:///<home>/online.db           |
| principal      | SHIPYARD_PRINCIPAL      | the operating-system user            |
| max_request_bytes | SHIPYARD_MAX_REQUEST_BYTES | 1 MiB (1048576); also ``512KiB``, ``4MiB`` |
| max_request_items | SHIPYARD_MAX_REQUEST_ITEMS | 10000 (HTTP: list items; entities x features) |
| max_async_request_bytes | SHIPYARD_MAX_ASYNC_REQUEST_BYTES | 1 GiB: an async invocation's body |
| build_id       | SHIPYARD_BUILD_ID       | none (the pipeline makes one)        |
| data_roots     | SHIPYARD_DATA_ROOTS     | the folder holding <home>            |

The file is ``SHIPYARD_CONFIG`` if set, else ``./shipyard.toml`` if present,
else ``<home>/shipyard.toml`` if present. Its keys are the names in the first
column, at the top level; unknown keys are refused. Relative paths in the file
are relative to the file's folder. ``data_roots`` lists the folders whose
Parquet files feature sources may read (separated by ``os.pathsep`` in the
environment, a list in the file).

Nothing else in Shipyard reads ``os.environ`` for its own settings.
"""

from __future__ import annotations

import getpass
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidConfig

ENV_PREFIX = "SHIPYARD_"
CONFIG_FILE_NAME = "shipyard.toml"

METADATA_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg", "postgres")
ONLINE_SCHEMES = ("sqlite", "redis", "rediss")

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")

# 1 MiB holds 10,000 entities of ~100 bytes; parsed, a body takes ~50x its size in memory.
DEFAULT_MAX_REQUEST_BYTES = 1 << 20
DEFAULT_MAX_REQUEST_ITEMS = 10_000
# An async invocation's body is streamed to the artifact store, never held in memory.
DEFAULT_MAX_ASYNC_REQUEST_BYTES = 1 << 30


@dataclass(frozen=True)
class Settings:
    """Validated settings of one workspace. Build it with :func:`load_settings`."""

    home: Path
    metadata_url: str
    artifact_url: str
    online_url: str
    principal: str
    build_id: str | None = None
    data_roots: tuple[Path, ...] = ()
    config_file: Path | None = None
    # What one HTTP request may ask of the server (see api/limits.py).
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_request_items: int = DEFAULT_MAX_REQUEST_ITEMS
    max_async_request_bytes: int = DEFAULT_MAX_ASYNC_REQUEST_BYTES

    @property
    def is_embedded(self) -> bool:
        """True when metadata lives in a SQLite file or memory (the laptop default)."""
        return self.metadata_url.startswith("sqlite")


_KEYS = tuple(f.name for f in fields(Settings) if f.name != "config_file")
_SIZE = re.compile(r"^\s*(\d+)\s*(KiB|MiB|GiB)?\s*$")
_SIZE_UNITS = {None: 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


@dataclass(frozen=True)
class _Value:
    value: Any
    source: str  # where it came from, for error messages
    base: Path  # folder that relative paths are relative to


def load_settings(
    home: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    **overrides: Any,
) -> Settings:
    """Read and validate settings.

    >>> s = load_settings(home="/tmp/ws", env={})
    >>> s.metadata_url
    'sqlite:////tmp/ws/metadata.db'
    """
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    unknown = sorted(set(overrides) - set(_KEYS))
    if unknown:
        raise InvalidConfig(
            f"Unknown setting {', '.join(map(repr, unknown))}.",
            hint=f"Known settings: {', '.join(_KEYS)}.",
        )
    raw: dict[str, _Value] = {}
    for key, value in overrides.items():
        if value is not None:
            raw[key] = _Value(value, f"argument {key}=", cwd)
    if home is not None:
        raw["home"] = _Value(home, "argument home=", cwd)
    for key in _KEYS:
        name = ENV_PREFIX + key.upper()
        if key not in raw and env.get(name):
            raw[key] = _Value(env[name], f"environment variable {name}", cwd)

    config_file = _find_config_file(env, cwd, raw)
    if config_file is not None:
        for key, value in _read_config_file(config_file).items():
            raw.setdefault(key, _Value(value, f"'{key}' in {config_file}", config_file.parent))
    return _validate(raw, cwd, config_file)


def _find_config_file(env: Mapping[str, str], cwd: Path, raw: dict[str, _Value]) -> Path | None:
    explicit = env.get(ENV_PREFIX + "CONFIG")
    if explicit:
        path = (cwd / explicit).resolve()
        if not path.is_file():
            raise InvalidConfig(
                f"SHIPYARD_CONFIG points to {path}, which is not a file.",
                hint="Create the file or unset SHIPYARD_CONFIG.",
            )
        return path
    local = cwd / CONFIG_FILE_NAME
    if local.is_file():
        return local.resolve()
    if "home" in raw:
        in_home = _as_path(raw["home"]) / CONFIG_FILE_NAME
    else:
        in_home = cwd / ".shipyard" / CONFIG_FILE_NAME
    return in_home.resolve() if in_home.is_file() else None


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidConfig(
            f"{path} is not valid TOML: {exc}.", hint="Fix the file or remove it."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidConfig(f"Cannot read {path}: {exc}.") from None
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise InvalidConfig(
            f"{path} has unknown key(s) {', '.join(map(repr, unknown))}.",
            hint=f"Known keys: {', '.join(_KEYS)}.",
        )
    return data


def _as_path(item: _Value) -> Path:
    if not isinstance(item.value, str | os.PathLike) or not str(item.value).strip():
        raise InvalidConfig(f"{item.source} must be a folder path, got {item.value!r}.")
    return (item.base / Path(item.value).expanduser()).resolve()


def _validate(raw: dict[str, _Value], cwd: Path, config_file: Path | None) -> Settings:
    home = _as_path(raw["home"]) if "home" in raw else (cwd / ".shipyard").resolve()
    metadata_url = (
        _metadata_url(raw["metadata_url"])
        if "metadata_url" in raw
        else f"sqlite:///{home / 'metadata.db'}"
    )
    artifact_url = (
        _artifact_url(raw["artifact_url"]) if "artifact_url" in raw else str(home / "artifacts")
    )
    online_url = (
        _online_url(raw["online_url"]) if "online_url" in raw else f"sqlite:///{home / 'online.db'}"
    )
    principal = _text(raw["principal"]) if "principal" in raw else _os_user()
    max_bytes = (
        _count(raw["max_request_bytes"], sizes=True)
        if "max_request_bytes" in raw
        else DEFAULT_MAX_REQUEST_BYTES
    )
    max_items = (
        _count(raw["max_request_items"])
        if "max_request_items" in raw
        else DEFAULT_MAX_REQUEST_ITEMS
    )
    max_async_bytes = (
        _count(raw["max_async_request_bytes"], sizes=True)
        if "max_async_request_bytes" in raw
        else DEFAULT_MAX_ASYNC_REQUEST_BYTES
    )
    build_id = _text(raw["build_id"]) if "build_id" in raw else None
    data_roots = _folders(raw["data_roots"]) if "data_roots" in raw else (home.parent,)
    return Settings(
        home=home,
        metadata_url=metadata_url,
        artifact_url=artifact_url,
        online_url=online_url,
        principal=principal,
        build_id=build_id,
        data_roots=data_roots,
        config_file=config_file,
        max_request_bytes=max_bytes,
        max_request_items=max_items,
        max_async_request_bytes=max_async_bytes,
    )


def _scheme(item: _Value) -> tuple[str, str]:
    if not isinstance(item.value, str) or not item.value.strip():
        raise InvalidConfig(f"{item.source} must be a URL string, got {item.value!r}.")
    url = item.value.strip()
    match = _SCHEME.match(url)
    return (match.group(1).lower() if match else ""), url


def _metadata_url(item: _Value) -> str:
    scheme, url = _scheme(item)
    if scheme not in METADATA_SCHEMES:
        raise InvalidConfig(
            f"{item.source} has unknown URL scheme {scheme or '(none)'!r} in {url!r}.",
            hint="Use sqlite:///PATH for a file, sqlite:// for memory, or "
            "postgresql+psycopg://USER:PASS@HOST:PORT/DB.",
        )
    if scheme == "sqlite":
        return _sqlite_url(url, item.base)
    # Plain postgresql:// would ask SQLAlchemy for psycopg2; Shipyard speaks psycopg 3.
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def _artifact_url(item: _Value) -> str:
    scheme, url = _scheme(item)
    if not scheme or scheme == "file" or re.match(r"^[A-Za-z]:[\\/]", url):
        local = url[len("file://") :] if scheme == "file" else url
        return str((item.base / Path(local).expanduser()).resolve())
    from fsspec.registry import known_implementations, registry

    if scheme not in known_implementations and scheme not in registry:
        raise InvalidConfig(
            f"{item.source} has unknown URL scheme {scheme!r} in {url!r}.",
            hint="Use a folder path or an fsspec URL such as s3://bucket/prefix, "
            "gs://bucket/prefix or memory://name.",
        )
    return url


def _online_url(item: _Value) -> str:
    scheme, url = _scheme(item)
    if scheme not in ONLINE_SCHEMES:
        raise InvalidConfig(
            f"{item.source} has unknown URL scheme {scheme or '(none)'!r} in {url!r}.",
            hint="Use sqlite:///PATH or redis://HOST:PORT/DB.",
        )
    return _sqlite_url(url, item.base) if scheme == "sqlite" else url


def _sqlite_url(url: str, base: Path) -> str:
    """Make sqlite:///relative.db relative to where the setting came from."""
    path = url[len("sqlite:///") :]
    if not url.startswith("sqlite:///") or not path or path.startswith("/") or path == ":memory:":
        return url
    return f"sqlite:///{(base / path).resolve()}"


def _folders(item: _Value) -> tuple[Path, ...]:
    value = item.value
    parts = value.split(os.pathsep) if isinstance(value, str) else value
    if not isinstance(parts, list | tuple) or not all(isinstance(p, str) and p for p in parts):
        raise InvalidConfig(
            f"{item.source} must be folder paths (a list, or joined by {os.pathsep!r}), "
            f"got {value!r}."
        )
    return tuple(_as_path(_Value(p, item.source, item.base)) for p in parts)


def _text(item: _Value) -> str:
    if not isinstance(item.value, str) or not item.value.strip():
        raise InvalidConfig(f"{item.source} must be a non-empty string, got {item.value!r}.")
    return item.value.strip()


def _count(item: _Value, *, sizes: bool = False) -> int:
    """A positive whole number; with ``sizes``, also text such as ``512KiB`` or ``4MiB``."""
    value = item.value
    match = _SIZE.match(value) if isinstance(value, str) else None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif match is not None and (sizes or match[2] is None):
        number = int(match[1]) * _SIZE_UNITS[match[2]]
    else:
        number = 0
    if number < 1:
        accepted = (
            "a number of bytes above 0 (such as 1048576 or 4MiB)"
            if sizes
            else "a whole number above 0"
        )
        raise InvalidConfig(f"{item.source} must be {accepted}, got {value!r}.")
    return number


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user database entry (some containers)
        return "local"
