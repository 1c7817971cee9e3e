"""Load a pipeline from a file: a Python module that defines ``pipeline``, or a YAML file.

``PIPELINE.py`` is executed as a module and must define a module-level
``pipeline`` (a :class:`~shipyard.pipeline.Pipeline`). Its folder is put first
on ``sys.path`` (and left there), so it and its steps can import modules next
to it, as ``python PIPELINE.py`` would. It is registered under its file name when that
name is free (so objects pickled from classes it defines can be read back in
the same process and wherever that file is importable), else under a private
name. The source that was executed is what the step code hashes read, even if
the file changes on disk afterwards.

``pipeline.yaml`` (or ``.yml``) is the standard training pipeline configured by
YAML: it is handed to ``shipyard.pipeline.standard.from_yaml``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import linecache
import sys
import types
from pathlib import Path

from shipyard.errors import InvalidInput, ShipyardError
from shipyard.pipeline.graph import Pipeline

STANDARD_MODULE = "shipyard.pipeline.standard"


def load_pipeline(path: str | Path) -> Pipeline:
    """The pipeline defined by ``path`` (.py, .yaml or .yml)."""
    source = Path(path).expanduser().resolve()
    if not source.is_file():
        raise InvalidInput(f"No pipeline file at {source}.", hint="Pass a .py or .yaml file.")
    suffix = source.suffix.lower()
    if suffix == ".py":
        return _from_python(source)
    if suffix in (".yaml", ".yml"):
        return _from_yaml(source)
    raise InvalidInput(
        f"{source.name} is neither a Python nor a YAML file.",
        hint="A pipeline is a .py file defining `pipeline`, or a pipeline.yaml.",
    )


def _from_python(path: Path) -> Pipeline:
    text = _read(path)
    module = types.ModuleType(_module_name(path))
    module.__file__ = str(path)
    _remember_source(path, text)
    sys.modules[module.__name__] = module
    try:
        _execute(module, text, path)
    except BaseException:
        sys.modules.pop(module.__name__, None)
        raise
    found = getattr(module, "pipeline", None)
    if not isinstance(found, Pipeline):
        raise InvalidInput(
            f"{path.name} defines no module-level `pipeline` (a shipyard.pipeline.Pipeline).",
            hint="End the file with: pipeline = Pipeline('name', steps=[...], params={...})",
        )
    if found.source is None:
        found.source = path
    return found


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Cannot read {path}: {exc}.") from None


def _module_name(path: Path) -> str:
    """The file's stem when no other module has it, else a private name unique to the path."""
    stem = path.stem
    existing = sys.modules.get(stem)
    if stem.isidentifier() and (
        existing is None or getattr(existing, "__file__", None) == str(path)
    ):
        return stem
    return f"_shipyard_pipeline_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"


def _remember_source(path: Path, text: str) -> None:
    # inspect.getsource reads linecache; an entry without a modification time is never
    # refreshed from disk, so step code hashes match the code that actually runs.
    linecache.cache[str(path)] = (len(text), None, text.splitlines(True), str(path))


def _execute(module: types.ModuleType, text: str, path: Path) -> None:
    folder = str(path.parent)
    if folder not in sys.path:  # kept: steps may import their neighbours when they run
        sys.path.insert(0, folder)
    try:
        code = compile(text, str(path), "exec")
        exec(code, module.__dict__)
    except ShipyardError:
        raise  # an invalid graph already says what is wrong
    except SyntaxError as exc:
        raise InvalidInput(
            f"{path.name}, line {exc.lineno}: {exc.msg}.", hint="Fix the pipeline file."
        ) from None
    except Exception as exc:
        raise InvalidInput(
            f"Loading {path.name} failed: {type(exc).__name__}: {exc}",
            hint=f"Run `python {path.name}` to see the traceback.",
        ) from exc


def _from_yaml(path: Path) -> Pipeline:
    try:
        standard = importlib.import_module(STANDARD_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != STANDARD_MODULE:
            raise
        raise InvalidInput(
            f"{path.name} is a YAML pipeline, but the standard pipeline is not available "
            "in this Shipyard.",
            hint="Define the pipeline in a .py file instead, or upgrade Shipyard.",
        ) from None
    pipeline = standard.from_yaml(path)
    if not isinstance(pipeline, Pipeline):
        raise InvalidInput(f"{STANDARD_MODULE}.from_yaml did not return a Pipeline.")
    if pipeline.source is None:
        pipeline.source = path
    return pipeline
