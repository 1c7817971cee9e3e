"""Response models: the one place each JSON shape is defined, for the API and the CLI's --json.

A route declares one as its response model and returns ``Model.from_domain(obj)``;
the matching CLI command prints ``to_json(Model.from_domain(obj))``. Both come
out of the same model, so ``shipyard models show delay@3 --json`` and the API
answer the same JSON for the same version, and the OpenAPI document describes it.

One module per domain: ``health``, ``features``, ``models``, ``datasets``,
``quality``, ``runs``, ``lineage``, ``workspace``. To add one (``pipeline.py``,
``security.py``, ...):

1. Subclass :class:`Schema` (frozen; an unknown field is an error, so a shape
   changes only here). Name the class after what it is (``PipelineRun``), not
   after the layer; give it and its fields docstrings or descriptions, which
   become the OpenAPI document.
2. Write a ``from_domain(cls, obj)`` classmethod that reads the domain object's
   attributes; import the domain types under ``TYPE_CHECKING`` only, so
   importing a schema does not import its service (the CLI stays fast to start).
3. Times are :data:`Timestamp` (ISO 8601 with the offset, as ``isoformat()``
   writes it); values of no fixed type are ``JsonValue``, made JSON-safe with
   :func:`shipyard.jsonsafe.jsonable` first.
4. In the route: ``response_model=Model`` (FastAPI serializes it); in the CLI:
   ``typer.echo(to_json(Model.from_domain(obj)))`` inside the ``--json`` branch,
   importing the schema there.
5. Add the domain object to ``tests/api/test_schemas.py`` (CLI and API agree).
"""

from shipyard.api.schemas.base import Schema, Timestamp, to_json, to_jsonable

__all__ = ["Schema", "Timestamp", "to_json", "to_jsonable"]
