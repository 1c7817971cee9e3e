"""Step caching: a step whose code and inputs are unchanged reuses its stored outputs.

**Code hash.** sha256 over the step's name, its output names, its ``version``
string, the source text of the function (or of the whole class, for a class
step), and the values the step is configured with that its source does not
show: a function's closure variables, a class step's instance attributes. Only
the step's *own* source counts: helper functions it calls, modules it imports
and module-level constants it reads are not hashed. When one of those changes
in a way that matters, bump the step's ``version`` (or run with caching off).
Configuration values are hashed as JSON when they are JSON-able, as their
qualified name when they are functions or classes, else as their pickle; a
value that cannot be pickled makes the step uncacheable rather than wrongly
cached, and so does a step whose source cannot be read (defined in an
interactive session).

**Input hash.** Each input's digest: for a step output, the digest of its
stored artifact; for a parameter, the digest its value would have if stored.
A step that asks for ``context`` can read every parameter through
``context.params``, so all parameters are part of its key. The build id is not
(a step that writes the build id into its outputs should set ``cache=False``).
Steps that read the outside world (files, tables, clocks) are cached on their
code and inputs only: pass what identifies the outside data (a dataset
version, a path and its modification time) as a parameter, or set
``cache=False``.

**Entries** are versions of kind ``pipeline_cache`` in the metadata store's
``versions`` table: name = the 64-hex cache key (a valid record name),
attributes = ``{"outputs": {name: {digest, format, type, size}}, "step",
"pipeline", "code_hash", "inputs", "build_id"}``, content hash = the hash of
the outputs. A lookup is one query for the key's versions; the newest whose
artifacts all still exist wins. Writing the same outputs for a key again
creates no new version.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import pickle
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.pipeline.values import StoredValue

if TYPE_CHECKING:
    from shipyard.pipeline.step import Step
    from shipyard.stores.artifacts import ArtifactStore
    from shipyard.stores.metadata.base import MetadataStore

CACHE_KIND = "pipeline_cache"
KEY_FORMAT = "shipyard.pipeline.cache.v1"


class Uncacheable(Exception):
    """The step's code cannot be hashed reliably, so it must not be cached."""


def code_hash(item: Step) -> str:
    """The step's code hash (see the module docstring); Uncacheable when there is none."""
    payload = {
        "name": item.name,
        "outputs": list(item.outputs),
        "version": item.version,
        "source": _source(item.code),
        "state": {key: _stable(value, key) for key, value in sorted(item.state.items())},
    }
    return _sha256_json(payload)


def cache_key(item: Step, code: str, inputs: Mapping[str, str]) -> str:
    """The key of a step's cache entry: its code hash and the digests of its inputs."""
    payload = {"format": KEY_FORMAT, "step": item.name, "code": code, "inputs": dict(inputs)}
    return _sha256_json(payload)


def _source(code: object) -> str:
    try:
        return textwrap.dedent(inspect.getsource(code))  # type: ignore[arg-type]
    except (OSError, TypeError) as exc:
        raise Uncacheable(f"its source cannot be read ({exc})") from None


def _stable(value: Any, name: str) -> str:
    """A text that is equal exactly when the value is, in every process."""
    try:
        return "json:" + json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        pass
    if callable(value) and hasattr(value, "__qualname__"):
        # Functions and classes count by name, like helper functions the step calls.
        return f"callable:{getattr(value, '__module__', '')}.{value.__qualname__}"
    try:  # faithful: different values never pickle alike (equal ones may not, which only misses)
        return "pickle:" + hashlib.sha256(pickle.dumps(value, protocol=5)).hexdigest()
    except Exception:
        raise Uncacheable(f"the value of {name!r} has no stable representation") from None


def _sha256_json(payload: Mapping[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class CacheHit:
    """A step's stored outputs, and the build that computed them."""

    outputs: dict[str, StoredValue]
    build_id: str | None


class StepCache:
    """Cache entries in the metadata store; the outputs themselves are artifacts."""

    def __init__(self, metadata: MetadataStore, artifacts: ArtifactStore, *, principal: str):
        self._metadata = metadata
        self._artifacts = artifacts
        self._principal = principal

    def lookup(self, key: str) -> CacheHit | None:
        """The stored outputs for ``key``, or None when there are none (or they are gone)."""
        for record in reversed(self._metadata.list_versions(CACHE_KIND, key)):
            outputs = {
                name: StoredValue.from_dict(data)
                for name, data in record.attributes.get("outputs", {}).items()
            }
            if all(self._artifacts.exists(v.digest) for v in outputs.values()):
                return CacheHit(outputs, record.attributes.get("build_id"))
        return None

    def store(
        self,
        key: str,
        outputs: Mapping[str, StoredValue],
        *,
        details: Mapping[str, Any],
    ) -> None:
        """Record ``outputs`` under ``key``; ``details`` (step, build id...) are kept alongside."""
        stored = {name: value.to_dict() for name, value in outputs.items()}
        self._metadata.create_version(
            CACHE_KIND,
            key,
            created_by=self._principal,
            content_hash=_sha256_json({"outputs": stored}),
            attributes={**details, "outputs": stored},
            reuse_same_content=True,
        )
