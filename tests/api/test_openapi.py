"""Every route of the control plane documents what it returns in the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import shipyard
from shipyard.api.app import create_app
from shipyard.api.metrics import TEXT_FORMAT

# Routes whose answer is not JSON, by name, each with its documented content type.
NOT_JSON = {("get", "/metrics"): TEXT_FORMAT}


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[shipyard.Workspace]:
    with shipyard.connect(tmp_path / "home") as opened:
        yield opened


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = spec["components"]["schemas"][name]
    return schema


def test_every_operation_has_a_2xx_response_schema(ws: shipyard.Workspace) -> None:
    spec = create_app(ws).openapi()
    operations = [
        (method, path, operation)
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    ]
    assert len(operations) >= 5
    for method, path, operation in operations:
        ok = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
        assert ok, f"{method.upper()} {path} documents no 2xx response"
        for code, response in ok.items():
            content = response.get("content", {})
            if (method, path) in NOT_JSON:
                assert set(content) == {NOT_JSON[method, path]}, (path, content)
                assert content[NOT_JSON[method, path]]["schema"] == {"type": "string"}
                continue
            schema = resolve(spec, content.get("application/json", {}).get("schema", {}))
            assert schema.get("properties") or schema.get("items"), (
                f"{method.upper()} {path} {code}: the response schema is empty: {schema}"
            )


def test_the_documented_shapes_name_their_fields(ws: shipyard.Workspace) -> None:
    spec = create_app(ws).openapi()
    schemas = spec["components"]["schemas"]
    assert set(schemas["Health"]["properties"]) == {
        "status", "metadata", "schema", "schema_expected"
    }  # fmt: skip
    assert set(schemas["OnlineRow"]["properties"]) == {
        "entity", "values", "statuses", "event_timestamps"
    }  # fmt: skip
    health = spec["paths"]["/health"]["get"]["responses"]
    assert resolve(spec, health["503"]["content"]["application/json"]["schema"]) == resolve(
        spec, health["200"]["content"]["application/json"]["schema"]
    )
