"""How step outputs are stored: one artifact per value, in a format chosen by its type.

| value                                         | format    | read back as          |
| --------------------------------------------- | --------- | --------------------- |
| pandas DataFrame (string column names)        | parquet   | pandas DataFrame      |
| pyarrow Table                                 | parquet   | pyarrow Table         |
| NumPy array (not of Python objects)           | npy       | NumPy array           |
| None, bool, int, float, str, and lists/dicts  | json      | the same value        |
|   (string keys) of those; finite floats only  |           |                       |
| anything else (tuples, sets, models, ...)     | pickle    | the same object       |

A value that its format cannot write (a DataFrame with integer column names, a
column of mixed Python objects) falls through to the next format, and in the
end to pickle. The digest of the stored bytes is the value's identity: it is
what downstream steps' cache keys are made of. Parquet, .npy and JSON of equal
values give equal bytes (with the same library versions), so a step that reruns
and produces the same value leaves its dependants cached.

Pickle trust model: unpickling runs code, so a pickle must come from someone
you trust. Shipyard unpickles only bytes read from the workspace's own
content-addressed artifact store, at a digest taken from the workspace's own
metadata store, and only after the bytes were verified to hash to that digest
(:meth:`ArtifactStore.get_file` refuses anything else). A pickle is therefore
exactly as trustworthy as the workspace's stores: whoever can write to both can
make a pipeline run code, just as they could change the pipeline itself. Never
point Shipyard at stores that people you do not trust can write to, and never
load a pickle by a digest that came from outside the workspace.
"""

from __future__ import annotations

import abc
import hashlib
import json
import math
import pickle
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import IntegrityError

if TYPE_CHECKING:
    from shipyard.stores.artifacts import ArtifactStore


@dataclass(frozen=True)
class StoredValue:
    """Where a value is stored and how to read it: the artifact digest and the format."""

    digest: str
    format: str
    type: str  # the Python type, for people reading the record
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "format": self.format, "type": self.type, "size": self.size}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StoredValue:
        return cls(str(data["digest"]), str(data["format"]), str(data["type"]), int(data["size"]))


class _Unsupported(Exception):
    """This format cannot write this value; try the next one."""


class Format(abc.ABC):
    """One way of writing values of some types to a file and reading them back."""

    name: str

    @abc.abstractmethod
    def accepts(self, value: Any) -> bool:
        """Whether this format is meant for ``value`` (it may still refuse in ``dump``)."""

    @abc.abstractmethod
    def dump(self, value: Any, path: Path) -> None:
        """Write ``value`` to ``path``, or raise _Unsupported."""

    @abc.abstractmethod
    def load(self, path: Path) -> Any:
        """Read the value back."""


class _PandasParquet(Format):
    name = "parquet"

    def accepts(self, value: Any) -> bool:
        return _is_instance(value, "pandas", "DataFrame")

    def dump(self, value: Any, path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not all(isinstance(c, str) for c in value.columns):
            raise _Unsupported("parquet needs string column names")
        try:
            table = pa.Table.from_pandas(value)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise _Unsupported(str(exc)) from None
        pq.write_table(table, path)

    def load(self, path: Path) -> Any:
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pandas()


class _ArrowParquet(Format):
    name = "parquet-arrow"

    def accepts(self, value: Any) -> bool:
        return _is_instance(value, "pyarrow", "Table")

    def dump(self, value: Any, path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            pq.write_table(value, path)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise _Unsupported(str(exc)) from None

    def load(self, path: Path) -> Any:
        import pyarrow.parquet as pq

        return pq.read_table(path)


class _Npy(Format):
    name = "npy"

    def accepts(self, value: Any) -> bool:
        return _is_instance(value, "numpy", "ndarray") and value.dtype.kind != "O"

    def dump(self, value: Any, path: Path) -> None:
        import numpy as np

        with path.open("wb") as handle:
            try:
                np.save(handle, value, allow_pickle=False)
            except ValueError as exc:
                raise _Unsupported(str(exc)) from None

    def load(self, path: Path) -> Any:
        import numpy as np

        return np.load(path, allow_pickle=False)


class _Json(Format):
    name = "json"

    def accepts(self, value: Any) -> bool:
        return _json_able(value)

    def dump(self, value: Any, path: Path) -> None:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        path.write_text(text, encoding="utf-8")

    def load(self, path: Path) -> Any:
        return json.loads(path.read_text(encoding="utf-8"))


class _Pickle(Format):
    name = "pickle"

    def accepts(self, value: Any) -> bool:
        return True

    def dump(self, value: Any, path: Path) -> None:
        with path.open("wb") as handle:
            pickle.dump(value, handle, protocol=5)

    def load(self, path: Path) -> Any:
        # These bytes were verified against a digest this workspace recorded; the deny
        # list is checked all the same (defence in depth against a swapped store).
        from shipyard.registry.pickles import load_checked_pickle

        return load_checked_pickle(path.read_bytes())


FORMATS: tuple[Format, ...] = (_PandasParquet(), _ArrowParquet(), _Npy(), _Json(), _Pickle())
_BY_NAME = {f.name: f for f in FORMATS}


def store_value(artifacts: ArtifactStore, value: Any, scratch: Path) -> StoredValue:
    """Write ``value`` in the first format that takes it and store the file as an artifact."""
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        path = Path(folder) / "value"
        chosen = _dump(value, path)
        stored = artifacts.put_file(path)
    return StoredValue(stored.digest, chosen.name, _type_name(value), stored.size)


def load_value(artifacts: ArtifactStore, stored: StoredValue, scratch: Path) -> Any:
    """Read a stored value back (verified against its digest before it is parsed)."""
    form = _BY_NAME.get(stored.format)
    if form is None:
        raise IntegrityError(
            f"Stored value sha256:{stored.digest} has unknown format {stored.format!r}.",
            hint="It was written by a newer Shipyard; upgrade to read it.",
        )
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        path = artifacts.get_file(stored.digest, Path(folder) / "value")
        return form.load(path)


def value_digest(value: Any) -> str:
    """The digest the value would have if stored (used for parameters, which are not stored)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "value"
        _dump(value, path)
        return _hash_file(path)


def _dump(value: Any, path: Path) -> Format:
    for form in FORMATS:
        if not form.accepts(value):
            continue
        try:
            form.dump(value, path)
        except _Unsupported:
            path.unlink(missing_ok=True)
            continue
        return form
    raise AssertionError("pickle accepts every value")  # pragma: no cover


def _json_able(value: Any) -> bool:
    """True for values JSON gives back unchanged: exact built-in types only (no tuples)."""
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is list:
        return all(_json_able(v) for v in value)
    if kind is dict:
        return all(type(k) is str and _json_able(v) for k, v in value.items())
    return False


def _is_instance(value: Any, module: str, name: str) -> bool:
    """isinstance without importing ``module`` when the value cannot be one of its types."""
    import sys

    loaded = sys.modules.get(module)
    cls = getattr(loaded, name, None) if loaded is not None else None
    return cls is not None and isinstance(value, cls)


def _type_name(value: Any) -> str:
    kind = type(value)
    return (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
