"""Pickles for models no safe format can hold, and what loading one may import.

:func:`pickle_globals` lists every ``module:name`` a pickle imports when it is
loaded (read from its opcodes, without loading it); the package records that
list, and :func:`load_pickle` resolves only those names. This is defence in
depth: a pickle is read only from the workspace's verified artifact store (see
:mod:`shipyard.registry.flavors` for the trust model).
"""

from __future__ import annotations

import io
import pickle
import pickletools
from collections.abc import Sequence
from typing import Any

from shipyard.errors import IntegrityError, InvalidInput


def dump_pickle(model: Any) -> bytes:
    """``model`` pickled (protocol 5); InvalidInput if it cannot be."""
    try:
        return pickle.dumps(model, protocol=5)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise InvalidInput(
            f"The {type(model).__name__} cannot be pickled: {exc}.",
            hint="Define its class and functions at module level (not inside a function, "
            "and no lambdas).",
        ) from None


def pickle_globals(data: bytes) -> list[str]:
    """Every ``module:name`` a pickle imports when it is loaded, sorted."""
    memo: dict[int, Any] = {}
    pushed: list[Any] = []  # what each op pushed: a string, or None for anything else
    found: set[str] = set()
    for opcode, arg, _ in pickletools.genops(data):
        name = opcode.name
        if name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"):
            pushed.append(arg)
        elif name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[int(str(arg))] = pushed[-1] if pushed else None
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            pushed.append(memo.get(int(str(arg))))
        elif name == "STACK_GLOBAL":
            found.add(f"{pushed[-2]}:{pushed[-1]}")
            pushed.append(None)
        elif name in ("GLOBAL", "INST"):
            module, _, attr = str(arg).partition(" ")
            found.add(f"{module}:{attr}")
            pushed.append(None)
        elif opcode.stack_after:
            pushed.append(None)
    return sorted(found)


class _RecordedGlobalsOnly(pickle.Unpickler):
    """An unpickler that imports only the globals its package recorded."""

    def __init__(self, data: bytes, allowed: frozenset[str]) -> None:
        super().__init__(io.BytesIO(data))
        self._allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        if f"{module}:{name}" not in self._allowed:
            raise IntegrityError(
                f"The pickled model references {module}.{name}, which its package did not "
                "record. It is not loaded.",
                hint="The file does not match its manifest; register the model again.",
            )
        return super().find_class(module, name)


def load_pickle(data: bytes, allowed: Sequence[str]) -> Any:
    """Unpickle verified bytes, resolving only the recorded globals."""
    return _RecordedGlobalsOnly(data, frozenset(allowed)).load()
