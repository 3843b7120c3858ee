"""The request guard: what no route may receive, refused before any route parses anything.

- A body over `TIDINGS_MAX_BODY_BYTES` is 413, told by its `Content-Length` before a byte
  is read, or by counting the bytes of a streamed (chunked) body as they come.
- A NUL or an unpaired surrogate in any JSON string or key (PostgreSQL stores neither,
  SQLite stores them for a message to break on later) is 422 naming the field, with the
  same problem shape as a validation error; so is one in the path or a query parameter.

Pure ASGI, like the observability middleware: the body is read once, checked, and handed on.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tidings.api.errors import PROBLEM_JSON
from tidings.kit.errors import PROBLEM_BASE
from tidings.kit.text import find_unstorable, unstorable_reason

_SUSPECT_BYTES = (b"\\u", b"\x00", b"\xed")
"""A JSON body can only carry a NUL or a surrogate as an escape (`\\u0000`, `\\ud800`),
UTF-8-encoded surrogate bytes (0xED 0xA0-0xBF …), or in UTF-16/32 (NUL bytes): a body with
none of these is not parsed here at all."""


def _problem(status: int, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"status": status, **body}, status_code=status, media_type=PROBLEM_JSON)


def too_large(limit: int) -> JSONResponse:
    return _problem(
        413,
        {
            "type": PROBLEM_BASE + "body-too-large",
            "title": "Request body too large",
            "detail": f"the request body is over {limit} bytes",
        },
    )


def invalid_field(field: str, message: str) -> JSONResponse:
    return _problem(
        422,
        {
            "type": PROBLEM_BASE + "validation",
            "title": "Invalid request",
            "detail": f"{field}: {message}",
            "errors": [{"field": field, "message": message}],
        },
    )


def unstorable_in_body(body: bytes) -> tuple[str, str] | None:
    """(field, reason) of the first NUL or unpaired surrogate in a JSON body, else None
    (also when the body is not JSON: the route answers that)."""
    if not any(marker in body for marker in _SUSPECT_BYTES):
        return None
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None
    found = find_unstorable(parsed)
    if found is None:
        return None
    where, reason = found
    return where or "body", reason


def _unstorable_in_target(scope: Scope) -> tuple[str, str] | None:
    """A NUL in the (decoded) path or in a query parameter, decoded as Starlette does."""
    reason = unstorable_reason(scope.get("path", ""))
    if reason is not None:
        return "path", reason
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if unstorable_reason(name) is not None:
            return "query", f"a parameter name {unstorable_reason(name)}"
        reason = unstorable_reason(value)
        if reason is not None:
            return name, reason
    return None


class RequestGuardMiddleware:
    """413 for bodies over `max_body_bytes`; 422 for text nothing can store."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = _unstorable_in_target(scope)
        if refused is not None:
            await invalid_field(*refused)(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await too_large(self.max_body_bytes)(scope, receive, send)
            return
        if declared == 0 or (declared is None and not _may_stream(scope)):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([], message, receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await too_large(self.max_body_bytes)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        found = unstorable_in_body(body)
        if found is not None:
            await invalid_field(*found)(scope, receive, send)
            return
        await self.app(scope, _replay([body], None, receive), send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _may_stream(scope: Scope) -> bool:
    """Without a Content-Length, a body comes chunked (`Transfer-Encoding`) or not at all."""
    return any(name == b"transfer-encoding" for name, _ in scope.get("headers", ()))


def _replay(chunks: list[bytes], pending: Message | None, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then the real one."""
    messages: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": False} for chunk in chunks
    ]
    if pending is not None:
        messages.append(pending)

    async def replayed() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return replayed
