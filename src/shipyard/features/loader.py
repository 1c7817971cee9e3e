"""Read feature definitions from a folder: YAML files and Python modules.

A YAML file holds lists under ``entities``, ``views`` and ``services`` (any may
be left out). A Python file is run and every Entity, FeatureView and
FeatureService bound at its top level is taken, as Feast users expect.
Python definitions are code: only apply folders you trust.
"""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import yaml

from shipyard.errors import InvalidInput, ShipyardError
from shipyard.features.definitions import Definition, Entity, FeatureService, FeatureView, from_dict
from shipyard.yaml_errors import yaml_problem

_SECTIONS = {"entities": "entity", "views": "view", "services": "service"}


def load_definitions(path: str | Path) -> list[Definition]:
    """Every definition in ``path`` (a folder, or one .yaml/.yml/.py file), in file order."""
    root = Path(path)
    if not root.exists():
        raise InvalidInput(
            f"No such file or folder: {root}.", hint="Pass the folder with your definitions."
        )
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    found: list[Definition] = []
    for file in files:
        if file.suffix in (".yaml", ".yml"):
            found.extend(_from_yaml(file))
        elif file.suffix == ".py" and not file.name.startswith("_"):
            found.extend(_from_python(file))
    if not found:
        raise InvalidInput(
            f"No feature definitions found in {root}.",
            hint="Put YAML files with entities/views/services lists, or Python files, there.",
        )
    return found


def _from_yaml(file: Path) -> list[Definition]:
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{file} is not valid YAML: {yaml_problem(exc)}") from None
    if not isinstance(document, dict):
        raise InvalidInput(f"{file} must hold a mapping with entities, views and/or services.")
    unknown = sorted(set(document) - set(_SECTIONS))
    if unknown:
        raise InvalidInput(
            f"{file}: unknown section(s) {unknown}.", hint="Use entities, views and services."
        )
    definitions: list[Definition] = []
    for section, kind in _SECTIONS.items():
        for item in document.get(section) or []:
            try:
                definitions.append(from_dict(kind, item))
            except InvalidInput as exc:
                raise InvalidInput(f"{file}: {exc.message}", hint=exc.hint) from None
    return definitions


def _from_python(file: Path) -> list[Definition]:
    try:
        namespace: dict[str, Any] = runpy.run_path(str(file))
    except ShipyardError as exc:
        raise InvalidInput(f"{file}: {exc.message}", hint=exc.hint) from None
    except Exception as exc:  # the user's module failed: say where, without our traceback
        raise InvalidInput(f"{file} failed to run: {type(exc).__name__}: {exc}") from None
    kinds = (Entity, FeatureView, FeatureService)
    return [value for value in namespace.values() if isinstance(value, kinds)]
