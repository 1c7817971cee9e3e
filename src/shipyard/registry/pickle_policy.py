"""What a pickled model may never import: a fixed deny list, checked before any pickle loads.

Loading a pickle calls whatever the pickle imports, with arguments the pickle
chooses, so a model whose ``__reduce__`` returns ``(os.system, ("...",))`` runs
that command every time it is loaded. Every import a pickle makes is therefore
read from its opcodes (:func:`shipyard.registry.pickles.pickle_globals`, which
loads nothing) and refused if it is on the list below: when a model is
registered, and again every time a package is loaded.

Entries
    ``module`` refuses the module and every submodule (``os`` covers ``os.path``).
    ``module:name`` refuses that name and anything reached through it
    (``builtins:getattr``; ``types:CodeType.replace``).

Besides the list, a name reached through a dunder attribute
(``SomeClass.__init__.__globals__``) is refused, and when a pickle is loaded,
so is whatever resolves to a module, or to a refused function under another
name (``logging:os.system`` is ``posix:system``).

The list refuses the known ways to run commands or code, reach arbitrary
attributes, write files, open connections, stop the interpreter or write to
Shipyard's stores. It cannot prove a pickle harmless: any function an
installed package exposes can be called by a pickle that imports it. That is
why loading a pickled package also needs ``trust=True``
(:meth:`shipyard.registry.service.ModelRegistry.load`).
"""

from __future__ import annotations

_DENIED_BY_REASON: dict[str, tuple[str, ...]] = {
    "it runs commands": (
        "os", "posix", "nt", "subprocess", "_posixsubprocess", "pty", "multiprocessing",
        "concurrent.futures.process", "asyncio", "signal", "commands",
    ),
    "it runs or imports code": (
        "builtins:eval", "builtins:exec", "builtins:compile", "builtins:__import__",
        "builtins:breakpoint", "builtins:input", "builtins:help",
        "pickle", "_pickle", "cPickle", "marshal", "shelve", "copyreg:add_extension",
        "__builtin__",  # Python 2's builtins, which an old unpickler renames
        "types:CodeType", "types:FunctionType", "types:MethodType", "types:LambdaType",
        "importlib", "_imp", "imp", "zipimport", "pkgutil", "pydoc", "runpy",
        "code", "codeop", "ctypes", "_ctypes", "cffi",
        "pdb", "bdb", "timeit", "trace", "profile", "cProfile", "doctest", "idlelib",
        "logging.config", "inspect", "dill", "cloudpickle", "joblib",
        "numpy:load", "numpy:loadtxt", "numpy:fromfile", "numpy.lib.npyio",
        "pandas:read_pickle", "pandas.io.pickle", "pandas:eval",
        "pandas.core.computation", "numexpr", "setuptools", "distutils", "pip",
        "antigravity", "this",
    ),
    "it reaches arbitrary attributes": (
        "builtins:getattr", "builtins:setattr", "builtins:delattr", "builtins:globals",
        "builtins:locals", "builtins:vars", "operator:attrgetter", "operator:methodcaller",
        "_operator:attrgetter", "_operator:methodcaller",
    ),
    "it reads or writes files": (
        "builtins:open", "io:open", "io:open_code", "io:FileIO", "_io", "pathlib",
        "tempfile", "shutil", "fileinput", "glob", "zipfile", "tarfile", "gzip:open",
        "bz2:open", "lzma:open", "codecs:open", "dbm", "sqlite3",
        "logging:FileHandler", "logging.handlers", "numpy:save", "numpy:savez",
        "numpy:savez_compressed", "numpy:savetxt", "numpy:memmap",
    ),
    "it opens network connections": (
        "socket", "_socket", "ssl", "select", "selectors", "http", "urllib", "ftplib",
        "smtplib", "poplib", "imaplib", "telnetlib", "xmlrpc", "socketserver", "webbrowser",
        "requests", "urllib3", "httpx", "aiohttp", "fsspec", "boto3", "botocore",
    ),
    "it controls the interpreter": (
        "sys", "gc", "atexit", "threading", "_thread", "faulthandler", "resource",
        "builtins:exit", "builtins:quit", "builtins:license", "builtins:credits",
        "builtins:copyright",
    ),
    # A model holds estimators and transformers (shipyard.training.features and the
    # experiments); nothing that reads settings or writes to a store.
    "it writes to Shipyard's stores": (
        "shipyard.api", "shipyard.cli", "shipyard.config", "shipyard.data",
        "shipyard.features", "shipyard.lineage", "shipyard.pipeline", "shipyard.quickstart",
        "shipyard.registry", "shipyard.security", "shipyard.stores", "shipyard.workspace",
        "shipyard.training.runner", "shipyard.training.service",
        "shipyard.training.tracking",
    ),
}  # fmt: skip

DENIED: dict[str, str] = {
    entry: reason for reason, entries in _DENIED_BY_REASON.items() for entry in entries
}


def refusal(module: str, name: str) -> str | None:
    """Why a pickle may not import ``module:name`` ("it runs commands"), or None."""
    parts = module.split(".")
    for end in range(1, len(parts) + 1):
        reason = DENIED.get(".".join(parts[:end]))
        if reason is not None:
            return reason
    path = name.split(".")
    for end in range(1, len(path) + 1):
        reason = DENIED.get(f"{module}:{'.'.join(path[:end])}")
        if reason is not None:
            return reason
    if any(p.startswith("__") and p.endswith("__") and len(p) > 4 for p in path):
        return "it reaches Python internals through a dunder attribute"
    return None
