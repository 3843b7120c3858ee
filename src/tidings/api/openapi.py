"""The OpenAPI document clients are generated from: every error an operation can answer is
documented, as `application/problem+json` with one shared `Problem` schema.

Done once, over the whole document, from what each operation declares: a bearer
requirement (401, 403, 429), a request body (400, 413, 415), path parameters or a body
(404: what they name may not exist), a
state-changing method (409; the `Idempotency-Key` conflict among others). Every operation
may answer 422: the request guard refuses a NUL in any path or query. A route adds what
only it answers (a provider callback's 401, `/healthz`'s 503) with FastAPI's `responses=`;
its description is kept, and its content becomes the Problem. A route added later is
documented like the rest without saying anything.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from tidings.api.errors import PROBLEM_JSON

PROBLEM_REF = "#/components/schemas/Problem"

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "An RFC 9457 problem document. Members beyond these may be present "
    "(`retry_after`, `attempts_left`, …): read them by name, ignore the rest.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {
            "type": "string",
            "description": "A URI naming the kind of problem "
            "(`https://tidings.dev/problems/<code>`, or `about:blank`).",
            "examples": ["https://tidings.dev/problems/validation"],
        },
        "title": {"type": "string", "description": "A short summary of the kind."},
        "status": {
            "type": "integer",
            "minimum": 400,
            "maximum": 599,
            "description": "The HTTP status code.",
        },
        "detail": {"type": "string", "description": "What went wrong this time."},
        "errors": {
            "type": "array",
            "description": "Each failing field (dotted path: `amount.value`) and why.",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}

DESCRIPTIONS: dict[int, str] = {
    400: "Malformed JSON, or a request that cannot be read.",
    401: "No valid credentials (the challenge is in `WWW-Authenticate`).",
    403: "The credentials may not do this (an operator-only action, a user token's limit).",
    404: "Not found, or not the caller's to see.",
    409: "Conflicts with the current state (or an `Idempotency-Key` reused with another "
    "body); nothing was written.",
    413: "The body is larger than `TIDINGS_MAX_BODY_BYTES`.",
    415: "The body's media type is not one this operation reads.",
    422: "Invalid input, each failing field named in `errors`, or a business rule refused it.",
    429: "Too many requests (failed authentications from this address, or a rate limit); "
    "retry after `Retry-After` seconds.",
    503: "The service cannot answer now.",
}

HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": 'The scheme to use: `Bearer realm="tidings"`.',
            "required": True,
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds until a retry may succeed.",
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        }
    },
}

_REPLACED_SCHEMAS = ("HTTPValidationError", "ValidationError")
_STATE_CHANGING = frozenset({"post", "put", "patch", "delete"})
_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})


def error_statuses(method: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses an operation can answer, from what it declares."""
    statuses = {422}
    parameters = operation.get("parameters", [])
    if operation.get("security"):
        statuses |= {401, 403, 429}
    if "requestBody" in operation:
        statuses |= {400, 413, 415}
    if "requestBody" in operation or any(p.get("in") == "path" for p in parameters):
        statuses.add(404)  # a path id, or one a body names (a wallet, a credit line)
    if method in _STATE_CHANGING:
        statuses.add(409)
    return statuses


def problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description or DESCRIPTIONS.get(status, "An error."),
        "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}},
    }
    if status in HEADERS:
        response["headers"] = HEADERS[status]
    return response


def document_problems(document: dict[str, Any]) -> dict[str, Any]:
    """Rewrite `document` in place: each operation's errors as problems, FastAPI's own
    validation error schemas replaced by `Problem`."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in _REPLACED_SCHEMAS:
        schemas.pop(name, None)
    schemas["Problem"] = PROBLEM_SCHEMA
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            declared = {int(code) for code in responses if str(code).isdigit() and int(code) >= 400}
            for status in sorted(error_statuses(method, operation) | declared):
                given = responses.get(str(status), {})
                described = given.get("description")
                default = described if described and described != "Validation Error" else None
                problem = problem_response(status, default)
                # A page that answers its own errors as HTML keeps them: the guard's and the
                # handler's answers to the same status are problems, so both are listed.
                others = {
                    media: body
                    for media, body in given.get("content", {}).items()
                    if media not in {PROBLEM_JSON, "application/json"}
                }
                problem["content"] = {**others, **problem["content"]}
                responses[str(status)] = problem
            operation["responses"] = dict(sorted(responses.items()))
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve the document with every error documented (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
