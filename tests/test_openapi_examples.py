"""The document people click through: tags, summaries, examples that work, one team parameter
name, honest paging bounds, and the YAML rendering."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
import yaml
from jsonschema import Draft202012Validator

from app.web.pagination import MAX_BIGINT, MAX_LIMIT
from tests.factories import Identity
from tests.summary.fake_llm import answer

METHODS = ("get", "post", "patch", "put", "delete")
TAGS = [
    "Datasets",
    "Dataset items",
    "Provider keys",
    "Provider key validations",
    "Models",
    "Evaluation config",
    "Evaluations",
    "Evaluation runs",
    "Evaluation summary",
    "Experiments",
    "Operations",
]


@pytest.fixture
def provider_transport() -> httpx.MockTransport:
    """A provider that knows one model and answers summaries: the examples' keys are 'valid'."""

    def provider(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "gpt-4.1-mini"}]})
        if request.url.path.endswith("/chat/completions"):
            message = {"role": "assistant", "content": json.dumps(answer())}
            return httpx.Response(200, json={"id": "c1", "choices": [{"message": message}]})
        return httpx.Response(404, json={"error": "unknown path"})

    return httpx.MockTransport(provider)


async def _document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/schema/")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _operations(document: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    return {
        item[method]["operationId"]: (path, method, item[method])
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
    }


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(
        {**schema, "components": document["components"]},
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def _request_example(operation: dict[str, Any]) -> dict[str, Any]:
    examples = operation["requestBody"]["content"]["application/json"]["examples"]
    assert len(examples) == 1
    example: dict[str, Any] = next(iter(examples.values()))
    return example


async def test_every_operation_has_a_tag_a_summary_and_examples(
    client: httpx.AsyncClient,
) -> None:
    document = await _document(client)
    assert [tag["name"] for tag in document["tags"]] == TAGS
    operations = _operations(document)
    assert len(operations) >= 30
    for operation_id, (path, method, operation) in operations.items():
        label = f"{method.upper()} {path}"
        assert operation["tags"] in [[tag] for tag in TAGS], label
        summary = operation["summary"]
        assert summary[0].isupper(), label
        assert summary != operation_id.replace("_", " ").title(), f"{label}: {summary}"
        assert "Llm" not in summary, label
        if "requestBody" in operation:
            example = _request_example(operation)
            assert example["summary"], label
            # An object, or an array where the body is a list (the bulk import's JSON form).
            assert isinstance(example["value"], dict | list), label
        success = [status for status in operation["responses"] if status.startswith("2")]
        for status in success:
            for media_type, media in operation["responses"][status].get("content", {}).items():
                assert "example" in media, f"{label} {status} {media_type}"
        if not success:  # documented refusals (DELETE → 405) carry no body either way
            assert set(operation["responses"]) >= {"405"}, label
            assert "requestBody" not in operation, label
    assert operations["list_llm_models"][2]["summary"] == "List LLM models"


async def test_examples_match_their_schemas(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    checked = 0
    for path, method, operation in _operations(document).values():
        label = f"{method.upper()} {path}"
        if "requestBody" in operation:
            media = operation["requestBody"]["content"]["application/json"]
            example = _request_example(operation)
            errors = list(_validator(document, media["schema"]).iter_errors(example["value"]))
            assert errors == [], f"{label}: {[e.message for e in errors]}"
            for field, where in example.get("x-replace", {}).items():
                assert field in example["value"], label
                assert f"`{field}`" in example["description"], label
                assert where in example["description"], label
            checked += 1
        for status, response in operation["responses"].items():
            for media in response.get("content", {}).values():
                if "example" in media and "schema" in media:
                    validator = _validator(document, media["schema"])
                    errors = list(validator.iter_errors(media["example"]))
                    assert errors == [], f"{label} {status}: {[e.message for e in errors]}"
                    checked += 1
    assert checked >= 39  # 12 request bodies, 27 success responses
    for name, component in document["components"]["schemas"].items():
        for example in component.get("examples", []):
            errors = list(_validator(document, component).iter_errors(example))
            assert errors == [], f"{name}: {[e.message for e in errors]}"
    assert "examples" in document["components"]["schemas"]["ErrorBody"]


async def test_swaggers_create_examples_succeed_as_sent(
    api: httpx.AsyncClient, identity: Identity
) -> None:
    """POST each create example (ids substituted where `x-replace` says so), in a user's order."""
    operations = _operations(await _document(api))
    known: dict[str, str] = {}

    async def send(operation_id: str, status: int, **path: str) -> dict[str, Any]:
        template, method, operation = operations[operation_id]
        body = dict(_request_example(operation)["value"])
        for field in _request_example(operation).get("x-replace", {}):
            body[field] = known[field]
        url = template.format(environment_id="@current", **path)
        response = await api.request(method, url, json=body)
        assert response.status_code == status, f"{operation_id}: {response.text}"
        result: dict[str, Any] = response.json()
        return result

    known["dataset"] = (await send("create_dataset", 201))["id"]
    item = await send("create_dataset_item", 201)
    assert item["dataset"] == known["dataset"]
    await send("update_dataset", 200, id=known["dataset"])
    await send("update_dataset_item", 200, id=item["id"])

    assert (await send("create_provider_key_validation", 201))["state"] == "ok"
    key = await send("create_provider_key", 201)
    assert key["state"] == "ok"
    known["key_id"] = key["id"]
    await send("set_active_key", 200)
    await send("update_provider_key", 200, id=key["id"])

    evaluation = await send("create_evaluation", 201)
    known["evaluation_id"] = evaluation["id"]
    runs = await send("create_evaluation_runs", 201, id=evaluation["id"])
    assert runs == {"created": 3, "duplicates": 0, "conflicts": 0, "conflict_ids": []}
    summary = await send("create_evaluation_summary", 200)
    assert summary["statistics"]["total_analyzed"] == 3
    assert (await send("update_evaluation", 200, id=evaluation["id"]))["status"] == "paused"


async def test_team_parameter_has_one_name(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    names = set()
    for path, item in document["paths"].items():
        if not path.startswith("/api/"):
            continue
        match = re.match(r"^/api/environments/\{(\w+)\}/", path)
        assert match is not None, path
        names.add(match.group(1))
        for method in METHODS:
            if method in item:
                declared = [p["name"] for p in item[method]["parameters"] if p["in"] == "path"]
                assert "environment_id" in declared, path
                assert "project_id" not in declared, path
    assert names == {"environment_id"}


async def test_paging_bounds_are_the_services(api: httpx.AsyncClient) -> None:
    document = await _document(api)
    _, _, operation = _operations(document)["list_datasets"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    limit = parameters["limit"]["schema"]["anyOf"][0]
    offset = parameters["offset"]["schema"]["anyOf"][0]
    assert (limit["minimum"], limit["maximum"]) == (0, MAX_LIMIT)
    assert (offset["minimum"], offset["maximum"]) == (0, MAX_BIGINT)
    assert "at most 1000" in parameters["limit"]["description"]

    # What the text promises: a larger limit is served as 1000, beyond a bigint is a 400.
    for _ in range(3):
        assert (
            await api.post("/api/environments/@current/datasets/", json={"name": "d"})
        ).is_success
    page = await api.get("/api/environments/@current/datasets/?limit=5000&offset=1")
    assert page.status_code == 200
    assert page.json()["previous"].endswith("datasets/?limit=1000")
    too_far = await api.get(f"/api/environments/@current/datasets/?offset={MAX_BIGINT + 1}")
    assert too_far.status_code == 400
    assert too_far.json()["attr"] == "offset"


async def test_schema_as_yaml(client: httpx.AsyncClient) -> None:
    as_json = await client.get("/api/schema/")
    assert as_json.headers["content-type"].startswith("application/json")
    as_yaml = await client.get("/api/schema/?format=yaml")
    assert as_yaml.status_code == 200
    assert as_yaml.headers["content-type"].startswith("application/vnd.oai.openapi")
    assert as_yaml.text.startswith("openapi: 3.1")
    assert yaml.safe_load(as_yaml.text) == as_json.json()
    assert (await client.get("/api/schema/?format=json")).json() == as_json.json()
    wrong = await client.get("/api/schema/?format=xml")
    assert wrong.status_code == 400
    assert wrong.json()["attr"] == "format"
