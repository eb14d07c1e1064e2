"""The published OpenAPI document is valid, complete, and describes what the server answers."""

from __future__ import annotations

import re
from typing import Any

import httpx
import jsonschema
from openapi_spec_validator import validate

from tests.factories import Identity

METHODS = ("get", "post", "patch", "put", "delete")


async def _schema(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/schema/")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _api_operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, item[method])
        for path, item in schema["paths"].items()
        if path.startswith("/api/")
        for method in METHODS
        if method in item
    ]


async def test_document_is_valid_openapi_31(client: httpx.AsyncClient) -> None:
    schema = await _schema(client)
    assert schema["openapi"].startswith("3.1")
    validate(schema)


async def test_every_operation_is_described(client: httpx.AsyncClient) -> None:
    schema = await _schema(client)
    operations = _api_operations(schema)
    assert len(operations) >= 20
    ids = [operation["operationId"] for _, _, operation in operations]
    assert len(ids) == len(set(ids)), "operation ids must be unique"
    for path, method, operation in operations:
        label = f"{method.upper()} {path}"
        assert re.fullmatch(r"[a-z][a-z0-9_]*", operation["operationId"]), label
        assert operation.get("tags"), label
        assert operation.get("summary"), label
        responses = operation["responses"]
        assert "422" not in responses, label
        if responses.keys() == {"405"}:
            continue
        assert "scope" in operation.get("description", "").lower(), label
        for status in ("400", "401", "403", "404"):
            assert status in responses, f"{label} lacks {status}"
            ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("ErrorBody"), label


async def test_paths_and_security(client: httpx.AsyncClient) -> None:
    schema = await _schema(client)
    paths = set(schema["paths"])
    for expected in (
        "/api/environments/{environment_id}/datasets/",
        "/api/environments/{environment_id}/datasets/{id}/",
        "/api/environments/{environment_id}/dataset_items/",
        "/api/environments/{environment_id}/dataset_items/{id}/",
        "/api/environments/{environment_id}/llm_analytics/provider_keys/",
        "/api/environments/{environment_id}/llm_analytics/provider_keys/{id}/",
        "/api/environments/{environment_id}/llm_analytics/provider_keys/{id}/validate/",
        "/api/environments/{environment_id}/llm_analytics/provider_key_validations/",
        "/api/environments/{environment_id}/llm_analytics/models/",
        "/api/environments/{environment_id}/llm_analytics/evaluation_config/",
        "/api/environments/{environment_id}/llm_analytics/evaluation_config/set_active_key/",
        "/api/environments/{environment_id}/llm_analytics/evaluation_summary/",
        "/api/environments/{environment_id}/evaluations/",
        "/api/environments/{environment_id}/evaluations/{id}/",
        "/api/environments/{environment_id}/evaluations/{id}/runs/",
    ):
        assert expected in paths, expected
    scheme = schema["components"]["securitySchemes"]["PersonalAPIKey"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}


async def test_documented_response_matches_a_real_round_trip(
    api: httpx.AsyncClient, identity: Identity
) -> None:
    """Drive create → retrieve of a dataset from the document, validating the answers."""
    schema = await _schema(api)
    components = schema["components"]["schemas"]

    def response_schema(path: str, method: str, status: str) -> dict[str, Any]:
        content = schema["paths"][path][method]["responses"][status]["content"]
        return {**content["application/json"]["schema"], "components": {"schemas": components}}

    collection = "/api/environments/{environment_id}/datasets/"
    detail = "/api/environments/{environment_id}/datasets/{id}/"
    team = str(identity.team.id)
    created = await api.post(
        collection.format(environment_id=team), json={"name": "From the schema"}
    )
    assert created.status_code == 201
    jsonschema.validate(created.json(), response_schema(collection, "post", "201"))
    fetched = await api.get(detail.format(environment_id=team, id=created.json()["id"]))
    assert fetched.status_code == 200
    jsonschema.validate(fetched.json(), response_schema(detail, "get", "200"))
    listed = await api.get(collection.format(environment_id=team))
    jsonschema.validate(listed.json(), response_schema(collection, "get", "200"))


async def test_enums_read_only_fields_and_examples(client: httpx.AsyncClient) -> None:
    schema = await _schema(client)
    components = schema["components"]["schemas"]
    datasets = schema["paths"]["/api/environments/{environment_id}/datasets/"]["get"]
    order_by = next(p for p in datasets["parameters"] if p["name"] == "order_by")["schema"]
    assert order_by["anyOf"][0]["items"]["enum"] == [
        "created_at",
        "-created_at",
        "updated_at",
        "-updated_at",
    ]
    models = schema["paths"]["/api/environments/{environment_id}/llm_analytics/models/"]["get"]
    provider = next(p for p in models["parameters"] if p["name"] == "provider")["schema"]
    assert "azure_openai" in provider["enum"]
    runs = schema["paths"]["/api/environments/{environment_id}/evaluations/{id}/runs/"]["get"]
    run_filter = next(p for p in runs["parameters"] if p["name"] == "filter")["schema"]
    assert run_filter["enum"] == ["all", "pass", "fail", "na"]

    dataset = components["DatasetRead"]["properties"]
    assert dataset["id"]["readOnly"] is True
    assert dataset["created_by"]["readOnly"] is True
    assert "readOnly" not in dataset["name"]
    key_read = components["ProviderKeyRead"]["properties"]
    assert "api_key" not in key_read
    assert key_read["api_key_masked"]["readOnly"] is True
    assert components["ProviderKeyCreate"]["properties"]["api_key"]["writeOnly"] is True
    example = components["SummaryResponse"]["examples"][0]
    assert example["statistics"] == {
        "total_analyzed": 3,
        "pass_count": 2,
        "fail_count": 1,
        "na_count": 0,
    }
