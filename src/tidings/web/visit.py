"""One request to a page: who is asking, in which language, and how the page answers.

Routes declare what they need as dependencies: `visit: PublicVisit` (anyone),
`visit: UserVisit` (a signed-in user; otherwise the "session ended" page) or
`visit: OperatorVisit`; a POST declares `form: UserForm` (or `PublicForm`,
`OperatorForm`), which is refused unless it carries the CSRF token of that visit.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from sqlalchemy import Connection
from starlette.responses import HTMLResponse, Response

from tidings.api.context import ApiContext, get_context
from tidings.kit.db import read_transaction, retried_write
from tidings.users import service as users
from tidings.users.schemas import UserOut
from tidings.web import service
from tidings.web.i18n import (
    LANG_COOKIE,
    Language,
    brand_for,
    choose_language,
    language_of,
    translations,
)
from tidings.web.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    FORM_COOKIE,
    OPERATOR_COOKIE,
    USER_COOKIE,
    CookiePolicy,
    csrf_matches,
    csrf_token,
    security_headers,
)
from tidings.web.service import LiveSession, SessionKind
from tidings.web.templating import Formatter, render_html

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 100
LANG_COOKIE_SECONDS = 365 * 24 * 3600
MIN_SEED_CHARS = 32
"""A form cookie shorter than the ones we make is replaced."""

T = TypeVar("T")


class SessionMissing(Exception):
    """No live session of this kind: never signed in, signed out, expired or revoked."""

    def __init__(self, kind: SessionKind) -> None:
        super().__init__(kind.value)
        self.kind = kind


class CsrfRefused(Exception):
    """A form POST without the token of the page it came from."""


@dataclass(frozen=True, slots=True)
class PostedForm:
    """The fields of a URL-encoded form, as sent (text; each page validates its own)."""

    fields: dict[str, list[str]]

    def get(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[-1] if values else None

    def getlist(self, name: str) -> list[str]:
        return list(self.fields.get(name, ()))


@dataclass(frozen=True, slots=True)
class Visit:
    """A page request and everything its answer needs."""

    request: Request
    context: ApiContext
    language: Language
    timezone: ZoneInfo
    csrf_seed: str
    session: LiveSession | None = None
    user: UserOut | None = None
    new_form_cookie: bool = False
    """The form cookie was made for this request, so the answer sets it."""

    @property
    def csrf(self) -> str:
        return csrf_token(self.context.keyring, self.csrf_seed)

    @property
    def formatter(self) -> Formatter:
        return Formatter(self.language, self.timezone)

    @property
    def htmx(self) -> bool:
        """An htmx request (a partial update), not a plain navigation or form POST."""
        return self.request.headers.get("HX-Request") == "true"

    @property
    def user_id(self) -> str:
        if self.user is None:
            raise SessionMissing(SessionKind.USER)
        return self.user.id

    def gettext(self, message: str) -> str:
        """A catalogue string in the page's language (for text built in Python)."""
        return translations(self.language).gettext(message)

    def write(self, operation: Callable[[Connection], T]) -> T:
        """Run `operation` in one write transaction, run again whole when the database asks
        (what `write.run` is to an API route, without the idempotency key)."""
        return retried_write(self.context.engine, operation)

    def require_csrf(self, form: PostedForm) -> None:
        presented = form.get(CSRF_FIELD) or self.request.headers.get(CSRF_HEADER)
        if not csrf_matches(self.context.keyring, self.csrf_seed, presented):
            raise CsrfRefused

    def render(self, template: str, *, status_code: int = 200, **values: Any) -> HTMLResponse:
        response = render_html(
            template,
            brand=brand_for(self.context.settings, self.language),
            language=self.language,
            timezone=self.timezone,
            status_code=status_code,
            headers=security_headers(self.context.settings),
            values={"visit": self, "csrf": self.csrf, "active": None, **values},
        )
        self.keep_cookies(response)
        return response

    def keep_cookies(self, response: Response) -> None:
        """Remember a language asked for with `?lang=`; set a new form cookie."""
        secure = CookiePolicy.of(self.context.settings).secure
        if language_of(self.request.query_params.get("lang")) is not None:
            response.set_cookie(
                LANG_COOKIE,
                self.language.value,
                max_age=LANG_COOKIE_SECONDS,
                httponly=True,
                samesite="lax",
                secure=secure,
            )
        if self.new_form_cookie:
            response.set_cookie(
                FORM_COOKIE, self.csrf_seed, httponly=True, samesite="strict", secure=secure
            )


