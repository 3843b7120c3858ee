"""The OpenAPI document is one clients can be generated from: a valid OpenAPI 3.1 document in
which every operation documents the errors it can answer, as `application/problem+json` with
the one shared `Problem` schema (the schemathesis run checks the answers keep to it)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from tidings.api.openapi import PROBLEM_REF

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_openapi_spec_validator_accepts_the_document(document: dict[str, Any]) -> None:
    validate(document)


def test_fastapis_validation_error_schemas_are_replaced_by_one_problem_schema(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    problem = schemas["Problem"]
    assert problem["required"] == ["type", "title", "status", "detail"]
    assert problem["additionalProperties"] is True
    assert set(problem["properties"]["errors"]["items"]["properties"]) == {"field", "message"}
    assert "HTTPValidationError" not in str(document)


def test_every_error_of_every_operation_is_a_problem(document: dict[str, Any]) -> None:
    """Every error can be a problem; a page (`/u/`, `/l/`) may also answer its own errors as
    HTML."""
    for method, path, operation in operations(document):
        errors = {code: r for code, r in operation["responses"].items() if int(code) >= 400}
        assert "422" in errors, (method, path)
        for code, response in errors.items():
            content = dict(response["content"])
            if path.startswith(("/u/", "/l/")):
                content.pop("text/html", None)
            assert content == {"application/problem+json": {"schema": {"$ref": PROBLEM_REF}}}, (
                method,
                path,
                code,
            )


def test_errors_follow_from_what_an_operation_declares(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        codes = {int(code) for code in operation["responses"]}
        if operation.get("security"):
            assert {401, 403, 429} <= codes, (method, path)
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
            assert "Retry-After" in operation["responses"]["429"]["headers"]
        if "requestBody" in operation:
            assert {400, 404, 413, 415, 422} <= codes, (method, path)
        if "{" in path:
            assert 404 in codes, (method, path)
        if any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", [])):
            assert 409 in codes, (method, path)


def test_public_operations_document_what_applies_to_them(document: dict[str, Any]) -> None:
    health = document["paths"]["/healthz"]["get"]
    assert set(health["responses"]) == {"200", "422", "503"}
    assert "security" not in health
    callback = document["paths"]["/v1/providers/aliyun/sms-report"]["post"]
    assert "security" not in callback
    assert {"400", "401", "413", "415", "422"} <= set(callback["responses"])
    assert "403" not in callback["responses"]


def test_a_route_keeps_the_description_it_gives_an_error(document: dict[str, Any]) -> None:
    refused = document["paths"]["/v1/transfers"]["post"]["responses"]["422"]
    assert refused["description"].startswith("Not enough money")
    assert refused["content"]["application/problem+json"]["schema"] == {"$ref": PROBLEM_REF}
