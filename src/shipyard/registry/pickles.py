"""Pickles for models no safe format can hold, and what loading one may import.

:func:`pickle_globals` lists every ``module:name`` a pickle imports when it is
loaded, read from its opcodes without loading it. Every one is checked against
the deny list of :mod:`shipyard.registry.pickle_policy` when a model is
registered (:func:`refuse_denied_imports`) and before a pickle is loaded
(:func:`load_pickle`); the package records the list, and loading resolves only
those names, checking each one again as it resolves. None of this makes a
pickle safe (see :mod:`shipyard.registry.flavors` for the trust model): it
refuses the known ways to abuse one before any of its code runs.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import types
from collections.abc import Sequence
from typing import Any

from shipyard.errors import IntegrityError, InvalidInput
from shipyard.registry.pickle_policy import refusal

_STRINGS = frozenset({"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"})
_MARK = object()  # a MARK on the simulated stack


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
    """Every ``module:name`` a pickle imports when it is loaded, sorted.

    The unpickler's stack is simulated (strings and memo entries only), so an import
    whose name the pickle would compute while loading is refused rather than missed.
    """
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    found: set[str] = set()
    for opcode, arg, _ in _opcodes(data):
        name = opcode.name
        if name == "MEMOIZE":
            memo[len(memo)] = stack[-1] if stack else None
            continue
        if name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[int(str(arg))] = stack[-1] if stack else None
            continue
        if name == "STACK_GLOBAL":
            found.add(_stack_global(stack))
        elif name in ("GLOBAL", "INST"):
            module, _, attr = str(arg).partition(" ")
            found.add(f"{module}:{attr}")
        elif name in ("EXT1", "EXT2", "EXT4"):
            raise _unreadable("imports through the copyreg extension registry")
        pushed: list[Any] = [None] * len(opcode.stack_after)
        if name in _STRINGS:
            pushed = [arg]
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            pushed = [memo.get(int(str(arg)))]
        elif name == "DUP":
            pushed = [stack[-1], stack[-1]] if stack else [None, None]
        elif name == "MARK":
            pushed = [_MARK]
        _pop(stack, opcode.stack_before)
        stack.extend(pushed)
    return sorted(found)


def refuse_denied_imports(imports: Sequence[str], *, registering: bool) -> None:
    """Raise if any ``module:name`` is on the deny list: InvalidInput when ``registering``
    a model, IntegrityError when loading a stored pickle."""
    refused = []
    for ref in imports:
        module, _, name = ref.partition(":")
        reason = refusal(module, name)
        if reason is not None:
            refused.append(f"{ref} ({reason})")
    if not refused:
        return
    listed = ", ".join(refused)
    if registering:
        raise InvalidInput(
            f"The model's pickle imports {listed}, which Shipyard refuses: it is not "
            "registered, and the pickle was never loaded.",
            hint="Remove what references it from the model (often a __reduce__ that returns "
            "a function, or an attribute holding one; rename a module of yours that shares a "
            "name with a refused one), or register a scikit-learn, XGBoost or LightGBM model, "
            "which are stored without pickle.",
        )
    raise _refused(listed)


class _CheckedUnpickler(pickle.Unpickler):
    """Resolves only what the package recorded, and nothing on the deny list."""

    def __init__(self, data: bytes, allowed: frozenset[str]) -> None:
        # fix_imports=False: Python 2 names (__builtin__) must not be renamed past the checks.
        super().__init__(io.BytesIO(data), fix_imports=False)
        self._allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        ref = f"{module}:{name}"
        reason = refusal(module, name)
        if reason is not None:
            raise _refused(f"{ref} ({reason})")
        if ref not in self._allowed:
            raise IntegrityError(
                f"The pickled model references {module}.{name}, which its package did not "
                "record. It is not loaded.",
                hint="The file does not match its manifest; register the model again.",
            )
        found = super().find_class(module, name)
        # What the name resolves to is checked too: logging:os.system is posix:system.
        if isinstance(found, types.ModuleType):
            raise _refused(f"{ref} (it is the module {found.__name__})")
        real = _defined_as(found)
        if real is not None:
            real_reason = refusal(*real)
            if real_reason is not None:
                raise _refused(f"{ref}, which is {real[0]}:{real[1]} ({real_reason})")
        return found


def load_pickle(data: bytes, allowed: Sequence[str]) -> Any:
    """Unpickle verified bytes: nothing on the deny list, only the recorded globals."""
    refuse_denied_imports(pickle_globals(data), registering=False)
    return _CheckedUnpickler(data, frozenset(allowed)).load()


def load_checked_pickle(data: bytes) -> Any:
    """Unpickle bytes Shipyard wrote itself (step values, experiment recipes): the deny
    list still applies, so bytes swapped in the store cannot run a refused function."""
    return load_pickle(data, pickle_globals(data))


def _opcodes(data: bytes) -> list[tuple[Any, Any, Any]]:
    try:
        return list(pickletools.genops(data))
    except Exception as exc:  # genops raises ValueError and others on malformed bytes
        raise _unreadable(f"is not a readable pickle ({exc})") from None


def _pop(stack: list[Any], before: Sequence[Any]) -> None:
    """Remove what an opcode takes: items up to the last MARK, then the fixed ones."""
    count = len(before)
    if pickletools.markobject in before:
        count = before.index(pickletools.markobject)
        while stack and stack.pop() is not _MARK:
            pass
    del stack[max(len(stack) - count, 0) :]


def _stack_global(stack: list[Any]) -> str:
    module, name = (stack[-2], stack[-1]) if len(stack) >= 2 else (None, None)
    if not isinstance(module, str) or not isinstance(name, str):
        raise _unreadable("computes the name of something it imports")
    return f"{module}:{name}"


def _defined_as(found: Any) -> tuple[str, str] | None:
    """Where a function or class is defined (module, qualified name), if it says."""
    module = getattr(found, "__module__", None)
    qualname = getattr(found, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str):
        return module, qualname
    return None


def _refused(listed: str) -> IntegrityError:
    return IntegrityError(
        f"The package's pickle imports {listed}, which Shipyard refuses: the pickle was "
        "not loaded, and nothing in it was executed.",
        hint="Registration refuses such pickles, so this file was written some other way: "
        "do not use this package. Register the model again from its source.",
    )


def _unreadable(what: str) -> IntegrityError:
    return IntegrityError(
        f"The pickle {what}, so what it imports cannot be checked without running it. "
        "It is refused, and nothing in it was executed.",
        hint="Pickles Shipyard writes never do this: register the model again from its source.",
    )