def request_language(request: Request, *, locale: str | None = None) -> Language:
    return choose_language(
        asked=request.query_params.get("lang"),
        remembered=request.cookies.get(LANG_COOKIE),
        locale=locale,
    )


def _public_visit(request: Request, context: Annotated[ApiContext, Depends(get_context)]) -> Visit:
    seed = request.cookies.get(FORM_COOKIE, "")
    fresh = not MIN_SEED_CHARS <= len(seed) <= service.MAX_TOKEN_CHARS
    return Visit(
        request=request,
        context=context,
        language=request_language(request),
        timezone=ZoneInfo(context.settings.default_timezone),
        csrf_seed=secrets.token_urlsafe(32) if fresh else seed,
        new_form_cookie=fresh,
    )


def _user_visit(request: Request, context: Annotated[ApiContext, Depends(get_context)]) -> Visit:
    token = request.cookies.get(USER_COOKIE, "")
    with read_transaction(context.engine) as conn:
        session = service.live_session(conn, token, kind=SessionKind.USER, at=context.clock.now())
        if session is None or session.user_id is None:
            raise SessionMissing(SessionKind.USER)
        user = users.get_user(conn, context.keyring, session.user_id)
    return Visit(
        request=request,
        context=context,
        language=request_language(request, locale=user.locale),
        timezone=ZoneInfo(user.timezone),
        csrf_seed=token,
        session=session,
        user=user,
    )


def _operator_visit(
    request: Request, context: Annotated[ApiContext, Depends(get_context)]
) -> Visit:
    token = request.cookies.get(OPERATOR_COOKIE, "")
    with read_transaction(context.engine) as conn:
        session = service.live_session(
            conn, token, kind=SessionKind.OPERATOR, at=context.clock.now()
        )
    if session is None:
        raise SessionMissing(SessionKind.OPERATOR)
    return Visit(
        request=request,
        context=context,
        language=request_language(request),
        timezone=ZoneInfo(context.settings.default_timezone),
        csrf_seed=token,
        session=session,
    )


PublicVisit = Annotated[Visit, Depends(_public_visit)]
UserVisit = Annotated[Visit, Depends(_user_visit)]
OperatorVisit = Annotated[Visit, Depends(_operator_visit)]


async def _posted_form(request: Request) -> PostedForm:
    """The URL-encoded fields (every form of ours); any other body reads as no fields."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != FORM_MEDIA_TYPE:
        return PostedForm({})
    body = (await request.body()).decode("utf-8", "replace")
    try:
        fields = parse_qs(body, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:  # more fields than any page of ours has
        return PostedForm({})
    return PostedForm(fields)


Form = Annotated[PostedForm, Depends(_posted_form)]


def _public_form(visit: PublicVisit, form: Form) -> PostedForm:
    visit.require_csrf(form)
    return form


def _user_form(visit: UserVisit, form: Form) -> PostedForm:
    visit.require_csrf(form)
    return form


def _operator_form(visit: OperatorVisit, form: Form) -> PostedForm:
    visit.require_csrf(form)
    return form


PublicForm = Annotated[PostedForm, Depends(_public_form)]
UserForm = Annotated[PostedForm, Depends(_user_form)]
OperatorForm = Annotated[PostedForm, Depends(_operator_form)]
