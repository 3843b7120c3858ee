"""Errors of HTML routes answer as pages, in the visitor's language; API routes keep their
problem documents. The app's own handlers are wrapped, so one handler per error type stays."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from tidings.api.context import ApiContext
from tidings.kit.errors import AppError
from tidings.web.console.operator import presents_user_session
from tidings.web.i18n import brand_for, gettext_noop
from tidings.web.security import security_headers
from tidings.web.service import SessionKind
from tidings.web.templating import render_html
from tidings.web.visit import CsrfRefused, SessionMissing, request_language

log = structlog.get_logger(__name__)

PAGE_PREFIXES = ("/app", "/console", "/verify")

Handler = Callable[[Request, Any], Awaitable[Response]]
AppHandler = Callable[[Request, Any], Response | Awaitable[Response]]

_TITLES: dict[int, str] = {
    400: gettext_noop("This request could not be read"),
    401: gettext_noop("Your session has ended"),
    403: gettext_noop("This form has expired"),
    404: gettext_noop("Page not found"),
    405: gettext_noop("This page cannot do that"),
    410: gettext_noop("This link can no longer be used"),
    422: gettext_noop("This request could not be read"),
    429: gettext_noop("Too many attempts"),
    500: gettext_noop("Something went wrong on our side"),
}
_EXPLANATIONS: dict[int, str] = {
    400: gettext_noop("Go back and try again."),
    401: gettext_noop(
        "For your safety, pages sign out after a while. Open them again from the app."
    ),
    403: gettext_noop(
        "The page you sent it from is too old or was opened elsewhere. Go back, reload the "
        "page and try again."
    ),
    404: gettext_noop("The page you asked for does not exist, or is not yours to see."),
    405: gettext_noop("Go back and try again."),
    410: gettext_noop("Open the page again from the app."),
    422: gettext_noop("Go back and try again."),
    429: gettext_noop("Please wait a few minutes before you try again."),
    500: gettext_noop("Nothing was changed. Please try again in a moment."),
}


def is_page(request: Request) -> bool:
    path = request.url.path
    return path == "/" or any(path == p or path.startswith(p + "/") for p in PAGE_PREFIXES)


def error_page(request: Request, status: int, *, headers: dict[str, str] | None = None) -> Response:
    """The page for a status, in the language the visitor asked for (or zh-CN)."""
    context: ApiContext = request.app.state.context
    language = request_language(request)
    if request.headers.get("HX-Request") == "true":
        # htmx swaps only what a page asked for: show the error page whole instead.
        headers = {**(headers or {}), "HX-Refresh": "true"}
    shown = status if status in _TITLES else (500 if status >= 500 else 400)
    return render_html(
        "error.html",
        brand=brand_for(context.settings, language),
        language=language,
        timezone=ZoneInfo(context.settings.default_timezone),
        status_code=status,
        headers={**security_headers(context.settings), **(headers or {})},
        values={
            "visit": None,
            "csrf": "",
            "active": None,
            "status": status,
            "title": _TITLES[shown],
            "explanation": _EXPLANATIONS[shown],
        },
    )


async def _session_missing(request: Request, exc: SessionMissing) -> Response:
    """Signed out of the console: its sign-in form; a user's session there: "not found", as
    the console does not exist for users; signed out of a user's pages: 401."""
    if exc.kind is SessionKind.OPERATOR:
        context: ApiContext = request.app.state.context
        if await run_in_threadpool(presents_user_session, request, context):
            return error_page(request, 404)
        if request.headers.get("HX-Request") == "true":
            # An htmx refresh must not swap the sign-in form into the page: leave the page.
            return Response(status_code=204, headers={"HX-Redirect": "/console/login"})
        return RedirectResponse("/console/login", status_code=303)
    return error_page(request, 401)


async def _csrf_refused(request: Request, _: CsrfRefused) -> Response:
    log.info("web.csrf_refused", path=request.scope.get("route_path", "unmatched"))
    return error_page(request, 403)


def _page_status(exc: Exception) -> tuple[int, dict[str, str]]:
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code, dict(exc.headers or {})
    if isinstance(exc, AppError):
        return exc.status, exc.headers() or {}
    if isinstance(exc, RequestValidationError):
        return 400, {}
    return 500, {}


def _for_pages(api_handler: AppHandler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        if not is_page(request):
            answer = api_handler(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        status, headers = _page_status(exc)
        if status >= 500:
            log.exception("web.unhandled_error", error_type=type(exc).__name__)
        return error_page(request, status, headers=headers)

    return handle


def install_page_errors(app: FastAPI) -> None:
    """Call after the app's own handlers are installed: each is wrapped, not replaced."""
    for error in (StarletteHTTPException, AppError, RequestValidationError, Exception):
        app.add_exception_handler(error, _for_pages(app.exception_handlers[error]))
    app.add_exception_handler(SessionMissing, _session_missing)  # type: ignore[arg-type]
    app.add_exception_handler(CsrfRefused, _csrf_refused)  # type: ignore[arg-type]
