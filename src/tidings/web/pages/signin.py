"""Signing in and out: a user with a one-time link, an operator with the key on a form."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from datetime import timedelta

from fastapi import APIRouter
from starlette.responses import RedirectResponse, Response

from tidings.api.context import ApiContext
from tidings.kit.db import read_transaction, retried_write
from tidings.users import service as users
from tidings.web import service
from tidings.web.console.operator import (
    OPERATOR_NAME_FIELD,
    clean_operator_name,
    forget_name,
    remember_name,
)
from tidings.web.i18n import gettext_noop
from tidings.web.security import OPERATOR_COOKIE, USER_COOKIE, CookiePolicy
from tidings.web.service import LinkRefusal, OpenedSession, SessionKind
from tidings.web.visit import (
    OperatorForm,
    OperatorVisit,
    PublicForm,
    PublicVisit,
    UserForm,
    UserVisit,
    Visit,
    request_language,
)

router = APIRouter(include_in_schema=False)

USER_PATH = "/app"
OPERATOR_PATH = "/console"
OPERATOR_KEY_FIELD = "operator_key"


def _set_session_cookie(response: Response, visit: Visit, opened: OpenedSession) -> Response:
    user = opened.user_id is not None
    response.set_cookie(
        USER_COOKIE if user else OPERATOR_COOKIE,
        opened.token,
        max_age=visit.context.settings.web_session_hours * 3600,
        path=USER_PATH if user else OPERATOR_PATH,
        httponly=True,
        samesite="lax",
        secure=CookiePolicy.of(visit.context.settings).secure,
    )
    return response


def _open(context: ApiContext, *, kind: SessionKind, user_id: str | None) -> OpenedSession:
    return retried_write(
        context.engine,
        lambda conn: service.open_session(
            conn,
            kind=kind,
            user_id=user_id,
            at=context.clock.now(),
            ttl=timedelta(hours=context.settings.web_session_hours),
        ),
    )


def _end(visit: Visit, token: str) -> None:
    visit.write(lambda conn: service.end_session(conn, token, at=visit.context.clock.now()))


@router.get("/app/login")
def sign_in_with_link(visit: PublicVisit, token: str = "") -> Response:
    """Spend the one-time link, set the session cookie and leave the token behind (303);
    a link that cannot be used says why, in its user's language."""
    context = visit.context
    outcome = visit.write(
        lambda conn: service.sign_in_with_link(
            conn,
            token,
            at=context.clock.now(),
            ttl=timedelta(hours=context.settings.web_session_hours),
        )
    )
    if isinstance(outcome, OpenedSession):
        redirect = RedirectResponse(f"{USER_PATH}/", status_code=303)
        return _set_session_cookie(redirect, visit, outcome)
    if outcome.user_id is not None:
        with read_transaction(context.engine) as conn:
            locale = users.get_user(conn, context.keyring, outcome.user_id).locale
        visit = replace(visit, language=request_language(visit.request, locale=locale))
    status = 400 if outcome.reason is LinkRefusal.UNKNOWN else 410
    return visit.render("link_refused.html", status_code=status, reason=outcome.reason.value)


@router.post("/app/logout")
def sign_out(visit: UserVisit, _: UserForm) -> Response:
    _end(visit, visit.csrf_seed)
    response = visit.render("signed_out.html")
    response.delete_cookie(USER_COOKIE, path=USER_PATH)
    return response


_WRONG_KEY = gettext_noop("This is not the operator key.")
_BAD_NAME = gettext_noop("Your name, in at most 64 characters.")


@router.get("/console/login")
def console_login_form(visit: PublicVisit) -> Response:
    return visit.render("console/login.html", error=None, name_error=None, name="")


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


@router.post("/console/login")
def console_sign_in(visit: PublicVisit, form: PublicForm) -> Response:
    """The operator's key (and name) on a form; wrong keys count against the client's address
    exactly as wrong bearer keys do (past the limit: 429, the right key included). The name
    is kept beside the session: template changes need it, as the API's `X-Operator`."""
    context = visit.context
    throttle = context.auth_throttle
    client = throttle.key(context.keyring, visit.request)
    if not throttle.known_clear(client):
        with read_transaction(context.engine) as conn:
            wait = throttle.retry_after(conn, client, at=context.clock.now())
        if wait is not None:
            throttle.refuse(context.clock)
    typed_name = (form.get(OPERATOR_NAME_FIELD) or "").strip()[:200]
    name = clean_operator_name(typed_name)
    if typed_name and name is None:
        return visit.render(
            "console/login.html", status_code=422, error=None, name_error=_BAD_NAME, name=typed_name
        )
    admin_key = context.settings.admin_key
    presented = form.get(OPERATOR_KEY_FIELD) or ""
    if admin_key is None or not hmac.compare_digest(
        _digest(presented), _digest(admin_key.get_secret_value())
    ):
        throttle.record_failure(context.engine, context.clock, client)
        return visit.render(
            "console/login.html",
            status_code=401,
            error=_WRONG_KEY,
            name_error=None,
            name=typed_name,
        )
    opened = _open(context, kind=SessionKind.OPERATOR, user_id=None)
    response = RedirectResponse(f"{OPERATOR_PATH}/", status_code=303)
    if name is not None:
        remember_name(response, context, session_token=opened.token, name=name)
    return _set_session_cookie(response, visit, opened)


@router.post("/console/logout")
def console_sign_out(visit: OperatorVisit, _: OperatorForm) -> Response:
    _end(visit, visit.csrf_seed)
    response = RedirectResponse(f"{OPERATOR_PATH}/login", status_code=303)
    response.delete_cookie(OPERATOR_COOKIE, path=OPERATOR_PATH)
    forget_name(response)
    return response
