"""The one error handler: every failure leaves as an RFC 9457 problem document."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from tidings.api.strict import UNSUPPORTED_MEDIA_TYPE
from tidings.kit.db import is_database_locked
from tidings.kit.errors import (
    PROBLEM_BASE,
    AppError,
    Conflict,
    MalformedJson,
    UnsupportedMediaType,
)

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_JSON, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    """`("body", "amount", "value")` → `amount.value`; headers and queries keep their name.
    A tagged union's tag repeats its one key (`spent_at_least.spent_at_least.within_days`);
    it is said once."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    said_once = [part for i, part in enumerate(parts) if i == 0 or part != parts[i - 1]]
    return ".".join(said_once) or "body"


def validation_problem(errors: list[Any]) -> dict[str, Any]:
    """The 422 problem for pydantic errors, each failing field named."""
    fields = [
        {"field": _field(tuple(e["loc"])), "message": e["msg"].removeprefix("Value error, ")}
        for e in errors
    ]
    return {
        "type": PROBLEM_BASE + "validation",
        "title": "Invalid request",
        "status": 422,
        "detail": "; ".join(f"{f['field']}: {f['message']}" for f in fields),
        "errors": fields,
    }


DATABASE_BUSY_RETRY_AFTER_S = 1


class DatabaseBusy(AppError, status=503, code="database-busy", title="Database busy"):
    """Another writer kept the database past the busy timeout; retrying soon may succeed."""

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(DATABASE_BUSY_RETRY_AFTER_S)}


def _problem_of(error: AppError) -> JSONResponse:
    return problem_response(error.problem(), headers=error.headers())


async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    if any(e.get("type") == UNSUPPORTED_MEDIA_TYPE for e in errors):
        return _problem_of(
            UnsupportedMediaType(
                "the body must be JSON (Content-Type: application/json)",
                errors=[{"field": "content-type", "message": "must be application/json"}],
            )
        )
    if any(e.get("type") == "json_invalid" for e in errors):
        return _problem_of(
            MalformedJson(
                "the request body is not valid JSON",
                errors=[{"field": "body", "message": "not valid JSON"}],
            )
        )
    return problem_response(validation_problem(errors))


async def _app_error(_: Request, exc: AppError) -> JSONResponse:
    return _problem_of(exc)


_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})


PathMethods = tuple[tuple[re.Pattern[str], frozenset[str]], ...]


def _path_methods(app: FastAPI) -> PathMethods:
    """Each documented path as a pattern with the methods it serves (built once per app)."""
    cached: PathMethods | None = getattr(app.state, "path_methods", None)
    if cached is not None:
        return cached
    found = []
    for template, item in app.openapi()["paths"].items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        methods = {m.upper() for m in item if m in _HTTP_METHODS}
        if "GET" in methods:
            methods.add("HEAD")
        found.append((re.compile(pattern + "$"), frozenset(methods)))
    app.state.path_methods = tuple(found)
    return app.state.path_methods  # type: ignore[no-any-return]


def _allowed_methods(request: Request) -> str:
    """Every method the resource serves (each method is a route of its own, so Starlette's
    own `Allow` names only the first route's)."""
    path = request.url.path
    methods: set[str] = set()
    for pattern, served in _path_methods(request.app):
        if pattern.match(path):
            methods |= served
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    phrase = HTTPStatus(exc.status_code).phrase
    return problem_response(
        {
            "type": "about:blank",  # RFC 9457 §4.2.1: the title is then the status phrase
            "title": phrase,
            "status": exc.status_code,
            "detail": str(exc.detail),
        },
        headers=headers or None,
    )


async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
    # The database refused a write the services should have refused first: a race or a bug.
    log.error("api.integrity_error", error=str(exc.orig)[:300])
    return _problem_of(Conflict("the change conflicts with the current state; nothing was written"))


async def _operational(request: Request, exc: OperationalError) -> JSONResponse:
    if not is_database_locked(exc):
        return await _unexpected(request, exc)
    # Another writer (a hung process, a long migration) kept SQLite's writer past the busy
    # timeout: an operational condition to report, not a bug with a traceback.
    log.warning("api.database_busy", error=str(exc.orig)[:300])
    return _problem_of(
        DatabaseBusy(
            "another write kept the database busy for too long; nothing was written, try again"
        )
    )


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("api.unhandled_error", error_type=type(exc).__name__)
    return problem_response(
        {
            "type": PROBLEM_BASE + "internal",
            "title": "Internal error",
            "status": 500,
            "detail": "something went wrong on our side; nothing was written",
        }
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(AppError, _app_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(IntegrityError, _integrity)  # type: ignore[arg-type]
    app.add_exception_handler(OperationalError, _operational)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
