"""Who is at the console: the operator's name, asked on the sign-in form and kept beside the
session in a cookie signed with (and bound to) that session, so it cannot be forged or moved
to another session. Template changes carry it as the API's `X-Operator` header does."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from tidings.api.context import ApiContext
from tidings.kit.db import read_transaction
from tidings.privacy.crypto import Keyring
from tidings.web import service
from tidings.web.console import labels
from tidings.web.console.figures import Figures
from tidings.web.security import OPERATOR_COOKIE, USER_COOKIE, CookiePolicy
from tidings.web.service import SessionKind
from tidings.web.visit import OperatorVisit, Visit

OPERATOR_NAME_COOKIE = "tidings_operator"
OPERATOR_NAME_FIELD = "operator_name"
MAX_NAME_CHARS = 64
"""As the API's `X-Operator` header and the templates' `created_by` column allow."""
CONSOLE_PATH = "/console"


def clean_operator_name(value: str | None) -> str | None:
    """The name as typed, trimmed; None when it is empty, too long or not printable."""
    name = (value or "").strip()
    if not name or len(name) > MAX_NAME_CHARS or not name.isprintable():
        return None
    return name


def _signature(keyring: Keyring, session_token: str, name: str) -> str:
    message = f"{session_token}\n{name}".encode()
    digest = hmac.new(keyring.derive_key("web-operator-name"), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def signed_name(keyring: Keyring, session_token: str, name: str) -> str:
    """The cookie's value: the name (base64url, so any script fits a cookie) and its seal."""
    encoded = base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")
    return f"{encoded}.{_signature(keyring, session_token, name)}"


def name_from(keyring: Keyring, session_token: str, cookie: str) -> str | None:
    """The name the cookie carries if it was sealed for this session, else None."""
    encoded, _, presented = cookie.partition(".")
    try:
        name = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    expected = _signature(keyring, session_token, name)
    if not hmac.compare_digest(expected.encode(), presented.encode()):
        return None
    return clean_operator_name(name)


def remember_name(
    response: Response, context: ApiContext, *, session_token: str, name: str
) -> None:
    response.set_cookie(
        OPERATOR_NAME_COOKIE,
        signed_name(context.keyring, session_token, name),
        max_age=context.settings.web_session_hours * 3600,
        path=CONSOLE_PATH,
        httponly=True,
        samesite="lax",
        secure=CookiePolicy.of(context.settings).secure,
    )


def forget_name(response: Response) -> None:
    response.delete_cookie(OPERATOR_NAME_COOKIE, path=CONSOLE_PATH)


def presents_user_session(request: Request, context: ApiContext) -> bool:
    """A user's live session sent to the console (in either cookie): the console does not
    exist for users, so they get "not found", never the operator's sign-in form."""
    tokens = [request.cookies.get(name, "") for name in (OPERATOR_COOKIE, USER_COOKIE)]
    with read_transaction(context.engine) as conn:
        return any(
            service.live_session(conn, token, kind=SessionKind.USER, at=context.clock.now())
            for token in tokens
            if token
        )


@dataclass(frozen=True, slots=True)
class ConsoleVisit:
    """A console page request: the operator's visit and the name they signed in with."""

    visit: Visit
    operator_name: str | None
    """None when the operator signed in without a name: template changes then ask them to
    sign in again with it."""

    def render(self, template: str, *, status_code: int = 200, **values: Any) -> HTMLResponse:
        return self.visit.render(
            template,
            status_code=status_code,
            operator_name=self.operator_name,
            figures=Figures(self.visit.language),
            labels=labels,
            **values,
        )


def _console_visit(visit: OperatorVisit) -> ConsoleVisit:
    cookie = visit.request.cookies.get(OPERATOR_NAME_COOKIE, "")
    name = name_from(visit.context.keyring, visit.csrf_seed, cookie) if cookie else None
    return ConsoleVisit(visit=visit, operator_name=name)


Console = Annotated[ConsoleVisit, Depends(_console_visit)]
